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

// TestStopPaying: a leecher that bids and wins but never pays (its channel
// cannot be funded) is held back once its unpaid bytes reach its credit,
// then choked: the seeder gives it no more than the credit window, the
// free slot's share before its bid; after PayTimeout it loses its slot.
func TestStopPaying(t *testing.T) {
	ctx := context.Background()
	dom := paychan.Domain{ChainID: 1, Escrow: btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")}
	chain := paychantest.New(dom, time.Now())
	price := btt.NewAmount(1)
	sk := key(t, 1)
	pst, err := paychan.OpenStore(filepath.Join(t.TempDir(), "p.db"))
	require.NoError(t, err)
	defer pst.Close()
	payee, err := paychan.NewPayee(ctx, pst, chain.As(sk.Address()), paychan.PayeeConfig{Self: sk.Address()})
	require.NoError(t, err)
	const creditMax = 1 << 20
	sell, err := speed.New(speed.Config{Domain: dom, Sell: &speed.Seller{Payee: payee, Self: sk.Address(), Ask: price, CreditStart: 256 << 10, CreditMax: creditMax, PayTimeout: time.Second}})
	require.NoError(t, err)
	seeder, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", RechokeInterval: 200 * time.Millisecond, Extensions: []peer.Extension{sell},
		Policy: func() (choker.Policy, error) {
			// No free slot to fall back on: 2 slots, both... BidDriven
			// keeps one free; with one peer it holds the paid slot.
			return choker.NewBidDriven(choker.BidDrivenConfig{Slots: 2, Reserve: price, LeaveIdle: true})
		}})
	require.NoError(t, err)
	defer seeder.Close()
	dir, mi, _ := fixture(t, 16<<20)
	seedTor, err := seeder.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: dir, Verify: true})
	require.NoError(t, err)

	// The leecher bids with a budget it does not have on chain: opening
	// its channel fails, so it never pays.
	lk := key(t, 2)
	budget := btt.BTT(1)
	lst, err := paychan.OpenStore(filepath.Join(t.TempDir(), "l.db"))
	require.NoError(t, err)
	defer lst.Close()
	payer, err := paychan.NewPayer(ctx, lst, chain.As(lk.Address()), lk)
	require.NoError(t, err)
	buyer := &speed.Buyer{Payer: payer, Strategy: bidding.Fixed{Price: price}, Budget: budget}
	buy, err := speed.New(speed.Config{Domain: dom, Buy: buyer})
	require.NoError(t, err)
	cl, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", RechokeInterval: 200 * time.Millisecond, Extensions: []peer.Extension{buy}})
	require.NoError(t, err)
	defer cl.Close()
	tor, err := cl.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: t.TempDir(), Peers: []netip.AddrPort{seeder.Addr()}})
	require.NoError(t, err)

	time.Sleep(3 * time.Second)
	select {
	case <-tor.Done():
		t.Fatal("a leecher out of money completed")
	default:
	}
	st, err := seedTor.Stats(ctx)
	require.NoError(t, err)
	assert.True(t, buyer.Spent().IsZero())
	figs, err := sell.Peers(ctx)
	require.NoError(t, err)
	require.Len(t, figs, 1)
	f := figs[0].Sell
	require.NotNil(t, f)
	t.Logf("served %d bytes to a leecher that never paid: %d in the paid slot, the rest in the free slot", st.Uploaded, f.Sold)
	// In the paid slot, the credit gate serves whole pieces only while
	// they fit in the window, which never grows without payment: the
	// seeder loses at most its credit's worth there. The free slot is
	// free for everyone, legacy peers included.
	assert.Positive(t, f.Sold)
	assert.LessOrEqual(t, f.Sold, int64(256<<10))
	assert.True(t, f.Paid.IsZero())
	assert.Less(t, st.Uploaded, int64(16<<20))
	require.Eventually(t, func() bool {
		ps, err := seedTor.Peers(ctx)
		return err == nil && len(ps) == 1 && ps[0].AmChoking
	}, 10*time.Second, 50*time.Millisecond, "the non-payer ends up choked")
}
