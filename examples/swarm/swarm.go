package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bttspeed/bttspeed/internal/legacy"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/examples/internal/chain"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/speed"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

// Limits of a Config.
const (
	minSize     = 64 << 10
	maxSize     = 4 << 30
	maxLeechers = 16
	maxLegacy   = 16
	maxSlots    = 64
	bytesPerMB  = 1_000_000
)

// LeecherSpec is one paying leecher: its strategy (one of strategyNames)
// and its budget, which is also its channel's deposit.
type LeecherSpec struct {
	Strategy string
	Budget   btt.Amount
}

// Config is one run of the swarm.
type Config struct {
	// Size is the generated file's size in bytes.
	Size int64
	// Leechers are the paying leechers; Legacy the number of stock
	// anacrolix clients.
	Leechers []LeecherSpec
	Legacy   int
	// Reserve is the seeder's reserve price and FixedPrice the fixed
	// strategy's bid, per byte in base units.
	Reserve, FixedPrice btt.Amount
	// RedeemThreshold makes the seeder claim a channel while the swarm
	// runs once it holds that much unredeemed (zero: only at the end).
	RedeemThreshold btt.Amount
	// UploadRate caps the seeder's upload in bytes per second (zero: no
	// cap).
	UploadRate int64
	// Slots is the seeder's upload slots, one of them free.
	Slots int
	// Seed makes the file's bytes, the devnet's keys and the choker's
	// draws.
	Seed uint64
	// Plot is where the progress plot goes (.png or .svg; empty: none).
	Plot string
	// Quiet turns off the progress display.
	Quiet bool
	// Chain is the chain the channels are on: ChainTRON (TRON's devnet,
	// the default when empty) or ChainBTTC (a BTTC dev chain).
	Chain string
	// Timeout bounds the whole run.
	Timeout time.Duration
	// Logger receives the logs (nil: none).
	Logger *slog.Logger
}

// validate checks a Config; errors name what is wrong.
func (c *Config) validate() error {
	var errs []error
	if c.Size < minSize || c.Size > maxSize {
		errs = append(errs, fmt.Errorf("size %d bytes: want %d KiB to %d GiB", c.Size, minSize>>10, maxSize>>30))
	}
	if len(c.Leechers) > maxLeechers {
		errs = append(errs, fmt.Errorf("%d paying leechers: at most %d", len(c.Leechers), maxLeechers))
	}
	if c.Legacy < 0 || c.Legacy > maxLegacy {
		errs = append(errs, fmt.Errorf("-legacy %d: want 0 to %d", c.Legacy, maxLegacy))
	}
	if len(c.Leechers)+c.Legacy == 0 {
		errs = append(errs, errors.New("no leechers: give at least one paying (-leechers, -strategies) or legacy (-legacy) leecher"))
	}
	for i, l := range c.Leechers {
		if !knownStrategy(l.Strategy) {
			errs = append(errs, fmt.Errorf("leecher %d: unknown strategy %q (want one of %s)", i+1, l.Strategy, strings.Join(strategyNames, ", ")))
		}
		if l.Budget.IsZero() || l.Budget.Gt(devnet.DefaultTokenMint) {
			errs = append(errs, fmt.Errorf("leecher %d: budget %s BTT: want above zero and at most the %s BTT each devnet account holds",
				i+1, l.Budget.FormatBTT(), devnet.DefaultTokenMint.FormatBTT()))
		}
	}
	if c.Reserve.IsZero() {
		errs = append(errs, errors.New("reserve price: must be above zero"))
	}
	if c.FixedPrice.IsZero() {
		errs = append(errs, errors.New("fixed price: must be above zero"))
	}
	if c.UploadRate < 0 {
		errs = append(errs, fmt.Errorf("upload rate %d: must not be negative", c.UploadRate))
	}
	if c.Slots < 2 || c.Slots > maxSlots {
		errs = append(errs, fmt.Errorf("-slots %d: want 2 to %d (one free, the rest auctioned)", c.Slots, maxSlots))
	}
	if c.Plot != "" {
		switch strings.ToLower(filepath.Ext(c.Plot)) {
		case ".png", ".svg":
		default:
			errs = append(errs, fmt.Errorf("-plot %q: want a .png or .svg file", c.Plot))
		}
	}
	if c.Chain != "" && c.Chain != ChainTRON && c.Chain != ChainBTTC {
		errs = append(errs, fmt.Errorf("-chain %q: want %s or %s", c.Chain, ChainTRON, ChainBTTC))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("-timeout %v: must be positive", c.Timeout))
	}
	return errors.Join(errs...)
}

