package peer_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/discovery"
)

// newClientDHT makes a client whose DHT node runs on the client's own
// port (discovery.DHTConfig.OnClientSocket), joined through starting.
func newClientDHT(t *testing.T, protos peer.Protocols, starting ...netip.AddrPort) (*peer.Client, *discovery.DHT) {
	t.Helper()
	d, err := discovery.NewDHT(discovery.DHTConfig{OnClientSocket: true, StartingNodes: starting, AnnounceInterval: 500 * time.Millisecond})
	require.NoError(t, err)
	assert.False(t, d.Addr().IsValid(), "a node waiting for its client has no address")
	t.Cleanup(d.Close)
	cl := newClient(t, func(c *peer.Config) { c.Protocols = protos; c.DHT = d; c.DisablePEX = true })
	require.Equal(t, cl.Addr(), d.Addr(), "the DHT node answers on the client's port")
	return cl, d
}

// A DHT lookup and the peer connection it leads to, on one port per
// client: each node runs on its client's port (the uTP socket's non-uTP
// packets when uTP is on), the seeder announces that port, and the
// leecher, which knows only the hub's node, finds the seeder through the
// DHT and connects to the port it found. PEX is off everywhere.
func TestDHTOnClientPort(t *testing.T) {
	for _, tc := range []struct {
		name   string
		protos peer.Protocols
	}{
		{"utp", peer.ProtocolUTP}, // the DHT and the peer wire on one UDP socket
		{"tcp+utp", peer.ProtocolTCP | peer.ProtocolUTP},
		{"tcp", peer.ProtocolTCP}, // a UDP socket of the TCP port's number
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 1<<20+3, 256<<10)
			hub, hubNode := newClientDHT(t, tc.protos)
			seeder, _ := newClientDHT(t, tc.protos, hub.Addr())
			seed(t, seeder, f)
			leecher, leechNode := newClientDHT(t, tc.protos, hub.Addr())
			dir := t.TempDir()
			tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir})
			require.NoError(t, err)
			require.Eventually(t, func() bool { return tor.Knows(seeder.Addr()) }, 20*time.Second, 20*time.Millisecond, "the DHT never named the seeder")
			waitDone(t, tor, 30*time.Second)
			requireSameFile(t, f, dir)
			assert.Positive(t, hubNode.NumNodes())
			assert.Positive(t, leechNode.NumNodes())
		})
	}
}

// A node made for a client's port serves one client: a second client
// given it fails to start, and says why; a node closed before its client
// started it fails the client too.
func TestDHTOnClientPortOnce(t *testing.T) {
	d, err := discovery.NewDHT(discovery.DHTConfig{OnClientSocket: true})
	require.NoError(t, err)
	defer d.Close()
	newClient(t, func(c *peer.Config) { c.Protocols = peer.ProtocolUTP; c.DHT = d })
	_, err = peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", Protocols: peer.ProtocolUTP, DHT: d})
	require.ErrorIs(t, err, discovery.ErrDHTStarted)

	closed, err := discovery.NewDHT(discovery.DHTConfig{OnClientSocket: true})
	require.NoError(t, err)
	closed.Close()
	_, err = peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", DHT: closed})
	require.ErrorIs(t, err, discovery.ErrDHTStarted)

	// A node with its own socket keeps it.
	own, err := discovery.NewDHT(discovery.DHTConfig{Addr: "127.0.0.1:0"})
	require.NoError(t, err)
	defer own.Close()
	cl := newClient(t, func(c *peer.Config) { c.Protocols = peer.ProtocolUTP; c.DHT = own })
	assert.NotEqual(t, cl.Addr().Port(), own.Addr().Port())
	require.ErrorIs(t, own.Start(nil), discovery.ErrDHTStarted)
}

// Closing the DHT node before its client leaves the client's uTP socket
// working; closing the client ends the node's reads.
func TestDHTOnUTPSocketClose(t *testing.T) {
	f := newFixture(t, 256<<10+1, 64<<10)
	seeder, seedNode := newClientDHT(t, peer.ProtocolUTP)
	seed(t, seeder, f)
	seedNode.Close()
	leecher := newClient(t, func(c *peer.Config) { c.Protocols = peer.ProtocolUTP })
	dir := t.TempDir()
	tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{seeder.Addr()}})
	require.NoError(t, err)
	waitDone(t, tor, 30*time.Second)

	// A node still running when its client closes stops reading.
	cl, d := newClientDHT(t, peer.ProtocolUTP)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer pc.Close()
	require.NoError(t, cl.Close())
	d.Close() // returns: its server's read ended with the socket
}
