package peer_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/paychan/paychantest"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/speed"
)

// btt_speed over uTP, encrypted: a paying leecher downloads from a seller
// over uTP alone with RC4, and the seller sells in a paid slot and is
// paid — the extension, the credit gate and the choking run unchanged on
// the other transport.
func TestPaidOverUTPEncrypted(t *testing.T) {
	ctx := context.Background()
	key := func(n int) *paychan.KeySigner {
		d := make([]byte, 32)
		d[0], d[31] = 0x42, byte(n)
		k, err := crypto.ToECDSA(d)
		require.NoError(t, err)
		s, err := paychan.NewKeySigner(k)
		require.NoError(t, err)
		return s
	}
	f := newFixture(t, 2<<20+3, 256<<10)
	dom := paychan.Domain{ChainID: 1, Escrow: btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")}
	chain := paychantest.New(dom, time.Now())
	seedKey, buyKey := key(1), key(2)
	chain.Mint(buyKey.Address(), btt.BTT(1000))
	pst, err := paychan.OpenStore(filepath.Join(t.TempDir(), "payee.db"))
	require.NoError(t, err)
	t.Cleanup(func() { pst.Close() })
	payee, err := paychan.NewPayee(ctx, pst, chain.As(seedKey.Address()), paychan.PayeeConfig{Self: seedKey.Address()})
	require.NoError(t, err)
	reserve := btt.NewAmount(1)
	sell, err := speed.New(speed.Config{Domain: dom, Sell: &speed.Seller{Payee: payee, Self: seedKey.Address(), Ask: reserve}})
	require.NoError(t, err)
	overUTP := func(c *peer.Config) { c.Protocols = peer.ProtocolUTP; c.Encryption = peer.EncryptionRequire }
	seeder := newClient(t, func(c *peer.Config) {
		overUTP(c)
		c.Extensions = []peer.Extension{sell}
		c.Policy = func() (choker.Policy, error) { return choker.NewBidDriven(choker.BidDrivenConfig{Reserve: reserve}) }
	})
	seed(t, seeder, f)

	st, err := paychan.OpenStore(filepath.Join(t.TempDir(), "payer.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	payer, err := paychan.NewPayer(ctx, st, chain.As(buyKey.Address()), buyKey)
	require.NoError(t, err)
	buy, err := speed.New(speed.Config{Domain: dom, Buy: &speed.Buyer{Payer: payer, Strategy: bidding.Fixed{Price: btt.NewAmount(2)}, Budget: btt.BTT(1000)}})
	require.NoError(t, err)
	leecher := newClient(t, func(c *peer.Config) { overUTP(c); c.Extensions = []peer.Extension{buy} })
	dir := t.TempDir()
	tor, err := leecher.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{seeder.Addr()}})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		figs, err := sell.Peers(ctx)
		require.NoError(t, err)
		for _, pf := range figs {
			if pf.Sell != nil && pf.Sell.Sold > 0 && !pf.Sell.Paid.IsZero() {
				return true
			}
		}
		return false
	}, 60*time.Second, 5*time.Millisecond, "the seller sold nothing paid for over uTP")
	waitDone(t, tor, 60*time.Second)
	requireSameFile(t, f, dir)
}
