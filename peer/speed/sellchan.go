package speed

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer/speedwire"
)

// Selling: the payer's channel, read from the chain and checked against
// its proof (the vouchers are in sellvoucher.go).

// contradictionGrace is how long the seller waits before reading again a
// channel whose announcement the chain contradicts (unknown, or a smaller
// deposit): its node may be a block behind the payer's.
const contradictionGrace = 2 * time.Second

// maxBadChannels is how many channels a connection may announce that fail
// their check on chain (closed, paying someone else, too small, expiring)
// before it is dropped: each costs a chain read.
const maxBadChannels = 3

func (h *handler) onChannel(ci speedwire.Channel) {
	s := h.sell
	if s.accepting {
		// Announced again while being read (topped up again): read it
		// once more after.
		s.reread = &ci
		return
	}
	if s.channel != nil && !s.ending && ci.ID != s.channel.ID && !h.creditable() {
		// A new channel from a payer whose channel ended (told on
		// another of its connections): this one ends here too.
		h.channelEnds(fmt.Errorf("%w: channel %x replaced", paychan.ErrChannelClosing, s.channel.ID[:8]))
	}
	if s.channel != nil && !s.ending && (ci.ID != s.channel.ID || !ci.Deposit.Gt(s.channel.Deposit) && ci.Expiry <= s.channel.Expiry.Unix()) {
		// One channel per peer, until it ends (channelEnds); announced
		// again, it was topped up or extended: read it again, or there
		// is nothing new.
		return
	}
	if ci.Escrow != h.e.dom.Escrow {
		h.send(speedwire.Error{Code: CodeBadChannel, Reason: "channel on another escrow"})
		return
	}
	if s.channel == nil && !s.paidSlot {
		// A channel is read from the chain only for a payer that won a
		// paid slot: until then it waits (Decided reads it then), so a
		// peer that never bids makes no chain reads.
		s.deferred = &ci
		return
	}
	s.accepting = true
	if wait := h.e.sell.readAt(ci.ID, &s.lastRead, time.Now()); wait > 0 {
		// Chain reads are rate-limited, per connection and per channel
		// (issue 23, case 6: re-announcing with ever higher deposits
		// read the chain 72 times in 1.2 s): read it once the wait is
		// over, with whatever was announced last meanwhile.
		h.p.Go(func(ctx context.Context) {
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
			h.p.Do(func() {
				s.accepting = false
				next := ci
				if s.reread != nil {
					next, s.reread = *s.reread, nil
				}
				if !h.closed {
					h.onChannel(next)
				}
			})
		})
		return
	}
	payee, log, addr := h.e.sell.Payee, h.e.log, h.p.Addr()
	ih, loadSold := h.p.Torrent().InfoHash(), s.channel == nil
	local, remote := peerIDs(h.p)
	proof := paychan.Proof{ChainID: h.e.dom.ChainID, Escrow: h.e.dom.Escrow, Scheme: h.e.dom.Scheme, Channel: ci.ID, Nonce: s.nonce, Seller: local, Buyer: remote, InfoHash: ih}
	h.p.Go(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		// The chain down is no fault of the payer's: wait for it, for up
		// to a minute (awaitChain); its requests wait meanwhile.
		var ch paychan.Channel
		read := func() error {
			return awaitChain(ctx, func() error {
				var err error
				ch, err = payee.Accept(ctx, ci.ID)
				if errors.Is(err, paychan.ErrChainUnavailable) {
					log.Info("reading a channel: the chain is unavailable; retrying", "peer", addr, "err", err)
				}
				return err
			})
		}
		err := read()
		// A channel, or a top-up, the payer's node has and ours does not
		// yet (a block behind) is read again before it counts against
		// the payer: twice, contradictionGrace apart.
		for range 2 {
			if !errors.Is(err, paychan.ErrUnknownChannel) && (err != nil || !ci.Deposit.Gt(ch.Deposit)) {
				break
			}
			t := time.NewTimer(contradictionGrace)
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
			if ctx.Err() != nil {
				break
			}
			err = read()
		}
		// The announced figures must agree with the chain's, and the
		// connection must prove it holds the payer's key: a channel id
		// is public. A peer that fails either is dropped.
		var violation error
		switch {
		case errors.Is(err, paychan.ErrUnknownChannel):
			violation = fmt.Errorf("%w: announced a channel the escrow does not have: %w", ErrViolation, err)
		case err == nil && ci.Deposit.Gt(ch.Deposit):
			violation = fmt.Errorf("%w: announced a deposit of %s, the chain has %s", ErrViolation, ci.Deposit, ch.Deposit)
		case err == nil:
			if perr := paychan.VerifyProof(proof, ci.Proof, ch.Payer); perr != nil {
				violation = fmt.Errorf("%w: no proof of the payer's key: %w", ErrViolation, perr)
			}
		}
		if violation != nil {
			err = violation
		}
		// The best voucher stored on the channel (before a restart of
		// ours, say): its deposit has promised us that much already.
		var best btt.Amount
		if err == nil {
			var berr error
			if best, berr = payee.Best(ci.ID); berr != nil {
				err = fmt.Errorf("reading the channel's best voucher: %w", berr)
			}
		}
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
			if violation != nil {
				if !errors.Is(violation, paychan.ErrUnknownChannel) && len(s.queued) > 0 {
					// Signed by the payer (Receive checks): money,
					// whoever sent it.
					late := make([]inVoucher, len(s.queued))
					for i, m := range s.queued {
						late[i] = inVoucher{sv: m.Signed, price: s.price}
					}
					h.storeLate(ci.ID, false, late)
				}
				s.queued = nil
				h.e.log.Info("dropping a payer", "peer", h.p.Addr(), "err", err)
				h.send(speedwire.Error{Code: CodeViolation, Reason: trim(err.Error())})
				h.p.Close(err)
				return
			}
			if err != nil {
				s.queued = nil
				h.e.log.Info("refusing a channel", "peer", h.p.Addr(), "err", err)
				h.send(speedwire.Error{Code: CodeBadChannel, Reason: trim(err.Error())})
				if s.badChannels++; s.badChannels >= maxBadChannels {
					h.p.Close(fmt.Errorf("%w: %d channels refused", ErrViolation, s.badChannels))
				}
				return
			}
			first := s.channel == nil || s.channel.ID != ch.ID
			if first && s.channel != nil {
				// A new channel replaces one that ended: its account
				// starts from nothing (what was sold on the old one
				// stays owed there), vouchers start again, and so does
				// the credit window — the window the old channel's
				// payments earned is not the new one's, or a payer
				// could carry it from channel to channel, each closed
				// owing it.
				h.accrue()
				h.e.sell.leave(s.channel.ID, h) // and what it had outstanding there
				s.channel, s.last, s.ending = nil, nil, false
				s.meter.sold, s.meter.owed, s.paid = 0, btt.Zero, btt.Zero
				sc := h.e.sell
				s.credit = paychan.NewCredit(sc.CreditStart, sc.CreditMax, sc.CreditGrowth)
				s.gate.reset()
			}
			if first {
				for _, i := range sold {
					if s.paidFor == nil {
						s.paidFor = make(map[int]bool, len(sold))
					}
					s.paidFor[i] = true
				}
				h.accrue()
				h.e.sell.addSale(ch, s.meter.sold, s.meter.owed) // what it bought before (nothing, in a paid slot)
				h.e.sell.setPaid(ch.ID, best, btt.Zero)
				if !h.closed {
					h.e.sell.join(ch.ID, h)
				}
			}
			s.channel = &ch
			if s.ending && !first && h.creditable() {
				// The same channel, announced again (topped up,
				// extended) and creditable once more: it goes on.
				s.ending = false
				h.p.RequestRechoke()
			}
			again := reread != nil && reread.ID == ch.ID && reread.Deposit.Gt(ch.Deposit)
			if h.closed {
				// The peer left while its channel was being read (a
				// leecher closes once complete): store what it sent,
				// which is redeemable, and credit nothing.
				late := make([]inVoucher, len(s.queued))
				for i, m := range s.queued {
					late[i] = inVoucher{sv: m.Signed, pieces: h.listed(m.Pieces), price: s.price}
				}
				h.storeLate(ch.ID, again, late)
				s.queued = nil
				return
			}
			before := h.window()
			if first {
				// A channel that has paid before keeps the window it
				// earned, on every connection (TestRestartPaysOnlyNewPieces):
				// a restarted payer re-downloading pieces it paid for
				// before owes their bytes in this process's count and
				// will not pay for them again.
				if w := h.e.sell.window(ch.ID); w > s.credit.Window {
					s.credit.Window = min(w, s.credit.Max)
				}
			}
			// The deposit bounds the window: a top-up may widen it.
			h.recount()
			if s.paidSlot && (first || h.window() != before) {
				h.sendTerms(speedwire.Award{Price: s.price, Credit: h.window()}, terms{true, s.price})
			}
			if first {
				s.release()
			}
			h.p.ServeHeld() // credit starts now, or grew
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

// awaitChain calls f until it returns an error other than
// paychan.ErrChainUnavailable (or none), or ctx ends, 1 s apart doubling
// to 5 s; it returns f's last error. It runs off the loop, and f's chain
// reads take ctx.
//
// It is not a second retry of one call: the escrow's client retries a
// blip (tron.Client and bttc.Client, Retry.Attempts tries over about
// 3 s) before it reports the chain unavailable. awaitChain waits out a
// chain that stayed down past that, for as long as the caller's ctx (the
// minute a paid slot waits for its channel): refusing the channel instead
// would count against a payer that did nothing wrong (maxBadChannels),
// and TestChainDown ("while the seeder reads the channel") fails without
// it. Its waits are as long as the client's later ones, so the two do
// not multiply into a burst of reads.
func awaitChain(ctx context.Context, f func() error) error {
	delay := time.Second
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
