package peer_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/piece"
)

// gateExt is an extension whose handlers hold every request back until
// the test opens the gate.
type gateExt struct {
	mu   sync.Mutex
	open bool
	free bool // ServeFree, open or not
	peer chan peer.ExtPeer
}

func (g *gateExt) Name() string                               { return "test_gate" }
func (g *gateExt) HandshakeKeys(*peer.Torrent) map[string]any { return nil }
func (g *gateExt) Attach(p peer.ExtPeer, _ map[string]bencode.Bytes) (peer.ExtHandler, error) {
	g.peer <- p
	return gateHandler{g}, nil
}

type gateHandler struct{ g *gateExt }

func (gateHandler) Message([]byte) error { return nil }
func (gateHandler) Closed()              {}
func (h gateHandler) MayServe(piece.Block) peer.Verdict {
	h.g.mu.Lock()
	defer h.g.mu.Unlock()
	switch {
	case h.g.free:
		return peer.ServeFree
	case h.g.open:
		return peer.Serve
	}
	return peer.Hold
}

// sendExtHandshake sends a BEP 10 handshake naming the extension.
func (r *rawPeer) sendExtHandshake(name string) {
	payload, err := bencode.Marshal(map[string]any{"m": map[string]int{name: 1}})
	require.NoError(r.t, err)
	var b bytes.Buffer
	_ = binary.Write(&b, binary.BigEndian, uint32(2+len(payload)))
	b.WriteByte(byte(pp.Extended))
	b.WriteByte(0)
	b.Write(payload)
	_, err = r.w.Write(b.Bytes())
	require.NoError(r.t, err)
	require.NoError(r.t, r.w.Flush())
}

// TestServeGateHoldsRequests: requests a ServeGate refuses are neither
// served nor rejected but held, in order, until ServeHeld; a cancel ends a
// held request with a reject (BEP 6).
func TestServeGateHoldsRequests(t *testing.T) {
	g := &gateExt{peer: make(chan peer.ExtPeer, 1)}
	r, ep := gatedPeer(t, g)

	for i := uint32(0); i < 3; i++ {
		r.send(pp.Request, i, 0, 16<<10)
	}
	m, ok := r.recv(300*time.Millisecond, pp.Piece, pp.Reject)
	assert.False(t, ok, "a held request got %v", m.Type)

	r.send(pp.Cancel, 1, 0, 16<<10)
	m, ok = r.recv(time.Second, pp.Piece, pp.Reject)
	require.True(t, ok, "a cancelled held request is rejected")
	assert.Equal(t, pp.Reject, m.Type)
	assert.Equal(t, pp.Integer(1), m.Index)

	g.mu.Lock()
	g.open = true
	g.mu.Unlock()
	ep.Do(ep.ServeHeld)
	for _, want := range []pp.Integer{0, 2} {
		m, ok = r.recv(time.Second, pp.Piece, pp.Reject)
		require.True(t, ok, "held request %d served once the gate opens", want)
		assert.Equal(t, pp.Piece, m.Type)
		assert.Equal(t, want, m.Index, "held requests are served in order")
	}
}

// TestUploadRate: a seeder capped at 2 MiB/s takes at least about as long
// as its cap allows to upload 3 MiB (a lower bound: a slow machine only
// makes it longer).
func TestUploadRate(t *testing.T) {
	const size, rate = 3 << 20, 2 << 20
	f := newFixture(t, size, 64<<10)
	seeder := newClient(t, func(c *peer.Config) { c.UploadRate = rate })
	seed(t, seeder, f)
	leecher := newClient(t, nil)
	dir := t.TempDir()
	start := time.Now()
	tor, err := leecher.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{seeder.Addr()}})
	require.NoError(t, err)
	waitDone(t, tor, 30*time.Second)
	took := time.Since(start)
	requireSameFile(t, f, dir)
	// The limiter's burst (a tenth of a second's worth) may go at once.
	minimum := time.Duration(size-rate/10) * time.Second / rate
	assert.GreaterOrEqual(t, took, minimum, "3 MiB at 2 MiB/s")
	t.Logf("3 MiB at a 2 MiB/s cap: %v", took)

	_, err = peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", UploadRate: -1})
	assert.Error(t, err, "a negative rate is refused")
}

// TestServeFreeCounted: blocks a ServeGate passes with ServeFree are sent
// like any other and counted in UploadedFree as well as in Uploaded; the
// others only in Uploaded.
func TestServeFreeCounted(t *testing.T) {
	g := &gateExt{peer: make(chan peer.ExtPeer, 1), open: true, free: true}
	r, ep := gatedPeer(t, g)

	get := func(i uint32) {
		t.Helper()
		r.send(pp.Request, i, 0, 16<<10)
		m, ok := r.recv(time.Second, pp.Piece, pp.Reject)
		require.True(t, ok, "block %d served", i)
		require.Equal(t, pp.Piece, m.Type)
		assert.Len(t, m.Piece, 16<<10, "block %d", i)
	}
	get(0)
	get(1)
	g.mu.Lock()
	g.free = false
	g.mu.Unlock()
	get(2)
	require.Eventually(t, func() bool { return ep.Uploaded() == 3*16<<10 }, time.Second, time.Millisecond)
	assert.Equal(t, int64(2*16<<10), ep.UploadedFree())
	assert.Equal(t, "serve-free", peer.ServeFree.String())
}

// gatedPeer seeds a fixture of 8 blocks from a client with gate g, and
// returns a raw peer that named the gate's extension and is unchoked, and
// the gate's view of it.
func gatedPeer(t *testing.T, g *gateExt) (*rawPeer, peer.ExtPeer) {
	t.Helper()
	f := newFixture(t, 8*(16<<10), 16<<10)
	cl := newClient(t, func(c *peer.Config) {
		c.Policy = func() (choker.Policy, error) { return fixedPolicy{unchoke: true}, nil }
		c.RechokeInterval = 50 * time.Millisecond
		c.Extensions = []peer.Extension{g}
	})
	seed(t, cl, f)
	r := dialRaw(t, cl.Addr().String(), f.mi.HashInfoBytes(), true, true)
	r.sendExtHandshake("test_gate")
	var ep peer.ExtPeer
	select {
	case ep = <-g.peer:
	case <-time.After(5 * time.Second):
		t.Fatal("extension not attached")
	}
	r.send(pp.Interested)
	_, ok := r.recv(5*time.Second, pp.Unchoke)
	require.True(t, ok, "unchoked")
	return r, ep
}
