package piece

import "time"

// The serve ledger is a seeder's memory of which peers it has sent each
// piece to, so that a seeder whose upload is the swarm's bottleneck (a
// capped one) can send each piece once and let the leechers trade the
// copies: the first copy of a piece costs the swarm the seeder's time, a
// second one costs it again while a leecher could have given it.
//
// Invariants, once the ledger has started (the first Served; before it
// copies is nil and every served bitfield empty):
//   - copies[i] counts the peers whose served bit for i is set: each peer
//     counts once per piece, however many of its blocks it asked for;
//   - uncopied counts the pieces with no copy and no peer announcing them
//     (copies[i] == 0 && avail[i] == 0): pieces the swarm lacks entirely,
//     and so pieces every peer we know lacks.

// Served records that blocks of piece i are being sent to peer id: the
// peer counts as one copy of i until Unserved (unless it has announced i
// by then), or until it leaves.
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
		for _, a := range p.avail {
			if a == 0 {
				p.uncopied++
			}
		}
	}
	ps.served.Set(i)
	p.addCopy(i, 1)
	delete(ps.declined, i)
}

// addCopy changes piece i's copies by d (±1), keeping uncopied.
func (p *Picker) addCopy(i int, d int) {
	if d > 0 && p.copies[i] == 1<<16-1 {
		return // saturated: it stays a copy
	}
	was := p.copies[i] == 0 && p.avail[i] == 0
	p.copies[i] = uint16(int(p.copies[i]) + d)
	p.countUncopied(i, was)
}

// countUncopied updates uncopied after piece i's copies or availability
// changed, given whether it was uncopied before.
func (p *Picker) countUncopied(i int, was bool) {
	if p.copies == nil {
		return
	}
	switch is := p.copies[i] == 0 && p.avail[i] == 0; {
	case was && !is:
		p.uncopied--
	case !was && is:
		p.uncopied++
	}
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
			p.addCopy(i, -1)
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

// maxDeclined bounds the pieces the ledger remembers declining one peer
// (peerState.declined, some 40 bytes each, a pointer among them), which
// it forgets once the peer is sent the piece, announces it, or leaves: a
// peer that asked once for every piece of a large torrent would otherwise
// leave an entry for each, 4 MiB a connection at 100,000 pieces. Past
// it, a duplicate is served, as a seeder not sending first copies would
// (and as a peer announcing nothing it did not get from us is anyway).
const maxDeclined = 512

// DeclineDuplicate reports whether a seeder should decline (a BEP 6
// reject) peer id's request for a block of piece i because another peer
// already has the piece or is being sent it (Served). A piece being sent to
// id already is never declined: the rest of its blocks go too. Otherwise a
// duplicate is declined for a while from the first time we declined id
// piece i:
//
//   - for at most trading, when id has announced a piece we did not send
//     it: it gets pieces from other peers and can fetch i from them;
//   - for at most lone, and only while some piece has no copy at all,
//     when it has not: it lacks that piece too, and so may ask for it
//     instead, but it may reach nobody else, or want none of the pieces
//     left (a partial download), so it is not kept waiting long.
//
// Both bounds exist because the other copy may never reach id (its
// holder may not be connected to id, or may leave), and a declined leecher
// asks again.
func (p *Picker) DeclineDuplicate(id PeerID, i int, now time.Time, lone, trading time.Duration) bool {
	ps := p.peers[id]
	if ps == nil || i < 0 || i >= p.layout.NumPieces() || ps.served.Has(i) {
		return false
	}
	if p.Copies(i) == 0 && p.avail[i] == 0 {
		return false // nobody else has it or is getting it
	}
	limit := trading
	if !ps.trades {
		if p.uncopied == 0 {
			return false
		}
		limit = lone
	}
	first, ok := ps.declined[i]
	if !ok {
		if len(ps.declined) >= maxDeclined {
			return false // served, as by a seeder not sending first copies
		}
		if ps.declined == nil {
			ps.declined = make(map[int]time.Time)
		}
		ps.declined[i] = now
		first = now
	}
	return now.Sub(first) < limit
}

// forgetServed drops what the ledger holds for a departing peer: every
// copy it was sent, announced or not, goes with it (it may have passed
// some on, but nobody we could send a requester to is known to have them;
// those who have announced them count in availability).
func (p *Picker) forgetServed(ps *peerState) {
	ps.served.Each(func(i int) { p.addCopy(i, -1) })
	ps.served = Bitfield{}
	ps.declined = nil
}
