package piece

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// v2Fixture makes a v2 or hybrid torrent of random files of the given
// sizes (a.bin, b.bin, …) and returns it with the files' bytes.
func v2Fixture(t testing.TB, pl int64, hybrid bool, sizes ...int) (*metainfo.MetaInfo, *metainfo.Info, [][]byte) {
	t.Helper()
	var in []V2Input
	var data [][]byte
	for k, n := range sizes {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		data = append(data, b)
		in = append(in, V2Input{Path: []string{string(rune('a'+k)) + ".bin"}, Length: int64(n), Open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(b)), nil
		}})
	}
	mi, info, err := NewV2MetaInfo("v2", pl, in, hybrid)
	require.NoError(t, err)
	return mi, info, data
}

// writeAll writes the files' bytes into st block by block through the
// view's layout, skipping padding.
func writeAll(t testing.TB, st *Storage, view *metainfo.Info, data [][]byte) {
	t.Helper()
	var whole []byte
	k := 0
	for _, fi := range view.UpvertedFiles() {
		if IsPadding(fi) {
			whole = append(whole, make([]byte, fi.Length)...)
			continue
		}
		whole = append(whole, data[k]...)
		k++
	}
	whole = append(whole, make([]byte, st.Layout().Length-int64(len(whole)))...)
	l := st.Layout()
	for i := range l.NumPieces() {
		for j := range l.NumBlocks(i) {
			b := l.Block(i, j)
			require.NoError(t, st.WriteBlock(b, whole[l.Offset(b):l.Offset(b)+int64(b.Length)]))
		}
	}
}

// TestV2Torrents: hybrid and pure v2 torrents of several files (one of
// them under a piece) are made, their piece layers pass anacrolix's own
// check, their V1View has the padding that starts each file on a piece,
// and every piece verifies by its v2 hash once written — and fails with a
// byte changed.
func TestV2Torrents(t *testing.T) {
	const pl = 64 << 10
	for _, hybrid := range []bool{true, false} {
		t.Run(map[bool]string{true: "hybrid", false: "pure v2"}[hybrid], func(t *testing.T) {
			mi, info, data := v2Fixture(t, pl, hybrid, 100000, 40000, 200000)
			require.NoError(t, metainfo.ValidatePieceLayers(mi.PieceLayers, &info.FileTree, pl))
			assert.Len(t, mi.PieceLayers, 2, "the file under a piece has no layer")
			assert.Equal(t, hybrid, info.HasV1())
			view, err := V1View(info)
			require.NoError(t, err)
			require.NoError(t, CheckInfo(view))
			require.False(t, view.HasV2())
			var paths []string
			for _, fi := range view.UpvertedFiles() {
				paths = append(paths, fi.DisplayPath(view))
			}
			assert.Equal(t, []string{"a.bin", ".pad/31072", "b.bin", ".pad/25536", "c.bin"}, paths)
			l := LayoutOf(view)
			assert.Equal(t, l, LayoutOf(info), "the info's layout is its view's")
			assert.Equal(t, int64(3*pl+200000), l.Length)

			h, err := NewV2Hashes(info, mi.PieceLayers)
			require.NoError(t, err)
			require.True(t, h.Complete())
			st, err := OpenStorage(StorageConfig{Dir: t.TempDir(), Info: view, InfoHash: metainfo.Hash{2}})
			require.NoError(t, err)
			defer st.Close()
			writeAll(t, st, view, data)
			have, err := st.VerifyAllV2(context.Background(), h)
			require.NoError(t, err)
			assert.True(t, have.All())
			if hybrid {
				v1, err := st.VerifyAll(context.Background())
				require.NoError(t, err)
				assert.True(t, v1.All(), "a hybrid's v1 hashes agree")
			} else {
				ok, err := st.VerifyPiece(0)
				require.NoError(t, err)
				assert.False(t, ok, "a pure v2 piece never passes a v1 check")
			}
			b := l.Block(4, 1)
			buf := make([]byte, b.Length)
			require.NoError(t, st.ReadBlock(b, buf))
			buf[7] ^= 1
			require.NoError(t, st.WriteBlock(b, buf))
			ok, err := st.VerifyPieceV2(4, h)
			require.NoError(t, err)
			assert.False(t, ok, "a changed byte fails its v2 hash")
		})
	}
}

