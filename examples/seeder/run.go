package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/examples/internal/chain"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/examples/internal/market"
	"github.com/bttspeed/bttspeed/metrics"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/discovery"
	"github.com/bttspeed/bttspeed/piece"
	"github.com/bttspeed/bttspeed/tron"
)

// run runs the seeder until ctx ends and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env chain.Env) int {
	err := seed(ctx, args, stdout, stderr, env)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return cli.ExitOK
	case errors.Is(err, cli.ErrVersion):
		fmt.Fprintln(stdout, cli.Version("seeder"))
		return cli.ExitOK
	}
	if err != nil && ctx.Err() != nil && cli.ExitCode(err) == cli.ExitSetup {
		// A signal while starting is not a configuration error.
		err = errors.New("interrupted while starting: " + err.Error())
	}
	return cli.Report(stderr, "seeder", err)
}

// items are the things to seed the arguments name, checked to exist.
func (c *config) items(state string) ([]item, error) {
	var its []item
	addTorrent := func(p string) error {
		if _, err := os.Stat(p); err != nil {
			return cli.Setupf("-torrent: %w", err)
		}
		dir := c.dir
		if dir == "" {
			dir = filepath.Dir(p)
		}
		its = append(its, item{path: p, torrent: true, dir: dir})
		return nil
	}
	if c.torrent != "" {
		if err := addTorrent(c.torrent); err != nil {
			return nil, err
		}
	}
	for _, p := range c.paths {
		if isTorrentFile(p) {
			if err := addTorrent(p); err != nil {
				return nil, err
			}
			continue
		}
		if _, err := os.Stat(p); err != nil {
			return nil, cli.Setupf("nothing to seed at %s: %w", p, err)
		}
		it := item{path: p, out: c.torrentOut}
		if c.torrentDir != "" {
			it.out = filepath.Join(c.torrentDir, filepath.Base(filepath.Clean(p))+".torrent")
		}
		its = append(its, it)
	}
	return its, nil
}

