package speed_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/paychan/paychantest"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/speed"
)

// TestTopUp: a payer whose channel deposit covers a quarter of the file
// tops the channel up each time it runs dry, tells the seeder, which reads
// the channel again, and pays on: the download completes in the paid slot,
// every voucher is accepted, and the payee redeems exactly what was
// signed.
func TestTopUp(t *testing.T) {
	ctx := context.Background()
	dom := paychan.Domain{ChainID: 1, Escrow: btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")}
	chain := paychantest.New(dom, time.Now())
	price := btt.NewAmount(3)
	const size = 4 << 20

	sk := key(t, 1)
	pst, err := paychan.OpenStore(filepath.Join(t.TempDir(), "payee.db"))
	require.NoError(t, err)
	defer pst.Close()
	payee, err := paychan.NewPayee(ctx, pst, chain.As(sk.Address()), paychan.PayeeConfig{Self: sk.Address()})
	require.NoError(t, err)
	seller := &speed.Seller{Payee: payee, Self: sk.Address(), Ask: price}
	sell, err := speed.New(speed.Config{Domain: dom, Sell: seller})
	require.NoError(t, err)
	seeder, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", RechokeInterval: 100 * time.Millisecond, Extensions: []peer.Extension{sell},
		Policy: func() (choker.Policy, error) {
			return choker.NewBidDriven(choker.BidDrivenConfig{Slots: 2, Reserve: price, LeaveIdle: true})
		}})
	require.NoError(t, err)
	defer seeder.Close()
	dir, mi, sum := fixture(t, size)
	_, err = seeder.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: dir, Verify: true})
	require.NoError(t, err)

	lk := key(t, 2)
	budget := btt.NewAmount(10 * size * 3)
	chain.Mint(lk.Address(), budget)
	lst, err := paychan.OpenStore(filepath.Join(t.TempDir(), "payer.db"))
	require.NoError(t, err)
	defer lst.Close()
	payer, err := paychan.NewPayer(ctx, lst, chain.As(lk.Address()), lk)
	require.NoError(t, err)
	deposit := btt.NewAmount(size / 4 * 3) // a quarter of the file at the price
	buyer := &speed.Buyer{Payer: payer, Strategy: bidding.Fixed{Price: price}, Budget: budget, Deposit: deposit}
	buy, err := speed.New(speed.Config{Domain: dom, Buy: buyer})
	require.NoError(t, err)
	cl, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", RechokeInterval: 100 * time.Millisecond, Extensions: []peer.Extension{buy}})
	require.NoError(t, err)
	defer cl.Close()
	ldir := t.TempDir()
	tor, err := cl.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: ldir, Peers: []netip.AddrPort{seeder.Addr()}})
	require.NoError(t, err)
	select {
	case <-tor.Done():
	case <-time.After(60 * time.Second):
		st, _ := tor.Stats(ctx)
		t.Fatalf("did not complete: %+v", st)
	}
	assert.Equal(t, sum, fileSum(t, filepath.Join(ldir, "data.bin")))
	spent := settled(t, payee, buyer)
	assert.GreaterOrEqual(t, chain.Count("TopUp"), 2, "the channel ran dry and was topped up")
	assert.Equal(t, 1, chain.Count("Open"), "one channel, topped up")
	sales := seller.Sales()
	require.Len(t, sales, 1)
	assert.Greater(t, sales[0].Sold, int64(size/2), "most of the file was bought in the paid slot")
	assert.True(t, spent.Gt(deposit), "paid past the first deposit: %s", spent)
	figs, err := sell.Peers(ctx)
	require.NoError(t, err)
	for _, f := range figs {
		assert.Empty(t, f.Sell.Refused, "no voucher refused")
	}
	got, err := payee.RedeemAll(ctx, true)
	require.NoError(t, err)
	assert.Equal(t, spent, got)
	assert.Equal(t, spent, chain.Balance(sk.Address()))
	assert.Equal(t, budget.SubFloor(spent), chain.Balance(lk.Address()), "the payer got the rest of its deposits back")
}
