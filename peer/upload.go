package peer

import (
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
	if t.firstCopies(c) && t.picker.DeclineDuplicate(piece.PeerID(c.id), b.Piece, time.Now(), duplicateWindow) {
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

// duplicateWindow is the longest a seeder sending first copies declines a
// peer a piece that another peer has or is being sent (firstCopies): long
// enough for a capped seeder's first copy to reach its leecher and be
// announced, short enough that a piece whose only other copy went to a
// peer the requester cannot reach is not held back for long.
const duplicateWindow = 5 * time.Second

// firstCopies reports whether the torrent serves c first copies: it seeds
// with its upload capped (Config.UploadRate, Torrent.SetRateLimits), so
// its upload is what the swarm waits for, and c speaks BEP 6 and so takes
// a reject as "ask someone else". Such a seeder declines a request for a
// piece another peer has, or is being sent, for up to duplicateWindow
// (piece.Picker.DeclineDuplicate): every block it sends is then a piece
// the swarm lacks, and the leechers trade the copies among themselves.
func (t *Torrent) firstCopies(c *conn) bool {
	return c.fast && t.picker.Complete() && (t.cl.upLimit != nil || t.emb.upLimit.Load() != nil)
}

// noteServed records in the serve ledger that b was queued for c.
func (t *Torrent) noteServed(c *conn, b piece.Block) {
	if t.firstCopies(c) {
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
