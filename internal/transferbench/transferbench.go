// Package transferbench is the harness of the loopback transfer
// benchmarks (peer's and peer/speed's BenchmarkLoopbackTransfer): it
// times one download at a time from a clean start, reports throughput,
// CPU, the peak Go heap and the time to close, and compares two kinds of
// transfer in pairs with a confidence interval for the median ratio.
package transferbench

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Size reads a size from the environment variable name: bytes, or a
// number with a KiB, MiB or GiB suffix; def if it is unset. A bad value,
// or one below least, fails tb.
func Size(tb testing.TB, name string, def, least int64) int64 {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := ParseSize(s)
	if err == nil && n < least {
		err = fmt.Errorf("want at least %d", least)
	}
	if err != nil {
		tb.Fatalf("%s=%q: %v", name, s, err)
	}
	return n
}

// ParseSize parses bytes, or a number with a KiB, MiB or GiB suffix; it
// may be zero.
func ParseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v, ok := strings.CutSuffix(s, u.suf); ok {
			s, mult = v, u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("want a size like 1GiB, 256MiB, 64KiB or a byte count")
	}
	return n * mult, nil
}

// RSS returns the process's resident set size in bytes (0 where
// /proc/self/status cannot be read).
func RSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// Settled returns the Go heap in use after two collections, the RSS and
// the goroutines: a process's cost at rest.
func Settled() (heap, rss uint64, goroutines int) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, RSS(), runtime.NumGoroutine()
}

// PrintCongestionControl prints the machine's TCP congestion control as a
// benchfmt configuration line (as go test prints cpu:), since loopback
// figures depend on it: under BBR a pause early in a connection costs a
// transfer more than under cubic (docs/DECISIONS.md).
func PrintCongestionControl() {
	if cc, err := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control"); err == nil {
		fmt.Printf("tcp-congestion-control: %s\n", strings.TrimSpace(string(cc)))
	}
}

// CPUTime returns the process's user+system CPU time.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// HeapSampler records the peak of the Go heap in use while it runs: both
// sides of a loopback transfer share the process, so this bounds the
// leecher's memory from above.
type HeapSampler struct {
	stop chan struct{}
	wg   sync.WaitGroup
	peak uint64
}

// StartHeapSampler samples the heap every 20 ms until Done.
func StartHeapSampler() *HeapSampler {
	h := &HeapSampler{stop: make(chan struct{})}
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

// Done stops the sampler and returns the peak heap in use, in bytes.
func (h *HeapSampler) Done() uint64 { close(h.stop); h.wg.Wait(); return h.peak }

// A Transfer is one download made by a Setup: Run downloads, from adding
// the torrent to its last piece verified — what a user waits for — and
// Close closes the leecher, which for a payer includes its last voucher,
// signed and stored durably. They are timed apart.
//
// Pacing, if set, returns the kernel's pacing rate of the seeder's
// connections as read during Run.
type Transfer struct {
	Run, Close func()
	Pacing     func() []uint64
}

// Setup makes a fresh leecher that will write to dir.
type Setup func(dir string) Transfer

// Times is what Time measured of one transfer: Wall the download, Close
// the closing after it, CPU and Peak (the Go heap in use) both.
type Times struct {
	Wall, Close, CPU time.Duration
	Peak             uint64
	Pacing           float64 // the seeder's TCP pacing rate, bytes a second; 0 if unknown
}

// Time runs one transfer into a fresh directory from a clean start (no
// dirty pages, a collected heap), calling start and stop around the
// download alone.
func Time(b *testing.B, setup Setup, start, stop func()) Times {
	dir, err := os.MkdirTemp(b.TempDir(), "leech")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	tr := setup(dir)
	syscall.Sync() // no dirty pages left from setup or the last run
	runtime.GC()
	h := StartHeapSampler()
	c0 := CPUTime()
	t0 := time.Now()
	start()
	tr.Run()
	stop()
	wall := time.Since(t0)
	var pacing float64
	if tr.Pacing != nil {
		if rates := tr.Pacing(); len(rates) == 1 {
			pacing = float64(rates[0])
		}
	}
	t1 := time.Now()
	tr.Close()
	return Times{Wall: wall, Close: time.Since(t1), CPU: CPUTime() - c0, Peak: h.Done(), Pacing: pacing}
}

// Run times b.N transfers of size bytes, and reports the CPU per transfer
// (cpu-s/op), the close (close-ms/op) and the peak heap (peak-heap-MiB).
func Run(b *testing.B, size int64, setup Setup) {
	b.SetBytes(size)
	b.ReportAllocs()
	var cpu, closing time.Duration
	var peak uint64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		t := Time(b, setup, b.StartTimer, b.StopTimer)
		cpu += t.CPU
		closing += t.Close
		peak = max(peak, t.Peak)
	}
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(closing.Microseconds())/1000/float64(b.N), "close-ms/op")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// Pairs runs b.N pairs of transfers, base and other back to back (the
// first of a pair alternating), and reports each one's throughput over the
// pairs' totals (names[0]-MB/s, names[1]-MB/s) and names[1]/names[0], the
// median of the pairs' ratios of other's throughput to base's, with a 95%
// confidence interval for that median (-lo, -hi). A pair's two transfers
// see the same machine, but on a shared VM one transfer in ten runs 15%
// fast or slow for reasons of its own: the median of the pairs shrugs
// those off where a ratio of totals does not. The interval narrows with
// -benchtime: about ±2% at 40 pairs here. It also reports the mean close
// of each side, and each side's median pacing rate where known
// (names[i]-pacing-GB/s).
func Pairs(b *testing.B, size int64, names [2]string, base, other Setup) {
	b.SetBytes(2 * size)
	var wall, closing [2]time.Duration
	ratios := make([]float64, 0, b.N)
	var pacing [2][]float64
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		setups := [2]Setup{base, other}
		if i%2 == 1 {
			setups[0], setups[1] = setups[1], setups[0]
		}
		var times [2]Times
		for j, setup := range setups {
			times[j] = Time(b, setup, b.StartTimer, b.StopTimer)
		}
		if i%2 == 1 {
			times[0], times[1] = times[1], times[0]
		}
		for j := range times {
			wall[j] += times[j].Wall
			closing[j] += times[j].Close
			if times[j].Pacing > 0 {
				pacing[j] = append(pacing[j], times[j].Pacing)
			}
		}
		ratios = append(ratios, times[0].Wall.Seconds()/times[1].Wall.Seconds())
	}
	for j, name := range names {
		b.ReportMetric(float64(size)*float64(b.N)/wall[j].Seconds()/1e6, name+"-MB/s")
		b.ReportMetric(float64(closing[j].Microseconds())/1000/float64(b.N), name+"-close-ms")
		if len(pacing[j]) == b.N {
			m, _, _ := MedianCI(pacing[j])
			b.ReportMetric(m/1e9, name+"-pacing-GB/s")
		}
	}
	med, lo, hi := MedianCI(ratios)
	ratio := names[1] + "/" + names[0]
	b.ReportMetric(med, ratio)
	b.ReportMetric(lo, ratio+"-lo")
	b.ReportMetric(hi, ratio+"-hi")
}

// MedianCI returns the median of xs and a distribution-free 95%
// confidence interval for it: the order statistics x(j) and x(n+1-j),
// with j the largest rank such that a Binomial(n, 1/2) falls below j
// with probability at most 2.5% (for n < 6, the smallest and largest).
func MedianCI(xs []float64) (med, lo, hi float64) {
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
