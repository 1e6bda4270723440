package speed

import (
	"fmt"
	"sync"
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/speedwire"
	"github.com/bttspeed/bttspeed/piece"
)

// Selling: what a payer in a paid slot is charged, the auction's view of
// it, and the credit gate.

// accrue charges what was sent since it last ran, but for the blocks
// served free (pieces paid for before: MayServe).
//
// The terms it charges at change where the award or reject that changes
// them is written, not when it is decided: blocks queued before it go out
// before it, and the payer prices them at the terms before (sendTerms).
func (h *handler) accrue() {
	s := h.sell
	// The counters first, then the marks: a mark written after they were
	// read is past them, and what went before it is charged at the terms
	// before it. (Uploaded first: the engine counts a free block in
	// UploadedFree before Uploaded, so the difference read in this order
	// never counts a free block as charged; it may lag by one, caught up
	// next time.)
	up := h.p.Uploaded()
	free := h.p.UploadedFree()
	for _, m := range s.marks.take() {
		h.accrueTo(m.up, m.free)
		if len(s.pending) > 0 {
			s.charging, s.pending = s.pending[0], s.pending[1:]
			if !s.charging.paid && !s.paidSlot {
				// Everything queued in the paid slot has gone out
				// before this reject: nothing is outstanding. (Back in
				// a paid slot already, what it admitted since is
				// queued after the reject: the gate keeps counting,
				// high rather than low.)
				s.gate.reset()
				h.publish()
			}
		}
	}
	h.accrueTo(up, free)
}

// creditable reports whether the payee still takes vouchers on the
// peer's channel (no Payee, in a test's fake: yes).
func (h *handler) creditable() bool {
	if h.e.sell.Payee == nil || h.sell.channel == nil {
		return true
	}
	_, ok := h.e.sell.Payee.Creditable(h.sell.channel.ID)
	return ok
}

// chargeTerms are the terms the bytes written now are charged at: those
// of the last award or reject written, where the engine tells (marked);
// otherwise (a test's fake peer) the slot's, as decided.
func (s *sellState) chargeTerms() terms {
	if s.marked {
		return s.charging
	}
	return terms{s.paidSlot, s.price}
}

// sendTerms sends an award or reject that changes the terms, in its place
// among the blocks queued: the bytes before it are charged at the terms
// before, those after at t, as the payer prices them (it prices by where
// the award or reject comes in the stream).
func (h *handler) sendTerms(m speedwire.Message, t terms) {
	s := h.sell
	b, err := m.Append(nil)
	if err != nil {
		h.e.log.Error("encoding btt_speed message", "err", err)
		return
	}
	ms, ok := h.p.(peer.MarkedSender)
	if !ok || !s.marked {
		h.p.Send(b)
		return
	}
	s.pending = append(s.pending, t)
	ms.SendMarked(b, s.marks.add)
}

// marks are the payload counters at which the awards and rejects that
// change the terms were written, from the connection's writer.
type marks struct {
	mu sync.Mutex
	at []mark
}

type mark struct{ up, free int64 }

func (q *marks) add(up, free int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.at = append(q.at, mark{up, free})
}

func (q *marks) take() []mark {
	q.mu.Lock()
	defer q.mu.Unlock()
	at := q.at
	q.at = nil
	return at
}

// accrueTo charges, at the terms in force, what was sent up to up bytes,
// of which free were served free.
func (h *handler) accrueTo(up, free int64) {
	s := h.sell
	if d := free - s.lastFree; d > 0 && s.channel != nil {
		s.lastFree = free
		h.e.sell.addFree(s.channel.ID, d)
	}
	d, c, err := s.meter.to(up-free, s.chargeTerms())
	if err != nil {
		// Fail closed: bytes that cannot be counted are never
		// counted as free. The payer is refused and choked.
		h.refuseFor(CodeAccounting, err)
		return
	}
	if d == 0 {
		return
	}
	if s.paidSlot || s.marked {
		s.gate.sent += d // what the gate admitted went out
	}
	s.unpaidBytes = min(s.unpaidBytes+d, maxBytes)
	if s.channel != nil {
		h.e.sell.addSale(*s.channel, d, c)
	}
}

// payTimeout is how long a payer held back may go without paying — or,
// before its channel is accepted, without one — before it loses its paid
// slot.
func (h *handler) payTimeout() time.Duration {
	if h.sell.channel == nil {
		return h.e.sell.ChannelTimeout
	}
	return h.e.sell.PayTimeout
}

// release ends a hold of the credit gate, if one is on.
func (s *sellState) release() {
	if !s.heldSince.IsZero() {
		s.heldFor += time.Since(s.heldSince)
		s.heldSince = time.Time{}
	}
}

// leavePaid ends the peer's paid slot: nothing more is gated. What was
// queued in the paid slot still goes out, charged, before the
// reject (sendTerms): the gate keeps counting it, and the channel's other
// connections keep leaving room for it, until the reject is written
// (accrue); without marks, at once.
func (h *handler) leavePaid() {
	s := h.sell
	s.paidSlot = false
	s.release()
	if !s.marked {
		s.gate.reset()
		h.publish()
	}
}

