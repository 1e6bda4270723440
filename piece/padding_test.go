package piece

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// paddedInfo returns an info of real files of the given sizes, each but the
// last padded (BEP 47, ".pad/<n>") to a multiple of align bytes, and the
// torrent's bytes (zeros for padding).
func paddedInfo(t testing.TB, pl, align int64, sizes ...int) (*metainfo.Info, []byte) {
	t.Helper()
	info := &metainfo.Info{Name: "p", PieceLength: pl}
	var whole []byte
	for k, n := range sizes {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		whole = append(whole, b...)
		info.Files = append(info.Files, metainfo.FileInfo{Path: []string{string(rune('a' + k))}, Length: int64(n)})
		if k == len(sizes)-1 {
			break
		}
		if pad := (align - int64(len(whole))%align) % align; pad > 0 {
			whole = append(whole, make([]byte, pad)...)
			info.Files = append(info.Files, metainfo.FileInfo{
				Path: []string{".pad", strconv.FormatInt(pad, 10)}, Length: pad,
				ExtendedFileAttrs: metainfo.ExtendedFileAttrs{Attr: "p"},
			})
		}
	}
	var err error
	info.Pieces, err = metainfo.GeneratePieces(bytes.NewReader(whole), pl, nil)
	require.NoError(t, err)
	return info, whole
}

func TestPaddingOf(t *testing.T) {
	const B = BlockSize
	info, _ := paddedInfo(t, 4*B, 4*B, B+1, 3*B, 4*B+5)
	p := PaddingOf(info)
	// a: [0, B+1), pad to 4B; b: [4B, 7B), pad to 8B; c: [8B, 12B+5).
	require.Equal(t, []Extent{{B + 1, 3*B - 1}, {7 * B, B}}, p.Extents())
	for _, tc := range []struct {
		name      string
		off, n    int64
		run       int64
		covers    bool
		isPadding bool
	}{
		{"before", 0, B, 0, false, false},
		{"start of a pad", B + 1, 10, 10, true, true},
		{"across a pad's end", 3 * B, 2 * B, B, false, false},
		{"the last pad whole", 7 * B, B, B, true, true},
		{"after", 8 * B, B, 0, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.run, p.Run(tc.off, tc.n))
			assert.Equal(t, tc.covers, p.Covers(tc.off, tc.n))
		})
	}
	l := LayoutOf(info)
	// Piece 0: blocks 2 and 3 are all padding (block 1 holds a's last byte);
	// piece 1: block 3.
	assert.Equal(t, map[int]int{0: 2, 1: 1}, p.PaddingBlocks(l))
	assert.True(t, p.BlockIsPadding(l, l.Block(0, 2)))
	assert.False(t, p.BlockIsPadding(l, l.Block(0, 1)))
	assert.False(t, p.PiecePadding(l, 0))
	assert.True(t, PaddingOf(&metainfo.Info{PieceLength: B, Length: 5}).Empty())
}

// TestPickerSkipsPadding: the picker never hands out a padding block, a
// piece is done when its real blocks are in, padding blocks are "sent" by
// NoPeer, and a lone sender of a bad piece is still proven bad.
func TestPickerSkipsPadding(t *testing.T) {
	const B = BlockSize
	info, _ := paddedInfo(t, 4*B, 4*B, B+1, 3*B, 4*B+5)
	l := LayoutOf(info)
	pad := PaddingOf(info)
	p, err := NewPicker(l, NewBitfield(l.NumPieces()), PickerConfig{Padding: pad})
	require.NoError(t, err)
	all := NewBitfield(l.NumPieces())
	for i := range l.NumPieces() {
		all.Set(i)
	}
	p.AddPeer(1, all)
	now := time.Now()
	got := p.Pick(1, 100, now, nil)
	blocks := 0
	for i := range l.NumPieces() {
		blocks += l.NumBlocks(i)
	}
	assert.Len(t, got, blocks-3, "every block but the three of padding")
	for _, b := range got {
		assert.False(t, pad.BlockIsPadding(l, b), "picked padding block %+v", b)
	}
	assert.False(t, p.Endgame() && len(p.Pick(1, 100, now, nil)) > 0, "nothing left to pick, not even padding")
	var done []int
	for _, b := range got {
		if res := p.Received(1, b); res.PieceDone {
			done = append(done, b.Piece)
		}
	}
	assert.ElementsMatch(t, []int{0, 1, 2, 3}, done)
	assert.Equal(t, []PeerID{1, 1, NoPeer, NoPeer}, p.PieceSenders(0))
	_, banned := p.Verified(0, false)
	assert.Equal(t, []PeerID{1}, banned, "the one real sender of a bad piece is proven bad; NoPeer is nobody")
	p.Verified(1, true)
	p.Verified(2, true)
	p.Verified(3, true)
	assert.False(t, p.Complete())
	assert.Equal(t, l.PieceSize(0), p.Left())
}

func TestPickerAllPaddingPiece(t *testing.T) {
	const B = BlockSize
	info, _ := paddedInfo(t, 2*B, 4*B, B, B) // a, a pad of 3B (piece 1 all padding), b
	l := LayoutOf(info)
	pad := PaddingOf(info)
	require.True(t, pad.PiecePadding(l, 1))
	_, err := NewPicker(l, NewBitfield(l.NumPieces()), PickerConfig{Padding: pad})
	require.ErrorIs(t, err, ErrPickerConfig)
	have := NewBitfield(l.NumPieces())
	have.Set(1)
	p, err := NewPicker(l, have, PickerConfig{Padding: pad})
	require.NoError(t, err)
	assert.Equal(t, l.Length-l.PieceSize(1), p.Left())
}

// TestStoragePadding: the file backend never creates a padding file, reads
// it as zeros (to hash and to serve), drops what is written to it, and
// verifies pieces through it.
func TestStoragePadding(t *testing.T) {
	const B = BlockSize
	info, whole := paddedInfo(t, 4*B, 4*B, B+1, 3*B, 4*B+5)
	l := LayoutOf(info)
	dir := t.TempDir()
	st, err := OpenStorage(StorageConfig{Dir: dir, Info: info, InfoHash: metainfo.Hash{1}})
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.Prepare())
	for i := range l.NumPieces() {
		for j := range l.NumBlocks(i) {
			b := l.Block(i, j)
			off := l.Offset(b)
			data := whole[off : off+int64(b.Length)]
			if PaddingOf(info).BlockIsPadding(l, b) {
				data = bytes.Repeat([]byte{0xff}, int(b.Length)) // dropped
			}
			require.NoError(t, st.WriteBlock(b, data))
		}
		ok, err := st.VerifyPiece(i)
		require.NoError(t, err)
		assert.True(t, ok, "piece %d", i)
	}
	buf := make([]byte, B)
	require.NoError(t, st.ReadBlock(l.Block(0, 2), buf))
	assert.Equal(t, make([]byte, B), buf, "padding reads as zeros")
	_, err = os.Stat(filepath.Join(dir, "p", ".pad"))
	assert.True(t, os.IsNotExist(err), "no padding file on disk: %v", err)
	got, err := os.ReadFile(filepath.Join(dir, "p", "b"))
	require.NoError(t, err)
	assert.Equal(t, whole[4*B:7*B], got)
}
