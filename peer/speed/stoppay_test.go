package speed_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/speed"
	"github.com/bttspeed/bttspeed/peer/speedwire"
)

// stopPaySeller is a seller of 16 MiB with one paid slot (and
// BidDriven's free slot), a 256 KiB credit window that grows to 1 MiB, and
// short timeouts.
func stopPaySeller(m *market, price btt.Amount) *sellSide {
	return m.seller(price, 16<<20, sellerOpts{
		seller: func(s *speed.Seller) {
			s.CreditStart, s.CreditMax, s.PayTimeout, s.ChannelTimeout = 256<<10, 1<<20, time.Second, time.Second
		},
		client: func(c *peer.Config) { c.RechokeInterval = 200 * time.Millisecond },
	})
}

// stopPayWinner starts a stopPaySeller at a price of 1 and a rogue payer
// (key 2) that wins its paid slot and announces a funded channel; the
// test decides what it pays.
func stopPayWinner(t *testing.T) (m *market, s *sellSide, k *paychan.KeySigner, ch paychan.Channel, p peer.ExtPeer) {
	return stopPayWinnerOn(t, false)
}

// stopPayWinnerOn is stopPayWinner over TCP, or with mem over the
// in-memory network (in a synctest bubble: every block queued goes out
// at once).
func stopPayWinnerOn(t *testing.T, mem bool) (m *market, s *sellSide, k *paychan.KeySigner, ch paychan.Channel, p peer.ExtPeer) {
	t.Helper()
	m = newMarket(t)
	if !mem {
		m.client, m.net = nil, nil // over TCP, outside a bubble: see tcpOnly in memnet_test.go
	}
	price := btt.NewAmount(1)
	s = stopPaySeller(m, price)
	k = key(t, 2)
	ch = m.channelTo(s, k, btt.NewAmount(1<<30))
	r, p := dialRogue(t, m, s.client.Addr(), s.mi)
	winAndAnnounce(t, r, p, price, m.dom, ch, k)
	return m, s, k, ch, p
}

// TestStopPaying: a winner that announces a funded channel and then never
// pays is served, in the paid slot, at most its first credit window (the
// credit gate serves whole pieces only while they fit in it, and it never
// grows without payment), then loses its slot and ends up choked.
func TestStopPaying(t *testing.T) {
	t.Run("tcp", func(t *testing.T) { testStopPaying(t, false) })
	// In a bubble the blocks the writer took before the choke would all
	// go out after it (they used to, 2 runs in 6); the choke holds for
	// them too.
	for i := range 4 {
		t.Run(fmt.Sprintf("memnet-%d", i), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { testStopPaying(t, true) })
		})
	}
}

func testStopPaying(t *testing.T, mem bool) {
	ctx := context.Background()
	_, s, _, _, _ := stopPayWinnerOn(t, mem)
	sell, seedTor := s.ext, s.tor
	// ...and never a voucher.

	require.Eventually(t, func() bool {
		ps, err := seedTor.Peers(ctx)
		return err == nil && len(ps) == 1 && ps[0].AmChoking
	}, 10*time.Second, 50*time.Millisecond, "the non-payer ends up choked")
	figs, err := sell.Peers(ctx)
	require.NoError(t, err)
	require.Len(t, figs, 1)
	f := figs[0].Sell
	st, err := seedTor.Stats(ctx)
	require.NoError(t, err)
	t.Logf("served %d bytes to a leecher that never paid, %d of them in the paid slot", st.Uploaded, f.Sold)
	assert.Positive(t, f.Sold, "it got its credit")
	assert.LessOrEqual(t, f.Sold, int64(256<<10), "and no more")
	assert.True(t, f.Paid.IsZero())
	assert.GreaterOrEqual(t, f.HeldFor, time.Second, "held back for PayTimeout before it lost the slot")
	assert.False(t, f.Held, "no longer held: out of the paid slot")

	// Owing its window, it gets no slot of either kind until it pays: it
	// used to win the paid slot back at the next rechoke (200 ms here),
	// to be held again, and take free-slot blocks in between.
	time.Sleep(time.Second)
	ps, err := seedTor.Peers(ctx)
	require.NoError(t, err)
	require.Len(t, ps, 1)
	assert.True(t, ps[0].AmChoking, "still choked five rechokes later")
	later, err := seedTor.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, st.Uploaded, later.Uploaded, "and served nothing more")
	figs, err = sell.Peers(ctx)
	require.NoError(t, err)
	require.Len(t, figs, 1)
	assert.LessOrEqual(t, figs[0].Sell.Sold, int64(256<<10), "nothing more in the paid slot")

}

