package paychan

import (
	"context"
	"errors"
	"time"

	"github.com/bttspeed/bttspeed/btt"
)

// Redeemer cashes a payee's vouchers on chain on a schedule: every
// Interval it redeems the channels the payee reports Due — closing those
// near expiry (nothing more can come on them in time) and claiming, with
// the channel left open, those whose unredeemed value has reached the
// payee's RedeemThreshold. A failed redemption (the node down, say) is
// retried with exponential backoff, never later than a channel's redeem
// window allows while the payee keeps running. On shutdown, call
// Payee.RedeemAll with a fresh context.
type Redeemer struct {
	Payee *Payee
	// Interval is how often Due is asked (default 1 min).
	Interval time.Duration
	// Report, if set, is called after each attempt with what it
	// redeemed or why it failed.
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
	type retry struct {
		at   time.Time
		wait time.Duration
	}
	backoff := make(map[ChannelID]retry)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		due, err := r.Payee.Due()
		if err != nil && r.Report != nil {
			r.Report(ChannelID{}, btt.Zero, err)
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
				wait := min(max(2*backoff[id].wait, every), 32*every)
				backoff[id] = retry{at: now.Add(wait), wait: wait}
			} else {
				delete(backoff, id)
			}
			if r.Report != nil {
				r.Report(id, got, err)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// NearExpiry reports whether a channel's redeem window ends within twice
// the payee's expiry margin: time to close it rather than claim. On
// shutdown, a seller closes those and claims the rest.
func (p *Payee) NearExpiry(id ChannelID) bool {
	r, err := p.store.Payee(id)
	if err != nil {
		return false
	}
	return !p.cfg.Now().Add(2 * p.cfg.ExpiryMargin).Before(r.Channel.Expiry)
}
