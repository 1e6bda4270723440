// Command leecher downloads a torrent, paying seeders that sell their
// upload slots for BTT (the btt_speed extension) from a budget, and exits 0
// once every piece is downloaded and hash-verified.
//
//	leecher [flags] -dir DIR -budget 10 FILE.torrent
//	leecher [flags] -dir DIR -budget 10 'magnet:?xt=urn:btih:…'
//	leecher reclaim -chain HOST:PORT -state DIR     (or leecher -reclaim …)
//
// The torrent is the one argument: a .torrent file or a magnet link
// (-torrent FILE and -magnet URI say the same). Peers come from the
// torrent's trackers, the magnet link's tr= and x.pe= (the address a
// seeder puts there), -tracker, -peer and, with -dht, the DHT (joined
// through -dht-bootstrap, the DHT nodes the .torrent names, or the public
// bootstrap nodes). When none of these can name a peer, the leecher says
// so and exits 2 at once; with only the DHT, it says it is waiting on it.
//
// It bids for paid slots with a strategy (-strategy default|fixed|adaptive|
// paced and its flags), opens a payment channel to each seeder it wins a
// slot at (depositing up to -deposit, at most -budget in all), and signs a
// voucher for every piece it received in a paid slot once the piece passed
// its hash check. Seeders that do not sell (stock clients) are downloaded
// from for free, as BitTorrent always did. -budget 0 pays nobody and needs
// no chain.
//
// By default the chain is an embedded devnet in this process, so a seeder
// in another process is on another chain and is downloaded from as a
// legacy peer; point both at one node with -chain (see examples/devnet):
//
//	BTTSPEED_KEY=<hex key> go run ./examples/leecher -chain 127.0.0.1:50051 \
//	    -state ./leecher-state -dir downloads -budget 10 -peer 127.0.0.1:6881 movie.mkv.torrent
//
// The key comes from $BTTSPEED_KEY or -keystore FILE with
// $BTTSPEED_PASSPHRASE, never from the command line, and never appears in
// a log. With -chain, the escrow is -escrow, or found on a bttspeed devnet.
//
// Amounts (-budget, -deposit) are BTT with decimals ("2.5"), or base
// units with a "base" suffix. Prices (-price, -start, -max-price) are per
// byte: an integer is base units per byte; "1.5/GiB" is BTT per GiB.
//
// The state directory (-state; required with -chain) keeps the payer's
// store (payer.db) and a journal of the channels opened (channels.json).
// After a channel expires (-lifetime after it was opened), `leecher
// reclaim` takes back what the seeder did not redeem and prints it.
//
// -cpuprofile FILE writes a Go CPU profile of the whole run, -memprofile
// FILE the heap as the run ends (read them with go tool pprof; the
// examples/loopbench command passes -cpuprofile with -profile DIR).
//
// The leecher runs its garbage collector at GOGC=50 unless $GOGC says
// otherwise (its heap is mostly block buffers on their way to the disk).
//
// Progress goes to standard output every -progress (a line per interval;
// on a terminal, one line redrawn in place), then a summary: "complete:",
// "spent: N base units", and a "channel:" line per channel. Logs go to
// standard error. Exit codes: 0 complete and verified (or reclaim done), 1
// failed or interrupted, 2 could not start (bad flag, missing file,
// unreachable node, empty wallet).
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/examples/internal/chain"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/examples/internal/market"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/discovery"
)

func main() {
	if os.Getenv("GOGC") == "" {
		// Collect at half again the live heap rather than twice it: the
		// heap is mostly 16 KiB block buffers on their way to the disk,
		// which hold no pointers and cost the collector next to nothing,
		// and a download's peak RSS falls by some 5 MiB (docs/PERFORMANCE.md).
		debug.SetGCPercent(gcPercent)
	}
	cli.Main(run)
}

// gcPercent is the leecher's GOGC unless $GOGC sets one.
const gcPercent = 50

