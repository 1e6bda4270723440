package manybench_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/internal/legacy"
	"github.com/bttspeed/bttspeed/internal/transferbench"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/speed"
	"github.com/bttspeed/bttspeed/tron"
)

// The child processes of the many-peers benchmark (manypeers_test.go):
// this test binary run again with BTTSPEED_MANY_CHILD set to "seed" (the
// seeder, whose memory and CPU are measured) or "leech" (every peer, one
// client of ours each). They talk to the parent in lines: the seeder
// prints ADDR:<its address>, then IDLE:<json> once its idle figures are
// taken, reads MARK and END (the measurement window) on its stdin and
// prints SEED:<json>; the peers read GO (the downloaders start), print
// MARK as the window opens and WINDOW:<json> as it closes.

// Seeder kinds.
const (
	kindTitForTat = "ours-titfortat"
	kindRound     = "ours-roundrobin" // choker.RoundRobin, the seed policy
	kindPaid      = "ours-biddriven-paid"
	kindAnacrolix = "anacrolix"
)

// The paid run's prices per byte, in base units: every downloader bids
// the same (fairness among equals), above the seeder's reserve.
var (
	manyReserve = btt.NewAmount(1)
	manyBid     = btt.NewAmount(2)
	manyBudget  = btt.BTT(1000)
)

// manySeedFigures is what the seeder child measures of itself.
type manySeedFigures struct {
	Kind  string `json:"kind"`
	Peers int    `json:"peers"` // connected when the idle figures were taken
	// Go heap, RSS and goroutines before the peers came and with them
	// all connected, both after GC.
	HeapBase, HeapAfter uint64
	RSSBase, RSSAfter   uint64
	GoBase, GoAfter     int
	// IdleCPU is CPU-seconds per second over IdleWindow seconds with
	// every peer connected and none downloading.
	IdleCPU, IdleWindow float64
	// Over the measurement window (Window seconds): the payload
	// uploaded and CPU-seconds per second.
	Uploaded int64
	Window   float64
	BusyCPU  float64
	// The paid run: what the payers' vouchers add up to, how many were
	// stored, the bytes sold in paid slots and the channels.
	Earned   btt.Amount
	Vouchers int
	Sold     int64
	Channels int
}

// manyWindow is what the peers' child measures of the downloaders over
// the window.
type manyWindow struct {
	Bytes   []int64    `json:"bytes"` // each downloader's payload received
	Total   []int64    `json:"total"` // and since it started, warm-up included
	Seconds float64    `json:"seconds"`
	Spent   btt.Amount `json:"spent"` // vouchers signed by the downloaders, since their start
	// CPU is the peers' process's CPU-seconds per second over the
	// window: near the cores it can get, it bounds the upload.
	CPU float64 `json:"cpu"`
}

// manyChildEnv is what the parent tells a child.
type manyChildEnv struct {
	kind, torrentFile, dir, addr string
	peers, downloaders           int
	idle, warmup, window         time.Duration
	rechoke                      time.Duration // our seeder's (0: the default)
	seedRate                     int64
	chain, escrow                string
	keys                         []string
}

func readManyChildEnv(t *testing.T) manyChildEnv {
	atoi := func(k string) int {
		n, err := strconv.Atoi(os.Getenv(k))
		require.NoError(t, err, k)
		return n
	}
	dur := func(k string) time.Duration {
		d, err := time.ParseDuration(os.Getenv(k))
		require.NoError(t, err, k)
		return d
	}
	e := manyChildEnv{
		kind: os.Getenv("BTTSPEED_MANY_KIND"), torrentFile: os.Getenv("BTTSPEED_MANY_TORRENT"),
		dir: os.Getenv("BTTSPEED_MANY_CHILD_DIR"), addr: os.Getenv("BTTSPEED_MANY_ADDR"),
		peers: atoi("BTTSPEED_MANY_PEERS"), downloaders: atoi("BTTSPEED_MANY_DOWNLOADERS"),
		idle: dur("BTTSPEED_MANY_IDLE"), warmup: dur("BTTSPEED_MANY_WARMUP"), window: dur("BTTSPEED_MANY_WINDOW"),
		chain: os.Getenv("BTTSPEED_MANY_CHAIN"), escrow: os.Getenv("BTTSPEED_MANY_ESCROW"),
	}
	if s := os.Getenv("BTTSPEED_MANY_KEYS"); s != "" {
		e.keys = strings.Split(s, ",")
	}
	if s := os.Getenv("BTTSPEED_MANY_RECHOKE"); s != "" {
		e.rechoke = dur("BTTSPEED_MANY_RECHOKE")
	}
	if s := os.Getenv("BTTSPEED_MANY_SEED_RATE"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		require.NoError(t, err, "BTTSPEED_MANY_SEED_RATE")
		e.seedRate = n
	}
	return e
}

