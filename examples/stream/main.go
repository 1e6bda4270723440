// Command stream streams one file of a torrent as it downloads, the way a
// media player would, and prints the buffer ahead of the playhead: it is
// the embedding API (peer.File.NewReader, priorities, events) at work.
//
//	stream [flags] FILE.torrent | MAGNET
//	stream -file movie.mkv -rate 1MB -peer 127.0.0.1:6881 show.torrent
//	stream -http 127.0.0.1:8080 -peer 127.0.0.1:6881 'magnet:?xt=urn:btih:…'
//
// Only the chosen file is downloaded (-file: its path as peer.File.Path
// has it, or its index; default the largest), every other file set to
// PiecePriorityNone. With -rate the player reads at that many bytes per
// second (suffixes KB, MB: powers of 1000) and counts a stall each time
// the playhead reaches the end of the verified bytes; without it, it reads
// as fast as the data comes. -out FILE writes what it reads (- for
// standard output); -http ADDR serves the file at http://ADDR/ with range
// requests (http.ServeContent over the Reader) instead of playing it.
//
// Every -progress it prints a line: position, buffer (bytes and playback
// seconds), bytes downloaded, peers, stalls. Then "streamed:" with the
// bytes read, the stalls and the time. Exit codes: 0 streamed to the end,
// 1 failed or interrupted, 2 could not start.
//
// With -budget it buys from seeders that sell their upload (btt_speed)
// with bidding.Deadline, which bids for the playhead: nothing while the
// buffer is over -high, up when it falls under -low. The chain flags are
// the leecher's (an embedded devnet by default; -chain HOST:PORT with
// $BTTSPEED_KEY for a running one), and each line adds what was spent.
//
//	BTTSPEED_KEY=<hex key> go run ./examples/stream -chain 127.0.0.1:50051 \
//	    -state ./stream-state -budget 5 -rate 1MB -peer 127.0.0.1:6881 movie.torrent
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
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/examples/internal/chain"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/examples/internal/market"
	"github.com/bttspeed/bttspeed/peer"
)

func main() { cli.Main(run) }

type config struct {
	torrent, magnet string
	file            string
	dir             string
	out             string
	httpAddr        string
	rate            int64
	readahead       int64
	listen          string
	peers           cli.AddrList
	trackers        cli.StringList
	progress        time.Duration
	timeout         time.Duration
	log             cli.LogFlags

	budget, deposit btt.Amount
	lifetime        time.Duration
	state           string
	low, high       time.Duration
	chain           chain.Flags
}

