package peer_test

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
)

// TestMetainfoFromMagnet: a torrent added by magnet link can be saved as a
// .torrent once its info arrives, with the magnet's tracker, and the saved
// file adds the same torrent.
func TestMetainfoFromMagnet(t *testing.T) {
	f := newFixture(t, 100<<10, 32<<10)
	seeder := newClient(t, nil)
	seed(t, seeder, f)
	leecher := newClient(t, nil)
	magnet := fmt.Sprintf("magnet:?xt=urn:btih:%s&tr=http%%3A%%2F%%2F127.0.0.1%%3A1%%2Fannounce&x.pe=%s", f.mi.HashInfoBytes().HexString(), seeder.Addr())
	tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{Magnet: magnet, Dir: t.TempDir(), Trackers: []string{"udp://127.0.0.1:2/announce"}})
	require.NoError(t, err)
	select {
	case <-tor.GotInfo():
	case <-time.After(30 * time.Second):
		t.Fatal("no info")
	}
	mi, err := tor.Metainfo()
	require.NoError(t, err)
	assert.Equal(t, tor.InfoHash(), mi.HashInfoBytes())
	assert.Equal(t, metainfo.AnnounceList{{"http://127.0.0.1:1/announce"}, {"udp://127.0.0.1:2/announce"}}, mi.AnnounceList)
	var buf bytes.Buffer
	require.NoError(t, mi.Write(&buf))
	back, err := metainfo.Load(&buf)
	require.NoError(t, err)
	assert.Equal(t, f.mi.HashInfoBytes(), back.HashInfoBytes())

	// Before the info: an error, not a torrent without one.
	lone := newClient(t, nil)
	waiting, err := lone.AddTorrent(context.Background(), peer.TorrentSpec{Magnet: "magnet:?xt=urn:btih:" + f.mi.HashInfoBytes().HexString(), Dir: t.TempDir()})
	require.NoError(t, err)
	_, err = waiting.Metainfo()
	assert.ErrorIs(t, err, peer.ErrNoInfo)
}

// TestRemove: Torrents lists what was added; Remove without deleteData
// keeps the files, with it deletes them and forgets their pieces, so the
// torrent added again downloads again.
func TestRemove(t *testing.T) {
	const pl = 64 << 10
	f := newMultiFixture(t, pl, 100<<10, 200<<10)
	seeder := f.seed(t, nil)
	leecher := newClient(t, nil)
	dir := t.TempDir()
	add := func() *peer.Torrent {
		tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{seeder.Addr()}})
		require.NoError(t, err)
		return tor
	}
	tor := add()
	waitDone(t, tor, 30*time.Second)
	assert.Equal(t, []*peer.Torrent{tor}, leecher.Torrents())
	got, ok := leecher.Torrent(tor.InfoHash())
	assert.True(t, ok)
	assert.Equal(t, tor, got)

	require.NoError(t, leecher.Remove(tor.InfoHash(), false))
	assert.Empty(t, leecher.Torrents())
	assert.ErrorIs(t, leecher.Remove(tor.InfoHash(), false), peer.ErrUnknownTorrent)
	_, err := os.Stat(filepath.Join(dir, "album", "b.bin"))
	require.NoError(t, err, "kept without deleteData")
	tor = add()
	assert.Equal(t, int64(0), tor.Left(), "its pieces still count")

	require.NoError(t, leecher.Remove(tor.InfoHash(), true))
	_, err = os.Stat(filepath.Join(dir, "album"))
	assert.ErrorIs(t, err, os.ErrNotExist, "files and their directory deleted")
	tor = add()
	assert.Equal(t, int64(300<<10), tor.Left(), "nothing counts as downloaded")
	waitDone(t, tor, 30*time.Second)
}
