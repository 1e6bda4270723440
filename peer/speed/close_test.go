package speed_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/peer/speed"
)

// TestCloseSendsLastVoucher: a leecher closed as soon as its download
// completes still sends the voucher for its last pieces before its
// connections close, so the seller is paid for all it sold without the
// leecher ever coming back. (The voucher used to be signed and stored,
// then lost with the connection, until the payer's next connection to
// that seller.)
func TestCloseSendsLastVoucher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMarket(t)
		price := btt.NewAmount(1)
		s := m.seller(price, 8<<20, sellerOpts{})
		l := m.buyer(s, 2, btt.BTT(1), price, btt.BTT(1), nil)
		waitDone(t, l.tor, 30*time.Second)
		require.NoError(t, l.client.Close())
		spent := l.buyer.Spent()

		var sale speed.ChannelSales
		ok := assert.Eventually(t, func() bool {
			for _, cs := range s.seller.Sales() {
				if cs.Payer == l.key.Address() {
					sale = cs
					return !cs.Owed.IsZero() && cs.Paid == cs.Owed
				}
			}
			return false
		}, 5*time.Second, 10*time.Millisecond, "the seller is paid for all it sold")
		t.Logf("the leecher signed %s; the seller's sale: %+v (ok %v)", spent, sale, ok)
		assert.Equal(t, spent, sale.Paid, "the seller has every voucher signed")
		assert.Equal(t, btt.NewAmount(8<<20), sale.Owed, "the whole torrent sold at the price")
	})
}
