// Command seeder seeds files, folders and .torrents — as many as given, and
// everything in a watched directory — and sells its upload slots for BTT: the highest bids at or above a reserve price win paid
// slots (choker.BidDriven, a uniform-price auction), and a slot of every
// five stays free for everyone, stock BitTorrent clients included. Payers
// pay with vouchers on TRON payment channels; the seeder keeps them in a
// bbolt store and redeems them on chain on a schedule and at shutdown.
//
//	seeder [flags] PATH...              make a torrent of each file or folder and seed it
//	seeder [flags] FILE.torrent...      seed each .torrent from the data beside it (or in -dir)
//	seeder [flags] -watch DIR           seed everything in DIR, as it comes and goes
//	seeder -config FILE                 the same, with the settings in a file
//	seeder -check [-config FILE] …      validate, reach the chain, show the wallet, exit
//	seeder -version
//
// Every torrent sells through one payee, one channel store and one
// redeemer: a payer's channel pays for what it gets of any of them. For a
// PATH it writes PATH.torrent (or -torrent-out, with one PATH; or into
// -torrent-dir), naming the -tracker and -webseed URLs given and, with
// -dht and -listen on an IP and a port, its DHT node on the UDP port of
// that number (BEP 5 "nodes": the one peer hint a .torrent can carry); it prints, per torrent, the .torrent, the
// magnet link (which carries the seeder's address as x.pe when -listen
// names an IP) and a "leecher:" line with the flags a leecher needs to
// find and pay it.
//
// -watch DIR seeds each file or folder in DIR, and each .torrent there
// (its data in DIR: data with its .torrent beside it is seeded as that
// .torrent), once it has not changed for one scan (-watch-every);
// an entry that changes is dropped and seeded again, one removed is
// dropped. The .torrent files of watched data go to -torrent-dir
// (default: STATE/torrents), never into DIR.
//
// A config file (-config FILE) holds what an operator sets every time:
// one "flag = value" line per setting, by the flag's name ("reserve =
// 1/GiB", "tracker = udp://…" once per tracker, "seed = PATH" once per
// thing to seed); flags on the command line override it. It never holds a
// key: keys come from the environment or a keystore file's path.
//
// By default the chain is an embedded devnet inside the process, so
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
// -http 127.0.0.1:PORT serves a status page that refreshes itself every
// few seconds — charts of the last hour (upload rate, paid and free bytes,
// BTT earned and redeemed, the clearing price against the reserve), a
// table per torrent, per peer and per channel — /status.json (camelCase
// keys, documented on Snapshot), /history.json (the charts' samples) and
// /metrics (Prometheus; per-torrent series carry infohash and name
// labels). A non-loopback address needs -http-allow-remote.
//
// Standard output carries "key: value" lines meant for scripts: per
// torrent at the start, torrent:, magnet:, infohash: and leecher:; then
// listening:, payee:, reserve:, status:, and "seeding"; while running,
// "added:" and "dropped:" as the watched directory changes; at the end
// "redeemed:" and "stopped"; logs go to standard
// error (-log-format text|json, -log-level). Exit codes: 0 done, 1 failed
// while running, 2 could not start (bad flag, missing file, unreachable
// node, empty wallet).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/examples/internal/chain"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/paychan"
)

func main() { cli.Main(run) }

