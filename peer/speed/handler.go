package speed

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/speedwire"
	"github.com/bttspeed/bttspeed/piece"
)

// handler is one btt_speed peer; its methods run on the torrent's loop.
type handler struct {
	e      *Extension
	p      peer.ExtPeer
	theirs speedwire.Handshake
	sell   *sellState // we sell to this peer
	buy    *buyState  // we buy from this peer
	closed bool
}

var (
	_ peer.ChokeStatter  = (*handler)(nil)
	_ peer.ServeGate     = (*handler)(nil)
	_ peer.PieceObserver = (*handler)(nil)
	_ peer.Settler       = (*handler)(nil)
)

type sellState struct {
	bid         btt.Amount
	paidSlot    bool
	price       btt.Amount
	credit      paychan.Credit
	channel     *paychan.Channel
	accepting   bool
	owed        btt.Amount // accrued at the clearing price while in a paid slot
	paid        btt.Amount // what this connection's vouchers added to the channel's total
	lastUp      int64
	refused     error                  // a bad voucher: choked for good
	lapsed      bool                   // lost its paid slot owing, for not paying: over its credit until it pays
	receiving   int                    // vouchers being verified and stored
	vq          chan inVoucher         // to the worker that stores vouchers, in order
	queued      []speedwire.Message    // vouchers that came while the channel was being checked
	reread      *speedwire.ChannelInfo // the channel announced again while being read
	overflow    *inVoucher             // the highest voucher that found vq full
	last        *btt.Amount            // the amount of this connection's last voucher
	lastPay     time.Time
	sold        int64         // bytes sent in a paid slot
	unpaidBytes int64         // the channel's debt in bytes at our price, as last counted (see unpaid)
	gate        gate          // the credit gate's bookkeeping (see MayServe)
	heldSince   time.Time     // when the gate began holding the payer back
	heldFor     time.Duration // how long the gate held it back before, in all

	// Pieces paid for before are served again free (see MayServe).
	paidFor  map[int]bool  // pieces of this torrent its channel paid for, as its vouchers listed them
	whole    map[int]bool  // pieces this connection sold whole, not yet listed as paid for
	freeSent map[int]int64 // bytes of each paid-for piece served again free on this connection
	lastFree int64         // UploadedFree as accrue last read it
}

// inVoucher is a voucher on its way to the store, with the pieces it
// lists that this connection sold whole, and the price they were sold at.
type inVoucher struct {
	sv     paychan.SignedVoucher
	pieces []paychan.PieceSize
	price  btt.Amount
}

type buyState struct {
	bid              btt.Amount
	won              bool
	wins, losses     int
	clearing         btt.Amount
	beat             btt.Amount
	lastDown         int64
	lastAt           time.Time
	rate             int64
	announced        bool       // we told the seeder our channel
	announcedDeposit btt.Amount // the deposit we told it
	pending          []pendingPay
	inflight         int   // vouchers being signed
	credit           int64 // the seeder's credit window, from its last award
	payTimer         bool  // a payDelay timer is running
	due              []paychan.PiecePayment
	dueBytes         int64
	bought           int64 // bytes of the pieces paid for
	// winDown and winBought are Downloaded and bought when we last won
	// a paid slot: what came and what we paid for since (unpaid).
	winDown, winBought int64
	spent              btt.Amount   // what we signed for them
	whole              map[int]bool // pieces bought whole from the peer, to list in the voucher that pays for them
}

type pendingPay struct {
	piece  int
	bytes  int64
	amount btt.Amount
}

func (h *handler) send(m speedwire.Message) {
	b, err := speedwire.Encode(m)
	if err != nil {
		h.e.log.Error("encoding btt_speed message", "err", err)
		return
	}
	h.p.Send(b)
}

// Message implements peer.ExtHandler.
func (h *handler) Message(payload []byte) error {
	m, err := speedwire.Decode(payload)
	if err != nil {
		return err
	}
	switch m.Type {
	case speedwire.TypeBid:
		if h.sell != nil {
			h.sell.bid = m.Price
			h.p.RequestRechoke()
		}
	case speedwire.TypeChannel:
		if h.sell != nil {
			h.onChannel(m.Channel)
		}
	case speedwire.TypeVoucher:
		if h.sell != nil {
			h.onVoucher(m)
		}
	case speedwire.TypeAward:
		if h.buy != nil {
			h.buy.credit = m.Credit
			h.onAward(m.Price)
		}
	case speedwire.TypeReject:
		if h.buy != nil {
			b := h.buy
			b.won, b.wins, b.losses, b.beat = false, 0, b.losses+1, m.Price
		}
	case speedwire.TypeError:
		h.e.log.Debug("btt_speed error from peer", "peer", h.p.Addr(), "code", m.Code, "reason", m.Reason) // Debug: a peer could flood the log
		if h.buy != nil {
			h.buy.won = false
		}
	}
	return nil
}

// sellGrace is how long after a payer's last voucher a seller keeps a
// finished peer's connection open, for vouchers still on the way.
const sellGrace = 5 * time.Second

// Busy implements peer.Busy: vouchers are being signed, or pieces wait
// for a channel to pay them from; or, selling, a channel or voucher is being
// checked, or the peer still owes us and paid recently.
func (h *handler) Busy() bool {
	if b := h.buy; b != nil {
		h.flushDue()
		if b.inflight > 0 || len(b.due) > 0 || (len(b.pending) > 0 && b.won) {
			return true
		}
	}
	if s := h.sell; s != nil {
		if s.accepting || s.receiving > 0 {
			return true
		}
		// A payer that paid lately may have vouchers on the way.
		if !s.lastPay.IsZero() && time.Since(s.lastPay) < sellGrace {
			return true
		}
	}
	return false
}

