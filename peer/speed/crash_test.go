package speed_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer"
)

// TestSeederCrashRedeemsAcknowledged: the seeder's process dies
// mid-transfer — its connections cut, its store never closed: the test
// keeps the database file as the crash left it. A new payee over that file
// redeems, on chain, at least everything the seeder had acknowledged (a
// voucher is credited only once stored), and the payer never paid more
// than it signed.
func TestSeederCrashRedeemsAcknowledged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := newMarket(t)
		price := btt.NewAmount(4)
		const size = 8 << 20
		// The store is closed only when the test ends: the "dead" process
		// never closes it.
		s := m.seller(price, size, sellerOpts{client: func(c *peer.Config) { c.UploadRate = 4 << 20 }})
		l := m.buyer(s, 2, btt.BTT(1), price, btt.BTT(1), nil)
		seeder, seller, buyer, chain, sk, dbPath := s.client, s.seller, l.buyer, m.chain, s.key, s.dbPath

		// Mid-transfer: a good part paid, not all.
		paidOf := func() btt.Amount {
			var paid btt.Amount
			for _, s := range seller.Sales() {
				paid, _ = paid.Add(s.Paid)
			}
			return paid
		}
		quarter, err := price.MulUint64(size / 4)
		require.NoError(t, err)
		require.Eventually(t, func() bool { return !paidOf().Lt(quarter) }, 30*time.Second, 5*time.Millisecond)
		seeder.Close() // the process dies: connections cut...
		acked := paidOf()
		full, _ := price.MulUint64(size)
		require.True(t, acked.Lt(full), "crashed mid-transfer (acknowledged %s of %s)", acked, full)
		// ...and the store is left as it was on disk: copy the file without
		// closing it, as a restarted process would find it.
		img, err := os.ReadFile(dbPath)
		require.NoError(t, err)
		restarted := filepath.Join(t.TempDir(), "payee.db")
		require.NoError(t, os.WriteFile(restarted, img, 0o600))

		st2, err := paychan.OpenStore(restarted)
		require.NoError(t, err)
		defer st2.Close()
		payee2, err := paychan.NewPayee(ctx, st2, chain.As(sk.Address()), paychan.PayeeConfig{Self: sk.Address()})
		require.NoError(t, err)
		got, err := payee2.RedeemAll(ctx, true)
		require.NoError(t, err)
		assert.False(t, got.Lt(acked), "redeemed %s, acknowledged %s", got, acked)
		assert.False(t, got.Gt(buyer.Spent()), "redeemed %s, more than the payer signed (%s)", got, buyer.Spent())
		assert.Equal(t, got, chain.Balance(sk.Address()))
		t.Logf("acknowledged %s before the crash, redeemed %s after it (the payer signed %s)", acked, got, buyer.Spent())
	})
}