// TestManyChild is a child process of the many-peers benchmark; it does
// nothing unless BTTSPEED_MANY_CHILD is set.
func TestManyChild(t *testing.T) {
	mode := os.Getenv("BTTSPEED_MANY_CHILD")
	if mode == "" {
		t.Skip("the many-peers benchmark's child process")
	}
	e := readManyChildEnv(t)
	mi, err := metainfo.LoadFromFile(e.torrentFile)
	require.NoError(t, err)
	switch mode {
	case "seed":
		manySeedChild(t, e, mi)
	case "leech":
		manyLeechChild(t, e, mi)
	default:
		t.Fatalf("unknown mode %q", mode)
	}
}

// manyAccount dials the devnet at e.chain as the hex key.
func manyAccount(ctx context.Context, e manyChildEnv, hexKey string) (*tron.KeySigner, *tron.Escrow, *tron.Client, error) {
	k, err := crypto.HexToECDSA(hexKey)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("key: %w", err)
	}
	key, err := tron.NewKeySigner(k)
	if err != nil {
		return nil, nil, nil, err
	}
	c, err := tron.Dial(ctx, tron.Config{Addr: e.chain, Insecure: true, Signer: key,
		Timeout: 10 * time.Second, ReceiptTimeout: 10 * time.Second, PollInterval: 20 * time.Millisecond})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("dial the devnet as %s: %w", key.Address(), err)
	}
	addr, err := btt.ParseAddress(e.escrow)
	if err != nil {
		c.Close()
		return nil, nil, nil, err
	}
	esc, err := tron.NewEscrow(c, addr)
	if err != nil {
		c.Close()
		return nil, nil, nil, err
	}
	return key, esc, c, nil
}

// manySeeder is one seeder kind running in the seed child.
type manySeeder struct {
	addr     netip.AddrPort
	peers    func() int
	uploaded func() int64
	sell     *speed.Extension // the paid run's
}

func manySeedChild(t *testing.T, e manyChildEnv, mi *metainfo.MetaInfo) {
	ctx := t.Context()
	s := startManySeeder(t, ctx, e, mi)
	f := manySeedFigures{Kind: e.kind}
	time.Sleep(time.Second) // start-up work done
	f.HeapBase, f.RSSBase, f.GoBase = transferbench.Settled()
	fmt.Printf("ADDR:%s\n", s.addr)
	deadline := time.Now().Add(3 * time.Minute)
	for s.peers() < e.peers {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d peers connected", s.peers(), e.peers)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // handshakes, bitfields and extension handshakes done
	f.Peers = s.peers()
	f.HeapAfter, f.RSSAfter, f.GoAfter = transferbench.Settled()
	c0, w0 := transferbench.CPUTime(), time.Now()
	time.Sleep(e.idle)
	f.IdleWindow = time.Since(w0).Seconds()
	f.IdleCPU = (transferbench.CPUTime() - c0).Seconds() / f.IdleWindow
	js, err := json.Marshal(f)
	require.NoError(t, err)
	fmt.Printf("IDLE:%s\n", js)

	// The window: from MARK to END on stdin.
	var u0 int64
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "MARK":
			c0, w0, u0 = transferbench.CPUTime(), time.Now(), s.uploaded()
		case "END":
			require.False(t, w0.IsZero(), "END before MARK")
			// The clocks first: anacrolix's Stats waits for its
			// client's lock, seconds at 500 peers.
			f.Window = time.Since(w0).Seconds()
			f.BusyCPU = (transferbench.CPUTime() - c0).Seconds() / f.Window
			f.Uploaded = s.uploaded() - u0
			if s.sell != nil {
				for _, cs := range s.sell.Sales() {
					f.Earned, err = f.Earned.Add(cs.Paid)
					require.NoError(t, err)
					f.Vouchers += cs.Vouchers
					f.Sold += cs.Sold
					f.Channels++
				}
			}
			js, err := json.Marshal(f)
			require.NoError(t, err)
			fmt.Printf("SEED:%s\n", js)
			return
		}
	}
	t.Fatalf("stdin closed before the window ended: %v", sc.Err())
}

