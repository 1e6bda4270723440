package peer_test

import (
	"fmt"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/peertest"
)

// memClient starts a client on a new host of network n: it listens and
// dials through n only.
func memClient(t *testing.T, n *peertest.Network, mod func(*peer.Config)) (*peer.Client, *peertest.Host) {
	t.Helper()
	h := n.Host()
	ln, err := h.Listen(6881)
	require.NoError(t, err)
	return newClient(t, func(c *peer.Config) {
		c.ListenAddr = "" // unused: the listener is given
		c.Listener, c.Dial = ln, h.Dial
		if mod != nil {
			mod(c)
		}
	}), h
}

// TestInMemoryNetwork: clients on an in-memory network (Config.Listener
// and Config.Dial) transfer a torrent as over TCP — a leecher from a
// .torrent, another from a magnet link through the first — with each
// client at its host's address; a partition keeps a leecher from its
// seeder until healed.
func TestInMemoryNetwork(t *testing.T) {
	f := newFixture(t, 2<<20+5, 64<<10)
	n := peertest.NewNetwork()
	seeder, sh := memClient(t, n, nil)
	seedTor := seed(t, seeder, f)
	assert.Equal(t, netip.MustParseAddrPort("127.0.0.2:6881"), seeder.Addr())

	leecher, _ := memClient(t, n, nil)
	dir := t.TempDir()
	tor, err := leecher.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{seeder.Addr()}})
	require.NoError(t, err)
	waitDone(t, tor, 30*time.Second)
	requireSameFile(t, f, dir)

	// A magnet leecher that knows only the first leecher, cut off from
	// the seeder: it gets everything from the leecher.
	magnetLeecher, mh := memClient(t, n, nil)
	n.Partition(mh, sh)
	mdir := t.TempDir()
	magnet := fmt.Sprintf("magnet:?xt=urn:btih:%s&x.pe=%s", f.mi.HashInfoBytes().HexString(), leecher.Addr())
	mtor, err := magnetLeecher.AddTorrent(t.Context(), peer.TorrentSpec{Magnet: magnet, Dir: mdir})
	require.NoError(t, err)
	waitDone(t, mtor, 30*time.Second)
	requireSameFile(t, f, mdir)

	// Partitioned from its only seeder, a leecher gets nothing; once the
	// link is healed, the seeder dials it.
	late, lh := memClient(t, n, nil)
	n.Partition(lh, sh)
	ldir := t.TempDir()
	ltor, err := late.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: ldir, Peers: []netip.AddrPort{seeder.Addr()}})
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond)
	st, err := ltor.Stats(t.Context())
	require.NoError(t, err)
	assert.Zero(t, st.Downloaded, "nothing across the partition")
	assert.Zero(t, st.Peers, "no peer across the partition")
	n.Heal(lh, sh)
	seedTor.AddPeers(late.Addr())
	waitDone(t, ltor, 30*time.Second)
	requireSameFile(t, f, ldir)
}

// TestInMemoryNetworkSynctest: on the in-memory network a transfer runs
// inside a testing/synctest bubble, on its fake clock: the engine's
// timers, deadlines and tickers all advance only when every goroutine
// waits, so a test of timeouts need not sleep.
func TestInMemoryNetworkSynctest(t *testing.T) {
	f := newFixture(t, 1<<20+3, 32<<10)
	synctest.Test(t, func(t *testing.T) {
		n := peertest.NewNetwork()
		seeder, _ := memClient(t, n, nil)
		seed(t, seeder, f)
		leecher, _ := memClient(t, n, nil)
		dir := t.TempDir()
		tor, err := leecher.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{seeder.Addr()}})
		require.NoError(t, err)
		<-tor.Done()
		requireSameFile(t, f, dir)

		// A dead address: the dial waits out HandshakeTimeout (10 s of
		// the bubble's clock, none of the test's) and the torrent keeps
		// going.
		start := time.Now()
		sh, _ := n.Host().Listen(6881) // listens, never accepts
		defer sh.Close()
		tor.AddPeers(netip.MustParseAddrPort(sh.Addr().String()))
		time.Sleep(11 * time.Second)
		synctest.Wait()
		st, err := tor.Stats(t.Context())
		require.NoError(t, err)
		assert.Equal(t, 0, st.Peers, "the seed was closed once both had everything; the dead address never connected")
		assert.GreaterOrEqual(t, time.Since(start), 11*time.Second)
	})
}
