package speed

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer/speedwire"
)

// Selling: the payer's vouchers, verified and stored off the loop, then
// credited.

// onVoucher takes a voucher on the loop: queued while the channel is
// being read, checked, and stored off the loop in batches.
func (h *handler) onVoucher(m speedwire.Voucher) {
	s := h.sell
	sv := m.Signed
	if s.accepting {
		// The channel is being read (again): the voucher waits for it.
		// Vouchers are cumulative: past 64 waiting, keep the highest.
		switch n := len(s.queued); {
		case n < 64:
			s.queued = append(s.queued, m)
		case sv.Amount.Gt(s.queued[n-1].Signed.Amount):
			s.queued[n-1] = m
		}
		return
	}
	if s.refused != nil {
		return // refused already: nothing more is credited
	}
	if s.channel == nil {
		h.send(speedwire.Error{Code: CodeNoChannel, Reason: "voucher before its channel"})
		return
	}
	if sv.Channel != s.channel.ID {
		if s.ending || !h.creditable() {
			// On its replacement, announced on another connection
			// first: it waits for the announcement here (the payer
			// resends its latest voucher after it).
			return
		}
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
		payee := h.e.sell.Payee
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
	payee, log, sell := h.e.sell.Payee, h.e.log, h.e.sell
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
		if channelEnding(bad) {
			h.channelEnds(bad)
		} else {
			h.refuse(bad)
		}
	}
}

// channelEnding reports an error that says the payer's channel can take
// no more vouchers — the payee is closing it, the payer closed it, or it
// expires within the margin — which is no fault of the payer's: it should
// pay through a new channel.
func channelEnding(err error) bool {
	return errors.Is(err, paychan.ErrChannelClosing) || errors.Is(err, paychan.ErrChannelClosed) || errors.Is(err, paychan.ErrExpired)
}

// channelEnds stops taking vouchers on the peer's channel: no credit from
// now on (MayServe holds it), and the payer is told to announce a new one
// (code 4), which replaces it (onChannel).
func (h *handler) channelEnds(err error) {
	s := h.sell
	if s.ending {
		return
	}
	s.ending = true
	h.p.RequestRechoke() // choked: what is queued on the old channel's credit is dropped
	h.e.log.Info("a payer's channel takes no more vouchers", "peer", h.p.Addr(), "err", err)
	h.send(speedwire.Error{Code: CodeChannelEnding, Reason: trim(err.Error())})
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
		h.e.sell.setPaid(sv.Channel, sv.Amount, added)
		before := h.window()
		h.recount()
		h.wakeOthers(sv.Channel)
		s.credit.Paid()
		h.e.sell.earned(sv.Channel, s.credit.Window)
		if s.paidSlot && h.window() != before {
			// Tell the payer: it pays every half window.
			// In its place on the wire, as every award: one that went
			// ahead of an award still queued would have the payer
			// price the blocks between at the new terms early.
			h.sendTerms(speedwire.Award{Price: s.price, Credit: h.window()}, terms{true, s.price})
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
// its own torrent's loop, posted to it.
func (h *handler) wakeOthers(id paychan.ChannelID) {
	for _, o := range h.e.sell.others(id, h) {
		o.p.Post(func() {
			if !o.closed {
				o.recount()
				o.p.ServeHeld()
			}
		})
	}
}

// refuse refuses the peer's vouchers for good: nothing more is credited,
// it is told why, and it is choked.
func (h *handler) refuse(err error) { h.refuseFor(CodeBadVoucher, err) }

// refuseFor refuses the peer for good, telling it why with code.
func (h *handler) refuseFor(code int, err error) {
	s := h.sell
	if s.refused != nil {
		return
	}
	h.e.log.Info("refusing a payer", "peer", h.p.Addr(), "code", code, "err", err)
	s.refused = err
	h.p.RequestRechoke() // choke it now
	h.send(speedwire.Error{Code: code, Reason: trim(err.Error())})
}
