package speed

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer/speedwire"
	"github.com/bttspeed/bttspeed/piece"
)

// Buying: bids, awards, and paying for verified pieces.

// Interested implements peer.InterestObserver: a buyer with no bid
// standing whose download comes to want something of this peer bids at
// once, not at its next rechoke (up to peer.Config.RechokeInterval later).
// A standing bid keeps the rechoke's cadence, over which its rate is
// measured.
func (h *handler) Interested(want bool) {
	if want && h.buy != nil && !h.closed && h.buy.bid.IsZero() {
		h.bidRound()
	}
}

func (h *handler) bidRound() {
	h.flushDue()
	b, buyer := h.buy, h.e.buy
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
	// What is left of the pieces wanted (files of priority None are
	// not bought), and the stream a reader is playing, if any.
	t := h.p.Torrent()
	left := t.WantedLeft()
	if left < 0 {
		return // no info yet
	}
	st := t.StreamState()
	bid := buyer.Strategy.Bid(bidding.Market{
		Now: now, Remaining: left, Balance: balance, Current: b.bid,
		Reserve: h.theirs.Ask, LastClearing: b.clearing, PriceToBeat: b.beat,
		Won: b.won, Wins: b.wins, Losses: b.losses, Rate: b.rate,
		Stream: bidding.Stream{Buffered: st.Buffered, Rate: st.Rate},
	})
	if bid.Price != b.bid {
		if bid.Price.Lt(b.bid) {
			b.loweredAt = now
		}
		b.bidPrev, b.bid = b.bid, bid.Price
		h.send(speedwire.Bid{Price: bid.Price})
	}
}

// ErrViolation reports a peer that broke the btt_speed protocol in a way
// that would cost us money: we drop it.
var ErrViolation = errors.New("speed: protocol violation")

// bidGrace is how long after we lower our bid an award may still come at
// the bid before: the seller reruns its auction as soon as a bid comes,
// so an award made on the old bid crosses the new one within a round
// trip; a few seconds cover a slow one.
const bidGrace = 5 * time.Second

// awardCeiling is the most a seller may award us now: our bid, or, for
// bidGrace after we lowered it, the bid before. An award on the old bid
// can cross the new one, and is no violation — we offered that price a
// moment ago; after that the old bid is no ceiling (a seller that had
// seen our lower bid could otherwise go back to the higher for good).
func (b *buyState) awardCeiling(now time.Time) btt.Amount {
	if now.Sub(b.loweredAt) < bidGrace {
		return btt.Max(b.bid, b.bidPrev)
	}
	return b.bid
}

// onAward takes a seller's award. An award above what we bid is a
// violation: nothing is paid at that price, the seller is told why and
// dropped (a seller that awarded budget ÷ size to a one-unit bid took
// the whole budget: issue 23). The price in force from now is the award's,
// for the blocks that arrive in this slot (BlockReceived).
func (h *handler) onAward(price btt.Amount, credit int64) error {
	b := h.buy
	if ceiling := b.awardCeiling(h.e.buy.Now()); price.Gt(ceiling) {
		err := fmt.Errorf("%w: award at %s a byte, above our bid of %s", ErrViolation, price, ceiling)
		h.e.log.Info("dropping a seller", "peer", h.p.Addr(), "err", err)
		b.leftPaid()
		h.send(speedwire.Error{Code: CodeViolation, Reason: trim(err.Error())})
		return err
	}
	b.credit = credit
	if !b.won {
		b.winDown, b.winBought = h.p.Downloaded(), b.bought
		h.event(BidWon{InfoHash: h.ih(), Seller: h.p.Addr(), Price: price})
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
		h.keepFunded() // a deposit that cannot pay for the next pieces gets no voucher to top up after
	})
	return nil
}

// leftPaid ends our paid slot: a reject, or an error from the seller. The
// blocks that come from now on are free.
// (clearing stays: it is the last award's price, which the strategy sees.)
func (b *buyState) leftPaid() { b.won = false }

