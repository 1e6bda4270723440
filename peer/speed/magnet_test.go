package speed_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/paychan/paychantest"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/speed"
)

// TestMagnetBuyerBidsOnInfo: a buyer that starts from a magnet link has no
// info when the seeder's handshake comes, so it cannot bid yet; it bids as
// soon as the info arrives, not at its next rechoke (a minute away here),
// and wins the paid slot.
func TestMagnetBuyerBidsOnInfo(t *testing.T) {
	ctx := context.Background()
	dom := paychan.Domain{ChainID: 1, Escrow: btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")}
	chain := paychantest.New(dom, time.Now())
	price := btt.NewAmount(2)
	sk := key(t, 1)
	pst, err := paychan.OpenStore(filepath.Join(t.TempDir(), "payee.db"))
	require.NoError(t, err)
	defer pst.Close()
	payee, err := paychan.NewPayee(ctx, pst, chain.As(sk.Address()), paychan.PayeeConfig{Self: sk.Address()})
	require.NoError(t, err)
	sell, err := speed.New(speed.Config{Domain: dom, Sell: &speed.Seller{Payee: payee, Self: sk.Address(), Ask: price}})
	require.NoError(t, err)
	seeder, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", UploadRate: 1 << 20, Extensions: []peer.Extension{sell},
		Policy: func() (choker.Policy, error) {
			return choker.NewBidDriven(choker.BidDrivenConfig{Slots: 2, Reserve: price, LeaveIdle: true})
		}})
	require.NoError(t, err)
	defer seeder.Close()
	dir, mi, _ := fixture(t, 8<<20)
	_, err = seeder.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: dir, Verify: true})
	require.NoError(t, err)

	lk := key(t, 2)
	chain.Mint(lk.Address(), btt.BTT(1))
	lst, err := paychan.OpenStore(filepath.Join(t.TempDir(), "payer.db"))
	require.NoError(t, err)
	defer lst.Close()
	payer, err := paychan.NewPayer(ctx, lst, chain.As(lk.Address()), lk)
	require.NoError(t, err)
	buy, err := speed.New(speed.Config{Domain: dom, Buy: &speed.Buyer{Payer: payer, Strategy: bidding.Fixed{Price: price}, Budget: btt.BTT(1)}})
	require.NoError(t, err)
	cl, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", RechokeInterval: time.Minute, Extensions: []peer.Extension{buy}})
	require.NoError(t, err)
	defer cl.Close()
	magnet := "magnet:?xt=urn:btih:" + mi.HashInfoBytes().HexString()
	_, err = cl.AddTorrent(ctx, peer.TorrentSpec{Magnet: magnet, Dir: t.TempDir(), Peers: []netip.AddrPort{seeder.Addr()}})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		figs, err := buy.Peers(ctx)
		return err == nil && len(figs) == 1 && figs[0].Buy.Won
	}, 10*time.Second, 20*time.Millisecond, "the magnet buyer bid and won without waiting for its rechoke")
}
