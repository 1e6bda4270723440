// Command loopbench compares our engine with a stock anacrolix/torrent
// client moving one torrent over 127.0.0.1, each side in its own process,
// and prints each leecher's throughput, CPU time and peak resident memory,
// and the ratio.
//
//	go run ./examples/loopbench                 # 256 MiB
//	go run ./examples/loopbench -size 1GiB -runs 3
//	go run ./examples/loopbench -protocols utp -encryption require
//
// -protocols tcp|utp picks the transport of both sides, and -encryption
// (prefer-plain, prefer, require, never) the MSE policy of both: ours
// through peer.Config, anacrolix's through its header-obfuscation policy
// (require is RC4 only on both).
//
// The seeder and leecher are this same program, re-executed with a hidden
// -role flag.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	alog "github.com/anacrolix/log"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/mse"
	"github.com/anacrolix/torrent/storage"

	"github.com/bttspeed/bttspeed/peer"
)

func main() {
	role := flag.String("role", "", "internal: seed or leech (the child processes)")
	impl := flag.String("impl", "", "internal: ours or anacrolix")
	torrentFile := flag.String("torrent", "", "internal: the .torrent")
	dir := flag.String("dir", "", "internal: the data directory")
	peerAddr := flag.String("peer", "", "internal: the seeder's address")
	size := flag.String("size", "256MiB", "torrent size: bytes, or with a KiB, MiB or GiB suffix")
	pieceLen := flag.String("piece", "256KiB", "piece length")
	runs := flag.Int("runs", 3, "transfers per implementation (the median is reported)")
	only := flag.String("only", "", "run only this implementation (ours or anacrolix)")
	flag.StringVar(&opts.protocols, "protocols", "tcp", "transport of both sides: tcp or utp")
	flag.StringVar(&opts.encryption, "encryption", "prefer-plain", "MSE policy of both sides: prefer-plain, prefer, require or never")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: loopbench [-size 256MiB] [-piece 256KiB] [-runs 1] [-only ours|anacrolix] [-protocols tcp|utp] [-encryption prefer-plain|prefer|require|never]\n\n"+
			"Moves one generated torrent over 127.0.0.1 from a seeder process to a leecher process,\n"+
			"with our engine and with a stock anacrolix client, and compares the leechers.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	err := opts.check()
	switch {
	case err != nil:
	case *role == "seed":
		err = runSeed(*impl, *torrentFile, *dir)
	case *role == "leech":
		if path := os.Getenv("LOOPBENCH_CPUPROFILE"); path != "" {
			f, ferr := os.Create(path)
			if ferr == nil {
				_ = pprof.StartCPUProfile(f)
				defer pprof.StopCPUProfile()
			}
		}
		err = runLeech(*impl, *torrentFile, *dir, *peerAddr)
	case *role == "":
		err = runParent(*size, *pieceLen, *runs, *only)
	default:
		err = fmt.Errorf("unknown role %q", *role)
	}
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "loopbench:", err)
		os.Exit(1)
	}
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suf, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(s, suf) {
			s, mult = strings.TrimSuffix(s, suf), m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad size %q: want bytes or a number with KiB, MiB or GiB", s)
	}
	return n * mult, nil
}

type result struct {
	secs, cpu float64
	rssMiB    float64
}