// startManySeeder starts the seeder of e.kind on 127.0.0.1, its data
// verified, closed when t ends.
func startManySeeder(t *testing.T, ctx context.Context, e manyChildEnv, mi *metainfo.MetaInfo) *manySeeder {
	maxConns := e.peers + 100
	if e.kind == kindAnacrolix {
		cfg := legacy.Config(e.dir, nil)
		cfg.Seed = true
		cfg.EstablishedConnsPerTorrent = maxConns
		if e.seedRate > 0 {
			cfg.UploadRateLimiter = rate.NewLimiter(rate.Limit(e.seedRate), 256<<10)
		}
		cl, err := torrent.NewClient(cfg)
		require.NoError(t, err)
		t.Cleanup(func() { cl.Close() })
		tor, err := cl.AddTorrent(mi)
		require.NoError(t, err)
		require.NoError(t, tor.VerifyDataContext(ctx))
		select {
		case <-tor.Complete().On():
		case <-time.After(time.Minute):
			t.Fatalf("anacrolix seeder incomplete after verifying: %d of %d bytes", tor.BytesCompleted(), tor.Length())
		}
		s := &manySeeder{
			peers:    func() int { return len(tor.PeerConns()) },
			uploaded: func() int64 { st := tor.Stats(); return st.BytesWrittenData.Int64() },
		}
		for _, a := range cl.ListenAddrs() {
			if ta, ok := a.(*net.TCPAddr); ok {
				s.addr = ta.AddrPort()
			}
		}
		require.True(t, s.addr.IsValid(), "anacrolix client has no TCP listener")
		return s
	}

	cfg := peer.Config{ListenAddr: "127.0.0.1:0", MaxConns: maxConns, MaxConnsPerTorrent: maxConns, UploadRate: e.seedRate,
		RechokeInterval: e.rechoke}
	s := &manySeeder{}
	switch e.kind {
	case kindTitForTat:
		cfg.Policy = func() (choker.Policy, error) { return choker.NewTitForTat(choker.TitForTatConfig{}) }
	case kindRound:
		cfg.Policy = func() (choker.Policy, error) { return choker.NewRoundRobin(choker.SeedConfig{}) }
	case kindPaid:
		require.NotEmpty(t, e.keys, "the paid seeder needs its key")
		key, esc, c, err := manyAccount(ctx, e, e.keys[0])
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		dom, err := esc.Domain(ctx)
		require.NoError(t, err)
		st, err := paychan.OpenStore(filepath.Join(t.TempDir(), "payee.db"))
		require.NoError(t, err)
		t.Cleanup(func() { st.Close() })
		payee, err := paychan.NewPayee(ctx, st, esc, paychan.PayeeConfig{Self: key.Address()})
		require.NoError(t, err)
		s.sell, err = speed.New(speed.Config{Domain: dom, Sell: &speed.Seller{Payee: payee, Self: key.Address(), Ask: manyReserve}})
		require.NoError(t, err)
		cfg.Extensions = []peer.Extension{s.sell}
		cfg.Policy = s.sell.Policy(choker.BidDrivenConfig{})
	default:
		t.Fatalf("unknown seeder kind %q", e.kind)
	}
	cl, err := peer.NewClient(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { cl.Close() })
	tor, err := cl.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: e.dir, Verify: true})
	require.NoError(t, err)
	select {
	case <-tor.Done():
	case <-time.After(5 * time.Minute):
		t.Fatal("the seeder did not verify its data")
	}
	stats := func() peer.Stats {
		st, err := tor.Stats(ctx)
		require.NoError(t, err)
		return st
	}
	s.addr = cl.Addr()
	s.peers = func() int { return stats().Peers }
	s.uploaded = func() int64 { return stats().Uploaded }
	return s
}