func parse(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("stream", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var rate, readahead string
	fs.StringVar(&c.file, "file", "", "the file to stream: its path (as peer.File.Path) or index (default: the largest)")
	fs.StringVar(&c.dir, "dir", ".", "where the data goes")
	fs.StringVar(&c.out, "out", "", "write what is read to this file (- for standard output; default: nowhere)")
	fs.StringVar(&c.httpAddr, "http", "", "serve the file at http://ADDR/ instead of playing it")
	fs.StringVar(&rate, "rate", "0", "playback rate in bytes per second (KB, MB suffixes); 0 reads as fast as the data comes")
	fs.StringVar(&readahead, "readahead", "16MB", "bytes ahead of the playhead fetched first")
	fs.StringVar(&c.listen, "listen", ":0", "TCP address to accept peers on")
	fs.Var(&c.peers, "peer", "a peer to connect to, ip:port (repeatable)")
	fs.Var(&c.trackers, "tracker", "tracker announce URL (repeatable), besides the torrent's")
	fs.DurationVar(&c.progress, "progress", 2*time.Second, "how often to print the buffer")
	fs.DurationVar(&c.timeout, "timeout", 0, "give up after this long (0: never)")
	var budget, deposit string
	fs.StringVar(&budget, "budget", "0", "the most BTT to spend buying the playhead (0: pay nobody; no chain needed)")
	fs.StringVar(&deposit, "deposit", "", "BTT one channel locks (default: the whole budget)")
	fs.DurationVar(&c.lifetime, "lifetime", 24*time.Hour, "a channel's lifetime")
	fs.StringVar(&c.state, "state", "", "directory of the payer's store; required with -chain (default with the embedded devnet: a temporary one)")
	fs.DurationVar(&c.low, "low", 30*time.Second, "Deadline: raise the bid when the buffer falls under this much playback")
	fs.DurationVar(&c.high, "high", 90*time.Second, "Deadline: bid nothing while the buffer holds more than this")
	c.chain.Register(fs)
	c.log.Register(fs)
	if err := cli.Parse(fs, args, 1); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintln(stderr, "usage: stream [flags] FILE.torrent | MAGNET")
			fs.PrintDefaults()
		}
		return nil, err
	}
	switch arg := fs.Arg(0); {
	case arg == "":
		return nil, cli.Setupf("nothing to stream: give a .torrent file or a magnet link")
	case strings.HasPrefix(arg, "magnet:"):
		c.magnet = arg
	default:
		if _, err := os.Stat(arg); err != nil {
			return nil, cli.Setupf("torrent: %w", err)
		}
		c.torrent = arg
	}
	var err error
	if c.rate, err = parseBytes("rate", rate); err != nil {
		return nil, err
	}
	if c.readahead, err = parseBytes("readahead", readahead); err != nil {
		return nil, err
	}
	if c.progress <= 0 {
		return nil, cli.Setupf("-progress %v: want above zero", c.progress)
	}
	if c.out != "" && c.httpAddr != "" {
		return nil, cli.Setupf("give -out or -http, not both")
	}
	if c.budget, err = cli.ParseBTT("budget", budget); err != nil {
		return nil, err
	}
	if deposit != "" {
		if c.deposit, err = cli.ParseBTT("deposit", deposit); err != nil {
			return nil, err
		}
	}
	if _, err := bidding.NewDeadline(c.low, c.high); err != nil {
		return nil, cli.Setupf("-low %v, -high %v: %w", c.low, c.high, err)
	}
	if err := c.chain.Check(); err != nil {
		return nil, err
	}
	if !c.budget.IsZero() && c.chain.Node != "" && c.state == "" {
		return nil, cli.Setupf("-budget with -chain needs -state DIR: the channels outlive the process")
	}
	return c, nil
}

// parseBytes parses a byte count with an optional KB or MB suffix.
func parseBytes(name, s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "MB"):
		mult, s = 1_000_000, strings.TrimSuffix(s, "MB")
	case strings.HasSuffix(s, "KB"):
		mult, s = 1_000, strings.TrimSuffix(s, "KB")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<53)/mult {
		return 0, cli.Setupf("-%s %q: want a byte count such as 500KB or 2MB", name, s)
	}
	return n * mult, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, env chain.Env) int {
	err := stream(ctx, args, stdout, stderr, env)
	if errors.Is(err, flag.ErrHelp) {
		return cli.ExitOK
	}
	return cli.Report(stderr, "stream", err)
}

func stream(ctx context.Context, args []string, stdout, stderr io.Writer, env chain.Env) error {
	c, err := parse(args, stderr)
	if err != nil {
		return err
	}
	log, err := c.log.Logger(stderr)
	if err != nil {
		return err
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var exts []peer.Extension
	spent := func() btt.Amount { return btt.Zero }
	if !c.budget.IsZero() {
		buyer, closeBuyer, err := buy(ctx, c, env, log)
		if err != nil {
			return err
		}
		defer closeBuyer()
		exts = append(exts, buyer.Ext)
		spent = func() btt.Amount { return signed(buyer) }
	}
	cl, err := peer.NewClient(peer.Config{ListenAddr: c.listen, Logger: log, Extensions: exts})
	if err != nil {
		return cli.Setupf("-listen %s: %w", c.listen, err)
	}
	defer cl.Close()
	tor, err := cl.AddTorrent(ctx, peer.TorrentSpec{
		TorrentFile: c.torrent, Magnet: c.magnet, Dir: c.dir, Peers: c.peers, Trackers: c.trackers,
		// Nothing until the file is chosen: the reader's window, then
		// the file's priority, say what to fetch.
		FilePriority: func(int, string) peer.PiecePriority { return peer.PiecePriorityNone },
	})
	if err != nil {
		return cli.Setupf("adding the torrent: %w", err)
	}
	select {
	case <-tor.GotInfo():
	case <-ctx.Done():
		return fmt.Errorf("waiting for the torrent's info: %w", ctx.Err())
	}
	f, err := choose(tor.Files(), c.file)
	if err != nil {
		return err
	}
	f.SetPriority(peer.PiecePriorityNormal)
	tor.SetSequential(true)
	fmt.Fprintf(stdout, "streaming %s (%d bytes)\n", f.Path(), f.Length())
	r := f.NewReader()
	defer r.Close()
	r.SetReadahead(c.readahead)
	if c.rate > 0 {
		r.SetPlaybackRate(c.rate)
	}
	r.SetContext(ctx)
	if c.httpAddr != "" {
		return serve(ctx, c.httpAddr, f, r, stdout)
	}
	var out io.Writer = io.Discard
	switch c.out {
	case "":
	case "-":
		out = stdout
		stdout = stderr // progress must not mix with the data
	default:
		fh, err := os.Create(c.out)
		if err != nil {
			return cli.Setupf("-out: %w", err)
		}
		defer fh.Close()
		out = fh
	}
	p := &player{r: r, tor: tor, length: f.Length(), rate: c.rate, out: out, spent: spent}
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- p.play(ctx) }()
	tick := time.NewTicker(c.progress)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			p.report(stdout)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "streamed: %d bytes, %d stalls, %v, spent %s BTT\n", p.pos.Load(), p.stalls.Load(), time.Since(start).Round(time.Millisecond), spent().FormatBTT())
			return nil
		case <-tick.C:
			p.report(stdout)
		}
	}
}