// config is the parsed command line.
type config struct {
	reclaim  bool
	torrent  string
	magnet   string
	dir      string
	verify   bool
	budget   btt.Amount
	deposit  btt.Amount
	lifetime time.Duration
	state    string
	strategy market.StrategyFlags

	files        cli.StringList
	listen       string
	net          cli.NetFlags
	trackers     cli.StringList
	peers        cli.AddrList
	dht          bool
	dhtBootstrap cli.AddrList
	progress     time.Duration
	rechoke      time.Duration
	linger       time.Duration
	timeout      time.Duration

	chain chain.Flags
	log   cli.LogFlags

	// cpuProfile and memProfile are where -cpuprofile and -memprofile
	// write (empty: no profile).
	cpuProfile, memProfile string

	// finding is how peers will be found (see checkFindable); dhtNodes
	// are the DHT nodes the .torrent names.
	finding  string
	dhtNodes []netip.AddrPort
}

func parse(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	if len(args) > 0 && args[0] == "reclaim" {
		c.reclaim = true
		args = args[1:]
	}
	fs := flag.NewFlagSet("leecher", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var budget, deposit string
	var version bool
	fs.BoolVar(&version, "version", false, "print the version and exit")
	fs.BoolVar(&c.reclaim, "reclaim", c.reclaim, "reclaim the deposits of the channels in -state that have expired, print what came back, and exit")
	fs.StringVar(&c.torrent, "torrent", "", "the .torrent file to download (or give it as the argument)")
	fs.StringVar(&c.magnet, "magnet", "", "the magnet link to download, quoted (or give it as the argument)")
	fs.StringVar(&c.dir, "dir", ".", "where the data goes")
	fs.Var(&c.files, "files", "download only these files: paths as the torrent names them (dir/file) or 0-based indexes, comma-separated or repeated; the others are never requested nor paid for")
	fs.BoolVar(&c.verify, "verify", false, "hash the data already in -dir first (otherwise pieces an earlier run recorded count)")
	fs.StringVar(&budget, "budget", "0", "the most BTT to spend (0: pay nobody; no chain needed)")
	fs.StringVar(&deposit, "deposit", "", "BTT one channel locks (default: the whole budget); a channel is topped up from the budget when it runs dry")
	fs.DurationVar(&c.lifetime, "lifetime", 24*time.Hour, "a channel's lifetime: the seeder must redeem within it, and the rest is reclaimable after it")
	fs.StringVar(&c.state, "state", "", "directory of the payer's store and channel journal; required with -chain; default with the embedded devnet: a temporary one")
	c.strategy.Register(fs)
	fs.StringVar(&c.listen, "listen", ":0", "address to accept peers on: TCP, and UDP for uTP with -protocols utp")
	c.net.Register(fs)
	fs.Var(&c.trackers, "tracker", "tracker announce URL (http, https or udp; repeatable), besides the torrent's")
	fs.Var(&c.peers, "peer", "a peer to connect to, ip:port (repeatable)")
	fs.BoolVar(&c.dht, "dht", false, "use the mainline DHT (reaches the internet through its public bootstrap nodes unless -dht-bootstrap is given)")
	fs.Var(&c.dhtBootstrap, "dht-bootstrap", "with -dht: a DHT node to join through instead of the public ones, ip:port (repeatable)")
	fs.DurationVar(&c.progress, "progress", 2*time.Second, "how often to print progress")
	fs.DurationVar(&c.rechoke, "rechoke", 10*time.Second, "how often to rechoke our uploads and bid again at each seeder (a leecher from a magnet link bids first at its first rechoke after the metadata arrives)")
	fs.DurationVar(&c.linger, "linger", 30*time.Second, "once complete, how long to wait for the last vouchers to reach the seeders")
	fs.DurationVar(&c.timeout, "timeout", 0, "give up after this long (0: never)")
	c.chain.Register(fs)
	c.log.Register(fs)
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the whole run to this file (go tool pprof)")
	fs.StringVar(&c.memProfile, "memprofile", "", "write a Go heap profile to this file when the run ends (go tool pprof; -sample_index=alloc_space for what was allocated)")
	if err := cli.Parse(fs, args, 1); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintln(stderr, "usage: leecher [flags] FILE.torrent | MAGNET\n       leecher reclaim -chain HOST:PORT -state DIR")
			fs.PrintDefaults()
		}
		return nil, err
	}
	if version {
		return nil, cli.ErrVersion
	}
	if arg := fs.Arg(0); arg != "" {
		if c.torrent != "" || c.magnet != "" {
			return nil, cli.Setupf("give the torrent once: %q, or -torrent/-magnet, not both", arg)
		}
		if strings.HasPrefix(arg, "magnet:") {
			c.magnet = arg
		} else {
			c.torrent = arg
		}
	}
	if err := c.chain.Check(); err != nil {
		return nil, err
	}
	if c.reclaim {
		switch {
		case c.torrent != "" || c.magnet != "":
			return nil, cli.Setupf("reclaim takes no -torrent or -magnet")
		case c.chain.Node == "":
			return nil, cli.Setupf("reclaim needs -chain: the channels are on a running chain (the embedded devnet ends with the process)")
		case c.state == "":
			return nil, cli.Setupf("reclaim needs -state DIR: the directory the download used")
		}
		return c, nil
	}
	var err error
	switch {
	case c.torrent == "" && c.magnet == "":
		return nil, cli.Setupf("nothing to download: give a .torrent file or a magnet link (leecher [flags] FILE.torrent | 'magnet:?…')")
	case c.torrent != "" && c.magnet != "":
		return nil, cli.Setupf("give -torrent or -magnet, not both")
	case c.magnet != "" && !strings.HasPrefix(c.magnet, "magnet:?"):
		return nil, cli.Setupf("-magnet %q: want a magnet:? link", c.magnet)
	}
	if c.torrent != "" {
		if _, err := os.Stat(c.torrent); err != nil {
			return nil, cli.Setupf("-torrent: %w", err)
		}
	}
	if c.budget, err = cli.ParseBTT("budget", budget); err != nil {
		return nil, err
	}
	if deposit != "" {
		if c.deposit, err = cli.ParseBTT("deposit", deposit); err != nil {
			return nil, err
		}
		if c.deposit.IsZero() || c.deposit.Gt(c.budget) {
			return nil, cli.Setupf("-deposit %s: want above zero and at most the budget (%s BTT)", deposit, c.budget.FormatBTT())
		}
	}
	if c.lifetime < 2*time.Hour {
		return nil, cli.Setupf("-lifetime %v: want at least 2h (a seeder refuses vouchers on channels within an hour of expiry, by default)", c.lifetime)
	}
	for name, d := range map[string]time.Duration{"progress": c.progress, "linger": c.linger, "rechoke": c.rechoke} {
		if d <= 0 {
			return nil, cli.Setupf("-%s %v: want a positive duration", name, d)
		}
	}
	if c.timeout < 0 {
		return nil, cli.Setupf("-timeout %v: want zero or positive", c.timeout)
	}
	if _, err := c.strategy.Strategy(time.Now()); err != nil {
		return nil, err
	}
	if _, err := net.ResolveTCPAddr("tcp", c.listen); err != nil {
		return nil, cli.Setupf("-listen %q: %v", c.listen, err)
	}
	for _, tr := range c.trackers {
		if err := checkTracker(tr); err != nil {
			return nil, err
		}
	}
	if len(c.dhtBootstrap) > 0 && !c.dht {
		return nil, cli.Setupf("-dht-bootstrap needs -dht")
	}
	if !c.budget.IsZero() && c.chain.Node != "" && c.state == "" {
		return nil, cli.Setupf("-chain with a -budget needs -state DIR: the channels' records must survive, to reclaim their deposits")
	}
	if err := c.checkFindable(); err != nil {
		return nil, err
	}
	return c, nil
}

