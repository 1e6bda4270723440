package speed

import (
	"context"
	"fmt"
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer/speedwire"
)

// Buying: the channel to a seeder's payee — opened or resumed, topped up,
// announced — shared by every torrent and connection to that payee.

// withChannel runs f (on the loop) once the buyer has a channel to this
// peer's payee, opening one if needed.
func (h *handler) withChannel(f func(paychan.Channel)) {
	buyer := h.e.buy
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
		buyer.mu.Lock()
		if resumed && buyer.ended[ch.ID] {
			resumed = false // the seller said it ends: a new one
		}
		buyer.mu.Unlock()
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
			if !resumed {
				h.e.log.Info("channel opened", "channel", ch.ID, "payee", payee, "deposit_btt", ch.Deposit.FormatBTT(), "expiry", ch.Expiry.UTC().Format(time.RFC3339))
			}
			if !resumed && ch.Deposit != deposit {
				// An earlier open to this payee, whose outcome was
				// unknown, completed in its place: its deposit is
				// what is locked.
				buyer.locked = buyer.locked.SubFloor(deposit)
				buyer.locked, _ = buyer.locked.Add(ch.Deposit)
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

// topUp adds to the channel's deposit at least the shortfall — a whole
// Buyer.Deposit if the budget allows — moves its expiry a Lifetime ahead,
// tells the seeder, and pays what is due. Payments wait meanwhile; a
// buyer whose budget is spent stops paying (and the seeder stops serving
// it in a paid slot).
func (h *handler) topUp(ch paychan.Channel, shortfall btt.Amount) {
	buyer := h.e.buy
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
				w.h.p.Post(w.f)
			}
			return
		}
		log.Info("channel topped up", "channel", topped.ID, "payee", payee, "deposit_btt", topped.Deposit.FormatBTT(), "expiry", topped.Expiry.UTC().Format(time.RFC3339))
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

// hasChannel reports whether the buyer has opened a channel to this
// peer's payee (it may be being topped up).
func (h *handler) hasChannel() bool {
	buyer := h.e.buy
	buyer.mu.Lock()
	defer buyer.mu.Unlock()
	bc := buyer.channels[h.theirs.Payee]
	return bc != nil && bc.ready
}

// readyChannel returns the buyer's open channel to this peer's payee,
// unless a top-up of it is on its way.
func (h *handler) readyChannel() (paychan.Channel, bool) {
	buyer := h.e.buy
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
	if b.announced && !ch.Deposit.Gt(b.announcedDeposit) && !ch.Expiry.After(b.announcedExpiry) {
		return false
	}
	if b.nonce == nil {
		// The seller's challenge comes first on every connection; until
		// it has, there is nothing to prove the channel with
		// (onChallenge announces it then).
		b.unannounced = &ch
		return false
	}
	local, remote := peerIDs(h.p)
	dom := h.e.dom
	sig, err := h.e.buy.Payer.SignProof(paychan.Proof{ChainID: dom.ChainID, Escrow: dom.Escrow, Scheme: dom.Scheme, Channel: ch.ID, Nonce: *b.nonce, Seller: remote, Buyer: local, InfoHash: h.p.Torrent().InfoHash()})
	if err != nil {
		h.e.log.Warn("signing a channel proof", "channel", ch.ID, "err", err)
		return false
	}
	first := !b.announced
	b.announced, b.announcedDeposit, b.announcedExpiry, b.unannounced = true, ch.Deposit, ch.Expiry, nil
	h.send(speedwire.Channel{ID: ch.ID, Escrow: dom.Escrow, Deposit: ch.Deposit, Expiry: ch.Expiry.Unix(), Proof: sig})
	return first && h.resendLatest(ch.ID)
}

// replaceChannel forgets the channel to this peer's payee, which the
// seller says takes no more vouchers, and, holding a paid slot, opens a new
// one and announces it; what is due is paid through it. A seller can have
// us open channels this way only as far as the budget goes: each new one
// locks a deposit (Buyer.Deposit) until the old ones are settled
// (TestHostileSellers/says_every_channel_is_ending).
func (h *handler) replaceChannel() {
	b, buyer := h.buy, h.e.buy
	buyer.mu.Lock()
	if bc := buyer.channels[h.theirs.Payee]; bc != nil && bc.ready && !bc.topping {
		delete(buyer.channels, h.theirs.Payee)
		if buyer.ended == nil {
			buyer.ended = make(map[paychan.ChannelID]bool)
		}
		buyer.ended[bc.ch.ID] = true // not resumed: the seller said it ends
	}
	buyer.mu.Unlock()
	b.announced, b.announcedDeposit, b.unannounced = false, btt.Zero, nil
	if b.won {
		h.withChannel(func(ch paychan.Channel) {
			h.announce(ch)
			h.maybePay()
		})
	}
}

// onChallenge takes the seller's challenge, and announces the channel
// that waited for it.
func (h *handler) onChallenge(nonce [32]byte) {
	b := h.buy
	if b.nonce != nil {
		return // one per connection: the first stands
	}
	b.nonce = &nonce
	if ch := b.unannounced; ch != nil {
		b.unannounced = nil
		if h.announce(*ch) {
			return
		}
		h.flushDue()
	}
}

// resendLatest sends, off the loop, the channel's latest voucher if
// anything was signed on it, and reports whether it is on its way (a
// voucher in flight: flush waits for it).
func (h *handler) resendLatest(id paychan.ChannelID) bool {
	buyer := h.e.buy
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
				h.send(speedwire.Voucher{Signed: sv})
			}
			h.maybePay() // what came due meanwhile
		})
	})
	return true
}