// run runs the swarm and returns nil only if every check passed.
func run(ctx context.Context, cfg Config, stdout io.Writer) error {
	_, err := runSwarm(ctx, cfg, stdout)
	return err
}

// swarm is one run: the devnet, the seeder, the leechers, and what must
// be closed, in reverse order.
type swarm struct {
	cfg Config
	log *slog.Logger
	out io.Writer
	tmp string

	closers []func()

	net chainNet
	dom paychan.Domain

	name     string // the file's name
	mi       *metainfo.MetaInfo
	pieceLen int64
	sum      [32]byte

	seeder   *seeder
	leechers []*leecher
	start    time.Time
}

func (s *swarm) onClose(f func()) { s.closers = append(s.closers, f) }

func (s *swarm) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// seeder is the selling side.
type seeder struct {
	key    paychan.Signer
	escrow chain.Escrow
	store  *paychan.Store
	payee  *paychan.Payee
	seller *speed.Extension // the selling extension, for its figures
	cl     *peer.Client
	start  btt.Amount // token balance before the run

	stopRedeemer func()
	claims       atomic.Int64 // redemptions while the swarm ran
	redeemed     btt.Amount   // by the Redeemer (guarded by mu)
	mu           sync.Mutex
}

// leecher is a paying leecher of ours or a legacy anacrolix client.
type leecher struct {
	name, strategy string
	budget         btt.Amount
	dir            string

	// Ours.
	key    paychan.Signer
	escrow chain.Escrow
	payer  *paychan.Payer
	ext    *speed.Extension
	cl     *peer.Client
	tor    *peer.Torrent
	start  btt.Amount // token balance before the run

	// Legacy.
	acl *torrent.Client
	at  *torrent.Torrent

	mu       sync.Mutex
	took     time.Duration // 0 until complete
	firstBid btt.Amount    // the first bid seen
	bid      btt.Amount    // the last bid seen while downloading
	clearing btt.Amount    // the last clearing price awarded
	won      bool
	spent    btt.Amount
	samples  []sample
}

type sample struct {
	at    time.Duration // since the start
	bytes int64
}

func (l *leecher) paying() bool { return l.payer != nil }

func runSwarm(ctx context.Context, cfg Config, stdout io.Writer) (*report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	s := &swarm{cfg: cfg, log: log, out: stdout}
	defer s.close()

	tmp, err := os.MkdirTemp("", "bttspeed-swarm-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	s.tmp = tmp
	s.onClose(func() {
		if err := os.RemoveAll(tmp); err != nil {
			log.Warn("removing the temp dir", "dir", tmp, "err", err)
		}
	})

	if err := s.startChain(ctx); err != nil {
		return nil, interrupted(ctx, err)
	}
	if err := s.makeTorrent(); err != nil {
		return nil, interrupted(ctx, err)
	}
	if err := s.startSeeder(ctx); err != nil {
		return nil, interrupted(ctx, err)
	}
	if err := s.startLeechers(ctx); err != nil {
		return nil, interrupted(ctx, err)
	}
	if err := s.watch(ctx); err != nil {
		return nil, interrupted(ctx, err)
	}
	rep, err := s.settle(ctx)
	if err != nil {
		return nil, interrupted(ctx, err)
	}
	rep.write(s.out)
	if cfg.Plot != "" {
		if err := s.writePlot(cfg.Plot); err != nil {
			rep.failures = append(rep.failures, err.Error())
		} else {
			fmt.Fprintf(s.out, "plot: %s\n", cfg.Plot)
		}
	}
	if len(rep.failures) > 0 {
		for _, f := range rep.failures {
			fmt.Fprintln(s.out, "FAIL:", f)
		}
		return rep, fmt.Errorf("%d check(s) failed: %s", len(rep.failures), strings.Join(rep.failures, "; "))
	}
	fmt.Fprintln(s.out, "OK: every download is byte-identical to the source and every balance on the chain adds up")
	return rep, nil
}

// interrupted says so when the run was cut short by its context.
func interrupted(ctx context.Context, err error) error {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, context.DeadlineExceeded):
		return fmt.Errorf("timed out (-timeout): %w", err)
	case cause != nil:
		return fmt.Errorf("interrupted: %w", err)
	}
	return err
}

