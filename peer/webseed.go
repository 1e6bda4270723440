package peer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/anacrolix/torrent/segments"
	"github.com/anacrolix/torrent/webseed"
	"golang.org/x/time/rate"

	"github.com/bttspeed/bttspeed/peer/discovery"
	"github.com/bttspeed/bttspeed/piece"
)

// BEP 19 web seeds: an HTTP(S) server holding the torrent's files is a
// source of pieces beside the peers. To the picker a web seed is one more
// peer that has every piece: it gets the same picks (priorities, readers,
// endgame), its blocks go through the same disk queue and hash check, and
// the same ban rule drops it (piece.PickerConfig.BanAfterBadPieces pieces
// proven bad). It is never a connection: the choker, the extensions and so
// the speed extension's payments never see it.
//
// Each web seed runs WebSeedConfig.MaxRequests workers. A worker asks the
// loop for a run of contiguous blocks (webSeedPick), fetches it with one
// HTTP range request per file it spans (webseed_http.go), posts each block
// to the loop as it completes (webSeedBlock) and reports the end of the
// request (webSeedDone). Web seed state is loop state, but for the counters
// read by WebSeeds and Stats.

// ErrBadWebSeed reports a web seed URL that is not http(s).
var ErrBadWebSeed = errors.New("peer: bad web seed URL")

// WebSeedConfig tunes a torrent's web seeds. Zero fields take the defaults
// shown.
type WebSeedConfig struct {
	// HTTPClient makes the requests. Default: a client of the web seed's
	// own (no compression, at most 5 redirects, to http(s) only), whose
	// idle connections close when its workers stop.
	HTTPClient *http.Client
	// AllowPrivate lets the web seed reach loopback, private, link-local
	// and other non-public addresses, and use the environment's proxy.
	// Off (the default), its requests, redirects included, connect to
	// public addresses only: the dialer checks every address it dials,
	// and a URL naming such a host literally (or localhost) is refused
	// with ErrWebSeedPrivate. TorrentSpec.WebSeeds have it on (the
	// embedder named them); the .torrent's url-list and the magnet
	// link's ws= never do. With HTTPClient, that client's dialer decides.
	AllowPrivate bool
	// MaxRequests is the most requests in flight to one web seed
	// (default 4).
	MaxRequests int
	// RequestSize is the most bytes one request asks for (default 1 MiB,
	// at least one block).
	RequestSize int64
	// StallTimeout fails a request whose server sends nothing for this
	// long (default 20 s). Timeout fails a request not done in this long
	// (default 2 min). Time spent waiting on the download rate limits
	// counts in neither.
	StallTimeout, Timeout time.Duration
	// After a failed request the web seed rests MinBackoff, doubled with
	// each failure in a row, at most MaxBackoff (defaults 1 s and 5 min);
	// a 503 or 429's Retry-After lengthens the rest, up to MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
}

func (c *WebSeedConfig) setDefaults() error {
	if c.MaxRequests < 0 || c.RequestSize < 0 || c.StallTimeout < 0 || c.Timeout < 0 || c.MinBackoff < 0 || c.MaxBackoff < 0 {
		return fmt.Errorf("%w: negative web seed setting", ErrConfig)
	}
	if c.MaxRequests == 0 {
		c.MaxRequests = 4
	}
	if c.RequestSize == 0 {
		c.RequestSize = 1 << 20
	}
	c.RequestSize = max(c.RequestSize, piece.BlockSize)
	for _, d := range []struct {
		p *time.Duration
		v time.Duration
	}{{&c.StallTimeout, 20 * time.Second}, {&c.Timeout, 2 * time.Minute}, {&c.MinBackoff, time.Second}, {&c.MaxBackoff, 5 * time.Minute}} {
		if *d.p == 0 {
			*d.p = d.v
		}
	}
	c.MaxBackoff = max(c.MaxBackoff, c.MinBackoff)
	return nil
}

