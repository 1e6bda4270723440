package speed_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/speed"
)

// TestEvents: a subscriber of the buyer's torrent hears it win the paid
// slot and pay, voucher by voucher, with the engine's own events; the last
// voucher's cumulative amount is what the buyer spent.
func TestEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		price := btt.NewAmount(1000)
		m := newMarket(t)
		const size = 8 << 20
		s := m.seller(price, size, sellerOpts{client: func(c *peer.Config) { c.UploadRate = 8 << 20 }})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		budget := btt.NewAmount(10 * size * 1000)
		var evs <-chan peer.Event
		m.started = func(cl *peer.Client) { evs = cl.Subscribe(ctx) } // before the first bid is won
		l := m.buyer(s, 2, budget, price, budget, nil)

		var mu sync.Mutex
		var won int
		var paid []speed.Paid
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ev := range evs {
				mu.Lock()
				switch e := ev.(type) {
				case speed.BidWon:
					won++
					assert.Equal(t, s.mi.HashInfoBytes(), e.InfoHash)
				case speed.Paid:
					paid = append(paid, e)
				}
				mu.Unlock()
			}
		}()
		waitDone(t, l.tor, 60*time.Second)
		spent := settled(t, s.payee, l.buyer)
		require.Eventually(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(paid) > 0 && paid[len(paid)-1].Total == spent
		}, 10*time.Second, 10*time.Millisecond, "the last Paid's total is what was spent (%s)", spent)
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		var sum btt.Amount
		for _, p := range paid {
			assert.NotEmpty(t, p.Pieces)
			assert.False(t, p.Amount.IsZero())
			sum, _ = sum.Add(p.Amount)
		}
		assert.False(t, sum.Gt(spent), "no payment counted twice")
		assert.Positive(t, won, "the paid slot was won (BidWon)")
	})
}