// startChain starts the chain (-chain) with the token and escrow
// deployed, one funded key for the seeder and one per paying leecher.
func (s *swarm) startChain(ctx context.Context) error {
	accounts, seed := 1+len(s.cfg.Leechers), fmt.Sprintf("examples/swarm/%d", s.cfg.Seed)
	var err error
	switch s.cfg.Chain {
	case ChainBTTC:
		s.net, err = startBTTC(ctx, accounts, seed)
	default:
		s.net, err = startTRON(ctx, accounts, seed)
	}
	if err != nil {
		return err
	}
	s.onClose(s.net.close)
	held, err := s.net.balanceOf(ctx, s.net.Token(), s.net.Escrow())
	if err != nil {
		return fmt.Errorf("escrow balance: %w", err)
	}
	if !held.IsZero() {
		return fmt.Errorf("the escrow holds %s BTT before the swarm starts", held.FormatBTT())
	}
	fmt.Fprintln(s.out, s.net.describe())
	return nil
}

// challengePeriod is the escrow's: how long a payer's early close waits
// for the payee.
const challengePeriod = time.Minute

// account dials the chain as key i and returns its escrow and token
// balance.
func (s *swarm) account(ctx context.Context, i int) (paychan.Signer, chain.Escrow, btt.Amount, error) {
	key, esc, err := s.net.account(ctx, i)
	if err != nil {
		return nil, nil, btt.Zero, err
	}
	bal, err := s.net.balanceOf(ctx, s.net.Token(), key.Address())
	if err != nil {
		return nil, nil, btt.Zero, fmt.Errorf("balance of %s: %w", key.Address(), err)
	}
	return key, esc, bal, nil
}

// makeTorrent writes the file (bytes from the seed) and builds its
// torrent.
func (s *swarm) makeTorrent() error {
	dir := filepath.Join(s.tmp, "seeder")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	s.name = fmt.Sprintf("swarm-%d.bin", s.cfg.Seed)
	path := filepath.Join(dir, s.name)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], s.cfg.Seed)
	src := rand.NewChaCha8(key)
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	if _, err := io.CopyN(w, src, s.cfg.Size); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	h.Sum(s.sum[:0])

	// About 256 pieces, 64 KiB to 1 MiB each.
	s.pieceLen = 64 << 10
	for s.pieceLen < 1<<20 && s.cfg.Size/s.pieceLen > 256 {
		s.pieceLen *= 2
	}
	info := metainfo.Info{PieceLength: s.pieceLen}
	if err := info.BuildFromFilePath(path); err != nil {
		return fmt.Errorf("hash %s: %w", path, err)
	}
	ib, err := bencode.Marshal(info)
	if err != nil {
		return err
	}
	s.mi = &metainfo.MetaInfo{InfoBytes: ib}
	fmt.Fprintf(s.out, "torrent: %s, %s in %d pieces of %d KiB, info hash %s\n",
		s.name, mib(s.cfg.Size), info.NumPieces(), s.pieceLen>>10, s.mi.HashInfoBytes().HexString())
	return nil
}

