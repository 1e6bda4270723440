package manybench_test

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/internal/manybench"
	"github.com/bttspeed/bttspeed/internal/transferbench"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

// The many-peers benchmark: one seeder with many peers connected, a few
// of them downloading. The seeder runs in a child process of its own (this
// test binary run again, manychild_test.go), so that its memory and CPU
// are its own, and every peer in another: clients of ours, each dialing
// from its own 127.0.x.y and knowing only the seeder (no listener, PEX,
// DHT or tracker), so the seeder is the one source and the fairness
// measured is its own. In the paid run the parent runs TRON's devnet and
// both children reach it over loopback gRPC.

// manyConfig is one many-peers run.
type manyConfig struct {
	peers, downloaders   int
	size, pieceLen       int64
	idle, warmup, window time.Duration
	seedRate             int64         // the seeder's upload cap, bytes/s (0: none)
	rechoke              time.Duration // our seeder's rechoke interval (0: the default, 10 s)
	dir                  string        // the seeder's data
	peersDir             string        // the downloaders' data
}

// manyResult is a seeder's figures and the downloaders' window.
type manyResult struct {
	seed manySeedFigures
	win  manyWindow
}

// perConn is the growth of a figure from before the peers to with them,
// per peer connected.
func (r manyResult) perConn(after, base uint64) float64 {
	if r.seed.Peers == 0 || after < base {
		return 0
	}
	return float64(after-base) / float64(r.seed.Peers)
}

// uploadMBps is the seeder's upload over the window in MB/s, as the
// downloaders received it: the seeder is their one source, and their
// clock and counters are ours, read at once, where anacrolix's seeder
// answers for its counters only when its client's lock is free (seconds
// late at 500 peers).
func (r manyResult) uploadMBps() float64 {
	if r.win.Seconds == 0 {
		return 0
	}
	var sum int64
	for _, n := range r.win.Bytes {
		sum += n
	}
	return float64(sum) / r.win.Seconds / 1e6
}

// seedMBps is the seeder's upload over its own window, by its own count.
func (r manyResult) seedMBps() float64 {
	if r.seed.Window == 0 {
		return 0
	}
	return float64(r.seed.Uploaded) / r.seed.Window / 1e6
}

// manyChain is the devnet of the paid run, and what a child needs to
// reach it: its address, the escrow and the keys (the seeder's first).
type manyChain struct {
	node *devnet.Node
	keys []string
}

func startManyChain(ctx context.Context, accounts int) (*manyChain, error) {
	node, err := devnet.Start(ctx, devnet.Config{Accounts: accounts, Seed: "manybench", DeployContracts: true})
	if err != nil {
		return nil, fmt.Errorf("devnet: %w", err)
	}
	c := &manyChain{node: node}
	for _, k := range node.Keys() {
		c.keys = append(c.keys, hex.EncodeToString(crypto.FromECDSA(k)))
	}
	return c, nil
}

func (c *manyChain) env(keys []string) []string {
	return []string{"BTTSPEED_MANY_CHAIN=" + c.node.Addr(), "BTTSPEED_MANY_ESCROW=" + c.node.Escrow().String(),
		"BTTSPEED_MANY_KEYS=" + strings.Join(keys, ",")}
}