// checkFindable reads the torrent's own ways to find peers (trackers, the
// magnet link's peer hints, DHT nodes) and, with the flags', says how
// peers will be found in c.finding — or refuses, with what to give, when
// nothing can name a peer: waiting would be waiting for nothing.
func (c *config) checkFindable() error {
	var trackers, hints int
	var name string
	if c.torrent != "" {
		mi, err := peer.LoadTorrentFile(c.torrent)
		if err != nil {
			return cli.Setupf("reading the torrent %s: %w", c.torrent, err)
		}
		for _, tier := range mi.UpvertedAnnounceList() {
			trackers += len(tier)
		}
		for _, n := range mi.Nodes {
			if ap, err := netip.ParseAddrPort(string(n)); err == nil && ap.Port() != 0 {
				c.dhtNodes = append(c.dhtNodes, ap)
			}
		}
		name = c.torrent
	} else {
		m, err := peer.ParseMagnet(c.magnet)
		if err != nil {
			return cli.Setupf("-magnet %q: %w", c.magnet, err)
		}
		if !m.InfoHash.Ok {
			return cli.Setupf("-magnet %q: no v1 info hash (xt=urn:btih:…)", c.magnet)
		}
		trackers, hints, name = len(m.Trackers), len(m.Params["x.pe"]), "the magnet link"
	}
	var ways []string
	for _, w := range []struct {
		n    int
		what string
	}{{trackers, "the torrent's trackers"}, {hints, "the magnet link's peers (x.pe)"}, {len(c.trackers), "-tracker"}, {len(c.peers), "-peer"}} {
		if w.n > 0 {
			ways = append(ways, fmt.Sprintf("%s (%d)", w.what, w.n))
		}
	}
	switch {
	case len(ways) > 0 && c.dht:
		c.finding = strings.Join(ways, ", ") + " and the DHT"
	case len(ways) > 0:
		c.finding = strings.Join(ways, ", ")
	case c.dht:
		c.finding = "the DHT only: waiting on it for peers (no tracker or peer given)"
	default:
		more := ""
		if len(c.dhtNodes) > 0 {
			more = fmt.Sprintf(" (it names %d DHT nodes: add -dht to use them)", len(c.dhtNodes))
		}
		return cli.Setupf("no way to find a peer: %s names no tracker and no peer%s, -dht is off, and no -peer or -tracker was given; "+
			"give the seeder's address with -peer HOST:PORT (a seeder prints it as \"listening:\" and in its \"leecher:\" line), "+
			"its magnet link (which carries its address), -tracker URL, or -dht", name, more)
	}
	return nil
}

