package piece

import "time"

// The serve ledger is a seeder's memory of which peers it has sent each
// piece to, so that a seeder whose upload is the swarm's bottleneck (a
// capped one) can send each piece once and let the leechers trade the
// copies: the first copy of a piece costs the swarm the seeder's time, a
// second one costs it again while a leecher could have given it.
//
// Invariant: copies[i] counts the peers whose served bit for i is set —
// each peer counts once per piece, however many of its blocks it asked
// for. copies is nil, and every served bitfield empty, until the first
// Served.

// Served records that blocks of piece i are being sent to peer id: the
// peer counts as one copy of i until Unserved, or until it leaves without
// having announced i.
func (p *Picker) Served(id PeerID, i int) {
	ps := p.peers[id]
	if ps == nil || i < 0 || i >= p.layout.NumPieces() {
		return
	}
	if ps.served.Len() == 0 {
		ps.served = NewBitfield(p.layout.NumPieces())
	}
	if ps.served.Has(i) {
		return
	}
	if p.copies == nil {
		p.copies = make([]uint16, p.layout.NumPieces())
	}
	ps.served.Set(i)
	if p.copies[i] < 1<<16-1 {
		p.copies[i]++
	}
	delete(ps.declined, i)
}

// Unserved takes back Served for the pieces peer id has not announced: it
// was choked, and what was queued for it may never go (blocks its writer
// had taken stay unsent too), so those copies may not exist. Counting
// them would let DeclineDuplicate send every other peer away from a piece
// nobody is being sent.
func (p *Picker) Unserved(id PeerID) {
	ps := p.peers[id]
	if ps == nil {
		return
	}
	ps.served.Each(func(i int) {
		if !ps.has.Has(i) {
			ps.served.Clear(i)
			p.copies[i]--
		}
	})
}

// Copies returns how many peers piece i has been served to (Served).
func (p *Picker) Copies(i int) int {
	if p.copies == nil || i < 0 || i >= len(p.copies) {
		return 0
	}
	return int(p.copies[i])
}

// DeclineDuplicate reports whether a seeder should decline (a BEP 6
// reject) peer id's request for a block of piece i because another peer
// already has the piece or is being sent it (Served), so id can fetch it
// from that peer rather than from us. A piece being sent to id already is
// never declined: the rest of its blocks go too. id is declined piece i
// for at most window from its first decline, then served: the other copy
// may never reach it (its holder may not be connected to id, or may
// leave), and a leecher asks again after a reject.
func (p *Picker) DeclineDuplicate(id PeerID, i int, now time.Time, window time.Duration) bool {
	ps := p.peers[id]
	if ps == nil || i < 0 || i >= p.layout.NumPieces() || ps.served.Has(i) {
		return false
	}
	if p.Copies(i) == 0 && p.avail[i] == 0 {
		return false // nobody else has it or is getting it
	}
	first, ok := ps.declined[i]
	if !ok {
		if ps.declined == nil {
			ps.declined = make(map[int]time.Time)
		}
		ps.declined[i] = now
		return true
	}
	return now.Sub(first) < window
}

// forgetServed drops what the ledger holds for a departing peer: the
// copies it was being sent and never announced having.
func (p *Picker) forgetServed(ps *peerState) {
	ps.served.Each(func(i int) {
		if !ps.has.Has(i) {
			p.copies[i]--
		}
	})
	ps.served = Bitfield{}
	ps.declined = nil
}
