package peer

import (
	"slices"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/piece"
)

// rechoke runs the choking policy and applies its decision.
func (t *Torrent) rechoke(now time.Time) {
	t.rechokeDue = false
	t.prevChoke, t.lastChoke = t.lastChoke, now
	ids := make([]PeerID, 0, len(t.conns))
	for id := range t.conns {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	t.chokedPeers = len(ids)
	snap := choker.Snapshot{Seeding: t.picker != nil && t.picker.Complete(), Size: t.layout.Length}
	for _, id := range ids {
		c := t.conns[id]
		up, down := c.ls.rates(now)
		ps := choker.PeerStat{
			ID:           id,
			Interested:   c.ls.peerInterested,
			AmInterested: c.ls.amInterested,
			Choked:       c.ls.amChoking,
			DownRate:     down,
			UpRate:       up,
			Downloaded:   c.downloaded.Load(),
			Uploaded:     c.uploaded.Load(),
			ConnectedAt:  c.ls.connectedAt,
			LastBlockAt:  c.ls.lastBlockAt,
			Seed:         c.ls.seed,
		}
		if t.picker != nil && t.layout.NumPieces() > 0 {
			ps.Have = int64(c.ls.have) * t.layout.PieceLength
		}
		for _, h := range c.ls.handlers {
			if s, ok := h.(ChokeStatter); ok {
				s.ChokeStat(&ps)
			}
		}
		snap.Peers = append(snap.Peers, ps)
	}
	d := t.policy.Rechoke(now, snap)
	for _, o := range d.Outcomes {
		c := t.conns[o.ID]
		if c == nil {
			continue
		}
		for _, h := range c.ls.handlers {
			if s, ok := h.(ChokeStatter); ok {
				s.Decided(o, d.ClearingPrice)
			}
		}
		switch {
		case o.Unchoke && c.ls.amChoking:
			c.ls.amChoking = false
			c.send(msgSimple(pp.Unchoke))
		case !o.Unchoke && !c.ls.amChoking:
			c.ls.amChoking = true
			c.chokes.Add(1) // blocks the writer has taken stay unsent
			c.send(msgSimple(pp.Choke))
			if t.picker != nil {
				// What it was being sent may not go: no copies of ours
				// (the serve ledger, piece/serve.go).
				t.picker.Unserved(piece.PeerID(c.id))
			}
			held := c.ls.held
			c.ls.held = nil
			for _, b := range held {
				if c.fast && c.ls.allowedFast[b.Piece] {
					c.ls.held = append(c.ls.held, b) // still allowed, still gated
				} else if c.fast {
					c.send(msgBlock(pp.Reject, b))
				}
			}
			for _, it := range c.unserve(piece.Block{}, true) {
				if c.fast && !c.ls.allowedFast[it.block.Piece] {
					c.send(msgBlock(pp.Reject, it.block))
				} else if c.fast {
					c.serve(it.block, it.free, t.cl.cfg.MaxQueuedRequests)
				}
			}
		}
	}
}

// rate returns a peer's average up and down rates over the ring.
func (ls *loopPeer) rates(now time.Time) (up, down int64) {
	secs := int64(now.Sub(ls.connectedAt) / time.Second)
	secs = max(1, min(secs, int64(len(ls.upRing))))
	for i := range ls.upRing {
		up += ls.upRing[i]
		down += ls.downRing[i]
	}
	return up / secs, down / secs
}