func checkTracker(tr string) error {
	i := strings.Index(tr, "://")
	if i <= 0 || (tr[:i] != "http" && tr[:i] != "https" && tr[:i] != "udp") || len(tr) == i+3 {
		return cli.Setupf("-tracker %q: want an http://, https:// or udp:// announce URL", tr)
	}
	return nil
}

// errTimeout ends a download that took longer than -timeout.
var errTimeout = errors.New("-timeout")

// run runs the leecher and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env chain.Env) int {
	err := leech(ctx, args, stdout, stderr, env)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return cli.ExitOK
	case errors.Is(err, cli.ErrVersion):
		fmt.Fprintln(stdout, cli.Version("leecher"))
		return cli.ExitOK
	}
	if err != nil && ctx.Err() != nil && cli.ExitCode(err) == cli.ExitSetup {
		// A signal while starting is not a configuration error.
		err = errors.New("interrupted while starting: " + err.Error())
	}
	return cli.Report(stderr, "leecher", err)
}

func leech(ctx context.Context, args []string, stdout, stderr io.Writer, env chain.Env) error {
	c, err := parse(args, stderr)
	if err != nil {
		return err
	}
	log, err := c.log.Logger(stderr)
	if err != nil {
		return err
	}
	stopProfiles, err := startProfiles(c.cpuProfile, c.memProfile)
	if err != nil {
		return err
	}
	defer func() {
		if perr := stopProfiles(); perr != nil {
			log.Warn("profile", "err", perr)
		}
	}()
	if c.reclaim {
		return reclaim(ctx, c, stdout, env, log)
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, c.timeout, errTimeout)
		defer cancel()
	}

	var (
		buyer *market.Buyer
		exts  []peer.Extension
		ch    *chain.Chain
		state = c.state
	)
	if !c.budget.IsZero() {
		ch, err = chain.Connect(ctx, c.chain, env, 1, log)
		if err != nil {
			return err
		}
		defer ch.Close()
		if err := ch.Require(ctx, chain.LeecherMin, "approving and opening a channel and a top-up", c.budget, "the budget (-budget "+c.budget.FormatBTT()+")"); err != nil {
			return err
		}
		if state == "" {
			tmp, err := os.MkdirTemp("", "bttspeed-leecher-")
			if err != nil {
				return cli.Setup(err)
			}
			defer os.RemoveAll(tmp)
			state = tmp
		}
		strategy, err := c.strategy.Strategy(time.Now())
		if err != nil {
			return err
		}
		buyer, err = market.NewBuyer(ctx, ch, market.BuyConfig{StateDir: state, Strategy: strategy, Budget: c.budget, Deposit: c.deposit, Lifetime: c.lifetime, Logger: log})
		if err != nil {
			return err
		}
		defer buyer.Close()
		exts = append(exts, buyer.Ext)
		log.Info("buying", "account", ch.Account(), "budget_btt", c.budget.FormatBTT(), "strategy", strategy.Name(), "state", state)
	}

	var dht *discovery.DHT
	if c.dht {
		var stopDHT func()
		// On the client's own port (the uTP socket's, with uTP on): the
		// port the node answers on is the one peers and trackers hear of.
		dht, stopDHT, err = cli.StartDHT(ctx, c.dhtBootstrap, c.dhtNodes, log)
		if err != nil {
			return err
		}
		defer stopDHT()
	}
	pcfg := peer.Config{ListenAddr: c.listen, Logger: log, Extensions: exts, DHT: dht, RechokeInterval: c.rechoke, Tracker: discovery.TrackerConfig{Logger: log}}
	c.net.Apply(&pcfg)
	cl, err := peer.NewClient(pcfg)
	if err != nil {
		return cli.Setupf("-listen %s: %w", c.listen, err)
	}
	defer cl.Close()
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return cli.Setupf("-dir: %w", err)
	}
	start := time.Now()
	spec := peer.TorrentSpec{TorrentFile: c.torrent, Magnet: c.magnet, Dir: c.dir, Verify: c.verify, Peers: c.peers, Trackers: c.trackers}
	sel := newFileSelection(c.files)
	if sel != nil {
		spec.FilePriority = sel.priority
	}
	tor, err := cl.AddTorrent(ctx, spec)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted: %w", ctx.Err())
		}
		return cli.Setupf("adding the torrent: %w", err)
	}
	log.Info("downloading", "infohash", tor.InfoHash().HexString(), "dir", c.dir, "listen", cl.Addr(), "peers_from", c.finding)
	fmt.Fprintf(stdout, "finding peers through: %s\n", c.finding)

	pr := newProgress(stdout)
	spent := func() btt.Amount {
		if buyer == nil {
			return btt.Zero
		}
		return buyer.Ext.Spent()
	}
	tick := time.NewTicker(c.progress)
	defer tick.Stop()
	// With -files, done is every chosen file verified: WantedLeft reaches
	// 0 (checked often; the progress tick may be long).
	var wanted <-chan time.Time
	if sel != nil {
		wt := time.NewTicker(200 * time.Millisecond)
		defer wt.Stop()
		wanted = wt.C
	}
	checked := sel == nil
	show := func() {
		st, err := tor.Stats(ctx)
		if err == nil {
			pr.update(st, spent())
		}
	}
