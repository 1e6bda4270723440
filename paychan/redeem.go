package paychan

import (
	"context"
	"errors"
	"time"

	"github.com/bttspeed/bttspeed/btt"
)

// Redeemer cashes a payee's vouchers on chain on a schedule. Every
// Interval it redeems the channels the payee reports Due: it closes those
// whose expiry is near, since nothing more can come on them in time; it
// claims at once those the payer is closing, before the challenge
// deadline (the payer reclaims the rest); and it claims, with the channel
// left open, those whose unredeemed value has reached the payee's
// RedeemThreshold. Before each round it has the payee follow its
// channels on chain (Payee.Follow), waking at least every
// PayeeConfig.FollowInterval for that: a channel the payer started
// closing is seen within an interval and redeemed in the same round. A
// failed redemption (the node down, say) is retried with exponential
// backoff, never waiting past half of what is left of the channel's
// redeem window (retryWait). On shutdown, call Payee.RedeemAll with a
// fresh context.
type Redeemer struct {
	Payee *Payee
	// Interval is how often Due is asked at least (default 1 min).
	Interval time.Duration
	// Report, if set, is called after each attempt with what it
	// redeemed or why it failed; a failed read of a channel the payee
	// follows is reported too, with nothing redeemed.
	Report func(id ChannelID, redeemed btt.Amount, err error)
}

// Run redeems until ctx ends. It returns ctx's error.
func (r *Redeemer) Run(ctx context.Context) error {
	if r.Payee == nil {
		return errors.New("paychan: a Redeemer needs a Payee")
	}
	every := r.Interval
	if every <= 0 {
		every = time.Minute
	}
	report := func(id ChannelID, got btt.Amount, err error) {
		if r.Report != nil {
			r.Report(id, got, err)
		}
	}
	type retry struct {
		at   time.Time
		wait time.Duration
	}
	backoff := make(map[ChannelID]retry)
	tick := time.NewTicker(min(every, r.Payee.cfg.FollowInterval))
	defer tick.Stop()
	for {
		r.Payee.follow(ctx, func(id ChannelID, err error) { report(id, btt.Zero, err) })
		if ctx.Err() != nil {
			return ctx.Err()
		}
		due, err := r.Payee.Due()
		if err != nil {
			report(ChannelID{}, btt.Zero, err)
		}
		now := time.Now()
		for _, id := range due {
			if b, ok := backoff[id]; ok && now.Before(b.at) {
				continue
			}
			got, err := r.Payee.Redeem(ctx, id, r.Payee.NearExpiry(id))
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				ch, _ := r.Payee.Channel(id)
				wait := retryWait(backoff[id].wait, every, Deadline(ch).Sub(r.Payee.cfg.Now()))
				backoff[id] = retry{at: now.Add(wait), wait: wait}
			} else {
				delete(backoff, id)
			}
			report(id, got, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// retryWait is how long the Redeemer waits to try a channel again after
// a failure, the last wait having been last: twice that, from one
// interval up to 32, and no more than half of what is left before the
// channel's deadline, though at least an interval. Pure.
func retryWait(last, every, left time.Duration) time.Duration {
	wait := min(max(2*last, every), 32*every)
	if left > 0 {
		wait = min(wait, max(every, left/2))
	}
	return wait
}

// NearExpiry reports whether a channel is to be closed rather than
// claimed: the payee started closing it, or it is open and expires
// within twice the payee's expiry margin. A channel the payer is closing
// is claimed (redeemPolicy.closeNow).
func (p *Payee) NearExpiry(id ChannelID) bool {
	r, err := p.store.Payee(id)
	if err != nil {
		return false
	}
	ch, closing := p.known(r.Channel)
	return p.policy().closeNow(ch, closing, p.cfg.Now())
}
