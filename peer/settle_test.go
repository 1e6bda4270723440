package peer_test

import (
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
)

// settleExt is an extension whose handler stays unsettled for its first
// calls (pending of them) and then sends "paid" to its peer; with
// pending < 0 it never settles.
type settleExt struct {
	mu      sync.Mutex
	pending int
	asked   int
	peer    chan peer.ExtPeer
}

func (e *settleExt) Name() string                               { return "test_settle" }
func (e *settleExt) HandshakeKeys(*peer.Torrent) map[string]any { return nil }
func (e *settleExt) Attach(p peer.ExtPeer, _ map[string]bencode.Bytes) (peer.ExtHandler, error) {
	e.peer <- p
	return &settleHandler{e: e, p: p}, nil
}

type settleHandler struct {
	e    *settleExt
	p    peer.ExtPeer
	sent bool
}

func (*settleHandler) Message([]byte) error { return nil }
func (*settleHandler) Closed()              {}
func (h *settleHandler) Unsettled() bool {
	h.e.mu.Lock()
	defer h.e.mu.Unlock()
	h.e.asked++
	if h.e.pending < 0 {
		return true
	}
	if h.e.asked <= h.e.pending {
		return true
	}
	if !h.sent {
		h.sent = true
		h.p.Send([]byte("paid"))
		return true // queued: the connection must send it before closing
	}
	return false
}

// TestCloseSettles: closing a torrent waits for its handlers' work for
// their peers (Settler) and sends what they queued before the connection
// closes; a handler that never settles holds the close up for
// CloseTimeout, not for ever.
func TestCloseSettles(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pending  int
		wantPaid bool
	}{
		{"settled at once", 0, true},
		{"settles after a few looks", 5, true},
		{"never settles", -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 4*(16<<10), 16<<10)
			e := &settleExt{pending: tc.pending, peer: make(chan peer.ExtPeer, 1)}
			cl := newClient(t, func(c *peer.Config) {
				c.Extensions = []peer.Extension{e}
				c.CloseTimeout = 300 * time.Millisecond
			})
			tor := seed(t, cl, f)
			r := dialRaw(t, cl.Addr().String(), f.mi.HashInfoBytes(), true, true)
			r.sendExtHandshake("test_settle")
			select {
			case <-e.peer:
			case <-time.After(5 * time.Second):
				t.Fatal("extension not attached")
			}

			closed := make(chan struct{})
			go func() {
				defer close(closed)
				assert.NoError(t, tor.Close())
			}()
			gotPaid := false
			for {
				m, ok := r.recv(10*time.Second, pp.Extended)
				if !ok {
					break // the connection closed
				}
				if string(m.ExtendedPayload) == "paid" {
					gotPaid = true
				}
			}
			select {
			case <-closed:
			case <-time.After(10 * time.Second):
				t.Fatal("Close did not return")
			}
			assert.Equal(t, tc.wantPaid, gotPaid, "the message queued while settling was sent before the close")
			e.mu.Lock()
			defer e.mu.Unlock()
			require.Positive(t, e.asked, "Close asked the handler")
		})
	}
}
