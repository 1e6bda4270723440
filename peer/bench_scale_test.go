package peer_test

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/internal/legacy"
	"github.com/bttspeed/bttspeed/internal/transferbench"
	"github.com/bttspeed/bttspeed/peer"
)

// The scale benchmarks measure what a client costs as the number of
// torrents or of connections grows, ours beside a stock anacrolix client in
// the same run. Each side runs in a child process of its own (this test
// binary run again with BTTSPEED_SCALE_CHILD set), so that its resident
// memory is its own:
//
//	go test -run '^$' -bench 'Scale' -benchtime 1x ./peer/
//	BTTSPEED_SCALE_N=100,1000,10000 BTTSPEED_SCALE_IDLE=30s go test -run '^$' -bench 'ScaleTorrents' -benchtime 1x -timeout 1h ./peer/
//
// BTTSPEED_SCALE_N lists the torrent counts (default 100,1000),
// BTTSPEED_SCALE_CONNS the connections (default 500), BTTSPEED_SCALE_IDLE
// the window idle CPU is measured over (default 10s).

// scaleFileSize and scalePieceLen shape each generated torrent: one file
// of two pieces.
const (
	scaleFileSize = 32 << 10
	scalePieceLen = 16 << 10
)

// scaleResult is what a child reports, as one JSON line after "SCALE:".
type scaleResult struct {
	Impl       string  `json:"impl"`
	N          int     `json:"n"`
	StartSec   float64 `json:"start_s"`    // adding every torrent until all are complete
	HeapBase   uint64  `json:"heap_base"`  // Go heap before the client (after GC)
	HeapAfter  uint64  `json:"heap_after"` // Go heap with the torrents or connections (after GC)
	RSSBase    uint64  `json:"rss_base"`
	RSSAfter   uint64  `json:"rss_after"`
	GoBase     int     `json:"go_base"`
	GoAfter    int     `json:"go_after"`
	IdleCPU    float64 `json:"idle_cpu"` // CPU-seconds per second over the window
	IdleWindow float64 `json:"idle_window_s"`
}

func (r scaleResult) perUnit(after, base uint64) float64 {
	if r.N == 0 || after < base {
		return 0
	}
	return float64(after-base) / float64(r.N)
}

func scaleEnvList(name, def string) []int {
	s := os.Getenv(name)
	if s == "" {
		s = def
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

func scaleIdle() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("BTTSPEED_SCALE_IDLE")); err == nil && d > 0 {
		return d
	}
	return 10 * time.Second
}

// scaleMeta returns torrent i's data and metainfo: one file t<i>/f<i>.bin
// of pseudo-random bytes seeded by i, so that every process builds the
// same torrents without reading the disk.
func scaleMeta(i int) ([]byte, *metainfo.MetaInfo) {
	data := make([]byte, scaleFileSize)
	r := rand.NewChaCha8([32]byte{byte(i), byte(i >> 8), byte(i >> 16), byte(i >> 24)})
	_, _ = r.Read(data)
	var pieces []byte
	for off := 0; off < len(data); off += scalePieceLen {
		h := sha1.Sum(data[off:min(off+scalePieceLen, len(data))])
		pieces = append(pieces, h[:]...)
	}
	info := metainfo.Info{Name: fmt.Sprintf("f%d.bin", i), Length: int64(len(data)), PieceLength: scalePieceLen, Pieces: pieces}
	ib, err := bencode.Marshal(info)
	if err != nil {
		panic(err)
	}
	return data, &metainfo.MetaInfo{InfoBytes: ib}
}

func scaleTorrentDir(base string, i int) string { return filepath.Join(base, fmt.Sprintf("t%d", i)) }

func idleCPU(d time.Duration) float64 {
	c0 := transferbench.CPUTime()
	w0 := time.Now()
	time.Sleep(d)
	return (transferbench.CPUTime() - c0).Seconds() / time.Since(w0).Seconds()
}

// runScaleChild runs this test binary as a child in the given mode and
// returns its result; extra lines it prints before go to onLine.
func runScaleChild(b *testing.B, env []string, onLine func(string, *exec.Cmd)) scaleResult {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestScaleChild$", "-test.timeout=1h")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(b, err)
	require.NoError(b, cmd.Start())
	var res *scaleResult
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if js, ok := strings.CutPrefix(line, "SCALE:"); ok {
			var r scaleResult
			require.NoError(b, json.Unmarshal([]byte(js), &r))
			res = &r
		} else if onLine != nil {
			onLine(line, cmd)
		}
	}
	require.NoError(b, cmd.Wait(), "child %v", env)
	require.NotNil(b, res, "child %v reported nothing", env)
	return *res
}