// startSeeder starts the seeder: a payee over a bbolt store, the
// btt_speed seller, the auction as its choking policy, an upload cap, and
// a Redeemer that claims channels worth the threshold while it runs.
func (s *swarm) startSeeder(ctx context.Context) error {
	key, esc, bal, err := s.account(ctx, 0)
	if err != nil {
		return fmt.Errorf("seeder: %w", err)
	}
	sd := &seeder{key: key, escrow: esc, start: bal}
	s.seeder = sd
	if s.dom, err = esc.Domain(ctx); err != nil {
		return fmt.Errorf("seeder: escrow domain: %w", err)
	}
	sd.store, err = paychan.OpenStore(filepath.Join(s.tmp, "seeder-payee.db"))
	if err != nil {
		return fmt.Errorf("seeder: %w", err)
	}
	s.onClose(func() { _ = sd.store.Close() })
	sd.payee, err = paychan.NewPayee(ctx, sd.store, esc, paychan.PayeeConfig{Self: key.Address(), RedeemThreshold: s.cfg.RedeemThreshold})
	if err != nil {
		return fmt.Errorf("seeder: %w", err)
	}
	log := s.log.With("peer", "seeder")
	ext, err := speed.New(speed.Config{Domain: s.dom, Sell: &speed.Seller{Payee: sd.payee, Self: key.Address(), Ask: s.cfg.Reserve}, Logger: log})
	if err != nil {
		return fmt.Errorf("seeder: %w", err)
	}
	sd.seller = ext
	rnd := rand.New(rand.NewPCG(s.cfg.Seed, 0x5eed))
	sd.cl, err = peer.NewClient(peer.Config{
		ListenAddr: "127.0.0.1:0", Logger: log, Extensions: []peer.Extension{ext},
		UploadRate: s.cfg.UploadRate, RechokeInterval: time.Second,
		Policy: ext.Policy(choker.BidDrivenConfig{
			Slots: s.cfg.Slots, FreePercent: 100 / s.cfg.Slots, RotationPeriod: 3 * time.Second, Rand: rnd,
		}),
	})
	if err != nil {
		return fmt.Errorf("seeder: %w", err)
	}
	s.onClose(func() { _ = sd.cl.Close() })
	if _, err := sd.cl.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: s.mi, Dir: filepath.Join(s.tmp, "seeder"), Verify: true}); err != nil {
		return fmt.Errorf("seeder: %w", err)
	}

	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	r := &paychan.Redeemer{Payee: sd.payee, Interval: time.Second, Report: func(id paychan.ChannelID, got btt.Amount, err error) {
		if err != nil {
			s.log.Warn("redeeming a channel", "channel", fmt.Sprintf("%x", id[:8]), "err", err)
			return
		}
		sd.claims.Add(1)
		sd.mu.Lock()
		sd.redeemed, _ = sd.redeemed.Add(got)
		sd.mu.Unlock()
		s.log.Info("claimed on chain", "channel", fmt.Sprintf("%x", id[:8]), "amount", got.FormatBTT())
	}}
	go func() {
		defer close(done)
		_ = r.Run(rctx)
	}()
	var once sync.Once
	sd.stopRedeemer = func() { once.Do(func() { stop(); <-done }) }
	s.onClose(sd.stopRedeemer)

	rate := "no upload cap"
	if s.cfg.UploadRate > 0 {
		rate = fmt.Sprintf("upload capped at %s/s", mib(s.cfg.UploadRate))
	}
	fmt.Fprintf(s.out, "seeder %s on %s: %d paid slots and 1 free, reserve %s BTT/MB, %s\n",
		s.net.addr(key.Address()), sd.cl.Addr(), s.cfg.Slots-1, perMB(s.cfg.Reserve), rate)
	return nil
}