// lockedWriter serializes the lines the seeder and its watcher print.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func seed(ctx context.Context, args []string, stdout, stderr io.Writer, env chain.Env) error {
	c, err := parse(args, stderr)
	if err != nil {
		return err
	}
	log, err := c.log.Logger(stderr)
	if err != nil {
		return err
	}
	if c.check {
		return check(ctx, c, stdout, env, log)
	}
	its, err := c.items(c.state)
	if err != nil {
		return err
	}

	ch, err := chain.Connect(ctx, c.chain, env, 0, log)
	if err != nil {
		return err
	}
	defer ch.Close()
	if err := ch.Require(ctx, chain.SeederMin, "redeeming vouchers (a claim or a close)", btt.Zero, ""); err != nil {
		return err
	}
	state := c.state
	if state == "" {
		tmp, err := os.MkdirTemp("", "bttspeed-seeder-")
		if err != nil {
			return cli.Setup(err)
		}
		defer os.RemoveAll(tmp)
		state = tmp
		log.Info("embedded devnet: the channel store is temporary (use -chain and -state to keep earnings)", "state", state)
	}
	seller, err := market.NewSeller(ctx, ch, market.SellConfig{
		StateDir: state, Reserve: c.reserve, Slots: c.slots, FreePercent: c.freePct, Rotation: c.rotation,
		CreditStart: c.creditStart, CreditMax: c.creditMax, CreditGrowth: c.creditGrowth,
		ExpiryMargin: c.expiryMargin, RedeemThreshold: c.redeemThreshold, MinRedeem: c.minRedeem, MinDeposit: c.minDeposit, Logger: log,
	})
	if err != nil {
		return err
	}
	defer seller.Close()
	if tot, err := seller.Payee.Totals(); err == nil && !tot.Earned.IsZero() {
		log.Info("channel store from an earlier run", "earned_btt", tot.Earned.FormatBTT(), "redeemed_btt", tot.Redeemed.FormatBTT(), "redeemable_btt", tot.Redeemable.FormatBTT())
	}

	mk := &maker{pieceLength: c.pieceLength, trackers: c.trackers, webSeeds: c.webSeeds, trustOld: !c.verify, log: log}
	var dht *discovery.DHT
	if c.dht {
		var stopDHT func()
		// The node runs on the client's port (the uTP socket's, with uTP
		// on): TCP, uTP and the DHT on one port number, which goes in the
		// .torrents made when -listen names an IP.
		dht, stopDHT, err = cli.StartDHT(ctx, c.dhtBootstrap, nil, log)
		if err != nil {
			return err
		}
		defer stopDHT()
	}
	pcfg := peer.Config{
		ListenAddr: c.listen, Logger: log, Policy: seller.Policy, Extensions: []peer.Extension{seller.Ext},
		RechokeInterval: c.rechoke, UploadRate: c.uploadRate, DHT: dht, Tracker: discovery.TrackerConfig{Logger: log},
	}
	// One piece-completion database for every torrent, in the state
	// directory: a thousand torrents open one bbolt file, not a thousand.
	completion := filepath.Join(state, "completion")
	_, noCompletion := os.Stat(filepath.Join(completion, piece.CompletionFile))
	pcfg.CompletionDir = completion
	c.net.Apply(&pcfg)
	cl, err := peer.NewClient(pcfg)
	if err != nil {
		return cli.Setupf("-listen %s: %w", c.listen, err)
	}
	if dht != nil {
		if a := dht.Addr(); a.IsValid() && !a.Addr().IsUnspecified() {
			mk.nodes = []netip.AddrPort{a} // the client has started it
		}
	}
	clientOpen := true
	closeClient := func() {
		if clientOpen {
			clientOpen = false
			cl.Close()
		}
	}
	defer closeClient()

	out := &lockedWriter{w: stdout}
	verify := c.verify
	if !verify && c.state == "" {
		verify = true
		log.Warn("-verify=false needs -state, where the piece completion is recorded: hashing the data")
	} else if !verify && noCompletion != nil {
		// A first start, or a state directory from before the records
		// were shared (they were in data/<infohash>/.bttspeed): hash once.
		verify = true
		log.Info("no piece completion recorded in the state directory yet: hashing the data once", "dir", completion)
	}
	set := newSeedSet(cl, filepath.Join(state, "data"), verify, c.peers, c.trackers, log)
	hint := leecherHint(c, ch, cl.Addr())
	show := func(sd *seeded) {
		fmt.Fprintf(out, "torrent: %s\n", sd.file)
		fmt.Fprintf(out, "magnet: %s\n", sd.magnet)
		fmt.Fprintf(out, "infohash: %s\n", sd.tor.InfoHash().HexString())
		fmt.Fprintf(out, "leecher: %s %s\n", hint, sd.file)
	}
	added, err := addAll(ctx, its, mk, set, log)
	switch {
	case err != nil && ctx.Err() != nil:
		return nil // stopped while hashing or verifying
	case err != nil:
		return err
	}
	for _, sd := range added {
		show(sd)
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if c.watch != "" {
		tdir := c.torrentDir
		if tdir == "" {
			tdir = filepath.Join(state, "torrents")
		}
		w := &watcher{dir: c.watch, every: c.watchEvery, settle: c.watchEvery, torrents: tdir, mk: mk, set: set, out: out, log: log}
		w.seen = map[string]*watchEntry{}
		w.scan(ctx) // what is there at the start is seeded before "seeding"
		wg.Go(func() { w.loop(runCtx) })
		fmt.Fprintf(out, "watching: %s\n", c.watch)
	}
	if ctx.Err() != nil {
		return nil
	}

	paid, free := seller.Slots()
	fmt.Fprintf(out, "listening: %s\n", cl.Addr())
	fmt.Fprintf(out, "payee: %s\n", ch.Gas.Address(ch.Account()))
	fmt.Fprintf(out, "reserve: %s, %d paid and %d free slots per torrent\n", cli.FormatPrice(c.reserve), paid, free)

	src := &source{set: set, seller: seller, listen: cl.Addr().String(), payee: ch.Account(), paidSlot: paid, freeSlot: free}
	hist := newHistory(historySamples, historyEvery)
	var srv *http.Server
	if c.http != "" {
		ln, err := net.Listen("tcp", c.http)
		if err != nil {
			return cli.Setupf("-http: %w", err)
		}
		// /metrics: the library's collector (the engine's and the
		// extension's figures) and the seeder's own.
		mc := metrics.New(cl, metrics.WithSpeed(seller.Ext))
		h := newStatusHandler(src.Snapshot, hist, log, mc, &collector{only: src.SeederOnly, log: log})
		srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("status server", "err", err)
			}
		})
		wg.Go(func() { hist.run(runCtx, src.Snapshot, log) })
		fmt.Fprintf(out, "status: http://%s/\n", ln.Addr())
	}
	wg.Go(func() { seller.RunRedeemer(runCtx, c.redeemEvery) })
	fmt.Fprintln(out, "seeding")
	log.Info("seeding", "torrents", len(set.list()), "listen", cl.Addr(), "payee", ch.Account(), "reserve", cli.FormatPrice(c.reserve))

	runErr := watchOver(ctx, c, set, seller, log)

	// Shutdown: stop taking peers and serving, then redeem what is left.
	log.Info("stopping: closing peers, then redeeming what is left", "timeout", c.shutdownTimeout)
	if srv != nil {
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = srv.Shutdown(sctx)
		scancel()
	}
	cancel()
	wg.Wait()
	closeClient()
	rctx, rcancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer rcancel()
	res, err := seller.RedeemOnShutdown(rctx)
	tot, _ := seller.Payee.Totals()
	fmt.Fprintf(out, "redeemed: %s base units (%s BTT) now: %d channels claimed, %d closed, %d below -min-redeem left; in all %s BTT redeemed, %s BTT left\n",
		res.Redeemed, res.Redeemed.FormatBTT(), res.Claimed, res.Closed, res.BelowFloor, tot.Redeemed.FormatBTT(), tot.Redeemable.FormatBTT())
	if err != nil {
		log.Error("redeeming at shutdown", "err", err, "left_btt", res.Left.FormatBTT())
		return errors.Join(runErr, err)
	}
	fmt.Fprintln(out, "stopped")
	return runErr
}

