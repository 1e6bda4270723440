package peer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/anacrolix/torrent/segments"
	"github.com/anacrolix/torrent/webseed"
	"golang.org/x/time/rate"

	"github.com/bttspeed/bttspeed/piece"
)

// The HTTP side of web seeds: one run of blocks is fetched with one range
// request per file it spans (BEP 19: a directory URL gets the torrent's
// name and the file's path, escaped by anacrolix's webseed package), and
// every answer is checked against what was asked before a byte of it is
// used: the status, Content-Range, Content-Length, and the body's actual
// length (short is an error, and so is one byte more). A request that
// stalls or runs too long is cancelled; so is one in flight when the
// torrent pauses.

var (
	errWebSeedPaused   = errors.New("web seed: torrent paused")
	errWebSeedUnwanted = errors.New("web seed: dropped, or the download complete")
	errWebSeedStalled  = errors.New("web seed: sent nothing for too long")
	errWebSeedTimeout  = errors.New("web seed: request took too long")
	errWebSeedResponse = errors.New("web seed: bad response")
	errWebSeedLayout   = errors.New("web seed: the torrent's files do not tile its data")
)

// webSeedBusyError is a 503 or 429 answer, with the rest it asked for.
type webSeedBusyError struct {
	status     string
	retryAfter time.Duration
}

func (e *webSeedBusyError) Error() string {
	return fmt.Sprintf("web seed: busy (%s, retry after %v)", e.status, e.retryAfter)
}

// maxWebSeedRedirects bounds the redirects a web seed request follows.
const maxWebSeedRedirects = 5

// newWebSeedTransport returns the transport of a web seed's own client.
// Without cfg.AllowPrivate it dials public addresses only, and so uses no
// proxy: a proxy would resolve the names, where the dialer cannot check.
func newWebSeedTransport(cfg WebSeedConfig) *http.Transport {
	if cfg.AllowPrivate {
		return webSeedTransport(cfg, nil)
	}
	return webSeedTransport(cfg, publicAddrPort)
}

// webSeedTransport returns a web seed's transport whose dialer connects
// where allowed says (anywhere, through the environment's proxy, if nil).
func webSeedTransport(cfg WebSeedConfig, allowed func(netip.AddrPort) bool) *http.Transport {
	proxy := http.ProxyFromEnvironment
	if allowed != nil {
		proxy = nil
	}
	return &http.Transport{
		Proxy:                  proxy,
		DialContext:            webSeedDialer(allowed).DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConnsPerHost:    cfg.MaxRequests,
		IdleConnTimeout:        30 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  cfg.StallTimeout,
		MaxResponseHeaderBytes: 64 << 10,
		// A compressed body's length is not the range's: never ask.
		DisableCompression: true,
	}
}

func checkWebSeedRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxWebSeedRedirects {
		return fmt.Errorf("%w: more than %d redirects", errWebSeedResponse, maxWebSeedRedirects)
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return fmt.Errorf("%w: redirect to %s", errWebSeedResponse, req.URL.Scheme)
	}
	return nil
}

// fetch fetches a run of contiguous blocks from ws and posts each block to
// the loop as it completes. It returns nil once every block is posted.
//
// The info and layout it reads are set before GotInfo and never change.
func (ws *webSeed) fetch(ctx context.Context, pause <-chan struct{}, run []piece.Block) error {
	t := ws.t
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	wd := newWatchdog(ws.cfg.StallTimeout, ws.cfg.Timeout, cancel)
	defer wd.stop()
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		select {
		case <-pause:
			cancel(errWebSeedPaused)
		case <-ctx.Done():
		}
	}()
	defer func() { cancel(nil); <-watching }()
	s := &webSeedSink{ws: ws, ctx: ctx, cancel: cancel, wd: wd, run: run}
	defer s.release()
	var length int64
	for _, b := range run {
		length += int64(b.Length)
	}
	files := t.info.UpvertedFiles()
	for fi, e := range ws.index.LocateIter(segments.Extent{Start: t.layout.Offset(run[0]), Length: length}) {
		if e.Length == 0 {
			continue
		}
		var err error
		if strings.Contains(files[fi].Attr, "p") {
			err = s.zeros(e.Length) // BEP 47 padding: zeros, never fetched
		} else {
			err = ws.get(ctx, s, fi, e, files[fi].Length)
		}
		if err != nil {
			if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) && !errors.Is(err, c) {
				return fmt.Errorf("%w (%v)", c, err) // why the request was cut
			}
			return err
		}
	}
	if s.k != len(run) {
		return fmt.Errorf("%w: the files cover %d of %d blocks", errWebSeedResponse, s.k, len(run))
	}
	return nil
}