func TestV2Layers(t *testing.T) {
	const pl = 32 << 10
	mi, info, _ := v2Fixture(t, pl, false, 100000, 5)
	h, err := NewV2Hashes(info, nil)
	require.NoError(t, err)
	assert.False(t, h.Complete(), "a's layer is missing")
	assert.True(t, h.Known(4), "b, under a piece, is known by its root")
	require.Len(t, h.Files(), 2)
	root := h.Files()[0].Root
	layer := []byte(mi.PieceLayers[string(root[:])])
	for _, tc := range []struct {
		name  string
		layer []byte
	}{
		{"short", layer[:len(layer)-1]},
		{"long", append(bytes.Clone(layer), make([]byte, 32)...)},
		{"a wrong hash", append(bytes.Clone(layer[:32]), append(make([]byte, 32), layer[64:]...)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, h.SetLayer(0, tc.layer), ErrV2)
			assert.False(t, h.Complete())
		})
	}
	require.NoError(t, h.SetLayer(0, layer))
	assert.True(t, h.Complete())
	require.ErrorIs(t, h.SetLayer(2, layer), ErrV2)
	bad := map[string]string{string(root[:]): string(layer[:32*3]) + string(make([]byte, 32))}
	_, err = NewV2Hashes(info, bad)
	require.ErrorIs(t, err, ErrV2, "a .torrent's layer that misses its root is refused")
}

// TestHybridMismatch: a hybrid whose v1 part disagrees with its v2 part is
// refused.
func TestHybridMismatch(t *testing.T) {
	const pl = 32 << 10
	_, info, _ := v2Fixture(t, pl, true, 40000, 1000)
	for _, tc := range []struct {
		name   string
		change func(*metainfo.Info)
	}{
		{"a length", func(i *metainfo.Info) { i.Files[0].Length++ }},
		{"a path", func(i *metainfo.Info) { i.Files[2].Path = []string{"z.bin"} }},
		{"no padding", func(i *metainfo.Info) { i.Files = append(i.Files[:1], i.Files[2:]...) }},
		{"a file less", func(i *metainfo.Info) { i.Files = i.Files[:2] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := *info
			c.Files = append([]metainfo.FileInfo(nil), info.Files...)
			tc.change(&c)
			_, err := V1View(&c)
			require.ErrorIs(t, err, ErrHybrid)
		})
	}
}

// FuzzV2Info: V1View, CheckInfo and NewV2Hashes on any info dictionary and
// piece layers: an error or a consistent view, never a panic.
func FuzzV2Info(f *testing.F) {
	mi, _, _ := v2Fixture(f, 16<<10, true, 40000, 3)
	layers, _ := bencode.Marshal(mi.PieceLayers)
	f.Add([]byte(mi.InfoBytes), layers)
	mi, _, _ = v2Fixture(f, 16<<10, false, 1, 20000)
	layers, _ = bencode.Marshal(mi.PieceLayers)
	f.Add([]byte(mi.InfoBytes), layers)
	f.Add([]byte("d9:file treed1:ad0:d6:lengthi5e11:pieces root3:abceee12:meta versioni2e4:name1:a12:piece lengthi16384ee"), []byte("de"))
	f.Fuzz(func(t *testing.T, ib, lb []byte) {
		if len(ib) > 1<<16 {
			return
		}
		var info metainfo.Info
		if bencode.Unmarshal(ib, &info) != nil {
			return
		}
		var layers map[string]string
		_ = bencode.Unmarshal(lb, &layers)
		view, err := V1View(&info)
		if err != nil {
			return
		}
		if CheckInfo(view) != nil {
			return
		}
		if !info.HasV2() {
			return
		}
		h, err := NewV2Hashes(&info, layers)
		if err != nil {
			return
		}
		l := LayoutOf(view)
		if l.NumPieces() > 1<<12 {
			return
		}
		for i := range l.NumPieces() {
			_ = h.Check(i, make([]byte, l.PieceSize(i)))
		}
	})
}
