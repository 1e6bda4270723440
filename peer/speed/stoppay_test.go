package speed_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

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

// TestStopPaying: a winner that announces a funded channel and then never
// pays is served, in the paid slot, at most its first credit window (the
// credit gate serves whole pieces only while they fit in it, and it never
// grows without payment), then loses its slot and ends up choked.
func TestStopPaying(t *testing.T) {
	ctx := context.Background()
	m := newMarket(t)
	price := btt.NewAmount(1)
	s := stopPaySeller(m, price)
	sell, seedTor, seeder, payee, mi, chain, dom := s.ext, s.tor, s.client, s.key.Address(), s.mi, m.chain, m.dom

	lk := key(t, 2)
	chain.Mint(lk.Address(), btt.BTT(1))
	lst, _ := m.store("l.db")
	payer, err := paychan.NewPayer(ctx, lst, chain.As(lk.Address()), lk)
	require.NoError(t, err)
	r := &rogue{hs: speedwire.Handshake{Version: speedwire.Version, ChainID: dom.ChainID, Escrow: dom.Escrow}, peers: make(chan peer.ExtPeer, 1), msgs: make(chan speedwire.Message, 64)}
	cl, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", Extensions: []peer.Extension{r}})
	require.NoError(t, err)
	defer cl.Close()
	_, err = cl.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: t.TempDir(), Peers: []netip.AddrPort{seeder.Addr()}})
	require.NoError(t, err)
	p := <-r.peers
	sendMsg(t, p, speedwire.Message{Type: speedwire.TypeBid, Price: price})
	waitMsg(t, r.msgs, speedwire.TypeAward)
	ch, err := payer.Open(ctx, payee, btt.NewAmount(1<<30), time.Now().Add(24*time.Hour))
	require.NoError(t, err)
	sendMsg(t, p, speedwire.Message{Type: speedwire.TypeChannel, Channel: speedwire.ChannelInfo{ID: ch.ID, Escrow: dom.Escrow, Deposit: ch.Deposit, Expiry: ch.Expiry.Unix()}})
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
}

// TestNoChannelNoCredit: a winner whose channel never checks out (it cannot
// fund one) gets nothing in the paid slot — credit starts only once the
// channel is read from the chain — and loses the slot after
// ChannelTimeout.
func TestNoChannelNoCredit(t *testing.T) {
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
}

// TestReusedChannelStopsPaying: a channel carries a payer's payments to a
// seller across torrents and connections, and its vouchers are cumulative.
// A payer that paid for one torrent and then, on a connection for
// another, sends vouchers a base unit apart above that total must get no
// more than its window beyond what those units buy: what a connection
// may take unpaid is counted from what its own vouchers added, not from
// the channel's total.
func TestReusedChannelStopsPaying(t *testing.T) {
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
	r := &rogue{hs: speedwire.Handshake{Version: speedwire.Version, ChainID: dom.ChainID, Escrow: dom.Escrow}, peers: make(chan peer.ExtPeer, 1), msgs: make(chan speedwire.Message, 64)}
	cl, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", Extensions: []peer.Extension{r}})
	require.NoError(t, err)
	defer cl.Close()
	_, err = cl.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: t.TempDir(), Peers: []netip.AddrPort{seeder.Addr()}})
	require.NoError(t, err)
	p := <-r.peers
	sendMsg(t, p, speedwire.Message{Type: speedwire.TypeBid, Price: price})
	waitMsg(t, r.msgs, speedwire.TypeAward)
	sendMsg(t, p, speedwire.Message{Type: speedwire.TypeChannel, Channel: speedwire.ChannelInfo{ID: ch.ID, Escrow: dom.Escrow, Deposit: ch.Deposit, Expiry: ch.Expiry.Unix()}})
	const units = 20
	for i := 1; i <= units; i++ {
		time.Sleep(50 * time.Millisecond)
		amount, err := paid.Add(btt.NewAmount(uint64(i)))
		require.NoError(t, err)
		sv, err := paychan.Sign(l.key, paychan.Voucher{ChainID: dom.ChainID, Escrow: dom.Escrow, Channel: ch.ID, Amount: amount})
		require.NoError(t, err)
		sendMsg(t, p, speedwire.Message{Type: speedwire.TypeVoucher, Voucher: sv})
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
}
