package speed_test

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/speed"
)

// TestMagnetBuyerBidsOnInfo: a buyer that starts from a magnet link has no
// info when the seeder's handshake comes, so it cannot bid yet; it bids as
// soon as the info arrives, not at its next rechoke (a minute away here),
// and wins the paid slot.
func TestMagnetBuyerBidsOnInfo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := newMarket(t)
		price := btt.NewAmount(2)
		s := m.seller(price, 8<<20, sellerOpts{client: func(c *peer.Config) { c.UploadRate = 1 << 20 }})

		lk := key(t, 2)
		m.chain.Mint(lk.Address(), btt.BTT(1))
		st, _ := m.store("payer.db")
		payer, err := paychan.NewPayer(ctx, st, m.chain.As(lk.Address()), lk)
		require.NoError(t, err)
		buy, err := speed.New(speed.Config{Domain: m.dom, Buy: &speed.Buyer{Payer: payer, Strategy: bidding.Fixed{Price: price}, Budget: btt.BTT(1)}})
		require.NoError(t, err)
		cl, err := peer.NewClient(m.cfg(peer.Config{ListenAddr: "127.0.0.1:0", RechokeInterval: time.Minute, Extensions: []peer.Extension{buy}}))
		require.NoError(t, err)
		defer cl.Close()
		magnet := "magnet:?xt=urn:btih:" + s.mi.HashInfoBytes().HexString()
		_, err = cl.AddTorrent(ctx, peer.TorrentSpec{Magnet: magnet, Dir: t.TempDir(), Peers: []netip.AddrPort{s.client.Addr()}})
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			figs, err := buy.Peers(ctx)
			return err == nil && len(figs) == 1 && figs[0].Buy.Won
		}, 10*time.Second, 20*time.Millisecond, "the magnet buyer bid and won without waiting for its rechoke")
	})
}
