package speed

import (
	"fmt"
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/speedwire"
	"github.com/bttspeed/bttspeed/piece"
)

// Selling: what a payer in a paid slot is charged, the auction's view of
// it, and the credit gate.

// accrue charges what was sent since it last ran, but for the blocks
// served free (pieces paid for before: MayServe).
func (h *handler) accrue() {
	s := h.sell
	// Uploaded first: the engine counts a free block in UploadedFree
	// before Uploaded, so the difference read in this order never counts
	// a free block as charged (it may lag by one, caught up next time).
	up := h.p.Uploaded()
	free := h.p.UploadedFree()
	if d := free - s.lastFree; d > 0 && s.channel != nil {
		s.lastFree = free
		h.e.cfg.Sell.addFree(s.channel.ID, d)
	}
	charged := up - free
	if charged <= s.lastUp {
		return
	}
	d := charged - s.lastUp
	s.lastUp = charged
	if s.paidSlot && !s.price.IsZero() {
		s.gate.sent += d
		s.sold += d
		s.unpaidBytes = min(s.unpaidBytes+d, maxBytes)
		c, err := cost(s.price, d)
		if err == nil {
			s.owed, err = s.owed.Add(c)
		}
		if err != nil {
			// Fail closed: bytes that cannot be counted are never
			// counted as free. The payer is refused and choked.
			h.refuseFor(CodeAccounting, fmt.Errorf("charging %d bytes: %w", d, err))
			return
		}
		if s.channel != nil {
			h.e.cfg.Sell.addSale(*s.channel, d, c)
		}
	}
}

// payTimeout is how long a payer held back may go without paying — or,
// before its channel is accepted, without one — before it loses its paid
// slot.
func (h *handler) payTimeout() time.Duration {
	if h.sell.channel == nil {
		return h.e.cfg.Sell.ChannelTimeout
	}
	return h.e.cfg.Sell.PayTimeout
}

// release ends a hold of the credit gate, if one is on.
func (s *sellState) release() {
	if !s.heldSince.IsZero() {
		s.heldFor += time.Since(s.heldSince)
		s.heldSince = time.Time{}
	}
}

// leavePaid resets the credit gate when the peer leaves its paid slot.
func (s *sellState) leavePaid() {
	s.paidSlot = false
	s.gate.reset()
	s.release()
}

// unpaid is what the peer owes, in bytes at its price: once its channel
// is accepted, what its channel owes — sold through it on every connection
// of its payer, less what its vouchers added in this process
// (Seller.channelAccount). A channel's vouchers are cumulative over all of
// its connections and can cross between them, so only the channel's
// account is exact; each connection's gate holds it to its own window.
// It is counted again (recount) when the channel is paid, when the price
// changes, and at each rechoke; in between, accrue adds what this
// connection sends, so the gate takes no lock and does no division per
// block.
//
// It is negative when a voucher was counted before the bytes it pays for
// were: they were sent, but accrue had not run since (a connection held
// at its window runs it only at its next request or rechoke), or they
// went on another connection of the channel. Clamping it at zero lost
// that payment from the gate's view once the bytes were counted: the
// payer, with nothing left to pay, was held until it lost its paid slot
// (TestCreditBeforeAccrual). A payment for more than this process sold
// on the channel (a debt from before a restart) counts as credit at
// once, as it did before at the next recount.
func (h *handler) unpaid() int64 { return h.sell.unpaidBytes }

// recount counts again the channel's debt and its capacity: what its
// deposit can still pay beyond its best voucher, at the payer's price.
func (h *handler) recount() {
	s := h.sell
	s.unpaidBytes = h.countUnpaid()
	s.capBytes = maxBytes
	if s.channel != nil && !s.price.IsZero() {
		best := btt.Max(s.channel.Paid, h.e.cfg.Sell.best(s.channel.ID))
		s.capBytes = capacity(s.channel.Deposit, best, s.price)
	}
}

// window is the credit the payer may use, as its awards tell it: its
// credit window, bounded by what its channel can still pay (issue 23, case
// 5: one voucher opened the window to CreditMax whatever the deposit).
func (h *handler) window() int64 {
	s := h.sell
	return min(s.credit.Window, s.capBytes)
}

func (h *handler) countUnpaid() int64 {
	s := h.sell
	if s.price.IsZero() {
		return 0
	}
	owed, paid := s.owed, s.paid
	if s.channel != nil {
		if o, p, ok := h.e.cfg.Sell.channelAccount(s.channel.ID); ok {
			owed, paid = o, p
		}
	}
	if paid.Gt(owed) {
		return -bytesAt(paid.SubFloor(owed), s.price)
	}
	return bytesAt(owed.SubFloor(paid), s.price)
}

