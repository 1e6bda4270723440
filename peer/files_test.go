package peer_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
)

// multiFixture is a torrent of several files in dir/name.
type multiFixture struct {
	dir, name string
	data      [][]byte
	mi        *metainfo.MetaInfo
	info      *metainfo.Info
}

func newMultiFixture(t testing.TB, pieceLen int64, sizes ...int) *multiFixture {
	t.Helper()
	f := &multiFixture{dir: t.TempDir(), name: "album"}
	root := filepath.Join(f.dir, f.name)
	require.NoError(t, os.MkdirAll(root, 0o755))
	for i, n := range sizes {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		f.data = append(f.data, b)
		require.NoError(t, os.WriteFile(filepath.Join(root, string(rune('a'+i))+".bin"), b, 0o644))
	}
	info := metainfo.Info{PieceLength: pieceLen}
	require.NoError(t, info.BuildFromFilePath(root))
	ib, err := bencode.Marshal(info)
	require.NoError(t, err)
	f.mi, f.info = &metainfo.MetaInfo{InfoBytes: ib}, &info
	return f
}

func (f *multiFixture) seed(t testing.TB, cfg func(*peer.Config)) *peer.Client {
	t.Helper()
	cl := newClient(t, cfg)
	tor, err := cl.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: f.dir, Verify: true})
	require.NoError(t, err)
	require.Equal(t, int64(0), tor.Left())
	return cl
}

// TestChooseFiles: of three files only the middle one is wanted (through
// TorrentSpec.FilePriority); it downloads whole, the others get only the
// pieces they share with it, and a buyer's WantedLeft says nothing more is
// wanted while Left still counts them.
func TestChooseFiles(t *testing.T) {
	const pl = 64 << 10
	f := newMultiFixture(t, pl, 300<<10+7, 500<<10+3, 400<<10)
	seeder := f.seed(t, nil)
	leecher := newClient(t, nil)
	dir := t.TempDir()
	tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{
		MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{seeder.Addr()},
		FilePriority: func(i int, path string) peer.PiecePriority {
			if path == "album/b.bin" {
				return peer.PiecePriorityNormal
			}
			return peer.PiecePriorityNone
		},
	})
	require.NoError(t, err)
	files := tor.Files()
	require.Len(t, files, 3)
	var off int64
	for i, fl := range files {
		assert.Equal(t, "album/"+string(rune('a'+i))+".bin", fl.Path())
		assert.Equal(t, string(rune('a'+i))+".bin", fl.DisplayPath())
		assert.Equal(t, off, fl.Offset())
		assert.Equal(t, int64(len(f.data[i])), fl.Length())
		off += fl.Length()
	}
	assert.Equal(t, peer.PiecePriorityNone, files[0].Priority())
	assert.Equal(t, peer.PiecePriorityNormal, files[1].Priority())

	require.Eventually(t, func() bool { return files[1].BytesCompleted() == files[1].Length() }, 30*time.Second, 10*time.Millisecond)
	assert.Equal(t, int64(0), tor.WantedLeft())
	assert.Positive(t, tor.Left())
	select {
	case <-tor.Done():
		t.Fatal("the whole torrent downloaded")
	case <-time.After(200 * time.Millisecond): // time for any stray request to land
	}
	st, err := tor.Stats(context.Background())
	require.NoError(t, err)
	// b and at most the two pieces it shares with a and c.
	assert.LessOrEqual(t, st.Downloaded, files[1].Length()+2*pl)

	got, err := os.ReadFile(filepath.Join(dir, "album", "b.bin"))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(f.data[1], got), "b differs")
	// a: nothing before its last piece, which it shares with b.
	a, err := os.ReadFile(filepath.Join(dir, "album", "a.bin"))
	require.NoError(t, err)
	shared := files[1].Offset() / pl * pl
	assert.Equal(t, make([]byte, shared), a[:shared], "a written before its boundary piece")
	assert.Equal(t, f.data[0][shared:], a[shared:], "a's part of the boundary piece")
	// c: at most its part of the piece it shares with b.
	c, err := os.ReadFile(filepath.Join(dir, "album", "c.bin"))
	require.NoError(t, err)
	cEnd := (files[2].Offset()/pl+1)*pl - files[2].Offset()
	assert.LessOrEqual(t, int64(len(c)), cEnd, "c written past its boundary piece")
	assert.Equal(t, f.data[2][:len(c)], c)

	// Wanting c too fetches the rest of it.
	files[2].SetPriority(peer.PiecePriorityHigh)
	require.Eventually(t, func() bool { return files[2].BytesCompleted() == files[2].Length() }, 30*time.Second, 10*time.Millisecond)
	c, err = os.ReadFile(filepath.Join(dir, "album", "c.bin"))
	require.NoError(t, err)
	assert.Equal(t, f.data[2], c)
	assert.Positive(t, tor.Left(), "a is still not wanted")
}
