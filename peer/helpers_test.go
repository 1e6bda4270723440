package peer_test

import (
	"bytes"
	"context"
	"crypto/rand"
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
	data []byte
	mi   *metainfo.MetaInfo
	info *metainfo.Info
}

func newFixture(t testing.TB, size int64, pieceLen int64) *fixture {
	t.Helper()
	dir := t.TempDir()
	data := make([]byte, size)
	_, err := rand.Read(data)
	require.NoError(t, err)
	name := "payload.bin"
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
	info := metainfo.Info{PieceLength: pieceLen}
	require.NoError(t, info.BuildFromFilePath(filepath.Join(dir, name)))
	ib, err := bencode.Marshal(info)
	require.NoError(t, err)
	mi := &metainfo.MetaInfo{InfoBytes: ib}
	return &fixture{dir: dir, name: name, data: data, mi: mi, info: &info}
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
	got, err := os.ReadFile(filepath.Join(dir, f.name))
	require.NoError(t, err)
	require.True(t, bytes.Equal(f.data, got), "downloaded file differs from the source")
}