// addWorkers is how many of the torrents given are made and added at
// once: hashing uses the cores, and adding one waits on its disk and the
// engine's loop, so a few at a time start a seeder of many torrents
// several times faster than one at a time.
const addWorkers = 4

// addAll makes and adds the torrents given, a few at a time, and returns
// them in the order given (one given twice is seeded once, and skipped
// in the result). The first error stops the rest and is returned.
func addAll(ctx context.Context, its []item, mk *maker, set *seedSet, log *slog.Logger) ([]*seeded, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	out := make([]*seeded, len(its))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(addWorkers, len(its)) {
		wg.Go(func() {
			for i := range next {
				m, err := mk.make(ctx, its[i])
				if err == nil {
					out[i], err = set.add(ctx, m, its[i].path, false)
				}
				switch {
				case errors.Is(err, errAlready):
					log.Warn("given twice: seeding it once", "err", err)
				case err != nil:
					cancel(err)
				}
			}
		})
	}
feed:
	for i := range its {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(out, func(sd *seeded) bool { return sd == nil }), nil
}

// watchOver waits for ctx, logging a status line each minute. A torrent
// that stops with an error is dropped and the others go on; when none is
// left and nothing is watched, the seeder stops with that error.
func watchOver(ctx context.Context, c *config, set *seedSet, seller *market.Seller, log *slog.Logger) error {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		for sd, err := set.failed(); sd != nil; sd, err = set.failed() {
			log.Error("torrent stopped: no longer seeding it", "name", sd.name, "infohash", sd.tor.InfoHash().HexString(), "err", err)
			set.remove(ctx, sd.tor.InfoHash())
			if len(set.list()) == 0 && c.watch == "" {
				return fmt.Errorf("the last torrent stopped: %w", err)
			}
		}
		var peers int
		var up, rate int64
		for _, sd := range set.list() {
			st, _ := sd.tor.Stats(ctx)
			peers, up, rate = peers+st.Peers, up+st.Uploaded, rate+st.UpRate
		}
		tot, _ := seller.Payee.Totals()
		log.Info("status", "torrents", len(set.list()), "peers", peers, "uploaded", up+set.retired(), "up_rate", rate, "earned_btt", tot.Earned.FormatBTT(), "redeemable_btt", tot.Redeemable.FormatBTT())
	}
}

