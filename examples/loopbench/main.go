// Command loopbench compares our engine with a stock anacrolix/torrent
// client moving one torrent over 127.0.0.1, each side in its own process,
// and prints, for each, the throughput, the leecher's user and system CPU
// apart (and per GiB), its peak resident memory, and the seeder's CPU
// during the transfer; the median of -runs transfers, the implementations
// taking turns.
//
//	go run ./examples/loopbench                 # 256 MiB
//	go run ./examples/loopbench -size 1GiB -piece 1MiB -runs 5
//	go run ./examples/loopbench -size 1GiB -example   # also examples/leecher
//	go run ./examples/loopbench -size 1GiB -only ours -profile /tmp/prof [-perf]
//	go run ./examples/loopbench -size 1GiB -only old,new -bin old=/tmp/leecher-old -bin new=/tmp/leecher-new
//	go run ./examples/loopbench -protocols utp -encryption require
//
// -protocols tcp|utp picks the transport of both sides, and -encryption
// (prefer-plain, prefer, require, never) the MSE policy of both: ours
// through peer.Config, anacrolix's through its header-obfuscation policy
// (require is RC4 only on both).
//
// The seeder and leecher are this same program, re-executed with a hidden
// -role flag; our leecher there runs the engine with examples/leecher's
// config (TCP, no payments). -example adds a third row, "example": our
// seeder and the examples/leecher command itself (built with go build),
// whose CPU profile -profile asks for with its -cpuprofile flag. -bin
// NAME=PATH adds a row of another examples/leecher binary (to compare
// builds of it in one run, taking turns; not profiled).
//
// -profile DIR makes each leecher and seeder child write a Go CPU profile
// there (leech-IMPL-RUN.pprof, seed-IMPL-RUN.pprof; the seeder's covers
// its whole life, hashing its data included); -perf also runs each
// leecher under `perf record -g` (leech-IMPL-RUN.perf.data), whose kernel
// stacks say where the system time goes. Under -perf the leecher's CPU
// and RSS include perf's own.
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	alog "github.com/anacrolix/log"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/mse"
	"github.com/anacrolix/torrent/storage"

	"github.com/bttspeed/bttspeed/peer"
)

// profileEnv names the file a child writes its CPU profile to.
const profileEnv = "LOOPBENCH_CPUPROFILE"

func main() {
	role := flag.String("role", "", "internal: seed or leech (the child processes)")
	impl := flag.String("impl", "", "internal: ours or anacrolix")
	torrentFile := flag.String("torrent", "", "internal: the .torrent")
	dir := flag.String("dir", "", "internal: the data directory")
	peerAddr := flag.String("peer", "", "internal: the seeder's address")
	var p params
	flag.StringVar(&p.size, "size", "256MiB", "torrent size: bytes, or with a KiB, MiB or GiB suffix")
	flag.StringVar(&p.piece, "piece", "256KiB", "piece length")
	flag.IntVar(&p.runs, "runs", 3, "transfers per implementation (medians are reported)")
	flag.StringVar(&p.only, "only", "", "run only these rows, comma-separated: ours, anacrolix, example or a -bin NAME")
	flag.BoolVar(&p.example, "example", false, "also run examples/leecher (built with go build) against our seeder")
	flag.StringVar(&p.profile, "profile", "", "directory for the children's CPU profiles (leech-IMPL-RUN.pprof, seed-IMPL-RUN.pprof)")
	flag.BoolVar(&p.perf, "perf", false, "with -profile: run each leecher under perf record -g too (Linux perf; leech-IMPL-RUN.perf.data)")
	flag.Var(&p.bins, "bin", "NAME=PATH: also run this examples/leecher binary (or a script exec'ing one) against our seeder, as row NAME (repeatable; to compare builds, taking turns)")
	flag.StringVar(&opts.protocols, "protocols", "tcp", "transport of both sides: tcp or utp")
	flag.StringVar(&opts.encryption, "encryption", "prefer-plain", "MSE policy of both sides: prefer-plain, prefer, require or never")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: loopbench [-size 256MiB] [-piece 256KiB] [-runs 3] [-only ROW,...] [-example] [-bin NAME=PATH]... [-profile DIR [-perf]] [-protocols tcp|utp] [-encryption prefer-plain|prefer|require|never]\n\n"+
			"Moves one generated torrent over 127.0.0.1 from a seeder process to a leecher process,\n"+
			"with our engine and with a stock anacrolix client, and compares the leechers.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	err := opts.check()
	switch {
	case err != nil:
	case *role == "seed":
		err = profiled(func() error { return runSeed(*impl, *torrentFile, *dir) })
	case *role == "leech":
		err = profiled(func() error { return runLeech(*impl, *torrentFile, *dir, *peerAddr) })
	case *role == "":
		err = runParent(p)
	default:
		err = fmt.Errorf("unknown role %q", *role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loopbench:", err)
		os.Exit(1)
	}
}

// profiled runs f, writing a CPU profile of it to $LOOPBENCH_CPUPROFILE
// if that is set.
func profiled(f func() error) error {
	path := os.Getenv(profileEnv)
	if path == "" {
		return f()
	}
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	defer out.Close()
	if err := pprof.StartCPUProfile(out); err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	err = f()
	pprof.StopCPUProfile()
	return err
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
		t, err := cl.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: mi, Dir: dir, Verify: true})
		if err != nil {
			return err
		}
		// Report the address once hashed, so that the parent's figures
		// of the seeder's CPU are the transfer's alone.
		select {
		case <-t.Done():
		case <-time.After(10 * time.Minute):
			return errors.New("our seeder did not finish hashing its data in 10 minutes")
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
	// Serve until the parent's SIGTERM (SIGKILL if it must).
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	<-ctx.Done()
	return nil
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