// Unsettled implements peer.Settler: as a payer, we have pieces due, a
// voucher being signed, or one signed and not yet sent — what the seller
// is owed and would otherwise get only on our next connection to it (a
// leecher closed as soon as it completes). It pays what is due now.
func (h *handler) Unsettled() bool {
	b := h.buy
	if b == nil || h.closed {
		return false
	}
	h.flushDue()
	return b.inflight > 0 || len(b.due) > 0
}

// Closed implements peer.ExtHandler.
func (h *handler) Closed() {
	h.closed = true
	h.e.mu.Lock()
	delete(h.e.handlers, h)
	h.e.mu.Unlock()
	if s := h.sell; s != nil {
		// Charge what was sent since the last request: the channel's
		// account would otherwise count it as never sold, and credit
		// the payer's next connection with it as paid for.
		h.accrue()
		if s.channel != nil {
			h.e.cfg.Sell.leave(s.channel.ID, h)
		}
		if s.vq != nil {
			close(s.vq) // the worker stores what is in it, then ends
		}
		if s.overflow != nil && s.channel != nil {
			h.storeLate(s.channel.ID, false, []inVoucher{*s.overflow})
		}
	}
}

// figures returns the peer's live figures (zero once it closed).
func (h *handler) figures() PeerFigures {
	if h.closed {
		return PeerFigures{}
	}
	f := PeerFigures{Addr: h.p.Addr(), Torrent: h.p.Torrent().InfoHash()}
	if s := h.sell; s != nil {
		h.accrue()
		sf := &SellFigures{Bid: s.bid, PaidSlot: s.paidSlot, Sold: s.sold, Free: h.p.UploadedFree(), Owed: s.owed, Paid: s.paid, Credit: s.credit.Window, Held: !s.heldSince.IsZero(), HeldFor: s.heldFor}
		if !s.heldSince.IsZero() {
			sf.HeldFor += time.Since(s.heldSince)
		}
		if s.paidSlot {
			sf.Price = s.price
		}
		if s.channel != nil {
			sf.Channel = s.channel.ID
		}
		if s.refused != nil {
			sf.Refused = s.refused.Error()
		}
		f.Sell = sf
	}
	if b := h.buy; b != nil {
		f.Buy = &BuyFigures{Bid: b.bid, Clearing: b.clearing, Won: b.won, Bought: b.bought, Spent: b.spent, Due: b.dueBytes}
	}
	return f
}

