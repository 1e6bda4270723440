package speed_test

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/speed"
)

// smallWindow has the seller extend at most 512 KiB of credit. (At
// 512 KiB, TestTopUp took 6–27 s, not 1, before TestCreditBeforeAccrual's
// fix: a voucher counted before the bytes it paid for was lost.)
func smallWindow(s *speed.Seller) { s.CreditMax = 512 << 10 }

// TestTopUp: a payer whose channel deposit covers an eighth of the file
// tops the channel up each time it runs dry, tells the seeder, which reads
// the channel again, and pays on: the download completes in the paid slot,
// every voucher is accepted, and the payee redeems exactly what was
// signed.
func TestTopUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := newMarket(t)
		price := btt.NewAmount(3)
		const size = 4 << 20
		// A window of 512 KiB: the payer pays every 256 KiB, so the deposit
		// runs dry several times in the download (with the default window it
		// would pay for the file in one or two vouchers).
		s := m.seller(price, size, sellerOpts{seller: smallWindow})
		// Every chain call takes 20 ms, so pieces verify while a top-up is
		// on its way.
		m.chain.SetLatency(20 * time.Millisecond)
		budget := btt.NewAmount(10 * size * 3)
		deposit := btt.NewAmount(size / 8 * 3) // an eighth of the file at the price
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
	})
}

// TestTopUpSharedChannel: a buyer downloads two torrents from one seeder
// over one channel, topped up as it goes — through whichever connection
// ran it dry. Each connection announces the new deposit before its next
// voucher over the old one, so the seeder refuses nothing and both
// downloads complete in the paid slot.
func TestTopUpSharedChannel(t *testing.T) {
	ctx := context.Background()
	m := newMarket(t)
	m.client, m.net = nil, nil // over TCP, outside a bubble: see tcpOnly in memnet_test.go
	m.chain.SetLatency(5 * time.Millisecond)
	price := btt.NewAmount(3)
	const size = 2 << 20
	s := m.seller(price, size, sellerOpts{seller: smallWindow, auction: func(c *choker.BidDrivenConfig) { c.Slots = 4 }})
	dir2, mi2, sum2 := fixture(t, size)
	_, err := s.client.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi2, Dir: dir2, Verify: true})
	require.NoError(t, err)

	budget := btt.NewAmount(10 * 2 * size * 3)
	deposit := btt.NewAmount(size / 4 * 3) // an eighth of both files at the price
	l := m.buyer(s, 2, budget, price, budget, func(b *speed.Buyer) { b.Deposit = deposit })
	dl2 := t.TempDir()
	tor2, err := l.client.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi2, Dir: dl2, Peers: []netip.AddrPort{s.client.Addr()}})
	require.NoError(t, err)
	waitDone(t, l.tor, 60*time.Second)
	waitDone(t, tor2, 60*time.Second)
	assert.Equal(t, s.sum, fileSum(t, filepath.Join(l.dir, "data.bin")))
	assert.Equal(t, sum2, fileSum(t, filepath.Join(dl2, "data.bin")))

	spent := settled(t, s.payee, l.buyer)
	assert.Equal(t, 1, m.chain.Count("Open"), "one channel for both torrents")
	assert.GreaterOrEqual(t, m.chain.Count("TopUp"), 2)
	sales := s.seller.Sales()
	require.Len(t, sales, 1)
	assert.Equal(t, spent, sales[0].Paid, "every voucher accepted")
	figs, err := s.ext.Peers(ctx)
	require.NoError(t, err)
	for _, f := range figs {
		assert.Empty(t, f.Sell.Refused, "no voucher refused")
	}

}

