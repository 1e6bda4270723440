package paychan

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bttspeed/bttspeed/btt"
)

// Deadline returns the end of the payee's redeem window on ch as far as
// the payee can know it: the channel's expiry while it is open; while
// the payer's early close runs (ChannelClosing), the earlier of the
// expiry and the challenge deadline. (The contract lets a closing channel
// be redeemed until its challenge deadline even past its expiry; taking
// the earlier of the two is on the safe side.) For a closed or unknown
// channel it is the zero time: nothing can be redeemed on it any more.
// Pure.
func Deadline(ch Channel) time.Time {
	switch ch.State {
	case ChannelOpen:
		return ch.Expiry
	case ChannelClosing:
		if !ch.ChallengeEnd.IsZero() && ch.ChallengeEnd.Before(ch.Expiry) {
			return ch.ChallengeEnd
		}
		return ch.Expiry
	}
	return time.Time{}
}

// redeemPolicy is what decides when a payee redeems a channel.
type redeemPolicy struct {
	margin    time.Duration
	threshold btt.Amount
	// floor is MinRedeem: less unredeemed value is not worth a
	// transaction.
	floor btt.Amount
}

func (p *Payee) policy() redeemPolicy {
	return redeemPolicy{margin: p.cfg.ExpiryMargin, threshold: p.cfg.RedeemThreshold, floor: p.cfg.MinRedeem}
}

// worth reports whether unredeemed value owed is worth a transaction: not
// zero, and not below the floor. Pure.
func (pol redeemPolicy) worth(owed btt.Amount) bool {
	return !owed.IsZero() && !owed.Lt(pol.floor)
}

// redeemNow decides whether a channel is to be redeemed now, from its
// record and whether the payee is closing it, and if so whether by close
// (nothing more will come on it) rather than claim. It is, if value on
// it is unredeemed, at least the floor, and its redeem window is not
// over, and: it is to be closed (closeNow); or the payer is closing it
// (claimed at once); or the value reaches the threshold (claimed). Pure.
func (pol redeemPolicy) redeemNow(r PayeeRecord, closing bool, now time.Time) (due, close bool) {
	owed := r.Best.Amount.SubFloor(r.Redeemed)
	switch {
	case !pol.worth(owed) || !now.Before(Deadline(r.Channel)):
		return false, false
	case pol.closeNow(r.Channel, closing, now):
		return true, true
	case r.Channel.State == ChannelClosing:
		return true, false
	}
	return !pol.threshold.IsZero() && !owed.Lt(pol.threshold), false
}

// closeNow reports whether a channel is to be closed rather than
// claimed: the payee started closing it (a close that failed), or it is
// open and its deadline is within twice the margin (vouchers stop at one
// margin before it). A channel the payer is closing is claimed, never
// closed: a claim pays the payee alone, while a close also pays the payer
// the rest and reverts if the token will not credit the payer
// (docs/RELIABILITY.md, the escrow review, case 7); the payer, who chose
// to close, reclaims the rest after the challenge window. Pure.
func (pol redeemPolicy) closeNow(ch Channel, closing bool, now time.Time) bool {
	return closing || ch.State == ChannelOpen && !now.Add(2*pol.margin).Before(Deadline(ch))
}

// followed reports whether the payee follows a channel on chain: one it
// may still credit (open and not within the margin of its deadline), or
// one it holds unredeemed value worth redeeming on, before the deadline.
// Pure.
func (pol redeemPolicy) followed(ch Channel, owed btt.Amount, now time.Time) bool {
	deadline := Deadline(ch)
	switch {
	case !now.Before(deadline):
		return false // closed, or nothing more can be redeemed
	case ch.State == ChannelOpen && now.Add(pol.margin).Before(deadline):
		return true
	}
	return pol.worth(owed)
}

// Follow reads again from the chain the channels the payee follows —
// those it may still credit and those it holds unredeemed value on —
// each at most once per FollowInterval, and remembers what it reads. A
// channel seen closing (the payer's early close) or closed takes no more
// vouchers, and Due reports a closing one at once if value on it is
// unredeemed (to be claimed). A channel seen closing is also stored, so
// that a restarted payee knows it; one seen closed is not: Redeem, which
// records what the chain paid on it, stores that. Follow returns the
// errors of the reads that failed, joined; a failed read counts as a
// read, and is tried again an interval later. The Redeemer calls it on
// each round.
func (p *Payee) Follow(ctx context.Context) error {
	var errs []error
	p.follow(ctx, func(_ ChannelID, err error) { errs = append(errs, err) })
	return errors.Join(errs...)
}

// follow is Follow, calling failed with each error.
func (p *Payee) follow(ctx context.Context, failed func(ChannelID, error)) {
	recs, err := p.store.Payees()
	if err != nil {
		failed(ChannelID{}, err) // follow what may be credited, at least
	}
	stored := make(map[ChannelID]PayeeRecord, len(recs))
	for _, r := range recs {
		stored[r.Channel.ID] = r
	}
	pol := p.policy()
	now := p.cfg.Now()
	var ids []ChannelID
	p.mu.Lock()
	for id, ch := range p.chans {
		r := stored[id]
		if now.Sub(p.readAt[id]) < p.cfg.FollowInterval || !pol.followed(ch, r.Best.Amount.SubFloor(r.Redeemed), now) {
			continue
		}
		p.readAt[id] = now // taken now: one read per interval, whoever calls
		ids = append(ids, id)
	}
	p.mu.Unlock()
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		read, err := p.escrow.Channel(ctx, id)
		if err != nil {
			failed(id, fmt.Errorf("paychan: follow channel %x: %w", id[:8], err))
			continue
		}
		p.mu.Lock()
		ch := laterChain(p.chans[id], read)
		p.chans[id] = ch
		p.mu.Unlock()
		if r, ok := stored[id]; ok && ch.State == ChannelClosing && r.Channel.State != ChannelClosing {
			if err := p.store.setPayeeChannel(ch); err != nil {
				failed(id, err)
			}
		}
	}
}

// Channel returns channel id as the payee last knew it — accepted,
// followed on chain, redeemed — and whether it knows it.
func (p *Payee) Channel(id ChannelID) (Channel, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch, ok := p.chans[id]
	return ch, ok
}

// Creditable reports whether the payee takes vouchers on channel id now,
// and until when: a channel it has accepted, open as last read and not
// being closed by the payee, until its deadline less the margin. A seller
// should extend credit on a channel only while it is creditable.
func (p *Payee) Creditable(id ChannelID) (until time.Time, ok bool) {
	p.mu.Lock()
	ch, known := p.chans[id]
	closing := p.closing[id]
	p.mu.Unlock()
	if !known || closing || ch.State != ChannelOpen {
		return time.Time{}, false
	}
	until = Deadline(ch).Add(-p.cfg.ExpiryMargin)
	return until, p.cfg.Now().Before(until)
}
