package peer_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/bttspeed/bttspeed/internal/legacy"

	"github.com/anacrolix/torrent"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
)

// newAnacrolix starts a stock anacrolix client on loopback with DHT, PEX,
// trackers, uTP and port forwarding off, storing data in dir.
func newAnacrolix(t testing.TB, dir string, seed bool) *torrent.Client {
	t.Helper()
	cfg := legacy.Config(dir, nil)
	cfg.Seed = seed
	cl, err := torrent.NewClient(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { cl.Close() })
	return cl
}

func anacrolixAddr(t testing.TB, cl *torrent.Client) netip.AddrPort {
	t.Helper()
	for _, a := range cl.ListenAddrs() {
		if ta, ok := a.(*net.TCPAddr); ok {
			return ta.AddrPort()
		}
	}
	t.Fatal("anacrolix client has no TCP listener")
	return netip.AddrPort{}
}

func TestOursToAnacrolix(t *testing.T) {
	f := newFixture(t, 2<<20+777, 256<<10)
	seeder := newClient(t, nil)
	st := seed(t, seeder, f)

	dir := t.TempDir()
	ac := newAnacrolix(t, dir, false)
	at, err := ac.AddTorrent(f.mi)
	require.NoError(t, err)
	at.AddPeers([]torrent.PeerInfo{{Addr: net.TCPAddrFromAddrPort(seeder.Addr()), Trusted: true}})
	<-at.GotInfo()
	at.DownloadAll()
	select {
	case <-at.Complete().On():
	case <-time.After(60 * time.Second):
		// What each side saw, for a failure seen once in CI under -race.
		ours, err := st.Stats(context.Background())
		t.Fatalf("anacrolix did not finish downloading from us: %d bytes missing; anacrolix: %d peers, %+v; our seeder: %+v (err %v)",
			at.BytesMissing(), len(at.PeerConns()), at.Stats().ConnStats, ours, err)
	}
	ac.Close()
	requireSameFile(t, f, dir)
}

func TestAnacrolixToOurs(t *testing.T) {
	f := newFixture(t, 2<<20+999, 256<<10)
	ac := newAnacrolix(t, f.dir, true)
	at, err := ac.AddTorrent(f.mi)
	require.NoError(t, err)
	require.NoError(t, at.VerifyDataContext(context.Background()))
	require.Equal(t, int64(0), at.BytesMissing())

	leecher := newClient(t, nil)
	dir := t.TempDir()
	tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{anacrolixAddr(t, ac)}})
	require.NoError(t, err)
	waitDone(t, tor, 60*time.Second)
	requireSameFile(t, f, dir)
}