// TestResumeChannel: a leecher that restarts pays on through the channel
// it had opened to the seeder instead of locking a second deposit: one
// channel on chain, the second run's vouchers carrying on from the first's
// signed amount, every piece of both runs paid for and redeemed. A closed
// channel is not resumed: the next run opens a new one.
func TestResumeChannel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := newMarket(t)
		price := btt.NewAmount(3)
		const size = 2 << 20
		s := m.seller(price, size, sellerOpts{})
		more := make([]*metainfo.MetaInfo, 2)
		for i := range more {
			dir, mi, _ := fixture(t, size)
			_, err := s.client.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: dir, Verify: true})
			require.NoError(t, err)
			more[i] = mi
		}
		budget := btt.NewAmount(20 * size * 3)
		withDeposit := func(b *speed.Buyer) { b.Deposit = btt.NewAmount(10 * size * 3) } // five downloads' worth

		l := m.buyer(s, 2, budget, price, budget, withDeposit)
		waitDone(t, l.tor, 30*time.Second)
		first := settled(t, s.payee, l.buyer)
		require.Equal(t, btt.NewAmount(3*size), first)

		s.mi = more[0] // the restarted leecher downloads another torrent
		l2 := m.restart(s, l, price, budget, withDeposit)
		waitDone(t, l2.tor, 30*time.Second)
		settled(t, s.payee, l.buyer, l2.buyer)
		assert.Equal(t, 1, m.chain.Count("Open"), "the restarted leecher resumed its channel")
		assert.Equal(t, btt.NewAmount(3*size), l2.buyer.Spent(), "the second run paid for its torrent")
		recs, err := l2.payer.Channels()
		require.NoError(t, err)
		require.Len(t, recs, 1)
		assert.Equal(t, btt.NewAmount(2*3*size), recs[0].Signed, "signed across both runs")
		got, err := s.payee.RedeemAll(ctx, true)
		require.NoError(t, err)
		assert.Equal(t, recs[0].Signed, got, "the seeder redeems both runs' payments")

		// Closed now: the next run opens a new channel.
		s.mi = more[1]
		l3 := m.restart(s, l2, price, budget, withDeposit)
		waitDone(t, l3.tor, 30*time.Second)
		settled(t, s.payee, l.buyer, l2.buyer, l3.buyer)
		assert.Equal(t, 2, m.chain.Count("Open"), "a closed channel is not resumed")
	})
}

// TestRestartPaysOnlyNewPieces: a leecher stopped mid-download whose data
// is lost downloads the torrent again after a restart. The pieces it paid
// for before are not paid for twice, and those it had not are — in the
// same vouchers: every piece is paid for exactly once.
func TestRestartPaysOnlyNewPieces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := newMarket(t)
		price := btt.NewAmount(3)
		const size = 2 << 20
		s := m.seller(price, size, sellerOpts{client: func(c *peer.Config) { c.UploadRate = 1 << 20 }})
		budget := btt.NewAmount(20 * size * 3)
		l := m.buyer(s, 2, budget, price, budget, nil)
		ih := s.mi.HashInfoBytes()
		require.Eventually(t, func() bool {
			paid, err := l.payer.PaidPieces(ih)
			return err == nil && len(paid) >= 8
		}, 30*time.Second, 5*time.Millisecond)

		l2 := m.restart(s, l, price, budget, nil) // into a new, empty directory
		waitDone(t, l2.tor, 30*time.Second)
		assert.Equal(t, s.sum, fileSum(t, filepath.Join(l2.dir, "data.bin")))
		settled(t, s.payee, l.buyer, l2.buyer)
		paid, err := l2.payer.PaidPieces(ih)
		require.NoError(t, err)
		assert.Equal(t, size/(64<<10), len(paid), "every piece paid for")
		recs, err := l2.payer.Channels()
		require.NoError(t, err)
		require.Len(t, recs, 1)
		assert.Equal(t, btt.NewAmount(3*size), recs[0].Signed, "each piece once, at the price")
		assert.Greater(t, l2.buyer.Spent().Cmp(btt.Zero), 0, "the second run paid for the pieces the first had not")
		got, err := s.payee.RedeemAll(ctx, true)
		require.NoError(t, err)
		assert.Equal(t, recs[0].Signed, got)
	})
}

// TestResendLatest: a leecher restarts and downloads again, into an
// empty directory, the torrent it has paid for whole. It owes nothing, and
// the window its channel earned before serves it through pieces it will
// not pay for twice (a new connection's window alone, about a piece, held
// it for good once their bytes passed it). If the voucher it signed last
// never reached the seeder — the process stopped as it was signed — it
// resends it on its first connection, and the seeder can redeem it.
func TestResendLatest(t *testing.T) {
	for _, lose := range []bool{false, true} {
		t.Run(fmt.Sprintf("lost voucher %v", lose), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				m := newMarket(t)
				price := btt.NewAmount(3)
				const size = 2 << 20
				s := m.seller(price, size, sellerOpts{})
				budget := btt.NewAmount(20 * size * 3)
				l := m.buyer(s, 2, budget, price, budget, nil)
				waitDone(t, l.tor, 30*time.Second)
				want := settled(t, s.payee, l.buyer)
				require.Equal(t, btt.NewAmount(3*size), want)
				if lose {
					recs, err := l.payer.Channels()
					require.NoError(t, err)
					require.Len(t, recs, 1)
					// Signed, durably, and never sent: a piece of another torrent.
					lost, err := l.payer.PayForPieces(recs[0].Channel.ID, [20]byte{1}, []paychan.PiecePayment{{Piece: 0, Amount: btt.NewAmount(3 << 16)}})
					require.NoError(t, err)
					want = lost.Amount
				}

				l2 := m.restart(s, l, price, budget, nil)
				waitDone(t, l2.tor, 30*time.Second)
				assert.Equal(t, s.sum, fileSum(t, filepath.Join(l2.dir, "data.bin")))
				require.Eventually(t, func() bool {
					tot, err := s.payee.Totals()
					return err == nil && tot.Earned == want
				}, 10*time.Second, 10*time.Millisecond, "the seeder has the voucher signed last")
				assert.True(t, l2.buyer.Spent().IsZero(), "nothing paid twice")
				got, err := s.payee.RedeemAll(ctx, true)
				require.NoError(t, err)
				assert.Equal(t, want, got)
			})
		})
	}
}