// manyLeechChild runs e.peers clients of ours, each dialing the seeder
// from its own 127.0.x.y and knowing no other peer, all wanting none of
// the torrent; on GO the first e.downloaders want all of it, and the
// window is measured over them. In the paid run they bid manyBid and pay
// for every verified piece over a channel on the devnet. It runs until
// killed.
func manyLeechChild(t *testing.T, e manyChildEnv, mi *metainfo.MetaInfo) {
	ctx := t.Context()
	seeder, err := netip.ParseAddrPort(e.addr)
	require.NoError(t, err)
	paid := e.kind == kindPaid
	var dom paychan.Domain
	if paid {
		require.GreaterOrEqual(t, len(e.keys), e.downloaders, "a key per paying downloader")
	}
	tors := make([]*peer.Torrent, e.peers)
	exts := make([]*speed.Extension, 0, e.downloaders)
	for i := range e.peers {
		ip := net.IPv4(127, 0, byte(1+i/250), byte(1+i%250))
		// A rechoke a second: a buyer bids on its rechoke, and its
		// first bid after it starts wanting the data would otherwise
		// wait up to the default 10 s (see the package's notes).
		cfg := peer.Config{NoListen: true, DisablePEX: true, RechokeInterval: time.Second,
			Dial: func(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
				return d.DialContext(ctx, "tcp", addr.String())
			}}
		dir := filepath.Join(e.dir, strconv.Itoa(i))
		if paid && i < e.downloaders {
			key, esc, c, err := manyAccount(ctx, e, e.keys[i])
			require.NoError(t, err)
			t.Cleanup(func() { c.Close() })
			if i == 0 {
				dom, err = esc.Domain(ctx)
				require.NoError(t, err)
			}
			require.NoError(t, os.MkdirAll(dir, 0o755))
			st, err := paychan.OpenStore(filepath.Join(dir, "payer.db"))
			require.NoError(t, err)
			t.Cleanup(func() { st.Close() })
			payer, err := paychan.NewPayer(ctx, st, esc, key)
			require.NoError(t, err)
			ext, err := speed.New(speed.Config{Domain: dom,
				Buy: &speed.Buyer{Payer: payer, Strategy: bidding.Fixed{Price: manyBid}, Budget: manyBudget}})
			require.NoError(t, err)
			exts = append(exts, ext)
			cfg.Extensions = []peer.Extension{ext}
		}
		cl, err := peer.NewClient(cfg)
		require.NoError(t, err)
		t.Cleanup(func() { cl.Close() })
		// Memory-mapped storage: a sparse file that takes on disk only
		// what is received. The file storage preallocates a wanted
		// file whole (piece/prealloc_linux.go): 50 downloaders of a
		// torrent too large to finish in the window would reserve
		// hundreds of GB.
		tors[i], err = cl.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: dir, Peers: []netip.AddrPort{seeder}, Mmap: true,
			FilePriority: func(int, string) peer.PiecePriority { return peer.PiecePriorityNone }})
		require.NoError(t, err)
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() && sc.Text() != "GO" {
	}
	require.NoError(t, sc.Err())
	if sc.Text() != "GO" {
		// The parent is gone (killed by go test's timeout, say): its
		// end of our stdin closed.
		t.Fatal("stdin closed before GO")
	}
	for _, tor := range tors[:e.downloaders] {
		<-tor.GotInfo() // at once: the metainfo has the info
		for _, f := range tor.Files() {
			f.SetPriority(peer.PiecePriorityNormal)
		}
	}
	// got reads every downloader's count at once: one after the other,
	// each waiting for its busy torrent's loop, the last would be read
	// seconds after the first.
	got := func() []int64 {
		b := make([]int64, e.downloaders)
		errs := make([]error, e.downloaders)
		var wg sync.WaitGroup
		for i, tor := range tors[:e.downloaders] {
			wg.Go(func() {
				st, err := tor.Stats(ctx)
				b[i], errs[i] = st.Downloaded, err
			})
		}
		wg.Wait()
		require.NoError(t, errors.Join(errs...))
		return b
	}
	time.Sleep(e.warmup)
	b0, w0, c0 := got(), time.Now(), transferbench.CPUTime()
	fmt.Println("MARK")
	time.Sleep(e.window)
	b1 := got()
	w := manyWindow{Seconds: time.Since(w0).Seconds(), Bytes: make([]int64, e.downloaders)}
	w.CPU = (transferbench.CPUTime() - c0).Seconds() / w.Seconds
	fmt.Println("END")
	for i := range b1 {
		w.Bytes[i] = b1[i] - b0[i]
	}
	w.Total = b1
	for _, ext := range exts {
		w.Spent, err = w.Spent.Add(ext.Spent())
		require.NoError(t, err)
	}
	js, err := json.Marshal(w)
	require.NoError(t, err)
	fmt.Printf("WINDOW:%s\n", js)
	// Until killed, or until the parent is gone (its end of our stdin
	// closes): a parent killed by go test's timeout would otherwise leave
	// these peers running, 500 connections, for the child's hour.
	_, _ = io.Copy(io.Discard, os.Stdin)
}
