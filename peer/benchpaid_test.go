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
func paidTransfers(b *testing.B, f *fixture) (setup setupFunc, held *paidFigures) {
	held = new(paidFigures)
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
	seller := &speed.Seller{Payee: payee, Self: seedKey.Address(), Ask: reserve}
	sell, err := speed.New(speed.Config{Domain: dom, Sell: seller})
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
		buyer := &speed.Buyer{Payer: payer, Strategy: bidding.Fixed{Price: btt.NewAmount(2)}, Budget: btt.BTT(1000)}
		buy, err := speed.New(speed.Config{Domain: dom, Buy: buyer})
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
						held.held += pf.Sell.HeldFor
					}
				}
				// The seeder stores the last voucher a little after the
				// leecher sends it: the close waits for the seeder to be
				// paid for all it sold, then counts the vouchers it stored.
				deadline := time.Now().Add(10 * time.Second)
				for {
					var cs *speed.ChannelSales
					for _, c := range sell.Sales() {
						if c.Payer == k.Address() {
							cs = &c
						}
					}
					if cs != nil && !cs.Owed.Gt(cs.Paid) {
						held.vouchers += cs.Vouchers
						break
					}
					if time.Now().After(deadline) {
						b.Fatalf("the seeder was not paid for what it sold: %+v", sell.Sales())
					}
					time.Sleep(100 * time.Microsecond)
				}
				leecher.Close()
				st.Close()
			},
		}
	}
	return setup, held
}

// paidFigures add up what the seeder's figures say of the paid transfers.
type paidFigures struct {
	held     time.Duration // the credit gate held the payer back
	vouchers int           // vouchers stored
}

// reportHeld reports the credit gate's hold and the vouchers stored per
// transfer.
func reportHeld(b *testing.B, held *paidFigures) {
	b.ReportMetric(float64(held.held.Microseconds())/1000/float64(b.N), "held-ms/op")
	b.ReportMetric(float64(held.vouchers)/float64(b.N), "vouchers/op")
}
