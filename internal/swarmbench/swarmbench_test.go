package swarmbench_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/bttspeed/bttspeed/internal/swarmbench"
	"github.com/bttspeed/bttspeed/internal/transferbench"
)

// TestMain fails the package if a swarm leaves a goroutine running.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSwarmTrades: a 2 MiB torrent from one seeder capped at 1 MiB/s to 8
// leechers. Alone the seeder would need 16 s; every leecher completes, and
// the seeder sends far less than 8 copies because the leechers trade. Ours
// sends little more than one copy: a capped seeder declines a piece another
// leecher has or is being sent (peer's first copies), where it sent 2 to
// 2.6 copies before, as every leecher asked it for the same pieces at once.
func TestSwarmTrades(t *testing.T) {
	const size, leechers = 2 << 20, 8
	dir := t.TempDir()
	mi, err := swarmbench.MakeTorrent(filepath.Join(dir, "src"), size, 64<<10)
	require.NoError(t, err)
	for _, impl := range []swarmbench.Impl{swarmbench.Ours, swarmbench.Anacrolix} {
		t.Run(string(impl), func(t *testing.T) {
			res, err := swarmbench.Run(t.Context(), swarmbench.Config{
				Impl: impl, Leechers: leechers, MetaInfo: mi, SeedDir: filepath.Join(dir, "src"), WorkDir: t.TempDir(),
				SeedUploadRate: 1 << 20, Timeout: 2 * time.Minute,
			})
			require.NoError(t, err)
			require.Len(t, res.Done, leechers)
			t.Logf("%s: all %d complete in %v; seeder uploaded %d B (%.2f of %d copies), leechers %d B",
				impl, leechers, res.Elapsed.Round(time.Millisecond), res.SeedUploaded, res.SeedShare(size), leechers, res.LeechUploaded)
			// Every byte a leecher has came from someone: the seeder's
			// and the leechers' uploads cover the leechers' needs.
			assert.GreaterOrEqual(t, res.SeedUploaded+res.LeechUploaded, int64(leechers*size))
			assert.Positive(t, res.LeechUploaded, "the leechers uploaded nothing to one another")
			assert.Less(t, res.SeedShare(size), 0.75, "the seeder sent most of the copies itself: the leechers barely traded")
			if impl == swarmbench.Ours {
				assert.Less(t, res.SeedShare(size)*leechers, 1.5, "the capped seeder sent pieces a leecher could have given")
			}
		})
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  swarmbench.Config
		want string
	}{
		{"no leechers", swarmbench.Config{Impl: swarmbench.Ours}, "0 leechers"},
		{"too many", swarmbench.Config{Impl: swarmbench.Ours, Leechers: swarmbench.MaxLeechers + 1}, "253 leechers"},
		{"no torrent", swarmbench.Config{Impl: swarmbench.Ours, Leechers: 1}, "no torrent"},
		{"unknown client", swarmbench.Config{Impl: "transmission", Leechers: 1, MetaInfo: &metainfo.MetaInfo{}}, `unknown implementation "transmission"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := swarmbench.Run(t.Context(), tc.cfg)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// BenchmarkOneSeederManyLeechers: one seeder, 20 leechers that know each
// other, 256 MiB in 256 KiB pieces, ours and anacrolix everywhere taking
// turns (which goes first alternates). It reports each one's time until
// every leecher is complete, the median leecher's, and the seeder's upload
// as copies of the torrent. SWARMBENCH_SIZE, SWARMBENCH_LEECHERS,
// SWARMBENCH_PIECE and SWARMBENCH_SEED_RATE (bytes/s, 0: no cap) change
// them; SWARMBENCH_DIR puts the data elsewhere than the temporary
// directory (/dev/shm, say, to take the disk out: the leechers write
// 20 × 256 MiB on one machine, past the kernel's dirty-page limits).
//
//	go test -run '^$' -bench OneSeederManyLeechers -benchtime 1x -count 3 ./internal/swarmbench/
func BenchmarkOneSeederManyLeechers(b *testing.B) {
	if testing.Short() {
		b.Skip("moves 20 × 256 MiB twice an iteration")
	}
	size := transferbench.Size(b, "SWARMBENCH_SIZE", 256<<20, 1)
	pieceLen := transferbench.Size(b, "SWARMBENCH_PIECE", 256<<10, 1)
	seedRate := transferbench.Size(b, "SWARMBENCH_SEED_RATE", 0, 0)
	leechers := 20
	if s := os.Getenv("SWARMBENCH_LEECHERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("SWARMBENCH_LEECHERS=%q: %v", s, err)
		}
		leechers = n
	}
	dir := b.TempDir()
	if base := os.Getenv("SWARMBENCH_DIR"); base != "" {
		d, err := os.MkdirTemp(base, "swarmbench")
		require.NoError(b, err)
		b.Cleanup(func() { _ = os.RemoveAll(d) })
		dir = d
	}
	src := filepath.Join(dir, "src")
	mi, err := swarmbench.MakeTorrent(src, size, pieceLen)
	require.NoError(b, err)
	sideBySide(b, swarmbench.Config{Leechers: leechers, MetaInfo: mi, SeedDir: src, WorkDir: dir, SeedUploadRate: seedRate}, size)
}

// BenchmarkCappedSwarm is TestSwarmTrades's swarm side by side: one seeder
// capped at 1 MiB/s, 8 leechers, 2 MiB in 64 KiB pieces, ours and anacrolix
// taking turns (which goes first alternates). The seeder's upload is the
// swarm's bottleneck, so each copy it sends costs 2 s: one copy is the
// least it can send, and the time follows its copies.
//
//	go test -run '^$' -bench CappedSwarm -benchtime 6x ./internal/swarmbench/
func BenchmarkCappedSwarm(b *testing.B) {
	const size, leechers = 2 << 20, 8
	dir := b.TempDir()
	src := filepath.Join(dir, "src")
	mi, err := swarmbench.MakeTorrent(src, size, 64<<10)
	require.NoError(b, err)
	sideBySide(b, swarmbench.Config{Leechers: leechers, MetaInfo: mi, SeedDir: src, WorkDir: dir, SeedUploadRate: 1 << 20, Timeout: 2 * time.Minute}, size)
}

// sideBySide runs the swarm cfg (without its Impl) b.N times with ours and
// with anacrolix, alternating which goes first, and reports the medians of
// each one's time until every leecher is complete, the median leecher's
// time and the seeder's copies of the torrent, and anacrolix's time over
// ours (speedup-vs-anacrolix; the median of the pairs' ratios).
func sideBySide(b *testing.B, cfg swarmbench.Config, size int64) {
	impls := []swarmbench.Impl{swarmbench.Ours, swarmbench.Anacrolix}
	results := map[swarmbench.Impl][]swarmbench.Result{}
	var ratios []float64
	b.ResetTimer()
	for i := range b.N {
		order := impls
		if i%2 == 1 {
			order = []swarmbench.Impl{impls[1], impls[0]}
		}
		pair := map[swarmbench.Impl]swarmbench.Result{}
		for _, impl := range order {
			cfg.Impl = impl
			res, err := swarmbench.Run(context.Background(), cfg)
			require.NoError(b, err)
			b.Logf("%-9s all %d complete in %6.2f s (median leecher %6.2f s); seeder sent %.2f copies, leechers %.2f",
				impl, cfg.Leechers, res.Elapsed.Seconds(), medianDone(res).Seconds(), res.SeedShare(size)*float64(cfg.Leechers),
				float64(res.LeechUploaded)/float64(size))
			results[impl] = append(results[impl], res)
			pair[impl] = res
		}
		ratios = append(ratios, pair[swarmbench.Anacrolix].Elapsed.Seconds()/pair[swarmbench.Ours].Elapsed.Seconds())
	}
	b.StopTimer()
	for _, impl := range impls {
		rs := results[impl]
		b.ReportMetric(median(rs, func(r swarmbench.Result) float64 { return r.Elapsed.Seconds() }), fmt.Sprintf("%s-all-s", impl))
		b.ReportMetric(median(rs, func(r swarmbench.Result) float64 { return medianDone(r).Seconds() }), fmt.Sprintf("%s-median-s", impl))
		b.ReportMetric(median(rs, func(r swarmbench.Result) float64 { return r.SeedShare(size) * float64(cfg.Leechers) }), fmt.Sprintf("%s-seed-copies", impl))
	}
	slices.Sort(ratios)
	b.ReportMetric(medianOf(ratios), "speedup-vs-anacrolix")
}

func medianDone(r swarmbench.Result) time.Duration {
	d := slices.Clone(r.Done)
	slices.Sort(d)
	return d[(len(d)-1)/2]
}

func median(rs []swarmbench.Result, f func(swarmbench.Result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	return medianOf(v)
}

// medianOf returns the median of sorted v.
func medianOf(v []float64) float64 {
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