// piecePrices are, for one piece not yet verified, the terms each of its
// blocks came at, by block: 0 if it came free (or has not come), else 1 +
// its price's index in buyState.prices. Two bytes a block, and no
// arithmetic until the piece verifies: the pricing costs the download
// next to nothing.
type piecePrices []uint16

// maxPrices bounds the distinct prices a connection's pieces in progress
// refer to; past it the table is rebuilt from the pieces in progress.
const maxPrices = 1<<16 - 2

// priceIndex returns 1 + the index of price in b.prices, adding it.
func (b *buyState) priceIndex(price btt.Amount) uint16 {
	if i, ok := b.priceIdx[price]; ok {
		return i
	}
	if len(b.prices) >= maxPrices {
		b.compactPrices()
		if len(b.prices) >= maxPrices {
			return 0 // unpriced, so free: no honest seller gets here
		}
	}
	if b.priceIdx == nil {
		b.priceIdx = make(map[btt.Amount]uint16)
	}
	b.prices = append(b.prices, price)
	i := uint16(len(b.prices))
	b.priceIdx[price] = i
	return i
}

// compactPrices rebuilds the price table from the prices the pieces in
// progress refer to (a seller that changes its price at every award
// cannot grow it without bound).
func (b *buyState) compactPrices() {
	old := b.prices
	b.prices, b.priceIdx = nil, make(map[btt.Amount]uint16)
	for _, pp := range b.priced {
		for j, k := range pp {
			if k == 0 {
				continue
			}
			price := old[k-1]
			i, ok := b.priceIdx[price]
			if !ok {
				b.prices = append(b.prices, price)
				i = uint16(len(b.prices))
				b.priceIdx[price] = i
			}
			pp[j] = i
		}
	}
	b.curPrice = 0 // looked up again at the next block
}

// BlockReceived implements peer.BlockObserver: a block that came in a paid
// slot is priced now, at the slot's price; one that came in a free slot is
// never paid for. (Pricing at verification instead charged a piece begun
// in a free slot, or at a lower price, at the price of the slot it
// finished in.)
func (h *handler) BlockReceived(blk piece.Block) {
	b := h.buy
	if b == nil {
		return
	}
	j := int(blk.Begin / piece.BlockSize)
	pp := b.priced[blk.Piece]
	if !b.won || b.clearing.IsZero() {
		// Free; and if the block came before (it cannot, unless its
		// piece failed, which forgets it), it is this copy that counts.
		if j < len(pp) {
			pp[j] = 0
		}
		return
	}
	if pp == nil {
		n := (h.p.Torrent().PieceSize(blk.Piece) + piece.BlockSize - 1) / piece.BlockSize
		if n <= 0 || n > 1<<16 {
			return // no such piece: it cannot verify
		}
		pp = make(piecePrices, n)
		if b.priced == nil {
			b.priced = make(map[int]piecePrices)
		}
		b.priced[blk.Piece] = pp
	}
	if j >= len(pp) {
		return
	}
	if b.curPrice == 0 || b.prices[b.curPrice-1] != b.clearing {
		b.curPrice = b.priceIndex(b.clearing)
	}
	pp[j] = b.curPrice
}

// PieceFailed implements peer.BlockObserver: what was priced of a piece
// that failed its hash is forgotten; it is fetched again, and priced as
// its blocks come again.
func (h *handler) PieceFailed(i int) {
	if b := h.buy; b != nil {
		delete(b.priced, i)
	}
}