// runMany runs one seeder of kind and the peers, each in a child process,
// and returns what they measured. torrentFile is the torrent and seedDir
// its data.
func runMany(t testing.TB, cfg manyConfig, kind, torrentFile, seedDir string, chain *manyChain) (manyResult, error) {
	leechDir, err := os.MkdirTemp(cfg.peersDir, "peers-")
	if err != nil {
		return manyResult{}, fmt.Errorf("many peers: %w", err)
	}
	defer os.RemoveAll(leechDir)
	common := []string{"BTTSPEED_MANY_KIND=" + kind, "BTTSPEED_MANY_TORRENT=" + torrentFile,
		"BTTSPEED_MANY_PEERS=" + strconv.Itoa(cfg.peers), "BTTSPEED_MANY_DOWNLOADERS=" + strconv.Itoa(cfg.downloaders),
		"BTTSPEED_MANY_IDLE=" + cfg.idle.String(), "BTTSPEED_MANY_WARMUP=" + cfg.warmup.String(),
		"BTTSPEED_MANY_WINDOW=" + cfg.window.String(), "BTTSPEED_MANY_SEED_RATE=" + strconv.FormatInt(cfg.seedRate, 10)}
	if cfg.rechoke > 0 {
		common = append(common, "BTTSPEED_MANY_RECHOKE="+cfg.rechoke.String())
	}
	seedEnv := append(slices.Clone(common), "BTTSPEED_MANY_CHILD=seed", "BTTSPEED_MANY_CHILD_DIR="+seedDir)
	leechEnv := append(slices.Clone(common), "BTTSPEED_MANY_CHILD=leech", "BTTSPEED_MANY_CHILD_DIR="+leechDir)
	if kind == kindPaid {
		seedEnv = append(seedEnv, chain.env(chain.keys[:1])...)
		leechEnv = append(leechEnv, chain.env(chain.keys[1:1+cfg.downloaders])...)
	}

	seed, seedIn, seedOut, err := manyChild(seedEnv)
	if err != nil {
		return manyResult{}, err
	}
	var leech *exec.Cmd
	var leechIn io.WriteCloser
	var wg sync.WaitGroup
	defer func() {
		// The seeder has returned (or failed); the peers run until
		// killed.
		for _, c := range []*exec.Cmd{seed, leech} {
			if c != nil {
				_ = c.Process.Kill()
				_ = c.Wait()
			}
		}
		wg.Wait()
	}()

	var res manyResult
	var winErr error
	sc := bufio.NewScanner(seedOut)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "ADDR:"):
			var out io.Reader
			leech, leechIn, out, err = manyChild(append(leechEnv, "BTTSPEED_MANY_ADDR="+strings.TrimPrefix(line, "ADDR:")))
			if err != nil {
				return manyResult{}, err
			}
			// The peers' lines: MARK and END go on to the seeder.
			wg.Go(func() {
				lsc := bufio.NewScanner(out)
				for lsc.Scan() {
					switch l := lsc.Text(); {
					case l == "MARK" || l == "END":
						_, _ = io.WriteString(seedIn, l+"\n")
					case strings.HasPrefix(l, "WINDOW:"):
						winErr = json.Unmarshal([]byte(strings.TrimPrefix(l, "WINDOW:")), &res.win)
					default: // the test's own output: a failure says why
						fmt.Fprintf(os.Stderr, "%s peers: %s\n", kind, l)
					}
				}
			})
		case strings.HasPrefix(line, "IDLE:"):
			if leechIn == nil {
				return manyResult{}, fmt.Errorf("many peers: %s seeder idle before any peer started", kind)
			}
			if _, err := io.WriteString(leechIn, "GO\n"); err != nil {
				return manyResult{}, fmt.Errorf("many peers: starting the downloaders: %w", err)
			}
		case strings.HasPrefix(line, "SEED:"):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "SEED:")), &res.seed); err != nil {
				return manyResult{}, fmt.Errorf("many peers: %s seeder's figures: %w", kind, err)
			}
		default: // the test's own output: a failure says why
			fmt.Fprintf(os.Stderr, "%s seeder: %s\n", kind, line)
		}
	}
	if err := seed.Wait(); err != nil {
		seed = nil
		return manyResult{}, fmt.Errorf("many peers: %s seeder: %w", kind, err)
	}
	seed = nil
	if leech != nil {
		// The peers printed WINDOW before END reached the seeder, so
		// it is in; killing them ends the reader.
		_ = leech.Process.Kill()
		_ = leech.Wait()
		leech = nil
	}
	wg.Wait()
	if winErr != nil {
		return manyResult{}, fmt.Errorf("many peers: the downloaders' window: %w", winErr)
	}
	if res.seed.Window == 0 || len(res.win.Bytes) != cfg.downloaders {
		return manyResult{}, fmt.Errorf("many peers: %s: the children reported no window (seeder %+v, downloaders %d of %d)",
			kind, res.seed, len(res.win.Bytes), cfg.downloaders)
	}
	return res, nil
}

