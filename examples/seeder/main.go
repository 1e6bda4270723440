// Command seeder seeds a file, a folder or a .torrent and sells its upload
// slots for BTT: the highest bids at or above a reserve price win paid
// slots (choker.BidDriven, a uniform-price auction), and a slot of every
// five stays free for everyone, stock BitTorrent clients included. Payers
// pay with vouchers on TRON payment channels; the seeder keeps them in a
// bbolt store and redeems them on chain on a schedule and at shutdown.
//
//	seeder [flags] PATH              make a torrent of a file or folder and seed it
//	seeder [flags] -torrent F -dir D seed an existing .torrent from the data in D
//
// With PATH it writes PATH.torrent (or -torrent-out) and prints the magnet
// link. By default the chain is an embedded devnet inside the process, so
// the command runs alone; to be paid by leechers in other processes, point
// every process at one node with -chain (`go run ./examples/devnet`
// prints its address and throwaway funded keys):
//
//	go run ./examples/devnet &                           # prints grpc: 127.0.0.1:50051 and keys
//	BTTSPEED_KEY=<hex key> go run ./examples/seeder -chain 127.0.0.1:50051 \
//	    -state ./seeder-state -reserve 1/GiB -listen 127.0.0.1:6881 -http 127.0.0.1:8080 movie.mkv
//
// The key comes from $BTTSPEED_KEY (64 hex digits) or -keystore FILE with
// $BTTSPEED_PASSPHRASE — never from the command line — and never appears
// in a log. With -chain, the escrow is -escrow, or found on a bttspeed
// devnet (the contract deployed as BttSpeedEscrow in its first blocks).
//
// Prices (-reserve) are per byte: an integer is base units (10^-18 BTT)
// per byte, exactly what the wire carries; "1.5/GiB" is 1.5 BTT per GiB,
// rounded down to base units per byte. Amounts (-redeem-threshold,
// -min-redeem, -min-deposit) are in
// BTT with decimals ("0.5"), or base units with a "base" suffix.
//
// Credit: a payer in a paid slot is served at most -credit-start bytes
// (about a piece) it has not paid for until its first voucher, then that
// grows -credit-growth-fold with each payment, up to -credit — by default
// the first payment opens it to the full -credit. That is what a payer
// that stops paying can take from the seeder unpaid, per channel; a
// smaller -credit or -credit-growth risks less and, on a fast link, holds
// the payer back more often while its voucher is on its way.
//
// Redemption: every -redeem-every the channels whose unredeemed vouchers
// reach -redeem-threshold are claimed (the channel stays open) and those
// near their deadline (the expiry, or the end of a payer's early close)
// are closed, or, if the payer began to close them, claimed; the seeder
// follows its channels on chain to see such a close in time. A channel
// holding less than -min-redeem is never redeemed on its own (a
// transaction would cost more: set it to what one costs you), and a
// deposit below -min-deposit is refused. On SIGINT or SIGTERM the seeder
// stops taking peers, then redeems everything left above -min-redeem
// within -shutdown-timeout — closing channels near their deadline,
// claiming the rest — and exits 0 (1 if some
// could not be redeemed: they stay in the store, and a later run with the
// same -state redeems them). A second signal exits at once; the store is
// crash-safe.
//
// Restarting with the same -state keeps every voucher redeemable; the data
// is hashed again before seeding (-verify=false trusts the piece
// completion recorded by the last run instead).
//
// -http 127.0.0.1:PORT serves a status page (peers, slots and who holds
// them, bids and clearing price, BTT earned, redeemable and redeemed,
// channels), /status.json and /metrics (Prometheus). A non-loopback
// address needs -http-allow-remote.
//
// Standard output carries a few "key: value" lines meant for scripts
// (torrent:, magnet:, infohash:, listening:, payee:, status:, then
// "seeding"; at the end "redeemed:" and "stopped"); logs go to standard
// error (-log-format text|json, -log-level). Exit codes: 0 done, 1 failed
// while running, 2 could not start (bad flag, missing file, unreachable
// node, empty wallet).
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
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/examples/internal/chain"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/examples/internal/market"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/discovery"
)

func main() { cli.Main(run) }