// WebSeedInfo describes one web seed of a torrent.
type WebSeedInfo struct {
	URL string
	// Downloaded counts the payload bytes it sent that we wanted.
	Downloaded int64
	// Requests counts the HTTP requests made; Failures the runs of blocks
	// that failed (a run of a torrent of several files may take one
	// request per file).
	Requests, Failures int64
	// InFlight is the blocks requested from it and not yet received.
	InFlight int
	// Dropped reports that it is used no more: it sent data that failed
	// its hash, or the torrent's files leave gaps a request by file
	// cannot fill, or its host resolved or redirected to a non-public
	// address without WebSeedConfig.AllowPrivate (LastErr says).
	Dropped bool
	// RetryAt is when it is asked again after a failure (zero if not
	// resting); LastErr says why its last request failed.
	RetryAt time.Time
	LastErr error
}

// maxWebSeeds bounds the web seeds of one torrent: a url-list comes from
// whoever made the .torrent.
const maxWebSeeds = 16

// webSeedIdle is how long a worker with nothing to fetch waits before it
// asks again (a block returned by a peer, a piece that failed, a new
// priority).
const webSeedIdle = 500 * time.Millisecond

// webSeed is one web seed of one torrent.
type webSeed struct {
	t    *Torrent
	url  string
	cfg  WebSeedConfig
	http *http.Client
	own  *http.Transport // the transport we made, closed with the workers

	// Loop state.
	id      PeerID // 0 until the info is known
	client  webseed.Client
	index   segments.Index
	fails   int // failures in a row (one per rest: those of requests in flight together count once)
	out     int // runs handed to workers and not done
	retryAt time.Time
	dropped bool
	lastErr error

	// Safe from any goroutine.
	downloaded atomic.Int64
	requests   atomic.Int64
	failures   atomic.Int64
	running    atomic.Int32 // workers still running
}

// webSeedLists holds each torrent's web seeds, appended on its loop and
// read by WebSeeds and Stats; a torrent's entry goes when it stops.
var webSeedLists = struct {
	sync.Mutex
	m map[*Torrent][]*webSeed
}{m: map[*Torrent][]*webSeed{}}

func (t *Torrent) webSeeds() []*webSeed {
	webSeedLists.Lock()
	defer webSeedLists.Unlock()
	return webSeedLists.m[t]
}

// AddWebSeeds adds BEP 19 web seeds (http or https URLs; for a torrent of
// several files, directory URLs, as BEP 19 has them) with cfg, or the
// defaults if cfg is nil. They start fetching once the info is known, and
// stop while the torrent is paused. A URL already added is skipped; past
// 16 web seeds the rest are. Without cfg.AllowPrivate (or HTTPClient), a
// URL naming a non-public host is an error (ErrWebSeedPrivate), and one
// whose name resolves, or that redirects, to such an address is dropped
// at its first request; a URL of TorrentSpec.WebSeeds may reach any.
// Safe from any goroutine.
func (t *Torrent) AddWebSeeds(urls []string, cfg *WebSeedConfig) error {
	var c WebSeedConfig
	if cfg != nil {
		c = *cfg
	}
	if err := c.setDefaults(); err != nil {
		return err
	}
	for _, u := range urls {
		if err := checkWebSeedURL(u); err != nil {
			return err
		}
		if c.HTTPClient == nil && !t.webSeedAllowPrivate(u, c) {
			if err := checkWebSeedHost(u); err != nil {
				return err
			}
		}
	}
	return t.addWebSeeds(urls, c)
}

// webSeedAllowPrivate reports whether web seed u, added with cfg, may
// reach non-public addresses.
func (t *Torrent) webSeedAllowPrivate(u string, cfg WebSeedConfig) bool {
	return cfg.AllowPrivate || t.cl.cfg.AllowPrivateWebSeeds || allowPrivateWebSeeds.Load() || slices.Contains(t.spec.WebSeeds, u)
}