// ChokeStat implements peer.ChokeStatter. For a seller it reports the
// peer's bid and credit; for a buyer it is the bidding round.
func (h *handler) ChokeStat(ps *choker.PeerStat) {
	if h.sell != nil {
		h.accrue()
		h.recount() // with what the channel's other connections sent meanwhile
		ps.Bidder = true
		ps.Bid = h.sell.bid
		ps.Credit = h.sell.credit.Window
		// Held back at its credit, a payer still paying is not over it:
		// the gate holds its requests until the voucher comes. One that
		// has not paid for PayTimeout is, and loses its paid slot.
		ps.Unpaid = max(0, min(h.unpaid(), ps.Credit))
		s := h.sell
		if s.refused != nil || !s.heldSince.IsZero() && time.Since(s.heldSince) > h.payTimeout() {
			ps.Unpaid = ps.Credit + 1
			// Owing, it stays over its credit — no slot of either kind
			// — until it pays: leaving the paid slot ends the hold, and
			// it won the slot back at the next rechoke, to be held
			// again, and took free-slot blocks in between.
			s.lapsed = s.refused == nil && h.unpaid() > 0
		} else if s.lapsed {
			if h.unpaid() > 0 {
				ps.Unpaid = ps.Credit + 1
			} else {
				s.lapsed = false // paid on another connection
			}
		}
	}
	if h.buy != nil {
		h.bidRound()
	}
}

// Decided implements peer.ChokeStatter: winners get an award, losers a
// reject with the price to beat.
func (h *handler) Decided(o choker.Outcome, clearing btt.Amount) {
	s := h.sell
	if s == nil {
		return
	}
	if o.Slot == choker.Paid {
		if !s.paidSlot || s.price != o.Price {
			// What was sent before is charged at the terms it went
			// under (nothing, out of a paid slot); the award goes out
			// ahead of the blocks queued, and the payer prices what
			// comes after it at its price.
			h.accrue()
			s.price = o.Price
			s.paidSlot = true
			h.recount()
			h.send(speedwire.Message{Type: speedwire.TypeAward, Price: o.Price, Credit: h.window()})
		}
		return
	}
	if s.paidSlot {
		h.accrue() // what was sent in the paid slot, at its price
		s.leavePaid()
		h.p.ServeHeld() // out of the paid slot, nothing is gated
		if o.Unchoke && !s.bid.IsZero() {
			// Moved to a free slot: the payer must hear it, or it
			// would pay for the blocks that come free from now on.
			beat, _ := clearing.Add(btt.NewAmount(1))
			h.send(speedwire.Message{Type: speedwire.TypeReject, Price: beat, Reason: "moved to a free slot"})
			return
		}
	}
	if s.bid.IsZero() || o.Unchoke {
		return
	}
	switch o.Reason {
	case choker.ReasonLostAuction:
		beat, _ := clearing.Add(btt.NewAmount(1))
		h.send(speedwire.Message{Type: speedwire.TypeReject, Price: beat, Reason: o.Reason.String()})
	case choker.ReasonBelowReserve:
		h.send(speedwire.Message{Type: speedwire.TypeReject, Price: h.e.cfg.Sell.Ask, Reason: o.Reason.String()})
	}
}

// MayServe implements peer.ServeGate: the credit gate. In a paid slot, a
// payer is served whole pieces: it may begin a piece only while what it
// could leave unpaid (its exposure: bytes sent and not paid for, bytes
// queued, and the rest of the pieces it has begun) plus that piece fits in
// its credit window, or when nothing is outstanding (so that a window
// smaller than a piece still moves). Blocks of pieces begun are always
// served: the payer pays only for verified pieces. So a payer that stops
// paying gets at most its window, or one piece if the window is smaller.
// Requests held back are served by ServeHeld when a voucher arrives.
//
// A piece the payer's channel paid for before (its vouchers listed it:
// see onVoucher), it gets again free, once per connection: a restarted
// leecher that lost its data downloads again what it paid for, and will
// not pay for it twice.
func (h *handler) MayServe(b piece.Block) peer.Verdict {
	s := h.sell
	if s == nil {
		return peer.Serve
	}
	if s.refused != nil {
		return peer.Hold
	}
	if !s.paidSlot {
		return peer.Serve
	}
	if s.channel == nil || s.ending {
		// No credit before the payer's channel is read from the chain
		// and found to pay us, nor once it takes no more vouchers: its
		// requests wait for it, or for the one that replaces it.
		if s.heldSince.IsZero() {
			s.heldSince = time.Now()
		}
		return peer.Hold
	}
	t := h.p.Torrent()
	size := t.PieceSize(b.Piece)
	if _, begun := s.gate.started[b.Piece]; s.paidFor[b.Piece] && !begun {
		if got := s.freeSent[b.Piece]; got+int64(b.Length) <= size {
			if s.freeSent == nil {
				s.freeSent = make(map[int]int64)
			}
			s.freeSent[b.Piece] = got + int64(b.Length)
			return peer.ServeFree
		}
	}
	h.accrue()
	if !s.gate.admit(b, size, h.unpaid(), s.credit.Window, s.capBytes, h.p.PeerHas, t.PieceSize) {
		if s.heldSince.IsZero() {
			s.heldSince = time.Now()
		}
		return peer.Hold
	}
	if _, begun := s.gate.started[b.Piece]; !begun {
		// Admitted whole: the payer may list it in a voucher.
		if s.whole == nil {
			s.whole = make(map[int]bool)
		}
		s.whole[b.Piece] = true
	}
	s.release()
	return peer.Serve
}