// manyChild starts this test binary as a child with env.
func manyChild(env []string) (*exec.Cmd, io.WriteCloser, io.Reader, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestManyChild$", "-test.timeout=1h")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("many peers: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("many peers: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, fmt.Errorf("many peers: %w", err)
	}
	return cmd, in, out, nil
}

// manySetup writes the torrent (zeros) and starts the
// devnet if kinds include the paid run.
func manySetup(t testing.TB, cfg manyConfig, kinds []string) (torrentFile, seedDir string, chain *manyChain) {
	seedDir = filepath.Join(cfg.dir, "seed")
	mi, err := manybench.ZeroTorrent(seedDir, cfg.size, cfg.pieceLen)
	require.NoError(t, err)
	torrentFile = filepath.Join(cfg.dir, "zeros.torrent")
	f, err := os.Create(torrentFile)
	require.NoError(t, err)
	require.NoError(t, mi.Write(f))
	require.NoError(t, f.Close())
	if slices.Contains(kinds, kindPaid) {
		chain, err = startManyChain(t.Context(), 1+cfg.downloaders)
		require.NoError(t, err)
		t.Cleanup(func() { chain.node.Close() })
	}
	return torrentFile, seedDir, chain
}

// TestManyPeers runs the benchmark small: 30 peers, 5 of them downloading
// for a few seconds from our seeder, under TitForTat and under BidDriven
// with payments. Every downloader gets data (5 downloaders fit in either
// policy's 5 slots), and in the paid run the seller is paid for it.
// Fairness and throughput are the benchmark's: not asserted here.
func TestManyPeers(t *testing.T) {
	cfg := manyConfig{peers: 30, downloaders: 5, size: 256 << 20, pieceLen: 256 << 10,
		idle: time.Second, warmup: 3 * time.Second, window: 3 * time.Second,
		seedRate: 8 << 20, // keeps the disk written small, and -race keeps up
		// A rechoke a second: a downloader that turned interested
		// just after one gets its slot within the warm-up, not up to
		// 10 s later.
		rechoke: time.Second,
		dir:     t.TempDir()}
	kinds := []string{kindTitForTat, kindPaid}
	torrentFile, seedDir, chain := manySetup(t, cfg, kinds)
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			r, err := runMany(t, cfg, kind, torrentFile, seedDir, chain)
			require.NoError(t, err)
			logMany(t, cfg, r)
			assert.GreaterOrEqual(t, r.seed.Peers, cfg.peers)
			// Received since it started: in a window of seconds, the
			// auction's turns (a payer held at its credit until its
			// voucher is stored, a free slot rotating) can leave one
			// out on a loaded machine.
			require.Len(t, r.win.Total, cfg.downloaders)
			for i, n := range r.win.Total {
				assert.Positive(t, n, "downloader %d received nothing", i)
			}
			assert.Positive(t, r.seed.Uploaded)
			if kind == kindPaid {
				assert.False(t, r.seed.Earned.IsZero(), "the seller earned nothing")
				assert.Positive(t, r.seed.Vouchers)
				assert.Positive(t, r.seed.Sold)
				assert.False(t, r.win.Spent.IsZero(), "the downloaders signed no voucher")
			}
		})
	}
}

func TestJain(t *testing.T) {
	for _, tc := range []struct {
		name string
		xs   []int64
		want float64
	}{
		{"equal", []int64{5, 5, 5, 5}, 1},
		{"one takes all", []int64{0, 0, 9, 0}, 0.25},
		{"half share equally", []int64{3, 3, 0, 0}, 0.5},
		{"one of one", []int64{7}, 1},
		{"uneven", []int64{1, 2, 3}, 36.0 / 42},
		{"large", []int64{1 << 40, 1 << 40}, 1},
		{"empty", nil, 0},
		{"nothing sent", []int64{0, 0}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := manybench.Jain(tc.xs)
			require.NoError(t, err)
			assert.InDelta(t, tc.want, got, 1e-12)
		})
	}
	_, err := manybench.Jain([]int64{1, -1})
	require.ErrorContains(t, err, "amount 1 is negative")
}