// choose returns the file named by sel (a path or an index), or the
// largest file when sel is empty.
func choose(files []*peer.File, sel string) (*peer.File, error) {
	if sel == "" {
		var best *peer.File
		for _, f := range files {
			if !f.Padding() && (best == nil || f.Length() > best.Length()) {
				best = f
			}
		}
		if best == nil {
			return nil, cli.Setupf("the torrent has no files")
		}
		return best, nil
	}
	for _, f := range files {
		if f.Path() == sel || f.DisplayPath() == sel {
			return f, nil
		}
	}
	if i, err := strconv.Atoi(sel); err == nil && i >= 0 && i < len(files) {
		return files[i], nil
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Path())
	}
	return nil, cli.Setupf("-file %q: no such file; the torrent has %s", sel, strings.Join(names, ", "))
}

// serve serves the file over HTTP until ctx ends.
func serve(ctx context.Context, addr string, f *peer.File, r *peer.Reader, stdout io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return cli.Setupf("-http: %w", err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// One reader, one request at a time: a player's requests are
		// sequential (a new range replaces the last).
		http.ServeContent(w, req, f.DisplayPath(), time.Time{}, r)
	})}
	fmt.Fprintf(stdout, "serving %s at http://%s/\n", f.Path(), ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		_ = srv.Close()
		<-errc
		return nil
	case err := <-errc:
		return fmt.Errorf("http: %w", err)
	}
}

// buy connects to the chain and makes the btt_speed buyer, bidding with
// Deadline; the returned function closes what it opened.
func buy(ctx context.Context, c *config, env chain.Env, log *slog.Logger) (*market.Buyer, func(), error) {
	ch, err := chain.Connect(ctx, c.chain, env, 1, log)
	if err != nil {
		return nil, nil, err
	}
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	closers = append(closers, func() { ch.Close() })
	if err := ch.Require(ctx, chain.LeecherMin, "approving and opening a channel and a top-up", c.budget, "the budget (-budget "+c.budget.FormatBTT()+")"); err != nil {
		closeAll()
		return nil, nil, err
	}
	state := c.state
	if state == "" {
		tmp, err := os.MkdirTemp("", "bttspeed-stream-")
		if err != nil {
			closeAll()
			return nil, nil, cli.Setup(err)
		}
		closers = append(closers, func() { os.RemoveAll(tmp) })
		state = tmp
	}
	b, err := market.NewBuyer(ctx, ch, market.BuyConfig{StateDir: state, Strategy: bidding.Deadline{Low: c.low, High: c.high},
		Budget: c.budget, Deposit: c.deposit, Lifetime: c.lifetime, Logger: log})
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	closers = append(closers, func() { b.Close() })
	log.Info("buying the playhead", "account", ch.Account(), "budget_btt", c.budget.FormatBTT(), "state", state)
	return b, closeAll, nil
}

// signed returns what the buyer signed on all its channels, as its store
// last recorded it.
func signed(b *market.Buyer) btt.Amount {
	chans, err := b.Channels()
	if err != nil {
		return btt.Zero
	}
	var total btt.Amount
	for _, c := range chans {
		total, _ = total.Add(c.Signed)
	}
	return total
}
