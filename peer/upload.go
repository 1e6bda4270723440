package peer

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/bttspeed/bttspeed/piece"
)

func (t *Torrent) onRequest(c *conn, b piece.Block) error {
	reject := func() {
		if c.fast {
			c.send(msgBlock(pp.Reject, b))
		}
	}
	if t.picker == nil || !t.layout.InRange(b) {
		if t.picker != nil && !t.layout.InRange(b) {
			return fmt.Errorf("%w: request out of range: %+v", ErrProtocol, b)
		}
		reject()
		return nil
	}
	if !t.picker.HasPiece(b.Piece) {
		reject()
		return nil
	}
	if c.ls.amChoking && !c.ls.allowedFast[b.Piece] {
		reject() // without BEP 6, a choked peer's request is dropped
		return nil
	}
	if t.firstCopies(c) && t.picker.DeclineDuplicate(piece.PeerID(c.id), b.Piece, time.Now(), loneWindow, tradingWindow) {
		c.send(msgBlock(pp.Reject, b))
		return nil
	}
	limit := t.cl.cfg.MaxQueuedRequests - len(c.ls.held)
	v := Hold
	if len(c.ls.held) == 0 {
		v = c.mayServe(b)
	}
	if v == Hold {
		// Held back (or behind others held back): keep it, in order,
		// until the gate allows it.
		if c.queued()+len(c.ls.held) >= t.cl.cfg.MaxQueuedRequests {
			if !c.fast {
				return ErrTooManyRequests
			}
			reject()
			return nil
		}
		c.ls.held = append(c.ls.held, b)
		return nil
	}
	if !c.serve(b, v == ServeFree, limit) {
		if !c.fast {
			return ErrTooManyRequests
		}
		reject()
		return nil
	}
	t.noteServed(c, b)
	return nil
}

// tradingWindow and loneWindow bound how long a seeder sending first
// copies declines a peer a piece another peer has or is being sent
// (piece.Picker.DeclineDuplicate). tradingWindow, for a peer that gets
// pieces from others, is long enough for a capped seeder's first copy to
// reach its leecher and be announced, short enough that a piece whose only
// other copy went to a peer the requester cannot reach is not held back
// for long. loneWindow, for a peer that has had pieces from us alone, is
// shorter: it may reach nobody else, or want none of the pieces still
// uncopied (a partial download); it covers the rush of a swarm's first
// requests, when nobody has anything yet.
const (
	tradingWindow = 5 * time.Second
	loneWindow    = time.Second
)

// firstCopies reports whether the torrent serves c first copies: it seeds
// with its upload capped (Config.UploadRate, Torrent.SetRateLimits), so its
// upload is what the swarm waits for, and c is a leecher of this engine
// (its peer id starts with ourClientID) speaking BEP 6, that takes a reject
// as "ask another peer" and buys nothing from us (no ServeGate: a buyer
// pays for the pieces it picks). Such a seeder declines a duplicate
// (piece.Picker.DeclineDuplicate), so every block it sends is one the
// swarm lacks and the leechers trade the copies among themselves. Other
// clients are served as before: anacrolix 1.61, declined, stopped asking
// for the pieces it was refused and never completed (TestPaidSwarmAuction).
func (t *Torrent) firstCopies(c *conn) bool {
	if !c.fast || !t.keepsServeLedger() {
		return false
	}
	if !bytes.HasPrefix(c.peerID[:], ourClientID) {
		return false
	}
	for _, h := range c.ls.handlers {
		if _, ok := h.(ServeGate); ok {
			return false
		}
	}
	return true
}

// ourClientID starts the peer id of this engine (Config.PeerIDPrefix's
// default, Azureus style "-BS0100-"): a client that sets its own prefix
// is not sent first copies.
var ourClientID = []byte("-BS")

// keepsServeLedger reports whether the torrent records whom it sends each
// piece (piece.Picker.Served): while it seeds with its upload capped, for
// firstCopies. Every peer's copies count, whatever its client.
func (t *Torrent) keepsServeLedger() bool {
	return t.picker.Complete() && (t.cl.upLimit != nil || t.emb.upLimit.Load() != nil)
}

// noteServed records in the serve ledger that b was queued for c.
func (t *Torrent) noteServed(c *conn, b piece.Block) {
	if t.keepsServeLedger() {
		t.picker.Served(piece.PeerID(c.id), b.Piece)
	}
}

// mayServe asks the peer's serve gates whether block b may be queued now:
// Hold if any holds it, else ServeFree if any passes it free, else Serve.
func (c *conn) mayServe(b piece.Block) Verdict {
	v := Serve
	for _, h := range c.ls.handlers {
		if g, ok := h.(ServeGate); ok {
			switch g.MayServe(b) {
			case Hold:
				return Hold
			case ServeFree:
				v = ServeFree
			}
		}
	}
	return v
}

// serveHeld queues the held requests the gates now allow, in order.
func (t *Torrent) serveHeld(c *conn) {
	n := 0
	for _, b := range c.ls.held {
		if c.ls.amChoking && !c.ls.allowedFast[b.Piece] {
			break
		}
		v := c.mayServe(b)
		if v == Hold {
			break
		}
		if !c.serve(b, v == ServeFree, t.cl.cfg.MaxQueuedRequests) {
			break
		}
		t.noteServed(c, b)
		n++
	}
	c.ls.held = slices.Delete(c.ls.held, 0, n)
}

// unhold removes held requests: the one block b, or all if all is set. It
// returns the blocks removed.
func (c *conn) unhold(b piece.Block, all bool) []piece.Block {
	var out []piece.Block
	c.ls.held = slices.DeleteFunc(c.ls.held, func(h piece.Block) bool {
		if all || h == b {
			out = append(out, h)
			return true
		}
		return false
	})
	return out
}