// addWebSeeds adds checked URLs.
func (t *Torrent) addWebSeeds(urls []string, cfg WebSeedConfig) error {
	var added []*webSeed
	err := t.do(t.ctx, func() {
		webSeedLists.Lock()
		defer webSeedLists.Unlock()
		list, ok := webSeedLists.m[t]
		if !ok {
			context.AfterFunc(t.ctx, func() {
				webSeedLists.Lock()
				delete(webSeedLists.m, t)
				webSeedLists.Unlock()
			})
		}
		for _, u := range urls {
			if len(list) >= maxWebSeeds {
				t.log.Warn("too many web seeds: ignoring the rest", "max", maxWebSeeds)
				break
			}
			if slices.ContainsFunc(list, func(ws *webSeed) bool { return ws.url == u }) {
				continue
			}
			c := cfg
			c.AllowPrivate = t.webSeedAllowPrivate(u, cfg)
			ws := newWebSeed(t, u, c)
			list = append(list, ws)
			added = append(added, ws)
		}
		webSeedLists.m[t] = list
	})
	if err != nil {
		if t.ctx.Err() != nil {
			return ErrClosed
		}
		return err
	}
	for _, ws := range added {
		ws.running.Store(int32(ws.cfg.MaxRequests))
		for range ws.cfg.MaxRequests {
			if !t.goExt(ws.work) {
				ws.workerDone()
			}
		}
	}
	return nil
}

func newWebSeed(t *Torrent, u string, cfg WebSeedConfig) *webSeed {
	ws := &webSeed{t: t, url: u, cfg: cfg, http: cfg.HTTPClient}
	if ws.http == nil {
		ws.own = newWebSeedTransport(cfg)
		ws.http = &http.Client{Transport: ws.own, CheckRedirect: checkWebSeedRedirect}
	}
	return ws
}

// workerDone counts a worker out; the last one closes our transport's idle
// connections, whose goroutines would outlive the torrent otherwise.
func (ws *webSeed) workerDone() {
	if ws.running.Add(-1) == 0 && ws.own != nil {
		ws.own.CloseIdleConnections()
	}
}

// checkWebSeedURL accepts an absolute http(s) URL.
func checkWebSeedURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadWebSeed, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%w: %q is not an http(s) URL", ErrBadWebSeed, s)
	}
	return nil
}

