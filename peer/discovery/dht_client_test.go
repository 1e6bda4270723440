package discovery_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer/discovery"
)

// A node made with OnClientSocket does nothing until Start gives it a
// socket: no address, no nodes, and Bootstrap and its Source wait (for
// their context); started, it runs on that socket, once only, and closes
// it with itself.
func TestDHTOnClientSocket(t *testing.T) {
	d, err := discovery.NewDHT(discovery.DHTConfig{OnClientSocket: true, Addr: "127.0.0.1:1"})
	require.NoError(t, err)
	assert.True(t, d.OnClientSocket())
	assert.False(t, d.Addr().IsValid())
	assert.Zero(t, d.NumNodes())
	d.AddNode(netip.MustParseAddrPort("127.0.0.1:9")) // nothing to ping with yet

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, d.Bootstrap(ctx), context.DeadlineExceeded)
	ran := make(chan error, 1)
	go func() {
		ran <- d.Source().Run(ctx, discovery.Announce{Found: func([]netip.AddrPort) { t.Error("found peers before it ran") }})
	}()
	select {
	case err := <-ran:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("the Source of a node not started ignored its context")
	}

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, d.Start(pc))
	assert.Equal(t, pc.LocalAddr().String(), d.Addr().String())
	other, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer other.Close()
	require.ErrorIs(t, d.Start(other), discovery.ErrDHTStarted)

	// It answers on the socket it was given.
	peerNode, err := discovery.NewDHT(discovery.DHTConfig{Addr: "127.0.0.1:0", StartingNodes: []netip.AddrPort{d.Addr()}})
	require.NoError(t, err)
	defer peerNode.Close()
	bctx, bcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer bcancel()
	require.NoError(t, peerNode.Bootstrap(bctx))
	require.Eventually(t, func() bool { return peerNode.NumNodes() > 0 && d.NumNodes() > 0 }, 10*time.Second, 10*time.Millisecond)

	d.Close()
	require.Eventually(t, func() bool {
		_, err := pc.WriteTo([]byte("x"), other.LocalAddr())
		return err != nil
	}, 5*time.Second, 10*time.Millisecond, "the node's Close leaves its socket open")

	// A node closed before it started cannot start.
	closed, err := discovery.NewDHT(discovery.DHTConfig{OnClientSocket: true})
	require.NoError(t, err)
	closed.Close()
	require.ErrorIs(t, closed.Start(other), discovery.ErrDHTStarted)
	// Nor can one with a socket of its own.
	require.ErrorIs(t, peerNode.Start(other), discovery.ErrDHTStarted)
}