// config is the parsed command line.
type config struct {
	path, torrent, dir, torrentOut string
	pieceLength                    int64
	verify                         bool

	reserve                                btt.Amount
	creditStart                            int64
	creditMax                              int64
	creditGrowth                           int64
	slots, freePct                         int
	rotation                               time.Duration
	rechoke                                time.Duration
	uploadRate                             int64
	expiryMargin                           time.Duration
	redeemEvery                            time.Duration
	redeemThreshold, minRedeem, minDeposit btt.Amount
	shutdownTimeout                        time.Duration
	state                                  string

	listen       string
	trackers     cli.StringList
	peers        cli.AddrList
	dht          bool
	dhtBootstrap cli.AddrList

	http            string
	httpAllowRemote bool

	chain chain.Flags
	log   cli.LogFlags
}

func parse(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("seeder", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var reserve, threshold, minRedeem, minDeposit, pieceLength, uploadRate, creditStart, creditMax string
	fs.StringVar(&c.torrent, "torrent", "", "seed this .torrent file (its data in -dir) instead of a PATH")
	fs.StringVar(&c.dir, "dir", "", "with -torrent: the directory holding the torrent's data (default: the .torrent's directory)")
	fs.StringVar(&c.torrentOut, "torrent-out", "", "with PATH: where to write the .torrent (default PATH.torrent)")
	fs.StringVar(&pieceLength, "piece-length", "0", "with PATH: piece length, a power of two such as 256KiB (0: chosen from the size)")
	fs.BoolVar(&c.verify, "verify", true, "hash the data before seeding (false: trust the piece completion an earlier run recorded)")
	fs.StringVar(&reserve, "reserve", "1/GiB", "reserve price per byte a bid must reach for a paid slot: base units per byte (integer) or BTT per GiB (1.5/GiB)")
	fs.StringVar(&creditStart, "credit-start", "256KiB", "unpaid bytes a payer may be served before its first voucher")
	fs.StringVar(&creditMax, "credit", "256MiB", "most unpaid bytes a payer may be served, per channel: what one that stops paying can take")
	fs.Int64Var(&c.creditGrowth, "credit-growth", paychan.DefaultCreditGrowth, "how many times each payment grows a payer's unpaid allowance, up to -credit (2 or more)")
	fs.IntVar(&c.slots, "slots", 5, "upload slots, paid and free")
	fs.IntVar(&c.freePct, "free-percent", 20, "share of the slots, in percent, never auctioned (at least one)")
	fs.DurationVar(&c.rotation, "rotation", 30*time.Second, "how long a free slot is held before it rotates")
	fs.DurationVar(&c.rechoke, "rechoke", 10*time.Second, "how often the auction runs")
	fs.StringVar(&uploadRate, "upload-rate", "0", "upload cap per second, such as 10MiB (0: none)")
	fs.DurationVar(&c.expiryMargin, "expiry-margin", time.Hour, "refuse vouchers on channels expiring within this; close channels within twice this")
	fs.DurationVar(&c.redeemEvery, "redeem-every", time.Minute, "how often to look for vouchers to redeem")
	fs.StringVar(&threshold, "redeem-threshold", "10", "claim a channel once this much BTT of it is unredeemed (0: only near expiry and at shutdown)")
	fs.StringVar(&minRedeem, "min-redeem", "", "never redeem a channel holding less than this much BTT, even at expiry or shutdown: what one transaction costs you (default: 16384 base units)")
	fs.StringVar(&minDeposit, "min-deposit", "", "refuse channels whose deposit is below this much BTT (default: -min-redeem)")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", time.Minute, "at shutdown, how long redeeming may take")
	fs.StringVar(&c.state, "state", "", "directory of the channel store (payee.db); required with -chain; default with the embedded devnet: a temporary one")
	fs.StringVar(&c.listen, "listen", ":6881", "TCP address to accept peers on")
	fs.Var(&c.trackers, "tracker", "tracker announce URL (http, https or udp; repeatable); with PATH it also goes in the .torrent")
	fs.Var(&c.peers, "peer", "a peer to connect to, ip:port (repeatable)")
	fs.BoolVar(&c.dht, "dht", false, "use the mainline DHT (reaches the internet through its public bootstrap nodes unless -dht-bootstrap is given)")
	fs.Var(&c.dhtBootstrap, "dht-bootstrap", "with -dht: a DHT node to join through instead of the public ones, ip:port (repeatable)")
	fs.StringVar(&c.http, "http", "", "serve the status page and /metrics on this address, such as 127.0.0.1:8080")
	fs.BoolVar(&c.httpAllowRemote, "http-allow-remote", false, "allow a non-loopback -http address")
	c.chain.Register(fs)
	c.log.Register(fs)
	fs.Usage = func() {}
	if err := cli.Parse(fs, args, 1); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintln(stderr, "usage: seeder [flags] PATH | seeder [flags] -torrent FILE [-dir DIR]")
			fs.PrintDefaults()
		}
		return nil, err
	}
	if fs.NArg() == 1 {
		c.path = fs.Arg(0)
	}
	var err error
	switch {
	case c.path == "" && c.torrent == "":
		return nil, cli.Setupf("nothing to seed: give a file or folder (seeder [flags] PATH) or -torrent FILE")
	case c.path != "" && c.torrent != "":
		return nil, cli.Setupf("give a PATH or -torrent, not both")
	case c.path != "" && c.dir != "":
		return nil, cli.Setupf("-dir goes with -torrent; with PATH the data is PATH itself")
	case c.torrent != "" && c.torrentOut != "":
		return nil, cli.Setupf("-torrent-out goes with PATH")
	}
	if c.reserve, err = cli.ParsePrice("reserve", reserve, false); err != nil {
		return nil, err
	}
	if c.redeemThreshold, err = cli.ParseBTT("redeem-threshold", threshold); err != nil {
		return nil, err
	}
	if minRedeem != "" {
		if c.minRedeem, err = cli.ParseBTT("min-redeem", minRedeem); err != nil {
			return nil, err
		}
	}
	if minDeposit != "" {
		if c.minDeposit, err = cli.ParseBTT("min-deposit", minDeposit); err != nil {
			return nil, err
		}
	}
	if c.pieceLength, err = cli.ByteSize("piece-length", pieceLength); err != nil {
		return nil, err
	}
	if c.pieceLength != 0 && (c.pieceLength < 16<<10 || c.pieceLength&(c.pieceLength-1) != 0) {
		return nil, cli.Setupf("-piece-length %s: want a power of two of at least 16KiB", pieceLength)
	}
	if c.uploadRate, err = cli.ByteSize("upload-rate", uploadRate); err != nil {
		return nil, err
	}
	if c.creditStart, err = cli.ByteSize("credit-start", creditStart); err != nil {
		return nil, err
	}
	if c.creditMax, err = cli.ByteSize("credit", creditMax); err != nil {
		return nil, err
	}
	if c.creditStart <= 0 || c.creditMax < c.creditStart {
		return nil, cli.Setupf("-credit-start %s -credit %s: want a positive start of at most -credit", creditStart, creditMax)
	}
	if c.creditGrowth < 2 {
		return nil, cli.Setupf("-credit-growth %d: want 2 or more (each payment must grow the allowance)", c.creditGrowth)
	}
	for name, d := range map[string]time.Duration{"rotation": c.rotation, "rechoke": c.rechoke, "expiry-margin": c.expiryMargin, "redeem-every": c.redeemEvery, "shutdown-timeout": c.shutdownTimeout} {
		if d <= 0 {
			return nil, cli.Setupf("-%s %v: want a positive duration", name, d)
		}
	}
	if c.slots < 1 || c.freePct < 0 || c.freePct > 100 {
		return nil, cli.Setupf("-slots %d -free-percent %d: want at least one slot and a percentage in 0..100", c.slots, c.freePct)
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
	if c.http != "" {
		if err := checkHTTPAddr(c.http, c.httpAllowRemote); err != nil {
			return nil, err
		}
	}
	if c.chain.Node != "" && c.state == "" {
		return nil, cli.Setupf("-chain needs -state DIR: the vouchers it earns must survive a restart")
	}
	if err := c.chain.Check(); err != nil {
		return nil, err
	}
	return c, nil
}

