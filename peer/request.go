package peer

import (
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/bttspeed/bttspeed/piece"
)

// rejectBackoff is how long we wait before asking a peer that rejected a
// request for more (the tick asks again).
const rejectBackoff = 20 * time.Millisecond

func (t *Torrent) updateInterest(c *conn) {
	want := t.picker != nil && t.picker.Interesting(piece.PeerID(c.id))
	if want == c.ls.amInterested {
		return
	}
	c.ls.amInterested = want
	if want {
		c.send(msgSimple(pp.Interested))
	} else {
		c.send(msgSimple(pp.NotInterested))
	}
	for _, h := range c.ls.handlers {
		if o, ok := h.(InterestObserver); ok {
			o.Interested(want)
		}
	}
}

// minPipeline is the fewest requests kept in flight to a peer.
const minPipeline = 64

// pipeline is how many requests to keep in flight to the peer, at most
// limit and at most the queue depth the peer advertised (reqq): two seconds of its last second's rate, once a whole second has
// been measured, and before that a slow start that grows by one with each
// block received, so that the pipeline doubles each round trip as TCP's
// window does. Without it a fast peer ran its first second at 64 requests
// (1 MiB), which makes a transfer's speed hang on each block's latency; on
// loopback under BBR that latency depends on a pacing rate the connection
// happened to learn early (docs/DECISIONS.md, session 12).
func (ls *loopPeer) pipeline(limit int) int {
	if ls.reqq > 0 {
		limit = min(limit, ls.reqq)
	}
	target := max(minPipeline, int(2*ls.lastSecondDown/piece.BlockSize))
	if ls.ticks < 2 {
		target = max(target, ls.slowStart)
	}
	return min(target, limit)
}

// received counts a wanted block towards the slow start.
func (ls *loopPeer) received() {
	if ls.ticks < 2 {
		ls.slowStart = max(ls.slowStart, minPipeline) + 1
	}
}

// fill tops up the requests in flight to a peer.
func (t *Torrent) fill(c *conn) {
	ls := &c.ls
	if t.picker == nil || ls.peerChoking || !ls.amInterested || t.disk.full() {
		return
	}
	if !ls.rejectedAt.IsZero() && time.Since(ls.rejectedAt) < rejectBackoff {
		return
	}
	target := ls.pipeline(t.cl.cfg.MaxRequestsPerPeer)
	id := piece.PeerID(c.id)
	n := target - t.picker.InFlight(id)
	if n < target/4 && t.picker.InFlight(id) > 0 {
		return // refill in batches
	}
	t.reqBuf = t.picker.Pick(id, n, time.Now(), t.reqBuf[:0])
	if len(t.reqBuf) == 0 {
		return
	}
	raw := make([]byte, 0, 17*len(t.reqBuf))
	for _, b := range t.reqBuf {
		raw = append(raw, msgBlock(pp.Request, b)...)
	}
	c.send(raw)
}

func (t *Torrent) fillAll() {
	for _, c := range t.conns {
		t.fill(c)
	}
}