// get fetches extent e of file fi (of length fileLen) into s.
func (ws *webSeed) get(ctx context.Context, s *webSeedSink, fi int, e segments.Extent, fileLen int64) error {
	u := ws.client.UrlForFileIndex(fi)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadWebSeed, err)
	}
	last := e.Start + e.Length - 1
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", e.Start, last))
	ws.requests.Add(1)
	resp, err := ws.http.Do(req)
	if err != nil {
		return fmt.Errorf("web seed: %w", err)
	}
	defer resp.Body.Close()
	s.wd.progress()
	body := resp.Body
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, end, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != e.Start || end != last {
			return fmt.Errorf("%w: Content-Range %q for bytes=%d-%d", errWebSeedResponse, resp.Header.Get("Content-Range"), e.Start, last)
		}
		if resp.ContentLength >= 0 && resp.ContentLength != e.Length {
			return fmt.Errorf("%w: Content-Length %d for %d bytes", errWebSeedResponse, resp.ContentLength, e.Length)
		}
		if err := s.copy(body, e.Length); err != nil {
			return err
		}
		return noMore(body, e.Length)
	case http.StatusOK:
		// The whole file: a server that ignores ranges. Skip to the
		// range if it is near the start, as anacrolix does.
		if e.Start > webseed.MaxDiscardBytes {
			return fmt.Errorf("%w: 200 OK for a range at %d (ranges ignored)", errWebSeedResponse, e.Start)
		}
		if resp.ContentLength >= 0 && resp.ContentLength != fileLen {
			return fmt.Errorf("%w: Content-Length %d for a file of %d bytes", errWebSeedResponse, resp.ContentLength, fileLen)
		}
		if _, err := io.CopyN(io.Discard, body, e.Start); err != nil {
			return fmt.Errorf("web seed: skipping to the range: %w", err)
		}
		if err := s.copy(body, e.Length); err != nil {
			return err
		}
		if e.Start+e.Length == fileLen {
			return noMore(body, e.Length)
		}
		return nil // the rest is not read: closing the body drops the connection
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		return &webSeedBusyError{status: resp.Status, retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	default:
		return fmt.Errorf("%w: %s", errWebSeedResponse, resp.Status)
	}
}

// noMore checks that body ends after the n bytes read: a server that sends
// more lies about the range, and is not read further.
func noMore(body io.Reader, n int64) error {
	var one [1]byte
	if k, _ := io.ReadFull(body, one[:]); k > 0 {
		return fmt.Errorf("%w: body longer than the %d bytes asked", errWebSeedResponse, n)
	}
	return nil
}

// parseContentRange parses a Content-Range header's "bytes FIRST-LAST/SIZE"
// (SIZE may be "*"), and checks FIRST <= LAST < SIZE.
func parseContentRange(h string) (first, last int64, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(h), "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, size, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || first < 0 || last < first {
		return 0, 0, false
	}
	if size != "*" {
		n, err := strconv.ParseInt(size, 10, 64)
		if err != nil || last >= n {
			return 0, 0, false
		}
	}
	return first, last, true
}

// parseRetryAfter parses a Retry-After header (seconds, or an HTTP date);
// anything else, or a time past, is 0.
func parseRetryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if n, err := strconv.ParseInt(h, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, int64(24*time.Hour/time.Second))) * time.Second
	}
	if at, err := http.ParseTime(h); err == nil && at.After(now) {
		return min(at.Sub(now), 24*time.Hour)
	}
	return 0
}

// webSeedSink cuts a response into the run's blocks and posts each, under
// the download rate limits, to the loop.
type webSeedSink struct {
	ws     *webSeed
	ctx    context.Context
	cancel context.CancelCauseFunc
	wd     *watchdog
	run    []piece.Block
	k      int    // the block being filled
	buf    []byte // its bytes so far (a blockPool buffer), nil between blocks
}