wait:
	for {
		select {
		case <-tor.Done():
			break wait
		case <-wanted:
			if !checked && tor.WantedLeft() >= 0 {
				checked = true
				if err := sel.check(tor.Files()); err != nil {
					pr.end()
					return cli.Setup(err)
				}
			}
			if tor.WantedLeft() == 0 {
				break wait
			}
		case <-ctx.Done():
			pr.end()
			st, _ := tor.Stats(context.Background())
			if errors.Is(context.Cause(ctx), errTimeout) {
				return fmt.Errorf("gave up after -timeout %v with %d of %d pieces", c.timeout, st.PiecesDone, st.Pieces)
			}
			return fmt.Errorf("interrupted with %d of %d pieces (run again with the same -dir to resume)", st.PiecesDone, st.Pieces)
		case <-tick.C:
			if err := tor.Err(); err != nil {
				pr.end()
				return fmt.Errorf("the download stopped: %w", err)
			}
			show()
		}
	}
	took := time.Since(start)
	show()
	pr.end()
	st, _ := tor.Stats(ctx)
	if buyer != nil {
		settle(ctx, buyer, c.linger, log)
	}
	info, _ := tor.Info(ctx)
	name := tor.InfoHash().HexString()
	if info != nil {
		name = info.BestName()
	}
	if sel != nil {
		var n int
		var size int64
		for _, f := range tor.Files() {
			if f.Priority() != peer.PiecePriorityNone {
				n, size = n+1, size+f.Length()
			}
		}
		fmt.Fprintf(stdout, "complete: %s: %d of %d files, %s in %v, every piece of them verified\n", name, n, len(tor.Files()), cli.HumanBytes(size), took.Round(time.Millisecond))
	} else {
		fmt.Fprintf(stdout, "complete: %s, %s in %v (%s/s), every piece verified\n", name, cli.HumanBytes(st.Length), took.Round(time.Millisecond), cli.HumanBytes(int64(float64(st.Length)/max(took.Seconds(), 1e-3))))
	}
	if buyer == nil {
		fmt.Fprintln(stdout, "spent: 0 base units (0 BTT): no budget")
		return nil
	}
	s := buyer.Ext.Spent()
	fmt.Fprintf(stdout, "spent: %s base units (%s BTT) of a budget of %s BTT\n", s, s.FormatBTT(), c.budget.FormatBTT())
	chans, err := buyer.Channels()
	if err != nil {
		return err
	}
	for _, cs := range chans {
		fmt.Fprintf(stdout, "channel: %s payee %s deposit %s BTT signed %s base units expires %s\n",
			hex.EncodeToString(cs.Channel.ID[:]), ch.Gas.Address(cs.Channel.Payee), cs.Channel.Deposit.FormatBTT(), cs.Signed, cs.Channel.Expiry.UTC().Format(time.RFC3339))
	}
	if len(chans) > 0 && c.state != "" {
		fmt.Fprintf(stdout, "after expiry, take back what was not spent: leecher reclaim %s -state %s\n", strings.Join(ch.Args, " "), c.state)
	}
	return nil
}