func checkTracker(tr string) error {
	u, err := url.Parse(tr)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "udp") {
		return cli.Setupf("-tracker %q: want an http://, https:// or udp:// announce URL", tr)
	}
	return nil
}

// run runs the seeder until ctx ends and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env chain.Env) int {
	err := seed(ctx, args, stdout, stderr, env)
	if errors.Is(err, flag.ErrHelp) {
		return cli.ExitOK
	}
	if err != nil && ctx.Err() != nil && cli.ExitCode(err) == cli.ExitSetup {
		// A signal while starting is not a configuration error.
		err = errors.New("interrupted while starting: " + err.Error())
	}
	return cli.Report(stderr, "seeder", err)
}

// torrentSource is the torrent to seed and where its data is.
type torrentSource struct {
	mi      *metainfo.MetaInfo
	info    metainfo.Info
	dir     string
	written string // the .torrent written, if any
}

// loadTorrent reads -torrent, or makes a torrent of PATH and writes it.
func loadTorrent(c *config, log *slog.Logger) (*torrentSource, error) {
	if c.torrent != "" {
		mi, err := peer.LoadTorrentFile(c.torrent)
		if err != nil {
			return nil, cli.Setupf("-torrent: %w", err)
		}
		info, err := mi.UnmarshalInfo()
		if err != nil {
			return nil, cli.Setupf("-torrent %s: bad info dictionary: %v", c.torrent, err)
		}
		dir := c.dir
		if dir == "" {
			dir = filepath.Dir(c.torrent)
		}
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, cli.Setupf("-dir %s: not a directory holding the torrent's data: %v", dir, err)
		}
		return &torrentSource{mi: mi, info: info, dir: dir}, nil
	}
	abs, err := filepath.Abs(c.path)
	if err != nil {
		return nil, cli.Setup(err)
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, cli.Setupf("nothing to seed at %s: %w", c.path, err)
	}
	info := metainfo.Info{PieceLength: c.pieceLength}
	start := time.Now()
	if err := info.BuildFromFilePath(abs); err != nil {
		return nil, cli.Setupf("making a torrent of %s: %w", c.path, err)
	}
	if info.TotalLength() == 0 {
		return nil, cli.Setupf("%s is empty: nothing to seed", c.path)
	}
	ib, err := bencode.Marshal(info)
	if err != nil {
		return nil, cli.Setup(err)
	}
	mi := &metainfo.MetaInfo{InfoBytes: ib, CreatedBy: "bttspeed seeder", CreationDate: time.Now().Unix()}
	if len(c.trackers) > 0 {
		mi.Announce = c.trackers[0]
		if len(c.trackers) > 1 {
			mi.AnnounceList = metainfo.AnnounceList{c.trackers}
		}
	}
	log.Info("made the torrent", "name", info.Name, "bytes", info.TotalLength(), "pieces", info.NumPieces(), "piece_length", info.PieceLength, "took", time.Since(start).Round(time.Millisecond))
	out := c.torrentOut
	if out == "" {
		out = abs + ".torrent"
	}
	if old, err := metainfo.LoadFromFile(out); err == nil {
		if old.HashInfoBytes() != mi.HashInfoBytes() {
			return nil, cli.Setupf("%s exists and is another torrent (info hash %s, the data makes %s): remove it or give -torrent-out", out, old.HashInfoBytes().HexString(), mi.HashInfoBytes().HexString())
		}
		return &torrentSource{mi: old, info: info, dir: filepath.Dir(abs), written: out}, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, cli.Setupf("%s exists and is not a readable .torrent (%v): remove it or give -torrent-out", out, err)
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, cli.Setupf("writing the .torrent: %w", err)
	}
	if err := mi.Write(f); err != nil {
		f.Close()
		return nil, cli.Setupf("writing %s: %w", out, err)
	}
	if err := f.Close(); err != nil {
		return nil, cli.Setupf("writing %s: %w", out, err)
	}
	return &torrentSource{mi: mi, info: info, dir: filepath.Dir(abs), written: out}, nil
}