// space returns the rest of the block being filled.
func (s *webSeedSink) space() []byte {
	if s.buf == nil {
		bp := blockPool.Get().(*[]byte)
		s.buf = (*bp)[:0]
	}
	return s.buf[len(s.buf):s.run[s.k].Length]
}

// filled counts n more bytes in space, and posts the block once full.
func (s *webSeedSink) filled(n int) error {
	s.buf = s.buf[:len(s.buf)+n]
	b := s.run[s.k]
	if len(s.buf) < int(b.Length) {
		return nil
	}
	data := s.buf
	s.buf = nil
	s.k++
	return s.deliver(b, data)
}

// copy reads exactly n bytes of r into the blocks.
func (s *webSeedSink) copy(r io.Reader, n int64) error {
	for n > 0 {
		if s.k == len(s.run) {
			return fmt.Errorf("%w: more bytes than the run", errWebSeedResponse) // cannot happen: the extents sum to the run
		}
		sp := s.space()
		if int64(len(sp)) > n {
			sp = sp[:n]
		}
		m, err := r.Read(sp)
		if m > 0 {
			s.wd.progress()
			n -= int64(m)
			if err := s.filled(m); err != nil {
				return err
			}
		}
		if err == io.EOF && n > 0 {
			return fmt.Errorf("%w: body ended %d bytes short", errWebSeedResponse, n)
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("reading the body: %w", err)
		}
	}
	return nil
}

// zeros fills n bytes of the blocks with zeros.
func (s *webSeedSink) zeros(n int64) error {
	for n > 0 {
		sp := s.space()
		if int64(len(sp)) > n {
			sp = sp[:n]
		}
		clear(sp)
		n -= int64(len(sp))
		if err := s.filled(len(sp)); err != nil {
			return err
		}
	}
	return nil
}

// deliver waits for the download rate limits, then posts block b to the
// loop; the watchdog does not run meanwhile.
func (s *webSeedSink) deliver(b piece.Block, data []byte) error {
	s.wd.hold()
	defer s.wd.release()
	t, ws, cancel := s.ws.t, s.ws, s.cancel
	for _, lim := range []*rate.Limiter{t.cl.cfg.downLimit, t.emb.downLimit.Load()} {
		if lim != nil && !waitLimit(lim, len(data), s.ctx.Done()) {
			putBlock(data)
			return context.Cause(s.ctx)
		}
	}
	if !t.post(event{kind: evFunc, fn: func() {
		if !t.webSeedBlock(ws, b, data) {
			cancel(errWebSeedUnwanted)
		}
	}}) {
		putBlock(data)
		return ErrClosed
	}
	return nil
}

// release returns a partly filled block's buffer.
func (s *webSeedSink) release() {
	if s.buf != nil {
		putBlock(s.buf)
		s.buf = nil
	}
}

// watchdog cancels a request that makes no progress for stall, or that
// runs longer than total; hold and release stop the clocks while the
// request waits on us (the rate limits, the loop). Its methods are for
// the request's goroutine only.
type watchdog struct {
	stall          time.Duration
	stallT, totalT *time.Timer
	left           time.Duration // of total, when the clocks last started
	since          time.Time
}

func newWatchdog(stall, total time.Duration, cancel context.CancelCauseFunc) *watchdog {
	return &watchdog{
		stall:  stall,
		left:   total,
		since:  time.Now(),
		stallT: time.AfterFunc(stall, func() { cancel(errWebSeedStalled) }),
		totalT: time.AfterFunc(total, func() { cancel(errWebSeedTimeout) }),
	}
}

func (w *watchdog) progress() { w.stallT.Reset(w.stall) }

func (w *watchdog) hold() {
	w.stallT.Stop()
	w.totalT.Stop()
	w.left -= time.Since(w.since)
}

func (w *watchdog) release() {
	w.since = time.Now()
	w.stallT.Reset(w.stall)
	w.totalT.Reset(max(w.left, 0))
}

func (w *watchdog) stop() {
	w.stallT.Stop()
	w.totalT.Stop()
}
