package speed

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer/speedwire"
)

// Buying: bids, awards, and paying for verified pieces.

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