func TestZeroTorrent(t *testing.T) {
	dir := t.TempDir()
	mi, err := manybench.ZeroTorrent(dir, 1<<20+5, 256<<10)
	require.NoError(t, err)
	info, err := mi.UnmarshalInfo()
	require.NoError(t, err)
	assert.Equal(t, int64(1<<20+5), info.Length)
	require.Equal(t, 5, info.NumPieces())
	// The pieces verify against the file as written.
	data, err := os.ReadFile(filepath.Join(dir, manybench.ZeroFile))
	require.NoError(t, err)
	require.Len(t, data, 1<<20+5)
	for i := range info.NumPieces() {
		p := info.Piece(i)
		want := sha1.Sum(data[p.Offset() : p.Offset()+p.Length()])
		assert.Equal(t, want[:], info.Pieces[i*sha1.Size:(i+1)*sha1.Size], "piece %d", i)
	}
	for _, bad := range []struct{ size, piece int64 }{{0, 256 << 10}, {1 << 20, 0}, {1 << 20, 1000}} {
		_, err := manybench.ZeroTorrent(dir, bad.size, bad.piece)
		assert.Error(t, err, "%d in %d", bad.size, bad.piece)
	}
}

// BenchmarkManyPeers: one seeder with BTTSPEED_MANY_PEERS peers connected
// (default 500; clients of ours in another process, each from its own
// 127.0.x.y), BTTSPEED_MANY_DOWNLOADERS of them downloading (default 50),
// for each seeder in turn: ours with TitForTat, ours with BidDriven and
// payments (every downloader bids the same and pays per verified piece
// over a channel on the devnet), ours with RoundRobin (the seed policy:
// slots taken in turns), and anacrolix's stock client. It reports
// the seeder's Go heap, RSS and goroutines per connection and its idle CPU
// over BTTSPEED_MANY_IDLE (default 10s) with every peer connected and none
// downloading; then, the downloaders started and BTTSPEED_MANY_WARMUP
// (default 5s) gone, over BTTSPEED_MANY_WINDOW (default 15s): its upload
// (MB/s), its CPU, and Jain's index over what each downloader received.
// The torrent is BTTSPEED_MANY_SIZE of zeros (default 4GiB, written to
// disk once) in 256 KiB pieces, so that no downloader completes in
// the window; the downloaders write what they receive, memory-mapped into
// sparse files, under BTTSPEED_MANY_PEERS_DIR (default the temporary
// directory; /dev/shm takes the disk out): upload × (warm-up + window)
// per seeder, removed after each. BTTSPEED_MANY_RECHOKE sets our
// seeder's rechoke interval (default the engine's, 10 s) and
// BTTSPEED_MANY_SEED_RATE caps the seeder's upload (bytes/s; default
// none).
//
//	go test -run '^$' -bench ManyPeers -benchtime 1x -timeout 1h ./internal/manybench/
func BenchmarkManyPeers(b *testing.B) {
	cfg := manyConfig{
		peers: manyEnvInt(b, "BTTSPEED_MANY_PEERS", 500), downloaders: manyEnvInt(b, "BTTSPEED_MANY_DOWNLOADERS", 50),
		size: transferbench.Size(b, "BTTSPEED_MANY_SIZE", 4<<30, 1), pieceLen: 256 << 10,
		idle: manyEnvDur(b, "BTTSPEED_MANY_IDLE", 10*time.Second), warmup: manyEnvDur(b, "BTTSPEED_MANY_WARMUP", 5*time.Second),
		window: manyEnvDur(b, "BTTSPEED_MANY_WINDOW", 15*time.Second), seedRate: transferbench.Size(b, "BTTSPEED_MANY_SEED_RATE", 0, 0),
		rechoke: manyEnvDurOr0(b, "BTTSPEED_MANY_RECHOKE"),
		dir:     b.TempDir(),
	}
	cfg.peersDir = cfg.dir
	if d := os.Getenv("BTTSPEED_MANY_PEERS_DIR"); d != "" {
		dir, err := os.MkdirTemp(d, "manypeers-")
		require.NoError(b, err)
		b.Cleanup(func() { _ = os.RemoveAll(dir) })
		cfg.peersDir = dir
	}
	if cfg.downloaders > cfg.peers || cfg.peers > 250*250 {
		b.Fatalf("%d downloaders of %d peers: want downloaders ≤ peers ≤ 62500", cfg.downloaders, cfg.peers)
	}
	kinds := []string{kindTitForTat, kindPaid, kindRound, kindAnacrolix}
	torrentFile, seedDir, chain := manySetup(b, cfg, kinds)
	for _, kind := range kinds {
		b.Run(kind, func(b *testing.B) {
			var r manyResult
			for range b.N {
				var err error
				r, err = runMany(b, cfg, kind, torrentFile, seedDir, chain)
				require.NoError(b, err)
			}
			jain, err := manybench.Jain(r.win.Bytes)
			require.NoError(b, err)
			b.ReportMetric(r.perConn(r.seed.RSSAfter, r.seed.RSSBase)/1024, "rss-KiB/conn")
			b.ReportMetric(r.perConn(r.seed.HeapAfter, r.seed.HeapBase)/1024, "heap-KiB/conn")
			b.ReportMetric(float64(r.seed.GoAfter-r.seed.GoBase)/float64(max(r.seed.Peers, 1)), "goroutines/conn")
			b.ReportMetric(r.seed.IdleCPU*100, "idle-%core")
			b.ReportMetric(r.uploadMBps(), "upload-MB/s")
			b.ReportMetric(r.seed.BusyCPU*100, "busy-%core")
			b.ReportMetric(r.win.CPU*100, "peers-%core")
			b.ReportMetric(jain, "jain")
			if kind == kindPaid {
				v, _ := r.seed.Earned.Uint64()
				b.ReportMetric(float64(v), "earned-units")
				b.ReportMetric(float64(r.seed.Vouchers), "vouchers")
			}
			logMany(b, cfg, r)
		})
	}
}