// PieceVerified implements peer.PieceObserver: the blocks of a verified
// piece that came in a paid slot are paid for, each at the price it came
// at.
func (h *handler) PieceVerified(i int, bytes int64) {
	b := h.buy
	if b == nil || bytes <= 0 {
		return
	}
	pp := b.priced[i]
	delete(b.priced, i)
	size := h.p.Torrent().PieceSize(i)
	// Bytes per price: most pieces come at one.
	var byPrice [][2]int64 // {index, bytes}
	var paid int64
	for j, k := range pp {
		if k == 0 {
			continue
		}
		n := min(int64(piece.BlockSize), size-int64(j)*piece.BlockSize)
		paid += n
		found := false
		for x := range byPrice {
			if byPrice[x][0] == int64(k) {
				byPrice[x][1] += n
				found = true
				break
			}
		}
		if !found {
			byPrice = append(byPrice, [2]int64{int64(k), n})
		}
	}
	var amount btt.Amount
	for _, bp := range byPrice {
		c, err := cost(b.prices[bp[0]-1], bp[1])
		if err == nil {
			amount, err = amount.Add(c)
		}
		if err != nil {
			return // cannot happen below speedwire.MaxPrice
		}
	}
	if paid == 0 || paid > bytes {
		// Nothing came in a paid slot; or more was priced than the
		// engine says came from the peer, which cannot happen: paying
		// nothing is the safe side of that.
		return
	}
	if paid == size {
		// Bought whole from this peer: the voucher that pays for it
		// lists it, and the seeder serves it again free if we lose it.
		if b.whole == nil {
			b.whole = make(map[int]bool)
		}
		b.whole[i] = true
	}
	if !h.hasChannel() {
		// No channel yet: paid once it is open (onAward).
		b.pending = append(b.pending, pendingPay{i, paid, amount})
		return
	}
	// A channel being topped up: due now, paid when the top-up is in.
	b.due = append(b.due, paychan.PiecePayment{Piece: i, Amount: amount})
	b.dueBytes += paid
	h.maybePay()
}

// fundedAhead is how many pieces, at the clearing price, the channel's
// deposit must still be able to pay for beyond what was signed; below it
// the payer tops the channel up while the seller serves the rest.
const fundedAhead = 4

// keepFunded tops the channel up, if the budget allows, once what its
// deposit can still pay comes below fundedAhead pieces at the clearing
// price, and extends it once half its Lifetime is gone. A seller serves a payer no more than its channel can still pay
// for (issue 23, case 5), so a channel that waited to run dry — topped up
// only when a payment would pass the deposit — would never be asked for
// that payment: the seller holds the pieces that would have made it due.
func (h *handler) keepFunded() {
	b, buyer := h.buy, h.e.buy
	t := h.p.Torrent()
	if !b.won || b.clearing.IsZero() || t.WantedLeft() <= 0 {
		return
	}
	need, err := cost(b.clearing, min(fundedAhead*t.PieceSize(0), t.WantedLeft()))
	if err != nil {
		return
	}
	buyer.mu.Lock()
	bc := buyer.channels[h.theirs.Payee]
	if bc == nil || !bc.ready || bc.topping {
		buyer.mu.Unlock()
		return
	}
	ch, left, spare := bc.ch, bc.ch.Deposit.SubFloor(bc.signed), buyer.Budget.SubFloor(buyer.locked)
	buyer.mu.Unlock()
	switch {
	case left.Lt(need) && !spare.IsZero():
		// As much of the shortfall as the budget has: a little more
		// deposit is a little more served.
		h.topUp(ch, btt.Min(need.SubFloor(left), spare))
	case ch.Expiry.Before(buyer.Now().Add(buyer.Lifetime / 2)):
		// Half its life gone: extended now (a top-up moves the expiry a
		// Lifetime ahead), long before the seller's margin refuses it.
		h.topUp(ch, btt.Zero)
	}
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
	if payNow(h.sellerUnpaid(), h.p.Torrent().WantedLeft(), b.credit) {
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
	if h.announce(ch) || !b.announced {
		return // the resend goes first; or the challenge has not come
	}
	pays, bytes := b.due, b.dueBytes
	b.due, b.dueBytes = nil, 0
	var total btt.Amount
	for _, p := range pays {
		total, _ = total.Add(p.Amount)
	}
	buyer := h.e.buy
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
			if len(pays) > 0 {
				pieces := make([]int, len(pays))
				for i, p := range pays {
					pieces[i] = p.Piece
				}
				h.event(Paid{InfoHash: ih, Seller: h.p.Addr(), Channel: ch.ID, Pieces: pieces, Amount: total, Total: sv.Amount})
			}
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
				h.send(speedwire.Voucher{Signed: sv, Pieces: h.wholeRuns(pays)})
				h.keepFunded()
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