// --- selling ---

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
		s.unpaidBytes = min(s.unpaidBytes+d, 1<<62)
		cost, err := s.price.MulUint64(uint64(d))
		if err == nil {
			s.owed, _ = s.owed.Add(cost)
		}
		if s.channel != nil {
			h.e.cfg.Sell.addSale(*s.channel, d, cost)
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

func (h *handler) recount() { h.sell.unpaidBytes = h.countUnpaid() }

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

// bytesAt returns how many bytes amount buys at price, at most 1<<62.
func bytesAt(amount, price btt.Amount) int64 {
	bytes, ok := amount.Div(price)
	if !ok {
		return 0
	}
	n, fits := bytes.Uint64()
	if !fits || n > 1<<62 {
		return 1 << 62
	}
	return int64(n)
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
			h.send(speedwire.Message{Type: speedwire.TypeAward, Price: o.Price, Credit: s.credit.Window})
		}
		if s.price != o.Price {
			h.accrue() // what was sent at the old price
			s.price = o.Price
			h.recount()
		}
		s.paidSlot = true
		return
	}
	if s.paidSlot {
		s.leavePaid()
		h.p.ServeHeld() // out of the paid slot, nothing is gated
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
	if s.channel == nil {
		// No credit before the payer's channel is read from the chain
		// and found to pay us: its requests wait for it.
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
	if !s.gate.admit(b, size, h.unpaid(), s.credit.Window, h.p.PeerHas, t.PieceSize) {
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

func (h *handler) onChannel(ci speedwire.ChannelInfo) {
	s := h.sell
	if s.accepting {
		// Announced again while being read (topped up again): read it
		// once more after.
		s.reread = &ci
		return
	}
	if s.channel != nil && (ci.ID != s.channel.ID || !ci.Deposit.Gt(s.channel.Deposit)) {
		// One channel per peer; announced again, it was topped up:
		// read it again, or there is nothing new.
		return
	}
	if ci.Escrow != h.e.cfg.Domain.Escrow {
		h.send(speedwire.Message{Type: speedwire.TypeError, Code: CodeBadChannel, Reason: "channel on another escrow"})
		return
	}
	s.accepting = true
	payee, log, addr := h.e.cfg.Sell.Payee, h.e.log, h.p.Addr()
	ih, loadSold := h.p.Torrent().InfoHash(), s.channel == nil
	h.p.Go(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		// The chain down is no fault of the payer's: read again, with
		// backoff, for up to a minute; its requests wait meanwhile.
		var ch paychan.Channel
		err := retryChain(ctx, func() error {
			var err error
			ch, err = payee.Accept(ctx, ci.ID)
			if errors.Is(err, paychan.ErrChainUnavailable) {
				log.Info("reading a channel: the chain is unavailable; retrying", "peer", addr, "err", err)
			}
			return err
		})
		// The pieces of this torrent the channel paid for before, which
		// the payer gets again free (MayServe).
		var sold []int
		if err == nil && loadSold {
			var serr error
			if sold, serr = payee.SoldPieces(ci.ID, ih); serr != nil {
				log.Warn("reading the pieces a channel paid for", "channel", ci.ID, "err", serr)
			}
		}
		h.p.Do(func() {
			s.accepting = false
			reread := s.reread
			s.reread = nil
			if err != nil {
				s.queued = nil
				h.e.log.Info("refusing a channel", "peer", h.p.Addr(), "err", err)
				h.send(speedwire.Message{Type: speedwire.TypeError, Code: CodeBadChannel, Reason: trim(err.Error())})
				return
			}
			first := s.channel == nil
			if first {
				for _, i := range sold {
					if s.paidFor == nil {
						s.paidFor = make(map[int]bool, len(sold))
					}
					s.paidFor[i] = true
				}
				h.accrue()
				h.e.cfg.Sell.addSale(ch, s.sold, s.owed) // what it bought before (nothing, in a paid slot)
				if !h.closed {
					h.e.cfg.Sell.join(ch.ID, h)
				}
			}
			s.channel = &ch
			again := reread != nil && reread.ID == ch.ID && reread.Deposit.Gt(ch.Deposit)
			if h.closed {
				// The peer left while its channel was being read (a
				// leecher closes once complete): store what it sent,
				// which is redeemable, and credit nothing.
				late := make([]inVoucher, len(s.queued))
				for i, m := range s.queued {
					late[i] = inVoucher{sv: m.Voucher, pieces: h.listed(m.Pieces), price: s.price}
				}
				h.storeLate(ch.ID, again, late)
				s.queued = nil
				return
			}
			if first {
				// A channel that has paid before keeps the window it
				// earned, on every connection (TestRestartPaysOnlyNewPieces):
				// a restarted payer re-downloading pieces it paid for
				// before owes their bytes in this process's count and
				// will not pay for them again.
				if w := h.e.cfg.Sell.window(ch.ID); w > s.credit.Window {
					s.credit.Window = min(w, s.credit.Max)
					if s.paidSlot {
						h.send(speedwire.Message{Type: speedwire.TypeAward, Price: s.price, Credit: s.credit.Window})
					}
				}
				h.recount()
				s.release()
				h.p.ServeHeld() // credit starts now
			}
			if again {
				h.onChannel(*reread) // the vouchers wait for it
				return
			}
			queued := s.queued
			s.queued = nil
			for _, m := range queued {
				h.onVoucher(m)
			}
		})
	})
}

func (h *handler) onVoucher(m speedwire.Message) {
	s := h.sell
	sv := m.Voucher
	if s.accepting {
		// The channel is being read (again): the voucher waits for it.
		// Vouchers are cumulative: past 64 waiting, keep the highest.
		switch n := len(s.queued); {
		case n < 64:
			s.queued = append(s.queued, m)
		case sv.Amount.Gt(s.queued[n-1].Voucher.Amount):
			s.queued[n-1] = m
		}
		return
	}
	if s.refused != nil {
		return // refused already: nothing more is credited
	}
	if s.channel == nil {
		h.send(speedwire.Message{Type: speedwire.TypeError, Code: CodeNoChannel, Reason: "voucher before its channel"})
		return
	}
	if sv.Channel != s.channel.ID {
		h.refuse(fmt.Errorf("%w: %x, not the channel announced (%x)", paychan.ErrWrongChannel, sv.Channel[:8], s.channel.ID[:8]))
		return
	}
	if s.last != nil && !sv.Amount.Gt(*s.last) {
		// A payer signs cumulative amounts in order and sends each on
		// one connection in order, so a replayed or decreasing voucher on
		// the same connection is no accident. (One below the best stored
		// from another connection is: vouchers of a channel shared by
		// several connections can cross; storeBest ignores those.)
		h.refuse(fmt.Errorf("%w: %s after %s on this connection", paychan.ErrNotIncreasing, sv.Amount, *s.last))
		return
	}
	amount := sv.Amount
	s.last = &amount
	h.store(inVoucher{sv: sv, pieces: h.listed(m.Pieces), price: s.price})
}

// listed returns the pieces a voucher lists that this connection sold
// whole and that were not listed before, with their sizes; they are
// recorded as paid for with the voucher, as far as it covers them
// (paychan.Payee.ReceivePieces), and served again free after. Only pieces
// sold whole here count, so the work is bounded by what was sold.
func (h *handler) listed(runs []speedwire.Run) []paychan.PieceSize {
	s := h.sell
	if len(runs) == 0 || len(s.whole) == 0 {
		return nil
	}
	in := func(i int) bool {
		k, _ := slices.BinarySearchFunc(runs, i, func(r speedwire.Run, i int) int { return r.Start - i })
		// runs[k] is the first run starting at or after i, so i is in it
		// or in the one before.
		if k < len(runs) && runs[k].Start == i {
			return true
		}
		return k > 0 && i < runs[k-1].Start+runs[k-1].Count
	}
	var out []paychan.PieceSize
	t := h.p.Torrent()
	for i := range s.whole {
		if in(i) {
			out = append(out, paychan.PieceSize{Piece: i, Bytes: t.PieceSize(i)})
			delete(s.whole, i)
		}
	}
	slices.SortFunc(out, func(a, b paychan.PieceSize) int { return a.Piece - b.Piece })
	return out
}

// store hands a voucher to the peer's worker, which verifies and stores
// the vouchers in the order they came.
func (h *handler) store(iv inVoucher) {
	s := h.sell
	if s.vq == nil {
		// One worker per peer verifies and stores its vouchers in the
		// order they came (off the loop: a durable write), and reports
		// each back to the loop, which credits after.
		s.vq = make(chan inVoucher, 256)
		payee := h.e.cfg.Sell.Payee
		ih := h.p.Torrent().InfoHash()
		vq := s.vq
		h.p.Go(func(ctx context.Context) {
			for {
				select {
				case <-ctx.Done():
					// The torrent is stopping: store what is still
					// queued (it is redeemable), credit nothing.
					var rest []inVoucher
					for {
						select {
						case iv, ok := <-vq:
							if ok {
								rest = append(rest, iv)
								continue
							}
						default:
						}
						break
					}
					if len(rest) > 0 {
						_ = storeBest(payee, ih, rest)
					}
					return
				case iv, ok := <-vq:
					if !ok {
						return
					}
					// Vouchers are cumulative: of those waiting, only
					// the highest good one needs storing (one fsync).
					batch := []inVoucher{iv}
				drain:
					for {
						select {
						case more, ok := <-vq:
							if !ok {
								break drain
							}
							batch = append(batch, more)
						default:
							break drain
						}
					}
					res := storeBest(payee, ih, batch)
					h.p.Do(func() { h.received(res, len(batch)) })
				}
			}
		})
	}
	select {
	case s.vq <- iv:
		s.receiving++
	default:
		// Full: keep the highest aside; it goes when there is room, with
		// the pieces of those it replaces, at the least price.
		if o := s.overflow; o == nil {
			s.overflow = &iv
		} else {
			if iv.sv.Amount.Gt(o.sv.Amount) {
				o.sv = iv.sv
			}
			o.pieces = append(o.pieces, iv.pieces...)
			o.price = btt.Min(o.price, iv.price)
		}
	}
}

// storeLate stores, off the loop, the vouchers of a peer that has left,
// reading their channel again first if it was topped up.
func (h *handler) storeLate(id paychan.ChannelID, reread bool, vs []inVoucher) {
	if len(vs) == 0 {
		return
	}
	payee, log, sell := h.e.cfg.Sell.Payee, h.e.log, h.e.cfg.Sell
	ih := h.p.Torrent().InfoHash()
	h.p.Go(func(ctx context.Context) {
		if reread {
			if _, err := payee.Accept(ctx, id); err != nil {
				log.Warn("reading a topped-up channel again", "channel", id, "err", err)
			}
		}
		res := storeBest(payee, ih, vs)
		if res.bad != nil {
			log.Info("bad voucher from a peer that left", "err", res.bad)
		}
		if res.stored != nil {
			sell.setPaid(id, res.stored.Amount, res.added)
		}
	})
}

// storeResult is what storeBest did with a batch of vouchers.
type storeResult struct {
	stored   *paychan.SignedVoucher // the voucher stored (nil if none)
	added    btt.Amount             // what it added to the channel's best
	recorded []int                  // the pieces recorded as paid for with it
	bad      error                  // the first error other than ErrNotIncreasing
}

// storeBest stores the highest good voucher of a batch, trying them from
// the highest down, and returns it (nil if none was stored), what it added
// to the channel's best stored voucher, and the first error other than
// ErrNotIncreasing: a bad voucher must not hide a good one sent before it. Vouchers not above the best stored — overtaken by a
// later voucher on the same channel from another connection (one channel
// serves every torrent of a payer), or sent before a crash the payer
// forgot — credit nothing and are not held against the peer. (A replay on
// the same connection is refused before it gets here: onVoucher.)
//
// The pieces the batch's vouchers list, in torrent ih, are recorded with
// the voucher stored, at the least price they were sold at: a voucher
// pays for what those before it listed too.
func storeBest(payee *paychan.Payee, ih [20]byte, batch []inVoucher) storeResult {
	slices.SortStableFunc(batch, func(a, b inVoucher) int { return b.sv.Amount.Cmp(a.sv.Amount) })
	bought := paychan.PiecesBought{InfoHash: ih}
	for i, iv := range batch {
		bought.Pieces = append(bought.Pieces, iv.pieces...)
		if i == 0 || iv.price.Lt(bought.Price) {
			bought.Price = iv.price
		}
	}
	var bad error
	for i := range batch {
		added, recorded, err := payee.ReceivePieces(batch[i].sv, bought)
		switch {
		case err == nil:
			return storeResult{stored: &batch[i].sv, added: added, recorded: recorded, bad: bad}
		case errors.Is(err, paychan.ErrNotIncreasing):
			return storeResult{bad: bad} // the rest are lower still
		case bad == nil:
			bad = err
		}
	}
	return storeResult{bad: bad}
}

// received credits a stored voucher with what it added, then refuses the
// peer if one of its vouchers was bad.
func (h *handler) received(res storeResult, n int) {
	s := h.sell
	s.receiving -= n
	s.lastPay = time.Now()
	if o := s.overflow; o != nil && !h.closed {
		s.overflow = nil
		h.store(*o)
	}
	if len(res.recorded) > 0 {
		if s.paidFor == nil {
			s.paidFor = make(map[int]bool)
		}
		for _, i := range res.recorded {
			s.paidFor[i] = true
		}
	}
	if s.refused != nil {
		return // stored if it was good, but a refused peer gets no credit
	}
	bad := res.bad
	switch {
	case res.stored != nil:
		h.credit(*res.stored, res.added)
	case bad == nil:
		// Below the best stored: overtaken by a voucher from another
		// connection on the channel, which paid for this one's pieces
		// too. The channel's account has it; serve what it now allows.
		h.recount()
		h.p.ServeHeld()
	}
	if bad != nil {
		h.refuse(bad)
	}
}

// credit credits the peer with what a stored voucher added to its
// channel's total. Only that: vouchers are cumulative over the channel,
// which also carries the payer's payments on other connections and before
// a restart, so a connection is credited with the increase its own
// vouchers brought. (Vouchers of two connections that cross count for
// whichever arrives first; the other is behind by as much until its next.)
func (h *handler) credit(sv paychan.SignedVoucher, added btt.Amount) {
	s := h.sell
	if !added.IsZero() {
		s.lapsed = false
		s.paid, _ = s.paid.Add(added)
		h.e.cfg.Sell.setPaid(sv.Channel, sv.Amount, added)
		h.recount()
		h.wakeOthers(sv.Channel)
		before := s.credit.Window
		s.credit.Paid()
		h.e.cfg.Sell.earned(sv.Channel, s.credit.Window)
		if s.paidSlot && s.credit.Window != before {
			// Tell the payer: it pays every half window.
			h.send(speedwire.Message{Type: speedwire.TypeAward, Price: s.price, Credit: s.credit.Window})
		}
		s.release()
		h.p.ServeHeld()
		if !s.paidSlot && !s.bid.IsZero() {
			// Choked for not paying, it has now paid: let the auction
			// see that now rather than at the next interval.
			h.p.RequestRechoke()
		}
	}
}

// wakeOthers has the channel's other connections serve what they were
// held back for, now that the channel owes less: the payer's vouchers on
// one connection pay for what it bought on the others too. Each runs on
// its own torrent's loop, posted from a goroutine.
func (h *handler) wakeOthers(id paychan.ChannelID) {
	for _, o := range h.e.cfg.Sell.others(id, h) {
		h.p.Go(func(context.Context) {
			o.p.Do(func() {
				if !o.closed {
					o.recount()
					o.p.ServeHeld()
				}
			})
		})
	}
}

// refuse refuses the peer's vouchers for good: nothing more is credited,
// it is told why, and it is choked.
func (h *handler) refuse(err error) {
	s := h.sell
	h.e.log.Info("bad voucher", "peer", h.p.Addr(), "err", err)
	s.refused = err
	h.p.RequestRechoke() // choke it now
	h.send(speedwire.Message{Type: speedwire.TypeError, Code: CodeBadVoucher, Reason: trim(err.Error())})
}

func trim(s string) string {
	if len(s) > 200 {
		return s[:200]
	}
	return s
}

// --- buying ---

func (h *handler) bidRound() {
	h.flushDue()
	b, buyer := h.buy, h.e.cfg.Buy
	now := buyer.Now()
	down := h.p.Downloaded()
	if !b.lastAt.IsZero() {
		if secs := now.Sub(b.lastAt).Seconds(); secs > 0 {
			b.rate = int64(float64(down-b.lastDown) / secs)
		}
	}
	b.lastDown, b.lastAt = down, now
	buyer.mu.Lock()
	balance := buyer.Budget.SubFloor(buyer.spent)
	buyer.mu.Unlock()
	left := h.p.Torrent().Left()
	if left < 0 {
		return // no info yet
	}
	bid := buyer.Strategy.Bid(bidding.Market{
		Now: now, Remaining: left, Balance: balance, Current: b.bid,
		Reserve: h.theirs.Ask, LastClearing: b.clearing, PriceToBeat: b.beat,
		Won: b.won, Wins: b.wins, Losses: b.losses, Rate: b.rate,
	})
	if bid.Price != b.bid {
		b.bid = bid.Price
		h.send(speedwire.Message{Type: speedwire.TypeBid, Price: bid.Price})
	}
}

func (h *handler) onAward(price btt.Amount) {
	b := h.buy
	if !b.won {
		b.winDown, b.winBought = h.p.Downloaded(), b.bought
	}
	b.won, b.wins, b.losses, b.clearing, b.beat = true, b.wins+1, 0, price, btt.Zero
	h.withChannel(func(ch paychan.Channel) {
		h.announce(ch)
		for _, pp := range b.pending {
			b.due = append(b.due, paychan.PiecePayment{Piece: pp.piece, Amount: pp.amount})
			b.dueBytes += pp.bytes
		}
		b.pending = nil
		// By the usual rule: at once if the window is small, as it is
		// at the first award, else with the next voucher. (An award that
		// only grows the window does not cost a voucher of its own.)
		h.maybePay()
	})
}

// withChannel runs f (on the loop) once the buyer has a channel to this
// peer's payee, opening one if needed.
func (h *handler) withChannel(f func(paychan.Channel)) {
	buyer := h.e.cfg.Buy
	payee := h.theirs.Payee
	buyer.mu.Lock()
	bc := buyer.channels[payee]
	if bc == nil {
		bc = &buyChannel{}
		buyer.channels[payee] = bc
	}
	if bc.ready {
		ch := bc.ch
		buyer.mu.Unlock()
		f(ch)
		return
	}
	bc.waiters = append(bc.waiters, waiter{h, func() {
		if !h.closed {
			buyer.mu.Lock()
			ch := bc.ch
			buyer.mu.Unlock()
			f(ch)
		}
	}})
	if bc.opening {
		buyer.mu.Unlock()
		return
	}
	deposit := btt.Min(buyer.Deposit, buyer.Budget.SubFloor(buyer.locked))
	bc.opening = true
	buyer.locked, _ = buyer.locked.Add(deposit)
	now := buyer.Now()
	expiry, until := now.Add(buyer.Lifetime), now.Add(buyer.Lifetime/2)
	buyer.mu.Unlock()
	h.p.Go(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		// A channel we have to this payee from before a restart, open
		// for half a Lifetime more with funds left, goes on; otherwise
		// a new one. (A top-up refills the old one if it runs dry.)
		ch, signed, resumed, err := buyer.Payer.Resume(ctx, payee, until)
		if err != nil {
			h.e.log.Warn("looking for a channel to resume", "payee", payee, "err", err)
		}
		if !resumed && !deposit.IsZero() {
			// Announced as soon as the chain has it: the seeder reads
			// it while the payer records it.
			ch, err = buyer.Payer.OpenNotify(ctx, payee, deposit, expiry, func(ch paychan.Channel) {
				h.p.Do(func() {
					if !h.closed {
						h.announce(ch)
					}
				})
			})
		}
		h.p.Do(func() {
			buyer.mu.Lock()
			bc.opening = false
			if !resumed && deposit.IsZero() {
				buyer.mu.Unlock()
				return // the budget is all locked in other channels
			}
			if resumed {
				// What it can still pay is locked, not the deposit asked.
				buyer.locked = buyer.locked.SubFloor(deposit)
				buyer.locked, _ = buyer.locked.Add(ch.Deposit.SubFloor(signed))
				h.e.log.Info("resuming a channel", "payee", payee, "channel", ch.ID, "deposit", ch.Deposit, "signed", signed)
			}
			if !resumed && err != nil {
				bc.err = err
				buyer.locked = buyer.locked.SubFloor(deposit)
				bc.waiters = nil
				buyer.mu.Unlock()
				h.e.log.Warn("opening a channel", "payee", payee, "err", err)
				return
			}
			bc.ch, bc.ready = ch, true
			if resumed {
				bc.signed = btt.Max(bc.signed, signed)
			}
			waiters := bc.waiters
			bc.waiters = nil
			buyer.mu.Unlock()
			h.wake(waiters)
		})
	})
}

// PieceVerified implements peer.PieceObserver: a piece bought in a paid
// slot, now verified, is paid for.
func (h *handler) PieceVerified(piece int, bytes int64) {
	b := h.buy
	if b == nil || !b.won || b.clearing.IsZero() || bytes <= 0 {
		return
	}
	amount, err := b.clearing.MulUint64(uint64(bytes))
	if err != nil {
		return
	}
	if bytes == h.p.Torrent().PieceSize(piece) {
		// Bought whole from this peer: the voucher that pays for it
		// lists it, and the seeder serves it again free if we lose it.
		if b.whole == nil {
			b.whole = make(map[int]bool)
		}
		b.whole[piece] = true
	}
	if !h.hasChannel() {
		// No channel yet: paid once it is open (onAward).
		b.pending = append(b.pending, pendingPay{piece, bytes, amount})
		return
	}
	// A channel being topped up: due now, paid when the top-up is in.
	b.due = append(b.due, paychan.PiecePayment{Piece: piece, Amount: amount})
	b.dueBytes += bytes
	h.maybePay()
}

// payDelay is the longest a verified piece waits to be paid. A voucher
// costs a durable write on each side (an fsync, which on a virtual machine
// takes CPU from the transfer as well): a download faster than half its
// window a second pays by the window, a slower one once a second. The
// seeder is owed at most its window meanwhile, as ever.
const payDelay = time.Second

// maybePay pays what is due once the seeder's count of it comes to half
// its credit window (at once while the window is small, as it starts), or
// payDelay after the first piece came due, whichever is first, and at once
// when the torrent is complete; one voucher is in flight at a time, and
// what comes due meanwhile goes in the next. Each voucher costs a durable
// write on both sides, so a fast download pays in a few large steps and a
// slow one piece by piece; the half of the window left covers the
// voucher's way to the seeder's store, so the seeder never holds the payer
// back for want of a voucher it could have had. (A quarter cost twice the
// writes for no fewer stalls: see DECISIONS.md.) See payNow for what the
// seeder counts.
func (h *handler) maybePay() {
	b := h.buy
	if b.inflight > 0 || len(b.due) == 0 {
		return
	}
	if payNow(h.sellerUnpaid(), h.p.Torrent().Left(), b.credit) {
		h.flushDue()
		return
	}
	if !b.payTimer {
		b.payTimer = true
		h.p.Go(func(ctx context.Context) {
			t := time.NewTimer(payDelay)
			defer t.Stop()
			select {
			case <-t.C:
				h.p.Do(func() {
					b.payTimer = false
					h.flushDue()
				})
			case <-ctx.Done():
			}
		})
	}
}

// sellerUnpaid is our count of what the seeder counts as owed and not yet
// paid for on this slot: it counts a block as owed when it sends it, not
// when we verify its piece, so its count is ahead of the pieces due by the
// blocks received into pieces not yet verified (partly received, or
// waiting for the disk) and by the blocks asked for and not received
// (Requested), which it may have sent. Counted since we last won the slot
// (the bytes that came free before are not owed) and never below what is
// due; an upper bound, as the seeder serves some of it free (pieces paid
// for before).
func (h *handler) sellerUnpaid() int64 {
	b := h.buy
	got := h.p.Downloaded() - b.winDown - (b.bought - b.winBought)
	return max(got, b.dueBytes) + h.p.Requested()
}

// payNow reports whether a payer should pay what is due now rather than
// when payDelay runs out: when the torrent is complete (left is 0: nothing
// more is coming to pay with it), or when the seeder's count of what it is
// owed (sellerUnpaid) comes to half its credit window, the other half
// covering the voucher's way. Counting only the pieces verified and due
// left the seeder at its window before the voucher was on its way: with a
// 500-block (8 MiB) pipeline and a 16 MiB window (CreditGrowth 64), the
// pieces due lagged the seeder's count by the pipeline and by 4 MiB
// received and not yet verified. Only pieces verified are ever paid for;
// this moves when, not what (docs/DECISIONS.md, sessions 13 and 14).
func payNow(unpaid, left, credit int64) bool {
	return left == 0 || unpaid >= credit/2
}

// topUp adds to the channel's deposit at least the shortfall — a whole
// Buyer.Deposit if the budget allows — moves its expiry a Lifetime ahead,
// tells the seeder, and pays what is due. Payments wait meanwhile; a
// buyer whose budget is spent stops paying (and the seeder stops serving
// it in a paid slot).
func (h *handler) topUp(ch paychan.Channel, shortfall btt.Amount) {
	buyer := h.e.cfg.Buy
	buyer.mu.Lock()
	bc := buyer.channels[h.theirs.Payee]
	if bc == nil || bc.ch.ID != ch.ID {
		buyer.mu.Unlock()
		return
	}
	if bc.topping {
		bc.waiters = append(bc.waiters, waiter{h, h.flushDue})
		buyer.mu.Unlock()
		return
	}
	amount := btt.Min(btt.Max(shortfall, buyer.Deposit), buyer.Budget.SubFloor(buyer.locked))
	if amount.Lt(shortfall) {
		buyer.mu.Unlock()
		h.e.log.Warn("budget spent: cannot top up the channel", "payee", h.theirs.Payee, "shortfall", shortfall, "budget", buyer.Budget)
		return
	}
	bc.topping = true
	buyer.locked, _ = buyer.locked.Add(amount)
	expiry := buyer.Now().Add(buyer.Lifetime)
	if bc.ch.Expiry.After(expiry) {
		expiry = bc.ch.Expiry
	}
	buyer.mu.Unlock()
	want, _ := ch.Deposit.Add(amount)
	payee, log := h.theirs.Payee, h.e.log
	h.p.Go(func(ctx context.Context) {
		topped, err := topUpRetrying(ctx, buyer.Payer, ch.ID, amount, expiry, want, func(err error, next time.Duration) {
			log.Warn("topping up a channel failed; retrying", "payee", payee, "amount", amount, "in", next, "err", err)
		})
		if err != nil {
			// The torrent is stopping, or the channel was closed: hand
			// the waiters back (another torrent paying on this channel
			// tries again).
			if ctx.Err() == nil {
				log.Warn("giving up topping up a channel", "payee", payee, "err", err)
			}
			buyer.mu.Lock()
			bc.topping = false
			buyer.locked = buyer.locked.SubFloor(amount)
			waiters := bc.waiters
			bc.waiters = nil
			buyer.mu.Unlock()
			for _, w := range waiters {
				w.h.p.Go(func(context.Context) { w.h.p.Do(w.f) })
			}
			return
		}
		h.p.Do(func() {
			buyer.mu.Lock()
			bc.topping = false
			bc.ch = topped
			waiters := bc.waiters
			bc.waiters = nil
			buyer.mu.Unlock()
			if !h.closed {
				// The seeder re-reads the channel before the vouchers
				// over its old deposit come. (Other connections paying
				// on this channel announce it before their next voucher.)
				h.announce(topped)
				h.flushDue()
			}
			h.wake(waiters)
		})
	})
}

// topUpRetrying tops channel id up by amount, retrying with backoff (250
// ms doubling to 30 s, each failure reported to failed) until it succeeds
// or ctx ends. Before each retry it reads the channel again: a top-up that
// failed with an unknown outcome may have been mined after all, and once
// the deposit is want or more there is nothing left to do.
func topUpRetrying(ctx context.Context, payer *paychan.Payer, id paychan.ChannelID, amount btt.Amount, expiry time.Time, want btt.Amount, failed func(error, time.Duration)) (paychan.Channel, error) {
	delay := 250 * time.Millisecond
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		if attempt > 0 {
			cur, err := payer.Refresh(cctx, id)
			switch {
			case err == nil && cur.State != paychan.ChannelOpen:
				cancel()
				return paychan.Channel{}, fmt.Errorf("%w: channel %x is %s", paychan.ErrChannelClosed, id[:8], cur.State)
			case err == nil && !cur.Deposit.Lt(want):
				cancel()
				return cur, nil
			}
		}
		topped, err := payer.TopUp(cctx, id, amount, expiry)
		cancel()
		if err == nil {
			return topped, nil
		}
		if ctx.Err() != nil {
			return paychan.Channel{}, err
		}
		failed(err, delay)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return paychan.Channel{}, err
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// flushDue pays what is due, if the channel is ready.
func (h *handler) flushDue() {
	b := h.buy
	if b == nil || len(b.due) == 0 {
		return
	}
	if ch, ok := h.readyChannel(); ok && b.inflight == 0 {
		h.flush(ch)
	}
}

// hasChannel reports whether the buyer has opened a channel to this
// peer's payee (it may be being topped up).
func (h *handler) hasChannel() bool {
	buyer := h.e.cfg.Buy
	buyer.mu.Lock()
	defer buyer.mu.Unlock()
	bc := buyer.channels[h.theirs.Payee]
	return bc != nil && bc.ready
}

// readyChannel returns the buyer's open channel to this peer's payee,
// unless a top-up of it is on its way.
func (h *handler) readyChannel() (paychan.Channel, bool) {
	buyer := h.e.cfg.Buy
	buyer.mu.Lock()
	defer buyer.mu.Unlock()
	bc := buyer.channels[h.theirs.Payee]
	if bc == nil || !bc.ready || bc.topping {
		return paychan.Channel{}, false
	}
	return bc.ch, true
}

// announce tells the seeder our channel, or its new deposit after a
// top-up — on this connection, once per deposit: a channel shared by
// several connections may have been topped up through another.
//
// The first time on a connection, if the channel has been paid on
// before, the latest voucher follows (resendLatest): the voucher signed
// last may never have reached the seeder — signed as the process
// stopped, or sent on a connection that dropped — and a seeder that
// misses it counts what it paid for as owed, holding this connection at
// its credit for a debt that nothing will pay
// (TestRestartPaysOnlyNewPieces). announce reports whether that resend
// is in flight: vouchers on a connection must go in increasing order, so
// the next waits for it.
func (h *handler) announce(ch paychan.Channel) bool {
	b := h.buy
	if b.announced && !ch.Deposit.Gt(b.announcedDeposit) {
		return false
	}
	first := !b.announced
	b.announced, b.announcedDeposit = true, ch.Deposit
	h.send(speedwire.Message{Type: speedwire.TypeChannel, Channel: speedwire.ChannelInfo{ID: ch.ID, Escrow: h.e.cfg.Domain.Escrow, Deposit: ch.Deposit, Expiry: ch.Expiry.Unix()}})
	return first && h.resendLatest(ch.ID)
}

// resendLatest sends, off the loop, the channel's latest voucher if
// anything was signed on it, and reports whether it is on its way (a
// voucher in flight: flush waits for it).
func (h *handler) resendLatest(id paychan.ChannelID) bool {
	buyer := h.e.cfg.Buy
	buyer.mu.Lock()
	bc := buyer.channels[h.theirs.Payee]
	paid := bc != nil && bc.ch.ID == id && !bc.signed.IsZero()
	buyer.mu.Unlock()
	if !paid {
		return false
	}
	b := h.buy
	b.inflight++
	h.p.Go(func(context.Context) {
		sv, err := buyer.Payer.Latest(id)
		h.p.Do(func() {
			b.inflight--
			switch {
			case err != nil:
				h.e.log.Warn("resending the latest voucher", "channel", id, "err", err)
			case !h.closed && !sv.Amount.IsZero():
				h.send(speedwire.Message{Type: speedwire.TypeVoucher, Voucher: sv})
			}
			h.maybePay() // what came due meanwhile
		})
	})
	return true
}

// flush signs one voucher for every piece due (off the loop: the store
// writes them durably first, in one transaction) and sends it.
func (h *handler) flush(ch paychan.Channel) {
	b := h.buy
	if len(b.due) == 0 {
		return
	}
	// Before a voucher that may go past the deposit this seller last
	// heard of, the channel as it is now — and, first on a connection,
	// the latest voucher, which this one must follow.
	if h.announce(ch) {
		return
	}
	pays, bytes := b.due, b.dueBytes
	b.due, b.dueBytes = nil, 0
	var total btt.Amount
	for _, p := range pays {
		total, _ = total.Add(p.Amount)
	}
	buyer := h.e.cfg.Buy
	t := h.p.Torrent()
	ih := t.InfoHash()
	b.inflight++
	h.p.Go(func(context.Context) {
		sv, err := buyer.Payer.PayForPieces(ch.ID, ih, pays)
		if errors.Is(err, paychan.ErrAlreadyPaid) {
			// Some were paid for before — in a run before a restart
			// whose data was lost — and are not paid for twice; the
			// rest are.
			if paid, perr := buyer.Payer.PaidPieces(ih); perr == nil {
				pays = slices.DeleteFunc(pays, func(p paychan.PiecePayment) bool { _, ok := paid[p.Piece]; return ok })
				total, bytes = btt.Zero, 0
				for _, p := range pays {
					total, _ = total.Add(p.Amount)
					bytes += t.PieceSize(p.Piece)
				}
				if len(pays) > 0 {
					sv, err = buyer.Payer.PayForPieces(ch.ID, ih, pays)
				}
			}
		}
		if err == nil {
			// Counted as signed, whether or not the loop is still there
			// to send it: a resend after a restart delivers it.
			buyer.mu.Lock()
			buyer.spent, _ = buyer.spent.Add(total)
			if bc := buyer.channels[h.theirs.Payee]; bc != nil && bc.ch.ID == ch.ID {
				bc.signed = btt.Max(bc.signed, sv.Amount)
			}
			buyer.mu.Unlock()
		}
		// Signed past the deposit this connection announced: another
		// connection topped the channel up meanwhile, and this seeder
		// may not have heard of it yet. The deposit as stored goes
		// first, or the voucher would be refused as over the deposit.
		var latest *paychan.Channel
		if err == nil && sv.Amount.Gt(ch.Deposit) {
			recs, rerr := buyer.Payer.Channels()
			for _, r := range recs {
				if rerr == nil && r.Channel.ID == ch.ID {
					latest = &r.Channel
				}
			}
		}
		h.p.Do(func() {
			b.inflight--
			var dry *paychan.InsufficientFundsError
			switch {
			case errors.As(err, &dry):
				// The deposit ran dry: top the channel up, then pay.
				b.due, b.dueBytes = append(pays, b.due...), b.dueBytes+bytes
				h.topUp(ch, dry.Shortfall)
				return
			case errors.Is(err, paychan.ErrAlreadyPaid):
				h.e.log.Debug("pieces paid for before", "pieces", len(pays))
				h.maybePay()
				return
			case err != nil:
				h.e.log.Warn("paying for pieces", "pieces", len(pays), "err", err)
				return
			}
			b.bought += bytes
			b.spent, _ = b.spent.Add(total)
			if !h.closed {
				if latest != nil {
					h.announce(*latest)
				}
				h.send(speedwire.Message{Type: speedwire.TypeVoucher, Voucher: sv, Pieces: h.wholeRuns(pays)})
			} else {
				h.e.log.Debug("voucher not sent: connection closed", "peer", h.p.Addr(), "amount", sv.Amount)
			}
			h.maybePay() // what came due meanwhile (unless a top-up is on)
		})
	})
}

// wholeRuns returns, as runs for a voucher, the pieces of pays bought whole
// from the peer, and forgets them; past speedwire.MaxRuns runs the rest are
// left out (the seeder then charges them if they are downloaded again).
func (h *handler) wholeRuns(pays []paychan.PiecePayment) []speedwire.Run {
	b := h.buy
	var pieces []int
	for _, p := range pays {
		if b.whole[p.Piece] {
			pieces = append(pieces, p.Piece)
			delete(b.whole, p.Piece)
		}
	}
	slices.Sort(pieces)
	pieces = slices.Compact(pieces)
	return speedwire.RunsOf(pieces)
}

// retryChain calls f until it returns an error other than
// paychan.ErrChainUnavailable (or none), with backoff from 100 ms doubling
// to 5 s, until ctx ends; it returns f's last error.
func retryChain(ctx context.Context, f func() error) error {
	delay := 100 * time.Millisecond
	for {
		err := f()
		if !errors.Is(err, paychan.ErrChainUnavailable) {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		delay = min(2*delay, 5*time.Second)
	}
}
