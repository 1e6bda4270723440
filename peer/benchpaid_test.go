package peer_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/paychan/paychantest"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/speed"
)

func benchKey(b *testing.B, n int) *paychan.KeySigner {
	d := make([]byte, 32)
	d[0], d[30], d[31] = 0x31, byte(n>>8), byte(n)
	k, err := crypto.ToECDSA(d)
	if err != nil {
		b.Fatal(err)
	}
	s, err := paychan.NewKeySigner(k)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// paidTransfers starts a seeder of f selling its slots in the auction and
// returns a setup for runTransfers: a fresh leecher of ours that pays for
// every verified piece through the in-memory escrow, both sides' voucher
// stores in bbolt on the same disk as the data. held adds up, over the
// transfers, how long the seeder's credit gate held the leecher back
// (SellFigures.HeldFor).
func paidTransfers(b *testing.B, f *fixture) (setup setupFunc, held *time.Duration) {
	held = new(time.Duration)
	ctx := context.Background()
	dom := paychan.Domain{ChainID: 1, Escrow: btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")}
	chain := paychantest.New(dom, time.Now())
	seedKey := benchKey(b, 1)
	pst, err := paychan.OpenStore(filepath.Join(b.TempDir(), "payee.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pst.Close() })
	payee, err := paychan.NewPayee(ctx, pst, chain.As(seedKey.Address()), paychan.PayeeConfig{Self: seedKey.Address()})
	if err != nil {
		b.Fatal(err)
	}
	reserve := btt.NewAmount(1)
	sell, err := speed.New(speed.Config{Domain: dom, Sell: &speed.Seller{Payee: payee, Self: seedKey.Address(), Ask: reserve}})
	if err != nil {
		b.Fatal(err)
	}
	seeder := newClient(b, func(c *peer.Config) {
		c.Extensions = []peer.Extension{sell}
		c.Policy = func() (choker.Policy, error) { return choker.NewBidDriven(choker.BidDrivenConfig{Reserve: reserve}) }
	})
	tor := seed(b, seeder, f)
	n := 10
	setup = func(dir string) transfer {
		n++
		k := benchKey(b, n)
		chain.Mint(k.Address(), btt.BTT(1000))
		st, err := paychan.OpenStore(filepath.Join(b.TempDir(), "payer.db"))
		if err != nil {
			b.Fatal(err)
		}
		payer, err := paychan.NewPayer(ctx, st, chain.As(k.Address()), k)
		if err != nil {
			b.Fatal(err)
		}
		buy, err := speed.New(speed.Config{Domain: dom, Buy: &speed.Buyer{Payer: payer, Strategy: bidding.Fixed{Price: btt.NewAmount(2)}, Budget: btt.BTT(1000)}})
		if err != nil {
			b.Fatal(err)
		}
		leecher, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", Extensions: []peer.Extension{buy}})
		if err != nil {
			b.Fatal(err)
		}
		var pacing []uint64
		return transfer{
			run:    func() { download(b, leecher, f, dir, seeder.Addr(), func() { pacing = tor.PacingRates() }) },
			pacing: func() []uint64 { return pacing },
			close: func() {
				figs, err := sell.Peers(ctx)
				if err != nil {
					b.Fatal(err)
				}
				for _, pf := range figs {
					if pf.Sell != nil {
						*held += pf.Sell.HeldFor
					}
				}
				leecher.Close()
				st.Close()
			},
		}
	}
	return setup, held
}

// reportHeld reports the credit gate's hold per transfer.
func reportHeld(b *testing.B, held *time.Duration) {
	b.ReportMetric(float64(held.Microseconds())/1000/float64(b.N), "held-ms/op")
}
