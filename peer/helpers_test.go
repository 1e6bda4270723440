package peer_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
)

// fixture is a generated file and its torrent.
type fixture struct {
	dir  string // holds the file
	name string
	sum  [32]byte // sha256 of the data
	mi   *metainfo.MetaInfo
	info *metainfo.Info
}

// newFixture writes a file of random bytes, streaming, so big fixtures cost
// no memory.
func newFixture(t testing.TB, size int64, pieceLen int64) *fixture {
	t.Helper()
	dir := t.TempDir()
	name := "payload.bin"
	out, err := os.Create(filepath.Join(dir, name))
	require.NoError(t, err)
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		_, err := rand.Read(buf[:n])
		require.NoError(t, err)
		_, err = io.MultiWriter(out, h).Write(buf[:n])
		require.NoError(t, err)
		left -= n
	}
	require.NoError(t, out.Close())
	var sum [32]byte
	h.Sum(sum[:0])
	info := metainfo.Info{PieceLength: pieceLen}
	require.NoError(t, info.BuildFromFilePath(filepath.Join(dir, name)))
	ib, err := bencode.Marshal(info)
	require.NoError(t, err)
	mi := &metainfo.MetaInfo{InfoBytes: ib}
	return &fixture{dir: dir, name: name, sum: sum, mi: mi, info: &info}
}

func newClient(t testing.TB, mod func(*peer.Config)) *peer.Client {
	t.Helper()
	cfg := peer.Config{ListenAddr: "127.0.0.1:0"}
	if mod != nil {
		mod(&cfg)
	}
	cl, err := peer.NewClient(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { cl.Close() })
	return cl
}

// seed adds the fixture to a client as a seeder of its data.
func seed(t testing.TB, cl *peer.Client, f *fixture) *peer.Torrent {
	t.Helper()
	tor, err := cl.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: f.dir, Verify: true})
	require.NoError(t, err)
	select {
	case <-tor.Done():
	default:
		t.Fatal("seeder does not have the data")
	}
	return tor
}

func waitDone(t testing.TB, tor *peer.Torrent, timeout time.Duration) {
	t.Helper()
	select {
	case <-tor.Done():
	case <-time.After(timeout):
		st, _ := tor.Stats(context.Background())
		t.Fatalf("download did not complete in %v: %+v (err %v)", timeout, st, tor.Err())
	}
}

func requireSameFile(t testing.TB, f *fixture, dir string) {
	t.Helper()
	in, err := os.Open(filepath.Join(dir, f.name))
	require.NoError(t, err)
	defer in.Close()
	h := sha256.New()
	_, err = io.Copy(h, in)
	require.NoError(t, err)
	require.Equal(t, f.sum[:], h.Sum(nil), "downloaded file differs from the source")
}
