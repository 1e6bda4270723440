package speed_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/internal/transferbench"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/paychan/paychantest"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/speed"
)

// BenchmarkLoopbackTransfer moves one torrent (256 KiB pieces) over
// 127.0.0.1 from a seeder to a fresh leecher with btt_speed payments on:
// the leecher pays for every verified piece through the in-memory escrow,
// both sides' voucher stores in bbolt on the same disk as the data
// (ours-paid). paid-vs-ours runs an unpaid transfer (ours to ours, no
// extension) and a paid one back to back in each iteration, alternating
// which goes first, and reports the median of their ratios of throughput
// with its confidence interval (transferbench.Pairs): on a shared machine whose speed
// drifts, the pairs are what compare fairly. A transfer is timed from
// adding the torrent to its last piece verified; closing the leecher after
// it is timed apart (close-ms/op, ours-close-ms, paid-close-ms): a paying
// leecher's close waits for its last voucher to be stored durably. The
// unpaid engine alone, and anacrolix beside it, are peer's
// BenchmarkLoopbackTransfer.
//
//	go test -run '^$' -bench 'LoopbackTransfer/paid-vs-ours' -benchtime 100x ./peer/speed/
//	BTTSPEED_BENCH_SIZE=1GiB go test -run '^$' -bench LoopbackTransfer ./peer/speed/
func BenchmarkLoopbackTransfer(b *testing.B) {
	size := transferbench.Size(b, "BTTSPEED_BENCH_SIZE", 256<<20, 1)
	transferbench.PrintCongestionControl()
	f := newBenchFixture(b, size)
	b.Run("ours-paid", func(b *testing.B) {
		paid, held := paidTransfers(b, f)
		transferbench.Run(b, size, paid)
		held.report(b)
	})
	b.Run("paid-vs-ours", func(b *testing.B) {
		// Two seeders at once: the paid one seeds a hard link of the
		// data (same pages, its own completion database).
		paid, held := paidTransfers(b, f.linked(b))
		transferbench.Pairs(b, size, [2]string{"ours", "paid"}, unpaidTransfers(b, f), paid)
		held.report(b)
	})
}

// benchFixture is a torrent's data on disk, seeded from dir.
type benchFixture struct {
	dir  string
	mi   *metainfo.MetaInfo
	size int64
}

func newBenchFixture(b *testing.B, size int64) benchFixture {
	dir, mi, _ := fixtureOf(b, size, 256<<10)
	return benchFixture{dir: dir, mi: mi, size: size}
}

// linked returns f with its data hard-linked into a new directory.
func (f benchFixture) linked(b *testing.B) benchFixture {
	g := benchFixture{dir: b.TempDir(), mi: f.mi, size: f.size}
	if err := os.Link(filepath.Join(f.dir, "data.bin"), filepath.Join(g.dir, "data.bin")); err != nil {
		b.Fatal(err)
	}
	return g
}

// seedClient starts a client of cfg seeding f, closed when b ends.
func seedClient(b *testing.B, f benchFixture, cfg peer.Config) *peer.Client {
	cl, err := peer.NewClient(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cl.Close() })
	tor, err := cl.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: f.dir, Verify: true})
	if err != nil {
		b.Fatal(err)
	}
	select {
	case <-tor.Done():
	default:
		b.Fatal("seeder does not have the data")
	}
	return cl
}

// download has leecher download f into dir from the seeder at addr.
func download(b *testing.B, leecher *peer.Client, f benchFixture, dir string, addr netip.AddrPort) {
	tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{addr}})
	if err != nil {
		b.Fatal(err)
	}
	select {
	case <-tor.Done():
	case <-time.After(10 * time.Minute):
		b.Fatal("transfer did not complete")
	}
}

// unpaidTransfers starts a seeder of f and returns a setup for
// transferbench.Run: a fresh leecher of ours, no payments.
func unpaidTransfers(b *testing.B, f benchFixture) transferbench.Setup {
	seeder := seedClient(b, f, peer.Config{ListenAddr: "127.0.0.1:0"})
	return func(dir string) transferbench.Transfer {
		leecher, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0"})
		if err != nil {
			b.Fatal(err)
		}
		return transferbench.Transfer{
			Run:   func() { download(b, leecher, f, dir, seeder.Addr()) },
			Close: func() { leecher.Close() },
		}
	}
}

// paidTransfers starts a seeder of f selling its slots in the auction and
// returns a setup for transferbench.Run: a fresh leecher of ours that pays for
// every verified piece through the in-memory escrow, both sides' voucher
// stores in bbolt on the same disk as the data. held adds up, over the
// transfers, how long the seeder's credit gate held the leecher back
// (SellFigures.HeldFor), and the vouchers the seeder stored.
func paidTransfers(b *testing.B, f benchFixture) (transferbench.Setup, *paidFigures) {
	held := new(paidFigures)
	ctx := context.Background()
	dom := paychan.Domain{ChainID: 1, Escrow: btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")}
	chain := paychantest.New(dom, time.Now())
	seedKey := key(b, 1)
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
	seeder := seedClient(b, f, peer.Config{ListenAddr: "127.0.0.1:0", Extensions: []peer.Extension{sell},
		Policy: func() (choker.Policy, error) { return choker.NewBidDriven(choker.BidDrivenConfig{Reserve: reserve}) }})
	n := byte(10)
	return func(dir string) transferbench.Transfer {
		n++
		k := key(b, n)
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
		return transferbench.Transfer{
			Run: func() { download(b, leecher, f, dir, seeder.Addr()) },
			Close: func() {
				held.add(b, sell, k.Address())
				leecher.Close()
				st.Close()
			},
		}
	}, held
}

// paidFigures add up what the seeder's figures say of the paid transfers.
type paidFigures struct {
	held     time.Duration // the credit gate held the payer back
	vouchers int           // vouchers stored
}

// add adds up the seller's figures of payer's transfer. The seeder stores
// the last voucher a little after the leecher sends it: it waits for the
// seeder to be paid for all it sold, then counts the vouchers it stored.
func (p *paidFigures) add(b *testing.B, sell *speed.Extension, payer btt.Address) {
	figs, err := sell.Peers(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	for _, pf := range figs {
		if pf.Sell != nil {
			p.held += pf.Sell.HeldFor
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var cs *speed.ChannelSales
		for _, c := range sell.Sales() {
			if c.Payer == payer {
				cs = &c
			}
		}
		if cs != nil && !cs.Owed.Gt(cs.Paid) {
			p.vouchers += cs.Vouchers
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("the seeder was not paid for what it sold: %+v", sell.Sales())
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// report reports the credit gate's hold and the vouchers stored per
// transfer.
func (p *paidFigures) report(b *testing.B) {
	b.ReportMetric(float64(p.held.Microseconds())/1000/float64(b.N), "held-ms/op")
	b.ReportMetric(float64(p.vouchers)/float64(b.N), "vouchers/op")
}