// magnetLink is the torrent's magnet link, with our address as x.pe when
// we listen on a specific IP.
func magnetLink(ts *torrentSource, listen netip.AddrPort) string {
	m, err := ts.mi.MagnetV2()
	if err != nil {
		return ""
	}
	m.DisplayName = ts.info.BestName()
	if listen.IsValid() && !listen.Addr().IsUnspecified() {
		if m.Params == nil {
			m.Params = url.Values{}
		}
		m.Params.Set("x.pe", listen.String())
	}
	return m.String()
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
	ts, err := loadTorrent(c, log)
	if err != nil {
		return err
	}

	ch, err := chain.Connect(ctx, c.chain, env, 0, log)
	if err != nil {
		return err
	}
	defer ch.Close()
	if err := ch.Require(ctx, chain.SeederMinTRX, "redeeming vouchers (a claim or a close costs about 12 TRX at mainnet prices)", btt.Zero, ""); err != nil {
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

	var dht *discovery.DHT
	if c.dht {
		var stopDHT func()
		dht, stopDHT, err = cli.StartDHT(ctx, c.dhtBootstrap, nil, log)
		if err != nil {
			return err
		}
		defer stopDHT()
	}
	cl, err := peer.NewClient(peer.Config{
		ListenAddr: c.listen, Logger: log, Policy: seller.Policy, Extensions: []peer.Extension{seller.Ext},
		RechokeInterval: c.rechoke, UploadRate: c.uploadRate, DHT: dht, Tracker: discovery.TrackerConfig{Logger: log},
	})
	if err != nil {
		return cli.Setupf("-listen %s: %w", c.listen, err)
	}
	clientOpen := true
	closeClient := func() {
		if clientOpen {
			clientOpen = false
			cl.Close()
		}
	}
	defer closeClient()
	verifyStart := time.Now()
	tor, err := cl.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: ts.mi, Dir: ts.dir, Verify: c.verify, Peers: c.peers, Trackers: c.trackers})
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while verifying
		}
		return cli.Setupf("seeding %s from %s: %w", ts.info.BestName(), ts.dir, err)
	}
	st, err := tor.Stats(ctx)
	if err != nil {
		return err
	}
	switch {
	case st.PiecesDone == 0:
		return cli.Setupf("none of the %d pieces of %s is in %s: check -dir (the data must be at %s)", st.Pieces, ts.info.BestName(), ts.dir, filepath.Join(ts.dir, ts.info.BestName()))
	case !st.Complete:
		log.Warn("the data is incomplete: seeding the pieces there are and fetching the rest", "pieces", st.Pieces, "have", st.PiecesDone)
	}
	log.Info("data checked", "pieces", st.PiecesDone, "of", st.Pieces, "verified", c.verify, "took", time.Since(verifyStart).Round(time.Millisecond))

	paid, free := seller.Slots()
	if ts.written != "" {
		fmt.Fprintf(stdout, "torrent: %s\n", ts.written)
	}
	fmt.Fprintf(stdout, "magnet: %s\n", magnetLink(ts, cl.Addr()))
	fmt.Fprintf(stdout, "infohash: %s\n", tor.InfoHash().HexString())
	fmt.Fprintf(stdout, "listening: %s\n", cl.Addr())
	fmt.Fprintf(stdout, "payee: %s\n", ch.Account())
	fmt.Fprintf(stdout, "reserve: %s, %d paid and %d free slots\n", cli.FormatPrice(c.reserve), paid, free)

	var wg sync.WaitGroup
	defer wg.Wait()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var srv *http.Server
	if c.http != "" {
		ln, err := net.Listen("tcp", c.http)
		if err != nil {
			return cli.Setupf("-http: %w", err)
		}
		src := &source{tor: tor, seller: seller, name: ts.info.BestName(), magnet: magnetLink(ts, cl.Addr()), listen: cl.Addr().String(),
			pieces: ts.info.NumPieces(), length: ts.info.TotalLength(), payee: ch.Account(), paidSlot: paid, freeSlot: free}
		srv = &http.Server{Handler: newStatusHandler(src.Snapshot, log), ReadHeaderTimeout: 10 * time.Second}
		wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("status server", "err", err)
			}
		})
		fmt.Fprintf(stdout, "status: http://%s/\n", ln.Addr())
	}
	wg.Go(func() { seller.RunRedeemer(runCtx, c.redeemEvery) })
	fmt.Fprintln(stdout, "seeding")
	log.Info("seeding", "name", ts.info.BestName(), "infohash", tor.InfoHash().HexString(), "listen", cl.Addr(), "payee", ch.Account(), "reserve", cli.FormatPrice(c.reserve))

	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
			if err := tor.Err(); err != nil {
				runErr = fmt.Errorf("the torrent stopped: %w", err)
				log.Error("torrent stopped", "err", err)
				break loop
			}
			st, _ := tor.Stats(ctx)
			tot, _ := seller.Payee.Totals()
			log.Info("status", "peers", st.Peers, "uploaded", st.Uploaded, "up_rate", st.UpRate, "earned_btt", tot.Earned.FormatBTT(), "redeemable_btt", tot.Redeemable.FormatBTT())
		}
	}

	// Shutdown: stop taking peers and serving, then redeem what is left.
	log.Info("stopping: closing peers, then redeeming what is left", "timeout", c.shutdownTimeout)
	if srv != nil {
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = srv.Shutdown(sctx)
		scancel()
	}
	closeClient()
	cancel()
	wg.Wait()
	rctx, rcancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer rcancel()
	res, err := seller.RedeemOnShutdown(rctx)
	tot, _ := seller.Payee.Totals()
	fmt.Fprintf(stdout, "redeemed: %s base units (%s BTT) now: %d channels claimed, %d closed, %d below -min-redeem left; in all %s BTT redeemed, %s BTT left\n",
		res.Redeemed, res.Redeemed.FormatBTT(), res.Claimed, res.Closed, res.BelowFloor, tot.Redeemed.FormatBTT(), tot.Redeemable.FormatBTT())
	if err != nil {
		log.Error("redeeming at shutdown", "err", err, "left_btt", res.Left.FormatBTT())
		return errors.Join(runErr, err)
	}
	fmt.Fprintln(stdout, "stopped")
	return runErr
}