// BenchmarkScaleTorrents seeds N generated torrents (one 32 KiB file of two
// 16 KiB pieces each) from one client, ours and anacrolix's with its bolt
// completion store, each in its own process. The completion store is
// filled first (a run that verifies everything); the measured run starts
// the client on it: start-s is from the first AddTorrent until every
// torrent is complete, without hashing. Then, with no peer, it reports
// the Go heap and RSS per torrent over the process before the client
// (both after GC), goroutines per torrent, and idle CPU (CPU-seconds per
// second of process time over BTTSPEED_SCALE_IDLE).
func BenchmarkScaleTorrents(b *testing.B) {
	for _, n := range scaleEnvList("BTTSPEED_SCALE_N", "100,1000") {
		base := b.TempDir()
		for _, impl := range []string{"ours", "anacrolix"} {
			b.Run(fmt.Sprintf("%s-%d", impl, n), func(b *testing.B) {
				env := []string{"BTTSPEED_SCALE_CHILD=torrents", "BTTSPEED_SCALE_IMPL=" + impl,
					"BTTSPEED_SCALE_COUNT=" + strconv.Itoa(n), "BTTSPEED_SCALE_DIR=" + base}
				runScaleChild(b, append(env, "BTTSPEED_SCALE_FILL=1"), nil)
				var r scaleResult
				for range b.N {
					r = runScaleChild(b, env, nil)
				}
				reportScale(b, r, "torrent")
			})
		}
	}
}

// BenchmarkScaleConns connects BTTSPEED_SCALE_CONNS peers (default 500),
// clients of ours in another process dialing from distinct 127.0.x.y
// addresses and wanting nothing (every file at PiecePriorityNone), to one
// seeder of one torrent, ours and anacrolix's. It reports the seeder's Go
// heap and RSS per connection over the seeder before the peers came, its
// goroutines per connection, and its idle CPU with them all connected.
func BenchmarkScaleConns(b *testing.B) {
	for _, m := range scaleEnvList("BTTSPEED_SCALE_CONNS", "500") {
		for _, impl := range []string{"ours", "anacrolix"} {
			b.Run(fmt.Sprintf("%s-%d", impl, m), func(b *testing.B) {
				base := b.TempDir()
				var r scaleResult
				for range b.N {
					r = runConns(b, impl, m, base)
				}
				reportScale(b, r, "conn")
			})
		}
	}
}

func runConns(b *testing.B, impl string, m int, base string) scaleResult {
	var leech *exec.Cmd
	defer func() {
		if leech != nil {
			_ = leech.Process.Kill()
			_ = leech.Wait()
		}
	}()
	env := []string{"BTTSPEED_SCALE_CHILD=seedconns", "BTTSPEED_SCALE_IMPL=" + impl,
		"BTTSPEED_SCALE_COUNT=" + strconv.Itoa(m), "BTTSPEED_SCALE_DIR=" + base}
	return runScaleChild(b, env, func(line string, _ *exec.Cmd) {
		addr, ok := strings.CutPrefix(line, "ADDR:")
		if !ok || leech != nil {
			return
		}
		leech = exec.Command(os.Args[0], "-test.run=^TestScaleChild$", "-test.timeout=1h")
		leech.Env = append(os.Environ(), "BTTSPEED_SCALE_CHILD=leechconns", "BTTSPEED_SCALE_COUNT="+strconv.Itoa(m),
			"BTTSPEED_SCALE_ADDR="+addr, "BTTSPEED_SCALE_DIR="+base)
		leech.Stderr = os.Stderr
		require.NoError(b, leech.Start())
	})
}

func reportScale(b *testing.B, r scaleResult, unit string) {
	b.ReportMetric(r.perUnit(r.HeapAfter, r.HeapBase)/1024, "heap-KiB/"+unit)
	b.ReportMetric(r.perUnit(r.RSSAfter, r.RSSBase)/1024, "rss-KiB/"+unit)
	b.ReportMetric(float64(r.GoAfter-r.GoBase)/float64(r.N), "goroutines/"+unit)
	b.ReportMetric(r.IdleCPU*100, "idle-%core")
	if unit == "torrent" {
		b.ReportMetric(r.StartSec, "start-s")
	}
	b.Logf("%s n=%d: start %.2fs, heap %d→%d, rss %d→%d, goroutines %d→%d, idle %.2f%% of a core over %.0fs",
		r.Impl, r.N, r.StartSec, r.HeapBase, r.HeapAfter, r.RSSBase, r.RSSAfter, r.GoBase, r.GoAfter, r.IdleCPU*100, r.IdleWindow)
}

