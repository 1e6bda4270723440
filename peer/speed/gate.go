package speed

import "github.com/bttspeed/bttspeed/piece"

// gate is the credit gate's bookkeeping for one payer in a paid slot,
// pure: the handler feeds it what was sent and what is unpaid.
//
// A payer is served whole pieces. It may begin a piece only while its
// exposure — what it could leave unpaid if it stopped paying now: the
// bytes sent and not paid for, the bytes queued, and the rest of the pieces
// it has begun — plus that piece fits in its credit window, or when its
// exposure is zero, so that a window smaller than a piece still moves.
// Blocks of pieces begun are always admitted: the payer pays only for
// pieces it has verified, so it must get them whole. A payer that stops
// paying is thus served at most max(window, one piece) unpaid.
type gate struct {
	// started holds, for each piece begun and not yet admitted whole,
	// the bytes admitted.
	started map[int]int64
	// reserved is what is left to admit of the pieces begun.
	reserved int64
	// admitted and sent count the bytes admitted and sent in the paid
	// slot: admitted - sent is what is queued.
	admitted, sent int64
}

// exposure returns what the payer could leave unpaid, given the bytes sent
// and not yet paid for.
func (g *gate) exposure(unpaid int64) int64 {
	return unpaid + max(0, g.admitted-g.sent) + g.reserved
}

// fits reports whether a piece of size bytes may begin for a payer with
// unpaid bytes outstanding: its exposure and the piece must fit in its
// credit window (or its exposure be nothing: a window smaller than a piece
// still moves), and always in capacity, what its channel's deposit can
// still pay — there is no exception to that one.
func (g *gate) fits(size, unpaid, window, capacity int64) bool {
	exp := g.exposure(unpaid)
	return exp+size <= capacity && (exp <= 0 || exp+size <= window)
}

// admit decides whether block b, of a piece of size bytes, may be queued
// now for a payer with unpaid bytes outstanding, a credit window, and a
// channel that can still pay for capacity bytes. has tells whether the
// payer has a piece whole by now, sizeOf a piece's size: a piece begun
// that the payer got elsewhere ends its reservation.
func (g *gate) admit(b piece.Block, size, unpaid, window, capacity int64, has func(int) bool, sizeOf func(int) int64) bool {
	if g.started == nil {
		g.started = make(map[int]int64)
	}
	got, begun := g.started[b.Piece]
	if !begun {
		if !g.fits(size, unpaid, window, capacity) {
			g.dropHad(has, sizeOf)
			if !g.fits(size, unpaid, window, capacity) {
				return false
			}
		}
		g.reserved += size
	}
	n := min(int64(b.Length), size-got)
	g.reserved -= n
	g.admitted += n
	if got += n; got >= size {
		delete(g.started, b.Piece)
	} else {
		g.started[b.Piece] = got
	}
	return true
}

// dropHad ends the reservations of pieces begun that the payer has since
// got whole (from another peer): it will not ask for the rest.
func (g *gate) dropHad(has func(int) bool, sizeOf func(int) int64) {
	for i, got := range g.started {
		if has(i) {
			g.reserved -= sizeOf(i) - got
			delete(g.started, i)
		}
	}
}

// reset forgets everything: the payer left its paid slot.
func (g *gate) reset() {
	clear(g.started)
	g.reserved, g.admitted, g.sent = 0, 0, 0
}