// channelRoom counts the channel's debt afresh and returns what its
// deposit can still pay for, in bytes at our price, beyond what its other
// connections have queued and reserved: the capacity a piece beginning
// here must fit in. Both are read in one look at the seller's books, so a
// connection moving bytes from queued to sent is never missed in between.
func (h *handler) channelRoom() int64 {
	s := h.sell
	if s.channel == nil || s.price.IsZero() {
		return s.capBytes
	}
	owed, paid, others, ok := h.e.sell.channelView(s.channel.ID, h)
	if ok {
		s.unpaidBytes = debtBytes(owed, paid, s.price)
	}
	return max(0, s.capBytes-bytesAt(others, s.price))
}

// publish tells the seller's books what this connection has queued and
// reserved on its channel, at its price: what the channel's other
// connections must leave room for. (It is stale-high between two pieces
// begun here: bytes sent since are counted twice, on the safe side.)
func (h *handler) publish() {
	s := h.sell
	if s.channel == nil {
		return
	}
	var amount btt.Amount
	if s.paidSlot || s.marked {
		c, err := cost(s.price, max(0, s.gate.admitted-s.gate.sent)+s.gate.reserved)
		if err != nil {
			c = btt.Max(s.price, btt.NewAmount(1)) // cannot happen below MaxPrice
		}
		amount = c
	}
	h.e.sell.publish(s.channel.ID, h, amount)
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
	if s.channel != nil && !s.ending && h.e.sell.Payee != nil {
		// The payee follows its channels on chain (paychan.Payee.Follow):
		// one the payer began to close, or near its deadline, takes no
		// more credit from here (issue 23, case 4).
		if _, ok := h.e.sell.Payee.Creditable(s.channel.ID); !ok {
			h.channelEnds(fmt.Errorf("%w: channel %x is no longer creditable", paychan.ErrChannelClosing, s.channel.ID[:8]))
		}
	}
	s.unpaidBytes = h.countUnpaid()
	s.capBytes = maxBytes
	if s.channel != nil && !s.price.IsZero() {
		best := btt.Max(s.channel.Paid, h.e.sell.best(s.channel.ID))
		s.capBytes = capacity(s.channel.Deposit, best, s.price)
	}
}

// window is the credit the payer may use, as its awards tell it: its
// credit window, bounded by what its channel can still pay (issue 23, case
// 5: one voucher opened the window to CreditMax whatever the deposit).
func (h *handler) window() int64 {
	s := h.sell
	return usableWindow(s.credit, s.capBytes)
}

func (h *handler) countUnpaid() int64 {
	s := h.sell
	if s.price.IsZero() {
		return 0
	}
	owed, paid := s.meter.owed, s.paid
	if s.channel != nil {
		if o, p, ok := h.e.sell.channelAccount(s.channel.ID); ok {
			owed, paid = o, p
		}
	}
	return debtBytes(owed, paid, s.price)
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
		if s.ending {
			// Its channel takes no more vouchers: choked, which drops
			// what is queued for it, until a new channel replaces it.
			ps.Unpaid = ps.Credit + 1
		} else if s.refused != nil || !s.heldSince.IsZero() && time.Since(s.heldSince) > h.payTimeout() {
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
			// New terms for what is admitted from now on; what is
			// queued before the award goes out before it, at the terms
			// before (sendTerms), as the payer prices it.
			h.accrue()
			s.price = o.Price
			s.paidSlot = true
			h.recount()
			h.sendTerms(speedwire.Award{Price: o.Price, Credit: h.window()}, terms{true, o.Price})
		}
		if ci := s.deferred; ci != nil {
			s.deferred = nil
			h.onChannel(*ci)
		}
		return
	}
	beat, _ := clearing.Add(btt.NewAmount(1))
	if s.paidSlot {
		h.accrue()
		h.leavePaid()
		// The payer must hear it, or it would pay for the blocks that
		// come free from now on; they are free after the reject, which
		// goes before the requests held are served.
		reason, price := "moved to a free slot", beat
		switch {
		case o.Unchoke:
		case o.Reason == choker.ReasonBelowReserve:
			reason, price = o.Reason.String(), h.e.sell.Ask
		default:
			reason = o.Reason.String()
		}
		h.sendTerms(speedwire.Reject{Price: price, Reason: reason}, terms{})
		h.p.ServeHeld() // out of the paid slot, nothing is gated
		return
	}
	if s.bid.IsZero() || o.Unchoke {
		return
	}
	switch o.Reason {
	case choker.ReasonLostAuction:
		h.send(speedwire.Reject{Price: beat, Reason: o.Reason.String()})
	case choker.ReasonBelowReserve:
		h.send(speedwire.Reject{Price: h.e.sell.Ask, Reason: o.Reason.String()})
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
	if s.lapsed {
		// Owing and out of the paid slot: nothing at all until it pays,
		// not even its allowed-fast pieces (BEP 6), which a choked peer
		// may ask for — they went out free, past the choke.
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
	_, begun := s.gate.started[b.Piece]
	capBytes := s.capBytes
	if !begun {
		// A piece would begin: the channel's whole exposure counts
		// against what its deposit can pay — its debt as of now, and
		// what its other connections have queued and reserved (each
		// holds its own window, but the deposit is one).
		capBytes = h.channelRoom()
	}
	if !s.gate.admit(b, size, h.unpaid(), s.credit.Window, capBytes, h.p.PeerHas, t.PieceSize) {
		if s.heldSince.IsZero() {
			s.heldSince = time.Now()
		}
		return peer.Hold
	}
	if !begun {
		h.publish()
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