func runParent(sizeFlag, pieceFlag string, runs int, only string) error {
	size, err := parseSize(sizeFlag)
	if err != nil {
		return err
	}
	pl, err := parseSize(pieceFlag)
	if err != nil {
		return err
	}
	if runs < 1 {
		return fmt.Errorf("-runs %d: want at least 1", runs)
	}
	impls := []string{"ours", "anacrolix"}
	if only != "" {
		if only != "ours" && only != "anacrolix" {
			return fmt.Errorf("-only %q: want ours or anacrolix", only)
		}
		impls = []string{only}
	}
	work, err := os.MkdirTemp("", "loopbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Printf("generating %s of random data…\n", sizeFlag)
	src := filepath.Join(work, "src")
	tf, sum, err := makeTorrent(src, size, pl)
	if err != nil {
		return err
	}
	results := map[string]result{}
	for _, impl := range impls {
		var rs []result
		for r := 0; r < runs; r++ {
			// Start each run with no dirty pages left from the last.
			syscall.Sync()
			res, err := transfer(self, impl, tf, src, filepath.Join(work, fmt.Sprintf("%s-%d", impl, r)), sum)
			if err != nil {
				return fmt.Errorf("%s: %w", impl, err)
			}
			fmt.Printf("%-9s run %d: %.2f s, %.1f MB/s, leecher CPU %.2f s, peak RSS %.1f MiB\n", impl, r+1, res.secs, float64(size)/res.secs/1e6, res.cpu, res.rssMiB)
			rs = append(rs, res)
		}
		sort.Slice(rs, func(i, j int) bool { return rs[i].secs < rs[j].secs })
		results[impl] = rs[(len(rs)-1)/2]
	}
	fmt.Printf("\n%-10s %10s %10s %14s %16s\n", "leecher", "seconds", "MB/s", "leecher CPU s", "peak RSS MiB")
	for _, impl := range impls {
		r := results[impl]
		fmt.Printf("%-10s %10.2f %10.1f %14.2f %16.1f\n", impl, r.secs, float64(size)/r.secs/1e6, r.cpu, r.rssMiB)
	}
	if o, a := results["ours"], results["anacrolix"]; o.secs > 0 && a.secs > 0 {
		fmt.Printf("\nthroughput ratio ours/anacrolix: %.2fx\n", a.secs/o.secs)
	}
	return nil
}

// makeTorrent writes size random bytes to dir/payload.bin and its .torrent.
func makeTorrent(dir string, size, pieceLen int64) (string, [32]byte, error) {
	var sum [32]byte
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", sum, err
	}
	path := filepath.Join(dir, "payload.bin")
	f, err := os.Create(path)
	if err != nil {
		return "", sum, err
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, size); err != nil {
		f.Close()
		return "", sum, err
	}
	if err := f.Close(); err != nil {
		return "", sum, err
	}
	h.Sum(sum[:0])
	info := metainfo.Info{PieceLength: pieceLen}
	if err := info.BuildFromFilePath(path); err != nil {
		return "", sum, err
	}
	ib, err := bencode.Marshal(info)
	if err != nil {
		return "", sum, err
	}
	tf := filepath.Join(filepath.Dir(dir), "bench.torrent")
	out, err := os.Create(tf)
	if err != nil {
		return "", sum, err
	}
	defer out.Close()
	return tf, sum, (&metainfo.MetaInfo{InfoBytes: ib}).Write(out)
}

// transfer runs one seeder and one leecher process and measures the
// leecher.
func transfer(self, impl, tf, src, dst string, want [32]byte) (result, error) {
	seed := exec.Command(self, append([]string{"-role", "seed", "-impl", impl, "-torrent", tf, "-dir", src}, opts.args()...)...)
	seed.Stderr = os.Stderr
	out, err := seed.StdoutPipe()
	if err != nil {
		return result{}, err
	}
	if err := seed.Start(); err != nil {
		return result{}, err
	}
	defer func() { _ = seed.Process.Kill(); _ = seed.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return result{}, fmt.Errorf("seeder did not report its address: %w", err)
	}
	addr := strings.TrimSpace(line)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return result{}, err
	}
	leech := exec.Command(self, append([]string{"-role", "leech", "-impl", impl, "-torrent", tf, "-dir", dst, "-peer", addr}, opts.args()...)...)
	leech.Stdout, leech.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	if err := leech.Run(); err != nil {
		return result{}, fmt.Errorf("leecher: %w", err)
	}
	secs := time.Since(start).Seconds()
	ru, _ := leech.ProcessState.SysUsage().(*syscall.Rusage)
	res := result{secs: secs}
	if ru != nil {
		res.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
		res.rssMiB = float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	got, err := fileSum(filepath.Join(dst, "payload.bin"))
	if err != nil {
		return res, err
	}
	if got != want {
		return res, errors.New("the downloaded file differs from the source")
	}
	_ = os.RemoveAll(dst)
	return res, nil
}

func fileSum(path string) ([32]byte, error) {
	var sum [32]byte
	f, err := os.Open(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, err
	}
	h.Sum(sum[:0])
	return sum, nil
}

