package piece

import "slices"

// Priority says how much a piece is wanted. The values and their order
// are anacrolix's (types.PiecePriority), so that code moving from it keeps
// its meaning: PriorityNone is not wanted at all, PriorityNormal is the
// default, and the others are picked before any normal piece, highest
// first.
type Priority int8

// Piece priorities, lowest first.
const (
	// PriorityNone: never requested.
	PriorityNone Priority = iota
	// PriorityNormal: requested rarest first (or in order, in sequential
	// mode) with the rest of the torrent.
	PriorityNormal
	// PriorityHigh: before every normal piece (a file set to high).
	PriorityHigh
	// PriorityReadahead: ahead of a reader, within its readahead.
	PriorityReadahead
	// PriorityNext: the piece after the one under a reader.
	PriorityNext
	// PriorityNow: under a reader that is waiting for it. Its blocks in
	// flight to one peer are also asked of a second, so that one slow
	// peer cannot hold the reader up.
	PriorityNow
)

// String names the priority as anacrolix does.
func (p Priority) String() string {
	switch p {
	case PriorityNone:
		return "none"
	case PriorityNormal:
		return "normal"
	case PriorityHigh:
		return "high"
	case PriorityReadahead:
		return "readahead"
	case PriorityNext:
		return "next"
	case PriorityNow:
		return "now"
	}
	return "invalid"
}

// Valid reports whether p is one of the priorities above.
func (p Priority) Valid() bool { return p >= PriorityNone && p <= PriorityNow }

// wants reports whether we lack piece i and want it.
func (p *Picker) wants(i int) bool { return !p.have.Has(i) && p.prio[i] != PriorityNone }

// Priority returns piece i's priority (PriorityNone out of range).
func (p *Picker) Priority(i int) Priority {
	if i < 0 || i >= len(p.prio) {
		return PriorityNone
	}
	return p.prio[i]
}

// SetPriority sets piece i's priority; an invalid priority or index is
// ignored. Making a missing piece unwanted (PriorityNone) takes it out of
// the picking and out of what peers are interesting for: blocks already in
// flight may still arrive and are kept, but no more are asked for. Making
// it wanted again puts it back. The caller re-evaluates its interest in
// each peer (Interesting) after a change that may have flipped it.
func (p *Picker) SetPriority(i int, pr Priority) {
	if i < 0 || i >= len(p.prio) || !pr.Valid() || p.prio[i] == pr {
		return
	}
	old := p.prio[i]
	p.prio[i] = pr
	switch {
	case pr > PriorityNormal && !p.urgentSet[i] && !p.have.Has(i):
		p.urgentSet[i] = true
		p.urgentOld = true
	case pr <= PriorityNormal && p.urgentSet[i]:
		delete(p.urgentSet, i)
		p.urgentOld = true
	case pr > PriorityNormal && p.urgentSet[i]:
		p.urgentOld = true // reordered
	}
	was, now := old != PriorityNone, pr != PriorityNone
	if was == now || p.have.Has(i) {
		return
	}
	d := int64(1)
	if !now {
		d = -1
	}
	p.wantedLeft += d * p.layout.PieceSize(i)
	for _, ps := range p.peers {
		if ps.has.Has(i) {
			ps.wanted += int(d)
		}
	}
	if pc := p.partials[i]; pc != nil {
		if !pc.hashing {
			for _, st := range pc.state {
				if st == blockPending {
					p.unrequested += d
				}
			}
		}
		return
	}
	p.unrequested += d * int64(p.realBlocks(i))
	if now {
		p.bucketAdd(i)
	} else {
		p.bucketRemove(i)
	}
}

// urgentList returns the pieces above PriorityNormal that we lack, highest
// priority first and then by index, rebuilding the list after a change.
func (p *Picker) urgentList() []int {
	if !p.urgentOld {
		return p.urgent
	}
	p.urgent = p.urgent[:0]
	for i := range p.urgentSet {
		p.urgent = append(p.urgent, i)
	}
	slices.SortFunc(p.urgent, func(a, b int) int {
		if p.prio[a] != p.prio[b] {
			return int(p.prio[b]) - int(p.prio[a])
		}
		return a - b
	})
	p.urgentOld = false
	return p.urgent
}

// SetSequential switches new pieces between rarest first (false, the
// default) and lowest index first (true), as a player reading a file from
// its start wants. Urgent and partial pieces still come first.
func (p *Picker) SetSequential(on bool) { p.sequential = on }

// nextInOrder returns the lowest-indexed piece in a bucket that the peer
// has, or -1.
func (p *Picker) nextInOrder(ps *peerState) int {
	for p.seqFrom < len(p.pos) && p.pos[p.seqFrom] < 0 {
		p.seqFrom++
	}
	for i := p.seqFrom; i < len(p.pos); i++ {
		if p.pos[i] >= 0 && ps.has.Has(i) {
			return i
		}
	}
	return -1
}

// WantedLeft returns the bytes of the wanted pieces (any priority but
// PriorityNone) that we lack: what a buyer still pays for.
func (p *Picker) WantedLeft() int64 { return p.wantedLeft }

// WantedComplete reports whether we have every wanted piece.
func (p *Picker) WantedComplete() bool { return p.wantedLeft == 0 }
