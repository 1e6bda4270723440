package speed_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/paychan/paychantest"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/speed"
	"github.com/bttspeed/bttspeed/peer/speedwire"
)

// stopPaySeller is a seller with one paid slot (and BidDriven's one free
// slot, which stays empty: LeaveIdle), a 256 KiB credit window that grows
// to 1 MiB, and short timeouts.
func stopPaySeller(t *testing.T, chain *paychantest.Chain, dom paychan.Domain, price btt.Amount) (*speed.Extension, *peer.Torrent, *peer.Client, btt.Address, *metainfo.MetaInfo) {
	t.Helper()
	ctx := context.Background()
	sk := key(t, 1)
	pst, err := paychan.OpenStore(filepath.Join(t.TempDir(), "p.db"))
	require.NoError(t, err)
	t.Cleanup(func() { pst.Close() })
	payee, err := paychan.NewPayee(ctx, pst, chain.As(sk.Address()), paychan.PayeeConfig{Self: sk.Address()})
	require.NoError(t, err)
	sell, err := speed.New(speed.Config{Domain: dom, Sell: &speed.Seller{Payee: payee, Self: sk.Address(), Ask: price,
		CreditStart: 256 << 10, CreditMax: 1 << 20, PayTimeout: time.Second, ChannelTimeout: time.Second}})
	require.NoError(t, err)
	seeder, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", RechokeInterval: 200 * time.Millisecond, Extensions: []peer.Extension{sell},
		Policy: func() (choker.Policy, error) {
			return choker.NewBidDriven(choker.BidDrivenConfig{Slots: 2, Reserve: price, LeaveIdle: true})
		}})
	require.NoError(t, err)
	t.Cleanup(func() { seeder.Close() })
	dir, mi, _ := fixture(t, 16<<20)
	tor, err := seeder.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: dir, Verify: true})
	require.NoError(t, err)
	return sell, tor, seeder, sk.Address(), mi
}

// TestStopPaying: a winner that announces a funded channel and then never
// pays is served, in the paid slot, at most its first credit window (the
// credit gate serves whole pieces only while they fit in it, and it never
// grows without payment), then loses its slot and ends up choked.
func TestStopPaying(t *testing.T) {
	ctx := context.Background()
	dom := paychan.Domain{ChainID: 1, Escrow: btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")}
	chain := paychantest.New(dom, time.Now())
	price := btt.NewAmount(1)
	sell, seedTor, seeder, payee, mi := stopPaySeller(t, chain, dom, price)

	lk := key(t, 2)
	chain.Mint(lk.Address(), btt.BTT(1))
	lst, err := paychan.OpenStore(filepath.Join(t.TempDir(), "l.db"))
	require.NoError(t, err)
	defer lst.Close()
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
}

// TestNoChannelNoCredit: a winner whose channel never checks out (it cannot
// fund one) gets nothing in the paid slot — credit starts only once the
// channel is read from the chain — and loses the slot after
// ChannelTimeout.
func TestNoChannelNoCredit(t *testing.T) {
	ctx := context.Background()
	dom := paychan.Domain{ChainID: 1, Escrow: btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")}
	chain := paychantest.New(dom, time.Now())
	price := btt.NewAmount(1)
	sell, seedTor, seeder, _, mi := stopPaySeller(t, chain, dom, price)

	lk := key(t, 3) // never minted any tokens: opening its channel fails
	lst, err := paychan.OpenStore(filepath.Join(t.TempDir(), "l.db"))
	require.NoError(t, err)
	defer lst.Close()
	payer, err := paychan.NewPayer(ctx, lst, chain.As(lk.Address()), lk)
	require.NoError(t, err)
	buyer := &speed.Buyer{Payer: payer, Strategy: bidding.Fixed{Price: price}, Budget: btt.BTT(1)}
	buy, err := speed.New(speed.Config{Domain: dom, Buy: buyer})
	require.NoError(t, err)
	cl, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", Extensions: []peer.Extension{buy}})
	require.NoError(t, err)
	defer cl.Close()
	_, err = cl.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: t.TempDir(), Peers: []netip.AddrPort{seeder.Addr()}})
	require.NoError(t, err)

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
	assert.True(t, buyer.Spent().IsZero())
}