// TestScaleChild is the child process of the scale benchmarks; it does
// nothing unless BTTSPEED_SCALE_CHILD is set.
func TestScaleChild(t *testing.T) {
	mode := os.Getenv("BTTSPEED_SCALE_CHILD")
	if mode == "" {
		t.Skip("the scale benchmarks' child process")
	}
	n, err := strconv.Atoi(os.Getenv("BTTSPEED_SCALE_COUNT"))
	require.NoError(t, err)
	base := os.Getenv("BTTSPEED_SCALE_DIR")
	impl := os.Getenv("BTTSPEED_SCALE_IMPL")
	var r scaleResult
	switch mode {
	case "torrents":
		r = scaleTorrentsChild(t, impl, n, base, os.Getenv("BTTSPEED_SCALE_FILL") != "")
	case "seedconns":
		r = scaleSeedConnsChild(t, impl, n, base)
	case "leechconns":
		scaleLeechConnsChild(t, n, base, os.Getenv("BTTSPEED_SCALE_ADDR"))
		return
	default:
		t.Fatalf("unknown mode %q", mode)
	}
	r.Impl, r.N = impl, n
	js, err := json.Marshal(r)
	require.NoError(t, err)
	fmt.Printf("SCALE:%s\n", js)
}

// scaleOursConfig is our seeder's config for the scale benchmark: one
// completion database for the client, as anacrolix's.
func scaleOursConfig(base string) peer.Config {
	return peer.Config{ListenAddr: "127.0.0.1:0", CompletionDir: filepath.Join(base, "ours")}
}

// anacrolixScaleConfig is a stock anacrolix client on loopback storing
// torrent i under base/data/t<i> with a bolt completion store in
// base/anacrolix.
func anacrolixScaleConfig(t testing.TB, base string) *torrent.ClientConfig {
	cfg := legacy.Config(filepath.Join(base, "data"), nil)
	pc, err := storage.NewBoltPieceCompletion(filepath.Join(base, "anacrolix"))
	require.NoError(t, err)
	cfg.DefaultStorage = storage.NewFileOpts(storage.NewFileClientOpts{
		ClientBaseDir: filepath.Join(base, "data"),
		TorrentDirMaker: func(dir string, info *metainfo.Info, _ metainfo.Hash) string {
			return filepath.Join(dir, "t"+strings.TrimSuffix(strings.TrimPrefix(info.Name, "f"), ".bin"))
		},
		PieceCompletion: pc,
	})
	cfg.Seed = true
	return cfg
}

func scaleTorrentsChild(t *testing.T, impl string, n int, base string, fill bool) scaleResult {
	data := filepath.Join(base, "data")
	mis := make([]*metainfo.MetaInfo, n)
	for i := range n {
		buf, mi := scaleMeta(i)
		mis[i] = mi
		if fill {
			p := filepath.Join(scaleTorrentDir(data, i), fmt.Sprintf("f%d.bin", i))
			if _, err := os.Stat(p); err != nil {
				require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
				require.NoError(t, os.WriteFile(p, buf, 0o644))
			}
		}
	}
	var r scaleResult
	r.HeapBase, r.RSSBase, r.GoBase = transferbench.Settled()
	ctx := context.Background()
	if p := os.Getenv("BTTSPEED_SCALE_STARTPROFILE"); p != "" {
		f, err := os.Create(p)
		require.NoError(t, err)
		require.NoError(t, pprof.StartCPUProfile(f))
		defer f.Close()
	}
	start := time.Now()
	switch impl {
	case "ours":
		cl, err := peer.NewClient(scaleOursConfig(base))
		require.NoError(t, err)
		defer cl.Close()
		tors := make([]*peer.Torrent, n)
		for i, mi := range mis {
			tors[i], err = cl.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: scaleTorrentDir(data, i), Verify: fill})
			require.NoError(t, err)
		}
		for _, tor := range tors {
			select {
			case <-tor.Done():
			case <-time.After(time.Minute):
				t.Fatal("a torrent did not complete: its completion was not stored")
			}
		}
	case "anacrolix":
		cl, err := torrent.NewClient(anacrolixScaleConfig(t, base))
		require.NoError(t, err)
		defer cl.Close()
		tors := make([]*torrent.Torrent, n)
		for i, mi := range mis {
			tors[i], err = cl.AddTorrent(mi)
			require.NoError(t, err)
			if fill {
				require.NoError(t, tors[i].VerifyDataContext(ctx))
			}
		}
		for _, tor := range tors {
			select {
			case <-tor.Complete().On():
			case <-time.After(time.Minute):
				t.Fatal("an anacrolix torrent did not complete: its completion was not stored")
			}
		}
	}
	r.StartSec = time.Since(start).Seconds()
	if os.Getenv("BTTSPEED_SCALE_STARTPROFILE") != "" {
		pprof.StopCPUProfile()
	}
	if fill {
		return r
	}
	time.Sleep(2 * time.Second) // let start-up work finish
	r.HeapAfter, r.RSSAfter, r.GoAfter = transferbench.Settled()
	scaleProfile(t)
	w := scaleIdle()
	r.IdleCPU, r.IdleWindow = idleCPU(w), w.Seconds()
	return r
}