// TestPayOnceThenStop: a winner that pays for its first window and then
// stops is served at most what it paid for and the window that payment
// opened — by default the whole CreditMax (1 MiB here), at once — then
// loses its slot and ends up choked. This is the seller's risk the
// default growth takes (docs/DECISIONS.md, session 14).
func TestPayOnceThenStop(t *testing.T) {
	ctx := context.Background()
	m, s, k, ch, p := stopPayWinner(t)
	sell, seedTor, dom := s.ext, s.tor, m.dom
	figs := func() *speed.SellFigures {
		fs, err := sell.Peers(ctx)
		require.NoError(t, err)
		require.Len(t, fs, 1)
		return fs[0].Sell
	}
	require.Eventually(t, func() bool { f := figs(); return f.Held && f.Sold == 256<<10 }, 10*time.Second, 10*time.Millisecond, "held at its first window")
	sv, err := paychan.Sign(k, paychan.Voucher{ChainID: dom.ChainID, Escrow: dom.Escrow, Channel: ch.ID, Amount: btt.NewAmount(256 << 10)})
	require.NoError(t, err)
	sendMsg(t, p, speedwire.Voucher{Signed: sv})
	// ...and nothing more.

	require.Eventually(t, func() bool {
		ps, err := seedTor.Peers(ctx)
		return err == nil && len(ps) == 1 && ps[0].AmChoking
	}, 10*time.Second, 50*time.Millisecond, "the payer that stopped ends up choked")
	f := figs()
	t.Logf("served %d bytes in the paid slot for one voucher of %d", f.Sold, 256<<10)
	assert.Equal(t, int64(1<<20), f.Credit, "one payment opened the window to CreditMax")
	assert.Equal(t, btt.NewAmount(256<<10), f.Paid)
	assert.Greater(t, f.Sold, int64(256<<10), "served on after paying")
	assert.LessOrEqual(t, f.Sold, int64(256<<10+1<<20), "at most what it paid for and the window")

}

// TestNoChannelNoCredit: a winner whose channel never checks out (it cannot
// fund one) gets nothing in the paid slot — credit starts only once the
// channel is read from the chain — and loses the slot after
// ChannelTimeout.
func TestNoChannelNoCredit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := newMarket(t)
		price := btt.NewAmount(1)
		s := stopPaySeller(m, price)
		sell, seedTor := s.ext, s.tor

		// Minted nothing: opening its channel fails.
		buyer := m.buyer(s, 3, btt.Zero, price, btt.BTT(1), nil).buyer

		require.Eventually(t, func() bool {
			figs, err := sell.Peers(ctx)
			return err == nil && len(figs) == 1 && figs[0].Sell.Held
		}, 10*time.Second, 20*time.Millisecond, "the winner is held back, waiting for its channel")
		require.Eventually(t, func() bool {
			ps, err := seedTor.Peers(ctx)
			return err == nil && len(ps) == 1 && ps[0].AmChoking
		}, 10*time.Second, 50*time.Millisecond, "and choked after ChannelTimeout")
		figs, err := sell.Peers(ctx)
		require.NoError(t, err)
		require.Len(t, figs, 1)
		assert.Zero(t, figs[0].Sell.Sold, "no credit in the paid slot without a channel")
		assert.GreaterOrEqual(t, figs[0].Sell.HeldFor, time.Second, "held back for ChannelTimeout")
		assert.True(t, buyer.Spent().IsZero())
	})
}

// TestReusedChannelStopsPaying: a channel carries a payer's payments to a
// seller across torrents and connections, and its vouchers are cumulative.
// A payer that paid for one torrent and then, on a connection for
// another, sends vouchers a base unit apart above that total must get no
// more than its window beyond what those units buy: what a connection
// may take unpaid is counted from what its own vouchers added, not from
// the channel's total.
func TestReusedChannelStopsPaying(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := newMarket(t)
		price := btt.NewAmount(1)
		s := stopPaySeller(m, price)
		sell, seeder, dom := s.ext, s.client, m.dom

		// An honest download of the first torrent: the channel's total is
		// then 16 MiB's worth.
		budget := btt.BTT(1)
		l := m.buyer(s, 2, budget, price, budget, nil)
		waitDone(t, l.tor, 30*time.Second)
		paid := settled(t, s.payee, l.buyer)
		require.Equal(t, btt.NewAmount(16<<20), paid)
		recs, err := l.payer.Channels()
		require.NoError(t, err)
		require.Len(t, recs, 1)
		ch := recs[0].Channel
		l.client.Close()

		// The same payer, for a second torrent, on a new connection.
		dir, mi, _ := fixture(t, 16<<20)
		seedB, err := seeder.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: dir, Verify: true})
		require.NoError(t, err)
		r, p := dialRogue(t, m, seeder.Addr(), mi)
		winAndAnnounce(t, r, p, price, dom, ch, l.key)
		const units = 20
		for i := 1; i <= units; i++ {
			time.Sleep(50 * time.Millisecond)
			amount, err := paid.Add(btt.NewAmount(uint64(i)))
			require.NoError(t, err)
			sv, err := paychan.Sign(l.key, paychan.Voucher{ChainID: dom.ChainID, Escrow: dom.Escrow, Channel: ch.ID, Amount: amount})
			require.NoError(t, err)
			sendMsg(t, p, speedwire.Voucher{Signed: sv})
		}
		// ...and nothing more.

		const limit = 1<<20 + units
		var f *speed.SellFigures
		require.Eventually(t, func() bool {
			figs, err := sell.Peers(ctx)
			if err != nil || len(figs) != 1 {
				return false
			}
			f = figs[0].Sell
			ps, err := seedB.Peers(ctx)
			return f.Sold > limit || err == nil && len(ps) == 1 && ps[0].AmChoking
		}, 20*time.Second, 50*time.Millisecond, "the payer that stopped is choked, or served past its window")
		t.Logf("served %d bytes in the paid slot for vouchers adding %d base units", f.Sold, units)
		assert.Equal(t, btt.NewAmount(units), f.Paid, "what this connection's vouchers added")
		assert.LessOrEqual(t, f.Sold, int64(limit), "its window (1 MiB at most) and what it paid for, though the channel had paid 16 MiB's worth before")
	})
}