// settle waits, at most linger, until every voucher signed has gone out:
// the engine keeps a paying connection open while vouchers are being
// signed or sent, and closes it (after writing its queue) once both sides
// are seeds; so once no btt_speed peer owes or holds anything, they are
// out.
func settle(ctx context.Context, b *market.Buyer, linger time.Duration, log *slog.Logger) {
	deadline := time.Now().Add(linger)
	for {
		fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		figs, err := b.Ext.Peers(fctx)
		cancel()
		open := 0
		for _, f := range figs {
			if f.Buy != nil {
				open++
			}
		}
		if err == nil && open == 0 {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			log.Warn("stopped waiting for the paying connections to close; the last vouchers may not have reached the seeders", "open", open, "linger", linger)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// reclaim takes back the expired channels' deposits.
func reclaim(ctx context.Context, c *config, stdout io.Writer, env chain.Env, log *slog.Logger) error {
	ch, err := chain.Connect(ctx, c.chain, env, 1, log)
	if err != nil {
		return err
	}
	defer ch.Close()
	if err := ch.Require(ctx, chain.ReclaimMin, "reclaiming deposits", btt.Zero, ""); err != nil {
		return err
	}
	res, err := market.Reclaim(ctx, ch, c.state, stdout)
	fmt.Fprintf(stdout, "reclaimed: %s base units (%s BTT) from %d channels; %d not expired yet, %d already settled; token balance %s -> %s BTT\n",
		res.Back, res.Back.FormatBTT(), res.Reclaimed, res.Waiting, res.Settled, res.BalanceBefore.FormatBTT(), res.BalanceAfter.FormatBTT())
	if err != nil {
		log.Warn("reclaim", "err", err)
	}
	return err
}