// logMany logs a line of a seeder's figures.
func logMany(t testing.TB, cfg manyConfig, r manyResult) {
	t.Helper()
	jain, _ := manybench.Jain(r.win.Bytes)
	mb := slices.Clone(r.win.Bytes)
	slices.Sort(mb)
	served := 0
	for _, n := range mb {
		if n > 0 {
			served++
		}
	}
	s := r.seed
	line := fmt.Sprintf("%-19s %d peers: rss %.1f KiB/conn (%d→%d), heap %.1f KiB/conn, goroutines %d→%d, idle %.2f%% of a core over %.0fs; "+
		"%d downloading: upload %.1f MB/s received over %.1fs (%.1f MB/s sent by its count over %.1fs, %.0f%% of a core; the peers' process %.0f%%), Jain %.3f, %d of %d served, per downloader %.1f–%.1f MB (median %.1f)",
		s.Kind, s.Peers, r.perConn(s.RSSAfter, s.RSSBase)/1024, s.RSSBase, s.RSSAfter, r.perConn(s.HeapAfter, s.HeapBase)/1024,
		s.GoBase, s.GoAfter, s.IdleCPU*100, s.IdleWindow, cfg.downloaders, r.uploadMBps(), r.win.Seconds, r.seedMBps(), s.Window, s.BusyCPU*100, r.win.CPU*100, jain,
		served, len(mb), float64(mb[0])/1e6, float64(mb[len(mb)-1])/1e6, float64(mb[len(mb)/2])/1e6)
	if s.Kind == kindPaid {
		line += fmt.Sprintf("; paid: %d channels, %d vouchers stored, earned %s BTT for %.1f MB sold, downloaders signed %s BTT",
			s.Channels, s.Vouchers, s.Earned.FormatBTT(), float64(s.Sold)/1e6, r.win.Spent.FormatBTT())
	}
	t.Log(line)
}

func manyEnvInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive count", name, s)
	}
	return n
}

func manyEnvDur(b *testing.B, name string, def time.Duration) time.Duration {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		b.Fatalf("%s=%q: want a positive duration like 20s", name, s)
	}
	return d
}

// manyEnvDurOr0 reads an optional duration: 0 if unset.
func manyEnvDurOr0(b *testing.B, name string) time.Duration {
	if os.Getenv(name) == "" {
		return 0
	}
	return manyEnvDur(b, name, 0)
}
