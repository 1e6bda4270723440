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
// Buying the playhead on a paid swarm (bidding.Deadline) needs the buyer
// to read Torrent.StreamState into its Market; this command will take
// -budget once peer/speed does.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bttspeed/bttspeed/examples/internal/cli"
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

func run(ctx context.Context, args []string, stdout, stderr io.Writer, _ func(string) (string, bool)) int {
	err := stream(ctx, args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return cli.ExitOK
	}
	return cli.Report(stderr, "stream", err)
}

func stream(ctx context.Context, args []string, stdout, stderr io.Writer) error {
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
	cl, err := peer.NewClient(peer.Config{ListenAddr: c.listen, Logger: log})
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
	p := &player{r: r, tor: tor, length: f.Length(), rate: c.rate, out: out}
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
			fmt.Fprintf(stdout, "streamed: %d bytes, %d stalls, %v\n", p.pos.Load(), p.stalls.Load(), time.Since(start).Round(time.Millisecond))
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