// startLeechers sets up every leecher, then adds the torrent to all of
// them at once: the start of the clock.
func (s *swarm) startLeechers(ctx context.Context) error {
	for i, spec := range s.cfg.Leechers {
		l, err := s.newPayer(ctx, i, spec)
		if err != nil {
			return err
		}
		s.leechers = append(s.leechers, l)
	}
	for i := range s.cfg.Legacy {
		s.leechers = append(s.leechers, &leecher{name: fmt.Sprintf("legacy-%d", i+1), strategy: "legacy", dir: filepath.Join(s.tmp, fmt.Sprintf("legacy-%d", i+1))})
	}

	// The paced strategy aims to finish within 60% of the time the swarm
	// takes with the seeder's upload shared evenly.
	var pace time.Duration
	if s.cfg.UploadRate > 0 {
		total := float64(s.cfg.Size) * float64(len(s.leechers))
		pace = time.Duration(0.6 * total / float64(s.cfg.UploadRate) * float64(time.Second))
	}
	pace = max(pace, 5*time.Second)

	seederAddr := s.seeder.cl.Addr()
	s.start = time.Now()
	for _, l := range s.leechers {
		if l.strategy == "legacy" {
			if err := s.startLegacy(l, seederAddr); err != nil {
				return fmt.Errorf("%s: %w", l.name, err)
			}
			continue
		}
		log := s.log.With("peer", l.name)
		bc := &speed.Buyer{Payer: l.payer, Strategy: s.strategy(l.strategy, pace), Budget: l.budget}
		var err error
		if l.ext, err = speed.New(speed.Config{Domain: s.dom, Buy: bc, Logger: log}); err != nil {
			return fmt.Errorf("%s: %w", l.name, err)
		}
		if l.cl, err = peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", Logger: log, Extensions: []peer.Extension{l.ext}, RechokeInterval: time.Second}); err != nil {
			return fmt.Errorf("%s: %w", l.name, err)
		}
		cl := l.cl
		s.onClose(func() { _ = cl.Close() })
		if l.tor, err = cl.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: s.mi, Dir: l.dir, Peers: []netip.AddrPort{seederAddr}}); err != nil {
			return fmt.Errorf("%s: %w", l.name, err)
		}
	}
	return nil
}

// newPayer makes paying leecher i: its account on the devnet and its payer
// over a bbolt store.
func (s *swarm) newPayer(ctx context.Context, i int, spec LeecherSpec) (*leecher, error) {
	l := &leecher{name: fmt.Sprintf("leecher-%d", i+1), strategy: spec.Strategy, budget: spec.Budget, dir: filepath.Join(s.tmp, fmt.Sprintf("leecher-%d", i+1))}
	var err error
	if l.key, l.escrow, l.start, err = s.account(ctx, 1+i); err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	st, err := paychan.OpenStore(filepath.Join(s.tmp, l.name+"-payer.db"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	s.onClose(func() { _ = st.Close() })
	if l.payer, err = paychan.NewPayer(ctx, st, l.escrow, l.key); err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	return l, nil
}

// strategy makes a leecher's bidding strategy.
func (s *swarm) strategy(name string, pace time.Duration) bidding.Strategy {
	switch name {
	case "fixed":
		return bidding.Fixed{Price: s.cfg.FixedPrice}
	case "adaptive":
		return bidding.Adaptive{}
	case "paced":
		return bidding.Paced{Deadline: s.start.Add(pace)}
	default:
		return bidding.Default{}
	}
}

// startLegacy starts a stock anacrolix client on loopback that knows only
// the seeder: a legacy peer, which never bids nor pays.
func (s *swarm) startLegacy(l *leecher, seederAddr netip.AddrPort) error {
	cfg := legacy.Config(l.dir, s.log.With("peer", l.name, "client", "anacrolix"))
	cl, err := torrent.NewClient(cfg)
	if err != nil {
		return fmt.Errorf("anacrolix client: %w", err)
	}
	l.acl = cl
	s.onClose(func() { cl.Close() })
	if l.at, err = cl.AddTorrent(s.mi); err != nil {
		return fmt.Errorf("anacrolix: %w", err)
	}
	l.at.AddPeers([]torrent.PeerInfo{{Addr: net.TCPAddrFromAddrPort(seederAddr), Trusted: true}})
	<-l.at.GotInfo() // at once: the metainfo has the info
	l.at.DownloadAll()
	return nil
}

// file is where a leecher's copy is.
func (l *leecher) file(name string) string { return filepath.Join(l.dir, name) }

// done is closed when the leecher has the whole file.
func (l *leecher) done() <-chan struct{} {
	if l.at != nil {
		return l.at.Complete().On()
	}
	return l.tor.Done()
}

// have is how many bytes the leecher has verified.
func (l *leecher) have(ctx context.Context) (int64, error) {
	if l.at != nil {
		return l.at.BytesCompleted(), nil
	}
	st, err := l.tor.Stats(ctx)
	if err != nil {
		return 0, err
	}
	return st.Length - st.Left, nil
}

func mib(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d KiB", n>>10)
	}
}
