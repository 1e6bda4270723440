package peer

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/anacrolix/torrent/metainfo"
)

// Event is what Subscribe delivers: one of the types below, or a type an
// extension publishes through Torrent.Publish (peer/speed's payments and
// auctions). Receivers switch on the type.
type Event any

// The engine's events. Each names its torrent.
type (
	// PieceVerified: a piece passed its hash check and is on disk.
	PieceVerified struct {
		InfoHash metainfo.Hash
		Piece    int
	}
	// TorrentComplete: every piece is verified (Torrent.Done closes).
	TorrentComplete struct{ InfoHash metainfo.Hash }
	// WantedComplete: every wanted piece is verified (files set to
	// PiecePriorityNone aside); sent each time it becomes true.
	WantedComplete struct{ InfoHash metainfo.Hash }
	// MetadataReceived: a magnet link's info arrived (BEP 9); Files and
	// readers work from now on.
	MetadataReceived struct{ InfoHash metainfo.Hash }
	// PeerConnected: a connection finished its handshake and joined the
	// torrent.
	PeerConnected struct {
		InfoHash metainfo.Hash
		Addr     netip.AddrPort
		PeerID   [20]byte
	}
	// PeerDropped: a connection closed; Err says why (nil or ErrClosed
	// for an ordinary close).
	PeerDropped struct {
		InfoHash metainfo.Hash
		Addr     netip.AddrPort
		Err      error
	}
	// Missed: the subscriber was slow and this many events were dropped
	// here, in place of them.
	Missed struct{ N int }
)

// SubscribeBuffer is how many events wait for a subscriber before newer
// ones are dropped (and counted in a Missed).
const SubscribeBuffer = 1024

// Subscribe returns a channel of the client's events, every torrent's,
// until ctx ends (then it is closed). Publishing never waits for a
// subscriber: events wait in a buffer of SubscribeBuffer, past which the
// newest are dropped and a Missed event says how many, after the buffered
// ones. So a slow subscriber loses events but never slows a transfer.
func (cl *Client) Subscribe(ctx context.Context) <-chan Event {
	return cl.subscribe(ctx, func(Event) bool { return true })
}

// Subscribe is Client.Subscribe for this torrent's events only.
func (t *Torrent) Subscribe(ctx context.Context) <-chan Event {
	return t.cl.subscribe(ctx, func(ev Event) bool { return eventTorrent(ev) == t.ih })
}

// Publish delivers an extension's event to the client's subscribers, and
// to this torrent's if ev has a method EventInfoHash() metainfo.Hash that
// returns its info hash. It never blocks, and is safe from any goroutine.
func (t *Torrent) Publish(ev Event) {
	if h := t.cl.hub(); h != nil {
		h.publish(ev)
	}
}

// subscribed reports whether anyone listens: the loop checks it before
// making an event, so that events cost nothing when no one does.
func (t *Torrent) subscribed() bool {
	h := t.cl.hub()
	return h != nil && h.n.Load() > 0
}

// eventTorrent returns the info hash an event names, for the per-torrent
// filter: the engine's events, and an extension's that has a method
// EventInfoHash.
func eventTorrent(ev Event) metainfo.Hash {
	switch e := ev.(type) {
	case PieceVerified:
		return e.InfoHash
	case TorrentComplete:
		return e.InfoHash
	case WantedComplete:
		return e.InfoHash
	case MetadataReceived:
		return e.InfoHash
	case PeerConnected:
		return e.InfoHash
	case PeerDropped:
		return e.InfoHash
	case interface{ EventInfoHash() metainfo.Hash }:
		return e.EventInfoHash()
	}
	return metainfo.Hash{}
}

// eventHub fans events out to subscribers.
type eventHub struct {
	mu   sync.RWMutex
	subs map[*subscriber]struct{}
	n    atomic.Int32 // len(subs)
	dead bool         // removed from hubs with its last subscriber
}

// subscriber is one Subscribe call: a bounded queue filled by publish and
// drained by the subscriber's goroutine into its channel.
type subscriber struct {
	keep   func(Event) bool
	mu     sync.Mutex
	queue  []Event
	missed int
	wake   chan struct{}
}

func (cl *Client) subscribe(ctx context.Context, keep func(Event) bool) <-chan Event {
	s := &subscriber{keep: keep, wake: make(chan struct{}, 1)}
	out := make(chan Event)
	var h *eventHub
	for {
		v, _ := hubs.LoadOrStore(cl, &eventHub{subs: make(map[*subscriber]struct{})})
		h = v.(*eventHub)
		h.mu.Lock()
		if !h.dead {
			break
		}
		h.mu.Unlock() // its last subscriber just left: take a new one
	}
	h.subs[s] = struct{}{}
	h.n.Add(1)
	h.mu.Unlock()
	go func() {
		defer close(out)
		defer func() {
			h.mu.Lock()
			delete(h.subs, s)
			h.n.Add(-1)
			if len(h.subs) == 0 {
				h.dead = true
				hubs.CompareAndDelete(cl, h)
			}
			h.mu.Unlock()
		}()
		var batch []Event
		for {
			select {
			case <-s.wake:
			case <-ctx.Done():
				return
			}
			s.mu.Lock()
			batch = append(batch[:0], s.queue...)
			clear(s.queue)
			s.queue = s.queue[:0]
			if s.missed > 0 {
				batch = append(batch, Missed{N: s.missed})
				s.missed = 0
			}
			s.mu.Unlock()
			for i, ev := range batch {
				select {
				case out <- ev:
					batch[i] = nil
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

// publish queues ev for every subscriber that keeps it; it never blocks
// on one.
func (h *eventHub) publish(ev Event) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.subs {
		if !s.keep(ev) {
			continue
		}
		s.mu.Lock()
		if len(s.queue) < SubscribeBuffer {
			s.queue = append(s.queue, ev)
		} else {
			s.missed++
		}
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// hubs holds the eventHub of each client with subscribers (the entry goes
// with its last subscriber, so a closed client leaves nothing here).
var hubs sync.Map // *Client → *eventHub

// hub returns the client's eventHub, nil if it has no subscribers.
func (cl *Client) hub() *eventHub {
	if h, ok := hubs.Load(cl); ok {
		return h.(*eventHub)
	}
	return nil
}

// connAdded publishes PeerConnected for a connection that joined (nil:
// none did). Loop state.
func (t *Torrent) connAdded(c *conn) {
	if c == nil || !t.subscribed() {
		return
	}
	t.emb.live[c] = true
	t.Publish(PeerConnected{InfoHash: t.ih, Addr: c.addr, PeerID: c.peerID})
}

// connClosed publishes PeerDropped for a connection whose PeerConnected
// was published. Every connection's reader posts evConnClosed as it ends,
// including those the loop dropped first. Loop state.
func (t *Torrent) connClosed(c *conn) {
	if !t.emb.live[c] {
		return
	}
	delete(t.emb.live, c)
	t.Publish(PeerDropped{InfoHash: t.ih, Addr: c.addr, Err: c.Err()})
}