func anacrolixClient(dir string, seed bool) (*torrent.Client, error) {
	cfg := torrent.NewDefaultClientConfig()
	cfg.ListenHost = torrent.LoopbackListenHost
	cfg.ListenPort = 0
	cfg.NoDHT, cfg.DisablePEX, cfg.DisableTrackers, cfg.DisableUTP, cfg.DisableIPv6 = true, true, true, true, true
	cfg.NoDefaultPortForwarding, cfg.DisableWebtorrent, cfg.DisableWebseeds = true, true, true
	cfg.DisableAcceptRateLimiting = true
	cfg.Seed = seed
	cfg.DataDir = dir
	cfg.DefaultStorage = storage.NewFileOpts(storage.NewFileClientOpts{ClientBaseDir: dir, PieceCompletion: storage.NewMapPieceCompletion()})
	cfg.Logger = alog.Default.WithFilterLevel(alog.Disabled)
	cfg.Slogger = slog.New(slog.DiscardHandler)
	if opts.protocols == "utp" {
		cfg.DisableUTP, cfg.DisableTCP = false, true
	}
	switch opts.encryption {
	case "prefer-plain":
		cfg.HeaderObfuscationPolicy = torrent.HeaderObfuscationPolicy{}
	case "prefer":
		cfg.HeaderObfuscationPolicy = torrent.HeaderObfuscationPolicy{Preferred: true}
	case "require":
		cfg.HeaderObfuscationPolicy = torrent.HeaderObfuscationPolicy{Preferred: true, RequirePreferred: true}
		cfg.CryptoProvides = mse.CryptoMethodRC4
		cfg.CryptoSelector = func(provided mse.CryptoMethod) mse.CryptoMethod { return provided & mse.CryptoMethodRC4 }
	case "never":
		cfg.HeaderObfuscationPolicy = torrent.HeaderObfuscationPolicy{RequirePreferred: true}
	}
	return torrent.NewClient(cfg)
}

func runSeed(impl, tf, dir string) error {
	mi, err := metainfo.LoadFromFile(tf)
	if err != nil {
		return err
	}
	switch impl {
	case "ours":
		cl, err := peer.NewClient(opts.config())
		if err != nil {
			return err
		}
		defer cl.Close()
		if _, err := cl.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: mi, Dir: dir, Verify: true}); err != nil {
			return err
		}
		fmt.Println(cl.Addr())
	case "anacrolix":
		cl, err := anacrolixClient(dir, true)
		if err != nil {
			return err
		}
		defer cl.Close()
		t, err := cl.AddTorrent(mi)
		if err != nil {
			return err
		}
		if err := t.VerifyDataContext(context.Background()); err != nil {
			return err
		}
		addrs := cl.ListenAddrs()
		if len(addrs) == 0 {
			return errors.New("anacrolix client listens on nothing")
		}
		fmt.Println(addrs[0]) // TCP's, or uTP's with TCP off
	default:
		return fmt.Errorf("unknown -impl %q", impl)
	}
	select {} // serve until killed
}

func runLeech(impl, tf, dir, addr string) error {
	mi, err := metainfo.LoadFromFile(tf)
	if err != nil {
		return err
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return err
	}
	switch impl {
	case "ours":
		cl, err := peer.NewClient(opts.config())
		if err != nil {
			return err
		}
		defer cl.Close()
		t, err := cl.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: mi, Dir: dir, Peers: []netip.AddrPort{ap}})
		if err != nil {
			return err
		}
		<-t.Done()
	case "anacrolix":
		cl, err := anacrolixClient(dir, false)
		if err != nil {
			return err
		}
		defer cl.Close()
		t, err := cl.AddTorrent(mi)
		if err != nil {
			return err
		}
		var pa net.Addr = net.TCPAddrFromAddrPort(ap)
		if opts.protocols == "utp" {
			pa = net.UDPAddrFromAddrPort(ap)
		}
		t.AddPeers([]torrent.PeerInfo{{Addr: pa, Trusted: true}})
		<-t.GotInfo()
		t.DownloadAll()
		<-t.Complete().On()
	default:
		return fmt.Errorf("unknown -impl %q", impl)
	}
	return nil
}

// benchOpts are the transport and encryption of both sides (-protocols,
// -encryption), passed on to the child processes.
type benchOpts struct {
	protocols, encryption string
}

var opts benchOpts

func (o benchOpts) check() error {
	if o.protocols != "tcp" && o.protocols != "utp" {
		return fmt.Errorf("-protocols %q: want tcp or utp", o.protocols)
	}
	_, err := peer.ParseEncryption(o.encryption)
	return err
}

func (o benchOpts) args() []string {
	return []string{"-protocols", o.protocols, "-encryption", o.encryption}
}

// config is our client's config for them.
func (o benchOpts) config() peer.Config {
	cfg := peer.Config{ListenAddr: "127.0.0.1:0", Protocols: peer.ProtocolTCP}
	if o.protocols == "utp" {
		cfg.Protocols = peer.ProtocolUTP
	}
	cfg.Encryption, _ = peer.ParseEncryption(o.encryption)
	return cfg
}