// TestCrossedVouchers: a payer buying two torrents from one seller pays
// through one channel, and its vouchers on the two connections can cross:
// the second, signed later and so for more, is stored first; the first,
// then below the best, stores nothing. The seller keeps one account per
// channel, so the crossing costs neither side: the overtaken voucher is
// no offence, the channel's debt is exact, and a payment on either
// connection lets both be served on.
func TestCrossedVouchers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := newMarket(t)
		price := btt.NewAmount(1)
		s := m.seller(price, 16<<20, sellerOpts{
			seller: func(s *speed.Seller) {
				s.CreditStart, s.CreditMax, s.PayTimeout = 256<<10, 1<<20, time.Minute // held, not dropped
			},
			client: func(c *peer.Config) { c.RechokeInterval = 200 * time.Millisecond },
		})
		sell, seeder, dom := s.ext, s.client, m.dom
		dirB, miB, _ := fixture(t, 16<<20)
		_, err := seeder.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: miB, Dir: dirB, Verify: true})
		require.NoError(t, err)

		lk := key(t, 2)
		ch := m.channelTo(s, lk, btt.NewAmount(1<<30))
		connect := func(mi *metainfo.MetaInfo) peer.ExtPeer {
			r, p := dialRogue(t, m, seeder.Addr(), mi)
			winAndAnnounce(t, r, p, price, dom, ch, lk)
			return p
		}
		p1, p2 := connect(s.mi), connect(miB)
		figs := func() []*speed.SellFigures {
			fs, err := sell.Peers(ctx)
			require.NoError(t, err)
			var out []*speed.SellFigures
			for _, f := range fs {
				out = append(out, f.Sell)
			}
			return out
		}
		held := func() bool {
			fs := figs()
			return len(fs) == 2 && fs[0].Held && fs[1].Held
		}
		sold := func() (n int64) {
			for _, f := range figs() {
				n += f.Sold
			}
			return n
		}
		require.Eventually(t, held, 10*time.Second, 10*time.Millisecond, "both held at their first window")
		voucher := func(amount int64) speedwire.Message {
			sv, err := paychan.Sign(lk, paychan.Voucher{ChainID: dom.ChainID, Escrow: dom.Escrow, Channel: ch.ID, Amount: btt.NewAmount(uint64(amount))})
			require.NoError(t, err)
			return speedwire.Voucher{Signed: sv}
		}
		// Signed in this order — the first for the first connection's window,
		// the second for both — the second arrives first.
		sendMsg(t, p2, voucher(2*256<<10))
		require.Eventually(t, func() bool {
			sales := s.seller.Sales()
			return len(sales) == 1 && sales[0].Paid == btt.NewAmount(2*256<<10)
		}, 10*time.Second, 10*time.Millisecond, "the second voucher stored")
		sendMsg(t, p1, voucher(256<<10))
		require.Eventually(t, held, 10*time.Second, 10*time.Millisecond, "both held again, the channel at its window")
		// Each connection's gate holds the channel's debt, as it last heard
		// of it, and what it has queued itself to its own window (1 MiB and
		// 256 KiB): the channel owes at most their sum, plus what each sent
		// since the other last counted it.
		first := sold()
		assert.LessOrEqual(t, first, int64(2*256<<10+2*(1<<20+256<<10)), "paid 512 KiB: the channel owes at most twice its windows")

		// Paying on the first connection for all that was sold and 4 MiB
		// ahead serves both: the first at once, the second woken.
		before := figs()
		sendMsg(t, p1, voucher(first+4<<20))
		require.Eventually(t, func() bool {
			fs := figs()
			return len(fs) == 2 && fs[0].Sold > before[0].Sold && fs[1].Sold > before[1].Sold
		}, 10*time.Second, 10*time.Millisecond, "a payment on one connection serves both")
		for _, f := range figs() {
			assert.Empty(t, f.Refused, "the overtaken voucher is no offence")
		}
	})
}
