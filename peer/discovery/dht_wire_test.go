package discovery_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer/discovery"
)

func newNode(t *testing.T, cfg discovery.DHTConfig) *discovery.DHT {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	d, err := discovery.NewDHT(cfg)
	require.NoError(t, err)
	t.Cleanup(d.Close)
	return d
}

// A node a peer names (PORT) joins the routing table once it answers a
// ping; one that does not answer never does.
func TestDHTAddNode(t *testing.T) {
	a := newNode(t, discovery.DHTConfig{})
	b := newNode(t, discovery.DHTConfig{})
	require.Zero(t, a.NumNodes())
	a.AddNode(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 1)) // nobody there
	a.AddNode(b.Addr())
	a.AddNode(b.Addr()) // a repeat costs nothing
	require.Eventually(t, func() bool { return a.NumNodes() == 1 }, 10*time.Second, 10*time.Millisecond)
	a.AddNode(netip.AddrPort{}) // ignored
}

// The routing table is saved on Close and loaded on start: a restarted
// node knows its nodes without being given any.
func TestDHTNodesFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "dht.dat")
	other := newNode(t, discovery.DHTConfig{})
	cfg := discovery.DHTConfig{Addr: "127.0.0.1:0", NodesFile: file, StartingNodes: []netip.AddrPort{other.Addr()}}
	d, err := discovery.NewDHT(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, d.Bootstrap(ctx))
	require.Equal(t, 1, d.NumNodes())
	d.Close()
	d.Close() // idempotent
	st, err := os.Stat(file)
	require.NoError(t, err)
	assert.Positive(t, st.Size())

	cfg.StartingNodes = nil
	d2, err := discovery.NewDHT(cfg)
	require.NoError(t, err)
	defer d2.Close()
	assert.Equal(t, 1, d2.NumNodes())

	// A corrupt file is reported and ignored.
	require.NoError(t, os.WriteFile(file, []byte("garbage!"), 0o644))
	d3, err := discovery.NewDHT(cfg)
	require.NoError(t, err)
	d3.Close()
}

// BEP 42 is on by default; loopback nodes are exempt, so they join all
// the same.
func TestDHTSecureByDefault(t *testing.T) {
	a := newNode(t, discovery.DHTConfig{})
	b := newNode(t, discovery.DHTConfig{StartingNodes: []netip.AddrPort{a.Addr()}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, b.Bootstrap(ctx))
	assert.Equal(t, 1, b.NumNodes())
}