// leecherHint is what a leecher needs besides the torrent to find this
// seeder and pay it: the chain (and escrow, when given), and the seeder's
// address when a tracker will not tell it.
func leecherHint(c *config, ch *chain.Chain, listen netip.AddrPort) string {
	parts := []string{"leecher"}
	if c.chain.Node != "" {
		parts = append(parts, "-chain", ch.Addr)
		if c.chain.Escrow != "" {
			parts = append(parts, "-escrow", c.chain.Escrow)
		}
		if c.chain.EscrowTx != "" {
			parts = append(parts, "-escrow-tx", c.chain.EscrowTx)
		}
		parts = append(parts, "-state DIR -budget BTT")
	}
	switch {
	case listen.IsValid() && !listen.Addr().IsUnspecified():
		parts = append(parts, "-peer", listen.String())
	case len(c.trackers) == 0:
		parts = append(parts, fmt.Sprintf("-peer THIS-HOST:%d", listen.Port()))
	}
	if c.net.Protocols == peer.ProtocolUTP {
		parts = append(parts, "-protocols utp") // the leecher dials TCP alone by default
	}
	if c.chain.Node == "" {
		parts = append(parts, "-budget 0")
	}
	return strings.Join(parts, " ")
}

// check validates the settings, reaches the chain and shows the wallet:
// what an operator runs before installing the service.
func check(ctx context.Context, c *config, stdout io.Writer, env chain.Env, log *slog.Logger) error {
	its, err := c.items(c.state)
	if err != nil {
		return err
	}
	if c.state != "" {
		if err := os.MkdirAll(c.state, 0o700); err != nil {
			return cli.Setupf("-state: %w", err)
		}
		f, err := os.CreateTemp(c.state, ".check-")
		if err != nil {
			return cli.Setupf("-state %s is not writable: %w", c.state, err)
		}
		f.Close()
		os.Remove(f.Name())
	}
	ch, err := chain.Connect(ctx, c.chain, env, 0, log)
	if err != nil {
		return err
	}
	defer ch.Close()
	acct := ch.Account()
	gas, err := ch.Client.GasBalance(ctx, acct)
	if err != nil {
		return cli.Setupf("reading %s's %s balance: %w", acct, ch.Gas, err)
	}
	tok, err := ch.Client.BalanceOf(ctx, ch.Domain.Token, acct)
	if err != nil {
		return cli.Setupf("reading %s's token balance: %w", acct, err)
	}
	node := ch.Addr
	if ch.Node != nil {
		node += " (the embedded devnet: give -chain to check a real node)"
	}
	fmt.Fprintf(stdout, "chain: %s\n", node)
	fmt.Fprintf(stdout, "escrow: %s\n", ch.Gas.Address(ch.Escrow.Address()))
	fmt.Fprintf(stdout, "account: %s\n", ch.Gas.Address(acct))
	if ch.Gas == chain.TRX {
		sun, _ := gas.Uint64()
		fmt.Fprintf(stdout, "trx: %d.%06d TRX (fees, paid by burning TRX for energy: about 12 TRX a redemption at mainnet prices)\n", sun/uint64(tron.SunPerTRX), sun%uint64(tron.SunPerTRX))
	} else {
		fmt.Fprintf(stdout, "gas: %s BTT (BTTC's native coin pays the gas: about 100,000 gas a redemption)\n", ch.Gas.Format(gas))
	}
	fmt.Fprintf(stdout, "btt: %s BTT (token %s)\n", tok.FormatBTT(), ch.Gas.Address(ch.Domain.Token))
	fmt.Fprintf(stdout, "seeds: %d given", len(its))
	if c.watch != "" {
		fmt.Fprintf(stdout, ", and the directory %s", c.watch)
	}
	fmt.Fprintln(stdout)
	if ch.Node == nil {
		if err := ch.Require(ctx, chain.SeederMin, "redeeming vouchers (a claim or a close)", btt.Zero, ""); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout, "ok: ready to seed")
	return nil
}
