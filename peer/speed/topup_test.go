package speed_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/peer/speed"
)

// TestTopUp: a payer whose channel deposit covers a quarter of the file
// tops the channel up each time it runs dry, tells the seeder, which reads
// the channel again, and pays on: the download completes in the paid slot,
// every voucher is accepted, and the payee redeems exactly what was
// signed.
func TestTopUp(t *testing.T) {
	ctx := context.Background()
	m := newMarket(t)
	price := btt.NewAmount(3)
	const size = 4 << 20
	s := m.seller(price, size, sellerOpts{})
	// Every chain call takes 20 ms, so pieces verify while a top-up is
	// on its way.
	m.chain.SetLatency(20 * time.Millisecond)
	budget := btt.NewAmount(10 * size * 3)
	deposit := btt.NewAmount(size / 4 * 3) // a quarter of the file at the price
	l := m.buyer(s, 2, budget, price, budget, func(b *speed.Buyer) { b.Deposit = deposit })
	waitDone(t, l.tor, 60*time.Second)
	assert.Equal(t, s.sum, fileSum(t, filepath.Join(l.dir, "data.bin")))

	spent := settled(t, s.payee, l.buyer)
	assert.GreaterOrEqual(t, m.chain.Count("TopUp"), 2, "the channel ran dry and was topped up")
	assert.Equal(t, 1, m.chain.Count("Open"), "one channel, topped up")
	sales := s.seller.Sales()
	require.Len(t, sales, 1)
	assert.Greater(t, sales[0].Sold, int64(size/2), "most of the file was bought in the paid slot")
	assert.True(t, spent.Gt(deposit), "paid past the first deposit: %s", spent)
	// Every piece sold in the paid slot was paid for, those verified
	// while a top-up was on its way included.
	paid, err := l.payer.PaidPieces(s.mi.HashInfoBytes())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, int64(len(paid))*(64<<10), sales[0].Sold, "%d pieces paid for %d bytes sold", len(paid), sales[0].Sold)
	figs, err := s.ext.Peers(ctx)
	require.NoError(t, err)
	for _, f := range figs {
		assert.Empty(t, f.Sell.Refused, "no voucher refused")
	}
	got, err := s.payee.RedeemAll(ctx, true)
	require.NoError(t, err)
	assert.Equal(t, spent, got)
	assert.Equal(t, spent, m.chain.Balance(s.key.Address()))
	assert.Equal(t, budget.SubFloor(spent), m.chain.Balance(l.key.Address()), "the payer got the rest of its deposits back")
}