// config is the parsed command line.
type config struct {
	paths                    []string
	torrent, dir, torrentOut string
	torrentDir               string
	watch                    string
	watchEvery               time.Duration
	pieceLength              int64
	verify                   bool
	check                    bool
	configFile               string
	webSeeds                 cli.StringList

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
	net          cli.NetFlags
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
	var version bool
	fs.StringVar(&c.configFile, "config", "", "read settings from this file: \"flag = value\" lines (\"seed = PATH\" for what to seed); flags given override it")
	fs.BoolVar(&version, "version", false, "print the version and exit")
	fs.BoolVar(&c.check, "check", false, "validate the settings, reach the chain, show the wallet's TRX and BTT, and exit (0: ready to seed)")
	fs.StringVar(&c.torrent, "torrent", "", "seed this .torrent file (its data in -dir); a FILE.torrent argument does the same")
	fs.StringVar(&c.dir, "dir", "", "the directory holding the data of the .torrents given (default: each .torrent's directory)")
	fs.StringVar(&c.torrentOut, "torrent-out", "", "with one PATH: where to write the .torrent (default PATH.torrent)")
	fs.StringVar(&c.torrentDir, "torrent-dir", "", "write the .torrent of each PATH here instead of beside it (default with -watch, for the watched data: STATE/torrents)")
	fs.StringVar(&c.watch, "watch", "", "seed every file and folder in this directory, adding what appears and dropping what goes")
	fs.DurationVar(&c.watchEvery, "watch-every", 10*time.Second, "with -watch: how often to look; an entry is taken once unchanged for a look")
	fs.Var(&c.webSeeds, "webseed", "a web seed URL (BEP 19) to put in the .torrents made (repeatable)")
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
	fs.StringVar(&c.listen, "listen", ":6881", "address to accept peers on: TCP, and UDP for uTP with -protocols utp")
	c.net.Register(fs)
	fs.Var(&c.trackers, "tracker", "tracker announce URL (http, https or udp; repeatable); with PATH it also goes in the .torrent")
	fs.Var(&c.peers, "peer", "a peer to connect to, ip:port (repeatable)")
	fs.BoolVar(&c.dht, "dht", false, "use the mainline DHT (reaches the internet through its public bootstrap nodes unless -dht-bootstrap is given)")
	fs.Var(&c.dhtBootstrap, "dht-bootstrap", "with -dht: a DHT node to join through instead of the public ones, ip:port (repeatable)")
	fs.StringVar(&c.http, "http", "", "serve the status page and /metrics on this address, such as 127.0.0.1:8080")
	fs.BoolVar(&c.httpAllowRemote, "http-allow-remote", false, "allow a non-loopback -http address")
	c.chain.Register(fs)
	c.log.Register(fs)
	fs.Usage = func() {}
	if err := cli.Parse(fs, args, maxPaths); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintln(stderr, "usage: seeder [flags] PATH|FILE.torrent... | seeder [flags] -watch DIR | seeder -config FILE | seeder -check | seeder -version")
			fs.PrintDefaults()
		}
		return nil, err
	}
	if version {
		return nil, cli.ErrVersion
	}
	c.paths = fs.Args()
	if c.configFile != "" {
		extra, err := cli.ApplyConfig(fs, c.configFile, "seed")
		if err != nil {
			return nil, err
		}
		if len(c.paths) == 0 {
			c.paths = extra["seed"]
		}
	}
	var err error
	var datas, torrents int
	for _, p := range c.paths {
		if isTorrentFile(p) {
			torrents++
		} else {
			datas++
		}
	}
	if c.torrent != "" {
		torrents++
	}
	switch {
	case len(c.paths) == 0 && c.torrent == "" && c.watch == "" && !c.check:
		return nil, cli.Setupf("nothing to seed: give files or folders (seeder [flags] PATH...), .torrent files, -watch DIR, or seed = PATH lines in -config")
	case datas > 0 && c.dir != "" && torrents == 0:
		return nil, cli.Setupf("-dir goes with -torrent or .torrent files; with PATH the data is PATH itself")
	case c.torrentOut != "" && (datas != 1 || len(c.paths) != 1 || c.torrent != ""):
		return nil, cli.Setupf("-torrent-out goes with exactly one PATH (use -torrent-dir for several)")
	}
	if c.watch != "" {
		if st, err := os.Stat(c.watch); err != nil || !st.IsDir() {
			return nil, cli.Setupf("-watch %s: want a directory: %v", c.watch, err)
		}
		if c.watchEvery <= 0 {
			return nil, cli.Setupf("-watch-every %v: want a positive duration", c.watchEvery)
		}
	}
	for _, ws := range c.webSeeds {
		if u, err := url.Parse(ws); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, cli.Setupf("-webseed %q: want an http:// or https:// URL", ws)
		}
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
	if c.chain.Node != "" && c.state == "" && !c.check {
		return nil, cli.Setupf("-chain needs -state DIR: the vouchers it earns must survive a restart")
	}
	if err := c.chain.Check(); err != nil {
		return nil, err
	}
	return c, nil
}

// maxPaths bounds the arguments, so that a glob gone wrong is refused
// rather than hashed.
const maxPaths = 100_000

// isTorrentFile reports an argument that is a .torrent to load, not data.
func isTorrentFile(p string) bool {
	if !strings.HasSuffix(p, ".torrent") {
		return false
	}
	st, err := os.Stat(p)
	return err != nil || st.Mode().IsRegular()
}

func checkTracker(tr string) error {
	u, err := url.Parse(tr)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "udp") {
		return cli.Setupf("-tracker %q: want an http://, https:// or udp:// announce URL", tr)
	}
	return nil
}