// webSeedURLs returns a torrent's web seeds: the .torrent's url-list (mi),
// the magnet link's ws= parameters (m), then extra (TorrentSpec's), without
// duplicates. A URL of the torrent's or the link's that is not http(s), or
// that names a non-public host, is skipped with a warning (they come from
// strangers); one of extra's that is not http(s) is an error, and it may
// name any host.
func (cl *Client) webSeedURLs(mi *metainfo.MetaInfo, m *metainfo.MagnetV2, extra []string) ([]string, error) {
	var out, theirs []string
	if mi != nil {
		theirs = append(theirs, mi.UrlList...)
	}
	if m != nil {
		theirs = append(theirs, m.Params["ws"]...)
	}
	for _, u := range theirs {
		err := checkWebSeedURL(u)
		if err == nil && !cl.cfg.AllowPrivateWebSeeds && !allowPrivateWebSeeds.Load() {
			err = checkWebSeedHost(u)
		}
		if err != nil {
			cl.log.Warn("ignoring the torrent's web seed", "url", discovery.RedactURL(u), "err", err)
			continue
		}
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	for _, u := range extra {
		if err := checkWebSeedURL(u); err != nil {
			return nil, err
		}
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out, nil
}

// work is one worker of a web seed: it runs until the torrent stops, the
// download completes or the web seed is dropped.
func (ws *webSeed) work(ctx context.Context) {
	defer ws.workerDone()
	t := ws.t
	select {
	case <-t.gotInfo:
	case <-ctx.Done():
		return
	}
	for ctx.Err() == nil {
		paused, change := t.emb.pause.get()
		if paused {
			select {
			case <-change:
			case <-ctx.Done():
			}
			continue
		}
		var run []piece.Block
		var wait time.Duration
		var stop bool
		if err := t.do(ctx, func() { run, wait, stop = t.webSeedPick(ws) }); err != nil || stop {
			return
		}
		if len(run) == 0 {
			tm := time.NewTimer(wait)
			select {
			case <-tm.C:
			case <-change:
			case <-ctx.Done():
			}
			tm.Stop()
			continue
		}
		err := ws.fetch(ctx, change, run)
		if t.do(ctx, func() { t.webSeedDone(ws, run, err) }) != nil {
			return
		}
	}
}

// webSeedPick returns the next run of contiguous blocks for a worker of
// ws, or how long to wait before asking again, or stop (loop).
func (t *Torrent) webSeedPick(ws *webSeed) (run []piece.Block, wait time.Duration, stop bool) {
	if t.ctx.Err() != nil || ws.dropped || t.picker == nil || t.picker.Complete() {
		return nil, 0, true // a seeding torrent never asks its web seeds
	}
	if ws.id == 0 && !t.webSeedStart(ws) {
		ws.dropped, ws.lastErr = true, errWebSeedLayout
		return nil, 0, true
	}
	id := piece.PeerID(ws.id)
	if t.picker.Banned(id) {
		t.dropWebSeed(ws)
		return nil, 0, true
	}
	now := time.Now()
	if now.Before(ws.retryAt) {
		return nil, ws.retryAt.Sub(now), false
	}
	if ws.fails > 0 && ws.out > 0 {
		// After a failure one request probes; the others wait for
		// its success.
		return nil, webSeedIdle, false
	}
	if t.paused() || t.disk.full() {
		return nil, webSeedIdle / 10, false
	}
	blocks := t.picker.Pick(id, t.webSeedRequestBlocks(ws), now, nil)
	if len(blocks) == 0 {
		return nil, webSeedIdle, false
	}
	// One request is one range: keep the contiguous prefix, give the rest
	// back (picks past the first are usually its continuation anyway).
	k := 1
	for k < len(blocks) && t.layout.Offset(blocks[k-1])+int64(blocks[k-1].Length) == t.layout.Offset(blocks[k]) {
		k++
	}
	for _, b := range blocks[k:] {
		t.picker.Rejected(id, b)
	}
	ws.out++
	return blocks[:k], 0, false
}

// webSeedRequestBlocks is how many blocks a request of ws asks for: at
// most RequestSize, and under a download rate limit at most what a
// quarter of the request timeout lets its MaxRequests requests bring in,
// so that its blocks do not expire while the limiter holds them back (they
// would be asked twice).
func (t *Torrent) webSeedRequestBlocks(ws *webSeed) int {
	n := ws.cfg.RequestSize
	for _, lim := range []*rate.Limiter{t.cl.cfg.downLimit, t.emb.downLimit.Load()} {
		if lim == nil || lim.Limit() == rate.Inf {
			continue
		}
		n = min(n, int64(float64(lim.Limit())*(t.cl.cfg.RequestTimeout/4).Seconds())/int64(ws.cfg.MaxRequests))
	}
	return max(1, int(n/piece.BlockSize))
}

// webSeedStart makes ws a source of the picker's once the info is known
// (loop). A torrent of several files needs a directory URL: one without
// the trailing slash gets one, as libtorrent does.
func (t *Torrent) webSeedStart(ws *webSeed) bool {
	// The files must tile the torrent's data, as BEP 19's requests are
	// cut by file (a pure v2 torrent's files are piece-aligned, with gaps
	// no file holds).
	var end int64
	for _, f := range t.info.UpvertedFiles() {
		if f.TorrentOffset != end {
			t.log.Warn("web seed unused: the torrent's files leave gaps", "url", discovery.RedactURL(ws.url))
			return false
		}
		end += f.Length
	}
	if end != t.layout.Length {
		t.log.Warn("web seed unused: the torrent's files do not cover its data", "url", discovery.RedactURL(ws.url))
		return false
	}
	u := ws.url
	if t.info.IsDir() && !strings.HasSuffix(u, "/") {
		u += "/"
	}
	ws.client = webseed.Client{Logger: t.log, Url: u}
	ws.index = t.info.FileSegmentsIndex()
	ws.client.SetInfo(t.info, &ws.index)
	t.nextID++
	ws.id = t.nextID
	all := piece.NewBitfield(t.layout.NumPieces())
	all.SetAll()
	t.picker.AddPeer(piece.PeerID(ws.id), all)
	t.log.Debug("web seed started", "url", discovery.RedactURL(ws.url))
	return true
}

// dropWebSeed stops using ws for good (loop): what was in flight to it is
// requestable again.
func (t *Torrent) dropWebSeed(ws *webSeed) {
	if ws.dropped {
		return
	}
	ws.dropped = true
	t.log.Warn("dropping web seed for sending bad data", "url", discovery.RedactURL(ws.url))
	if ws.id != 0 {
		t.picker.RemovePeer(piece.PeerID(ws.id))
		t.fillAll()
	}
}

// webSeedBlock takes a block a web seed sent, as onPiece takes a peer's
// (loop). It reports whether the web seed's request is still wanted: not
// once the web seed is dropped or the download complete.
func (t *Torrent) webSeedBlock(ws *webSeed, b piece.Block, data []byte) bool {
	if t.ctx.Err() != nil || t.picker == nil || ws.dropped || t.picker.Complete() {
		putBlock(data)
		return false
	}
	id := piece.PeerID(ws.id)
	if t.picker.Banned(id) {
		putBlock(data)
		t.dropWebSeed(ws)
		return false
	}
	res := t.picker.Received(id, b)
	if !res.Wanted {
		putBlock(data)
		t.wasted += int64(b.Length)
		return true
	}
	t.downloaded.Add(int64(b.Length))
	ws.downloaded.Add(int64(b.Length))
	t.disk.push(diskJob{block: b, data: data})
	for _, r := range res.Cancel {
		if o := t.conns[PeerID(r.Peer)]; o != nil {
			o.send(msgBlock(pp.Cancel, r.Block))
		}
	}
	if res.PieceDone {
		t.disk.push(diskJob{verify: true, blockHashes: t.picker.NeedsBlockHashes(b.Piece), block: piece.Block{Piece: b.Piece}})
	}
	return true
}

// webSeedDone ends a request (loop): the blocks of run not received go
// back to the picker, and a failure makes the web seed rest.
func (t *Torrent) webSeedDone(ws *webSeed, run []piece.Block, err error) {
	if t.picker == nil || ws.id == 0 {
		return
	}
	ws.out--
	id := piece.PeerID(ws.id)
	for _, b := range run {
		t.picker.Rejected(id, b) // a no-op for the blocks received
	}
	now := time.Now()
	switch {
	case err == nil:
		ws.fails = 0
	case errors.Is(err, errWebSeedPaused), errors.Is(err, errWebSeedUnwanted), t.ctx.Err() != nil:
	case now.Before(ws.retryAt):
		// Another request of the same round failed first: resting already.
		ws.failures.Add(1)
		ws.lastErr = err
	default:
		ws.failures.Add(1)
		ws.fails++
		rest := ws.cfg.MinBackoff << min(ws.fails-1, 20)
		var busy *webSeedBusyError
		if errors.As(err, &busy) {
			rest = max(rest, busy.retryAfter)
		}
		rest = min(rest, ws.cfg.MaxBackoff)
		ws.retryAt = now.Add(rest)
		ws.lastErr = err
		t.log.Debug("web seed request failed", "url", discovery.RedactURL(ws.url), "err", err, "retry in", rest)
	}
	if errors.Is(err, ErrWebSeedPrivate) && !ws.dropped {
		// Its host resolved, or it redirected, to a non-public address:
		// it is never asked again.
		ws.dropped = true
		t.log.Warn("dropping web seed", "url", discovery.RedactURL(ws.url), "err", err)
		t.picker.RemovePeer(id)
	}
	if t.picker.Banned(id) {
		t.dropWebSeed(ws)
	}
	t.fillAll()
}

// WebSeeds describes the torrent's web seeds, or returns ErrClosed once it
// has stopped.
func (t *Torrent) WebSeeds(ctx context.Context) ([]WebSeedInfo, error) {
	var out []WebSeedInfo
	err := t.do(ctx, func() {
		for _, ws := range t.webSeeds() {
			wi := WebSeedInfo{
				URL: ws.url, Downloaded: ws.downloaded.Load(),
				Requests: ws.requests.Load(), Failures: ws.failures.Load(),
				Dropped: ws.dropped, LastErr: ws.lastErr,
			}
			if time.Now().Before(ws.retryAt) {
				wi.RetryAt = ws.retryAt
			}
			if t.picker != nil && ws.id != 0 {
				wi.InFlight = t.picker.InFlight(piece.PeerID(ws.id))
			}
			out = append(out, wi)
		}
	})
	return out, err
}

// webSeedDownloaded returns the payload bytes the torrent's web seeds sent
// (for Stats; safe from any goroutine).
func (t *Torrent) webSeedDownloaded() int64 {
	var n int64
	for _, ws := range t.webSeeds() {
		n += ws.downloaded.Load()
	}
	return n
}
