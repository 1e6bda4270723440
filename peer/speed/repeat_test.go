package speed_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/peer/speed"
)

// TestPaidPiecesServedAgainFree: a leecher that bought the whole torrent
// loses its data, restarts and downloads it again from the same seeder —
// which may have restarted too, and then remembers nothing but its store.
// Its vouchers listed the pieces they paid for, so the seeder serves them
// again without charging: the second download costs nothing, is charged
// nothing, and is not held back at its credit window (here far smaller
// than the torrent, so before this the seeder held it for good after four
// pieces and it lost its paid slot).
func TestPaidPiecesServedAgainFree(t *testing.T) {
	for _, restartSeller := range []bool{false, true} {
		t.Run(fmt.Sprintf("seeder restarted %v", restartSeller), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newMarket(t)
				price := btt.NewAmount(3)
				const size = 2 << 20 // 32 pieces of 64 KiB
				o := sellerOpts{seller: func(s *speed.Seller) { s.CreditMax = 256 << 10 }}
				s := m.seller(price, size, o)
				budget := btt.NewAmount(20 * size * 3)
				l := m.buyer(s, 2, budget, price, budget, nil)
				waitDone(t, l.tor, 30*time.Second)
				require.Equal(t, btt.NewAmount(3*size), settled(t, s.payee, l.buyer))
				sales := s.seller.Sales()
				require.Len(t, sales, 1)
				require.Equal(t, int64(size), sales[0].Sold)
				require.Zero(t, sales[0].Free)

				if restartSeller {
					s = m.restartSeller(s, price, o)
				}
				l2 := m.restart(s, l, price, budget, nil) // into a new, empty directory
				waitDone(t, l2.tor, 30*time.Second)
				assert.Equal(t, s.sum, fileSum(t, filepath.Join(l2.dir, "data.bin")))
				assert.True(t, l2.buyer.Spent().IsZero(), "nothing paid twice")
				require.Eventually(t, func() bool {
					sales := s.seller.Sales()
					return len(sales) == 1 && sales[0].Free == size
				}, 10*time.Second, 10*time.Millisecond, "the second download served free: %+v", s.seller.Sales())
				sales = s.seller.Sales()
				want := int64(size) // the first run's, in this process
				if restartSeller {
					want = 0
				}
				assert.Equal(t, want, sales[0].Sold, "nothing of the second download charged")
				tot, err := s.payee.Totals()
				require.NoError(t, err)
				assert.Equal(t, btt.NewAmount(3*size), tot.Earned)
			})
		})
	}
}