// TestChainDown: the chain is down when the seeder reads the payer's new
// channel, or when the channel runs dry and must be topped up. Nothing is
// refused for it: the seeder reads again and the payer tops up again, with
// backoff, the payer's requests and payments waiting meanwhile; once the
// chain is back every piece sold is paid for and the download completes.
func TestChainDown(t *testing.T) {
	tests := []struct {
		name string
		// arm, if set, sets the chain to go down at an exact point, before
		// the buyer starts.
		arm func(m *market)
		// down waits for the moment to take the chain down.
		down func(t *testing.T, m *market, l *buySide)
		// while checks the buyer while the chain is down.
		while func(t *testing.T, m *market, l *buySide, deposit btt.Amount)
	}{
		{"while the seeder reads the channel", func(m *market) {
			// Down as soon as the channel is opened: the buyer announces
			// it then, so waiting for the Open raced with the seeder's
			// read of it.
			m.chain.SetDownAfter("Open")
		}, func(t *testing.T, m *market, _ *buySide) {
			require.Eventually(t, func() bool { return m.chain.Count("Open") == 1 }, 10*time.Second, 50*time.Microsecond)
		}, func(t *testing.T, _ *market, l *buySide, _ btt.Amount) {
			assert.True(t, l.buyer.Spent().IsZero(), "no credit, so nothing bought yet")
		}},
		{"when the channel runs dry", nil, func(t *testing.T, _ *market, l *buySide) {
			require.Eventually(t, func() bool { return !l.buyer.Spent().IsZero() }, 10*time.Second, 50*time.Microsecond)
		}, func(t *testing.T, m *market, l *buySide, deposit btt.Amount) {
			figs, err := l.ext.Peers(context.Background())
			require.NoError(t, err)
			require.Len(t, figs, 1)
			require.NotNil(t, figs[0].Buy)
			assert.Positive(t, figs[0].Buy.Due, "pieces wait to be paid")
			assert.False(t, l.buyer.Spent().Gt(deposit), "never past the deposit")
			assert.GreaterOrEqual(t, m.chain.Count("TopUp"), 2, "top-ups tried again (calls counted, failed ones too)")
			assert.LessOrEqual(t, m.chain.Count("TopUp"), 6, "with backoff")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newMarket(t)
				price := btt.NewAmount(3)
				const size = 4 << 20
				s := m.seller(price, size, sellerOpts{client: func(c *peer.Config) { c.UploadRate = 1 << 20 }})
				budget := btt.NewAmount(10 * size * 3)
				deposit := btt.NewAmount(size / 4 * 3) // a quarter of the file at the price
				if tc.arm != nil {
					tc.arm(m)
				}
				l := m.buyer(s, 2, budget, price, budget, func(b *speed.Buyer) { b.Deposit = deposit })
				tc.down(t, m, l)
				m.chain.SetUnavailable(true)
				time.Sleep(2 * time.Second) // several failed reads or top-ups
				tc.while(t, m, l, deposit)
				m.chain.SetUnavailable(false)

				waitDone(t, l.tor, 60*time.Second)
				assert.Equal(t, s.sum, fileSum(t, filepath.Join(l.dir, "data.bin")))
				spent := settled(t, s.payee, l.buyer)
				assert.True(t, spent.Gt(deposit), "paid past the first deposit (topped up): %s", spent)
				sales := s.seller.Sales()
				require.Len(t, sales, 1)
				assert.Greater(t, sales[0].Sold, int64(size/2), "most of the file was bought in the paid slot")
				paid, err := l.payer.PaidPieces(s.mi.HashInfoBytes())
				require.NoError(t, err)
				assert.GreaterOrEqual(t, int64(len(paid))*(64<<10), sales[0].Sold, "every piece sold in the paid slot paid for")
			})
		})
	}
}
