package peer_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/discovery"
)

func newDHTNode(t *testing.T, starting ...netip.AddrPort) *discovery.DHT {
	t.Helper()
	d, err := discovery.NewDHT(discovery.DHTConfig{Addr: "127.0.0.1:0", StartingNodes: starting, AnnounceInterval: 500 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(d.Close)
	return d
}

// A leecher whose DHT node knows no node at all, given one peer that has
// nothing, finds the seeder through that peer's PORT message: its node
// pings the peer's node, which holds the seeder's announce. PEX is off
// everywhere, so nothing else can name the seeder.
func TestDHTPortFindsSeeder(t *testing.T) {
	f := newFixture(t, 1<<20+3, 256<<10)
	hubNode := newDHTNode(t)
	hub := newClient(t, func(c *peer.Config) { c.DHT = hubNode; c.DisablePEX = true })
	_, err := hub.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: t.TempDir()})
	require.NoError(t, err)

	seeder := newClient(t, func(c *peer.Config) { c.DHT = newDHTNode(t, hubNode.Addr()); c.DisablePEX = true })
	seed(t, seeder, f)

	leechNode := newDHTNode(t)
	leecher := newClient(t, func(c *peer.Config) { c.DHT = leechNode; c.DisablePEX = true })
	dir := t.TempDir()
	tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{hub.Addr()}})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return leechNode.NumNodes() > 0 }, 10*time.Second, 10*time.Millisecond, "the hub's PORT never reached the leecher's node")
	require.Eventually(t, func() bool { return tor.Knows(seeder.Addr()) }, 20*time.Second, 20*time.Millisecond, "the DHT never named the seeder")
	waitDone(t, tor, 30*time.Second)
	requireSameFile(t, f, dir)
}