// scaleProfile writes a heap profile to $BTTSPEED_SCALE_HEAPPROFILE, if
// set, and starts a CPU profile of the idle window into
// $BTTSPEED_SCALE_CPUPROFILE, stopped when the test ends.
func scaleProfile(t *testing.T) {
	if p := os.Getenv("BTTSPEED_SCALE_HEAPPROFILE"); p != "" {
		f, err := os.Create(p)
		require.NoError(t, err)
		require.NoError(t, pprof.Lookup("heap").WriteTo(f, 0))
		require.NoError(t, f.Close())
	}
	if p := os.Getenv("BTTSPEED_SCALE_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		require.NoError(t, err)
		require.NoError(t, pprof.StartCPUProfile(f))
		t.Cleanup(func() { pprof.StopCPUProfile(); f.Close() })
	}
}

func scaleSeedConnsChild(t *testing.T, impl string, m int, base string) scaleResult {
	data := filepath.Join(base, "data")
	buf, mi := scaleMeta(0)
	p := filepath.Join(scaleTorrentDir(data, 0), "f0.bin")
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, buf, 0o644))
	var r scaleResult
	var peers func() int
	var addr netip.AddrPort
	switch impl {
	case "ours":
		cl, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", MaxConns: m + 100, MaxConnsPerTorrent: m + 100})
		require.NoError(t, err)
		defer cl.Close()
		tor, err := cl.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: mi, Dir: scaleTorrentDir(data, 0), Verify: true})
		require.NoError(t, err)
		addr = cl.Addr()
		peers = func() int {
			st, err := tor.Stats(context.Background())
			require.NoError(t, err)
			return st.Peers
		}
	case "anacrolix":
		cfg := anacrolixScaleConfig(t, base)
		cfg.EstablishedConnsPerTorrent = m + 100
		cl, err := torrent.NewClient(cfg)
		require.NoError(t, err)
		defer cl.Close()
		tor, err := cl.AddTorrent(mi)
		require.NoError(t, err)
		require.NoError(t, tor.VerifyDataContext(context.Background()))
		addr = anacrolixAddr(t, cl)
		peers = func() int { return len(tor.PeerConns()) }
	}
	time.Sleep(time.Second)
	r.HeapBase, r.RSSBase, r.GoBase = transferbench.Settled()
	fmt.Printf("ADDR:%s\n", addr)
	deadline := time.Now().Add(3 * time.Minute)
	for peers() < m {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d peers connected", peers(), m)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // handshakes, bitfields and extension handshakes done
	r.HeapAfter, r.RSSAfter, r.GoAfter = transferbench.Settled()
	scaleProfile(t)
	w := scaleIdle()
	r.IdleCPU, r.IdleWindow = idleCPU(w), w.Seconds()
	require.GreaterOrEqual(t, peers(), m, "peers left while idle")
	return r
}

// scaleLeechConnsChild runs m clients of ours, each dialing addr from its
// own 127.0.x.y and wanting none of the torrent, until it is killed.
func scaleLeechConnsChild(t *testing.T, m int, base, addr string) {
	ap, err := netip.ParseAddrPort(addr)
	require.NoError(t, err)
	_, mi := scaleMeta(0)
	ctx := context.Background()
	for i := range m {
		ip := net.IPv4(127, 0, byte(1+i/250), byte(1+i%250))
		cl, err := peer.NewClient(peer.Config{NoListen: true, DisablePEX: true,
			Dial: func(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
				return d.DialContext(ctx, "tcp", addr.String())
			}})
		require.NoError(t, err)
		defer cl.Close()
		_, err = cl.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: filepath.Join(base, "leech", strconv.Itoa(i)), Peers: []netip.AddrPort{ap},
			FilePriority: func(int, string) peer.PiecePriority { return peer.PiecePriorityNone }})
		require.NoError(t, err)
	}
	time.Sleep(time.Hour) // until killed
}
