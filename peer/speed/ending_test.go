package speed_test

import (
	"context"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/speed"
)

// TestChannelClosedMidTransfer: the seller closes a payer's channel in the
// middle of a download (its redeemer found it near its deadline, say).
// Vouchers that raced the close were either redeemed by it or refused,
// never credited and lost (paychan: ErrChannelClosing); the seller tells
// the payer (code 4) and serves nothing more on credit through that
// channel; the payer opens a new one, announces it, and carries on: the
// download completes, and everything the payer signed reaches the seller.
func TestChannelClosedMidTransfer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := newMarket(t)
		price := btt.NewAmount(3)
		const size = 4 << 20
		s := m.seller(price, size, sellerOpts{client: func(c *peer.Config) { c.UploadRate = 1 << 20 }})
		budget := btt.NewAmount(4 * size * 3)
		l := m.buyer(s, 2, budget, price, budget, func(b *speed.Buyer) { b.Deposit = btt.NewAmount(2 * size * 3) })
		require.Eventually(t, func() bool {
			tot, err := s.payee.Totals()
			return err == nil && !tot.Earned.IsZero()
		}, 10*time.Second, time.Millisecond, "paid")
		recs, err := l.payer.Channels()
		require.NoError(t, err)
		require.Len(t, recs, 1)
		first := recs[0].Channel.ID
		_, err = s.payee.Redeem(ctx, first, true)
		require.NoError(t, err)

		waitDone(t, l.tor, 60*time.Second)
		assert.Equal(t, s.sum, fileSum(t, filepath.Join(l.dir, "data.bin")))
		recs, err = l.payer.Channels()
		require.NoError(t, err)
		assert.Len(t, recs, 2, "a new channel replaced the closed one")
		// What the payer signed on the old channel after the close began is
		// refused, never credited: the seller forgoes it (it chose to close;
		// it is at most what came due while the refusal was on its way), and
		// the payer gets it back with the rest of the old deposit.
		spent := l.buyer.Spent()
		assert.False(t, spent.Gt(btt.NewAmount(size*3)), "never paid more than the file at the price: %s", spent)
		_, err = s.payee.RedeemAll(ctx, true)
		require.NoError(t, err)
		tot, err := s.payee.Totals()
		require.NoError(t, err)
		// Read after the totals: the last vouchers may still be signed and
		// sent after the download completes, and every voucher the payee
		// earned from was signed before it came.
		spent = l.buyer.Spent()
		assert.False(t, tot.Earned.Gt(spent), "earned %s, more than was signed (%s)", tot.Earned, spent)
		assert.Equal(t, tot.Earned, tot.Redeemed, "everything credited is redeemed")
		var second btt.Amount
		for _, r := range s.seller.Sales() {
			if r.Channel != first {
				second = r.Paid
			}
		}
		assert.False(t, second.IsZero(), "paid through the new channel")
		t.Logf("signed %s, earned %s: %s forgone by the seller that closed", spent, tot.Earned, spent.SubFloor(tot.Earned))
	})
}
