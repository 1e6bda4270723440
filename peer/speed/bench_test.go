package speed_test

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/assert"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
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
// with its confidence interval (runPairs): on a shared machine whose speed
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
	size := benchSize(b)
	if cc, err := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control"); err == nil {
		// The figures depend on it: under BBR a pause early in a
		// connection (the credit ramp's first step) costs the paid
		// transfer more than under cubic (docs/DECISIONS.md). Printed
		// as a benchfmt configuration line, as go test prints cpu:.
		fmt.Printf("tcp-congestion-control: %s\n", strings.TrimSpace(string(cc)))
	}
	f := newBenchFixture(b, size)
	b.Run("ours-paid", func(b *testing.B) {
		paid, held := paidTransfers(b, f)
		runTransfers(b, size, paid)
		held.report(b)
	})
	b.Run("paid-vs-ours", func(b *testing.B) {
		// Two seeders at once: the paid one seeds a hard link of the
		// data (same pages, its own completion database).
		paid, held := paidTransfers(b, f.linked(b))
		runPairs(b, size, unpaidTransfers(b, f), paid)
		held.report(b)
	})
}

// benchSize is the torrent size: 256 MiB, or BTTSPEED_BENCH_SIZE (e.g.
// "1GiB", "64MiB", or bytes), as for peer's benchmarks.
func benchSize(b *testing.B) int64 {
	s := os.Getenv("BTTSPEED_BENCH_SIZE")
	if s == "" {
		return 256 << 20
	}
	mult := int64(1)
	if t, ok := strings.CutSuffix(s, "GiB"); ok {
		mult, s = 1<<30, t
	} else if t, ok := strings.CutSuffix(s, "MiB"); ok {
		mult, s = 1<<20, t
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		b.Fatalf("BTTSPEED_BENCH_SIZE=%q: want a size like 1GiB, 256MiB or a byte count", os.Getenv("BTTSPEED_BENCH_SIZE"))
	}
	return n * mult
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

// A transfer is one download set up by a setupFunc: run downloads, from
// adding the torrent to its last piece verified — what a user waits for —
// and close closes the leecher, which for a payer includes its last
// voucher, signed and stored durably. They are timed apart.
type transfer struct {
	run, close func()
}

// setupFunc makes a fresh leecher that will write to dir.
type setupFunc func(dir string) transfer

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
// runTransfers: a fresh leecher of ours, no payments.
func unpaidTransfers(b *testing.B, f benchFixture) setupFunc {
	seeder := seedClient(b, f, peer.Config{ListenAddr: "127.0.0.1:0"})
	return func(dir string) transfer {
		leecher, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0"})
		if err != nil {
			b.Fatal(err)
		}
		return transfer{
			run:   func() { download(b, leecher, f, dir, seeder.Addr()) },
			close: func() { leecher.Close() },
		}
	}
}

// paidTransfers starts a seeder of f selling its slots in the auction and
// returns a setup for runTransfers: a fresh leecher of ours that pays for
// every verified piece through the in-memory escrow, both sides' voucher
// stores in bbolt on the same disk as the data. held adds up, over the
// transfers, how long the seeder's credit gate held the leecher back
// (SellFigures.HeldFor), and the vouchers the seeder stored.
func paidTransfers(b *testing.B, f benchFixture) (setupFunc, *paidFigures) {
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
	return func(dir string) transfer {
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
		return transfer{
			run: func() { download(b, leecher, f, dir, seeder.Addr()) },
			close: func() {
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

// transferTimes is what timeTransfer measured of one transfer: wall the
// download, close the closing after it, cpu and peak both.
type transferTimes struct {
	wall, close, cpu time.Duration
	peak             uint64 // peak Go heap in use
}

// timeTransfer runs one transfer into a fresh directory from a clean
// start (no dirty pages, a collected heap), calling start and stop around
// the download alone.
func timeTransfer(b *testing.B, setup setupFunc, start, stop func()) transferTimes {
	dir, err := os.MkdirTemp(b.TempDir(), "leech")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	tr := setup(dir)
	syscall.Sync() // no dirty pages left from setup or the last run
	runtime.GC()
	h := startHeapSampler()
	c0 := cpuTime()
	t0 := time.Now()
	start()
	tr.run()
	stop()
	wall := time.Since(t0)
	t1 := time.Now()
	tr.close()
	return transferTimes{wall: wall, close: time.Since(t1), cpu: cpuTime() - c0, peak: h.done()}
}

// cpuTime returns the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// heapSampler records the peak of the Go heap in use while it runs: both
// sides share the process, so this bounds the leecher's memory from above.
type heapSampler struct {
	stop chan struct{}
	wg   sync.WaitGroup
	peak uint64
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{stop: make(chan struct{})}
	h.wg.Go(func() {
		var ms runtime.MemStats
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			h.peak = max(h.peak, ms.HeapInuse)
			select {
			case <-t.C:
			case <-h.stop:
				return
			}
		}
	})
	return h
}

func (h *heapSampler) done() uint64 { close(h.stop); h.wg.Wait(); return h.peak }

// runTransfers times b.N transfers.
func runTransfers(b *testing.B, size int64, setup setupFunc) {
	b.SetBytes(size)
	b.ReportAllocs()
	var cpu, closing time.Duration
	var peak uint64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		t := timeTransfer(b, setup, b.StartTimer, b.StopTimer)
		cpu += t.cpu
		closing += t.close
		peak = max(peak, t.peak)
	}
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(closing.Microseconds())/1000/float64(b.N), "close-ms/op")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// runPairs runs b.N pairs of transfers, unpaid and paid back to back (the
// first of a pair alternating), and reports each one's throughput over the
// pairs' totals and paid/ours, the median of the pairs' ratios of paid to
// unpaid throughput, with a 95% confidence interval for that median
// (paid/ours-lo, paid/ours-hi). A pair's two transfers see the same
// machine, but on a shared VM one transfer in ten runs 15% fast or slow
// for reasons of its own: the median of the pairs shrugs those off where a
// ratio of totals does not. The interval narrows with -benchtime: about
// ±2% at 40 pairs. It also reports the mean close of each side.
func runPairs(b *testing.B, size int64, unpaid, paid setupFunc) {
	b.SetBytes(2 * size)
	var tu, tp, cu, cp time.Duration
	ratios := make([]float64, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		setups := [2]setupFunc{unpaid, paid}
		if i%2 == 1 {
			setups[0], setups[1] = setups[1], setups[0]
		}
		var times [2]transferTimes
		for j, setup := range setups {
			times[j] = timeTransfer(b, setup, b.StartTimer, b.StopTimer)
		}
		if i%2 == 1 {
			times[0], times[1] = times[1], times[0]
		}
		tu, tp, cu, cp = tu+times[0].wall, tp+times[1].wall, cu+times[0].close, cp+times[1].close
		ratios = append(ratios, times[0].wall.Seconds()/times[1].wall.Seconds())
	}
	mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(tu), "ours-MB/s")
	b.ReportMetric(mbps(tp), "paid-MB/s")
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(ms(cu), "ours-close-ms")
	b.ReportMetric(ms(cp), "paid-close-ms")
	med, lo, hi := medianCI(ratios)
	b.ReportMetric(med, "paid/ours")
	b.ReportMetric(lo, "paid/ours-lo")
	b.ReportMetric(hi, "paid/ours-hi")
}

// medianCI returns the median of xs and a distribution-free 95%
// confidence interval for it: the order statistics x(j) and x(n+1-j),
// with j the largest rank such that a Binomial(n, 1/2) falls below j
// with probability at most 2.5% (for n < 6, the smallest and largest).
func medianCI(xs []float64) (med, lo, hi float64) {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0, 0, 0
	}
	med = s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	// cdf is P(Binomial(n, 1/2) <= k), summed term by term.
	j, cdf, term := 0, 0.0, math.Pow(0.5, float64(n))
	for k := 0; k < n; k++ {
		cdf += term
		if cdf > 0.025 {
			break
		}
		j = k + 1 // P(X <= k) <= 2.5%: rank k+1 bounds the median
		term *= float64(n-k) / float64(k+1)
	}
	if j == 0 {
		return med, s[0], s[n-1]
	}
	return med, s[j-1], s[n-j]
}

func TestMedianCI(t *testing.T) {
	seq := func(n int) []float64 {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = float64(n - i) // descending: medianCI must sort
		}
		return xs
	}
	for _, tc := range []struct {
		n           int
		med, lo, hi float64
	}{
		{n: 1, med: 1, lo: 1, hi: 1},
		{n: 5, med: 3, lo: 1, hi: 5},   // too few for 95%: the extremes
		{n: 6, med: 3.5, lo: 1, hi: 6}, // P(X=0) = 1/64
		{n: 12, med: 6.5, lo: 3, hi: 10},
		{n: 40, med: 20.5, lo: 14, hi: 27},
	} {
		med, lo, hi := medianCI(seq(tc.n))
		assert.Equal(t, [3]float64{tc.med, tc.lo, tc.hi}, [3]float64{med, lo, hi}, "n=%d", tc.n)
	}
}
