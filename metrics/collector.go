package metrics

import (
	"context"
	"errors"
	"math/big"
	"slices"
	"sync"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/speed"
	"github.com/bttspeed/bttspeed/peer/speedwire"
)

// Defaults of the options.
const (
	DefaultTimeout = 4 * time.Second
	DefaultWorkers = 8
	// torrentTimeout bounds one torrent's calls within a scrape.
	torrentTimeout = time.Second
)

// Option configures a Collector.
type Option func(*Collector)

// WithSpeed adds the btt_speed extension's figures: prices, bids, what
// was sold and earned (selling) and what was spent (buying).
func WithSpeed(ext *speed.Extension) Option { return func(c *Collector) { c.ext = ext } }

// WithNamespace replaces the metrics' prefix "bttspeed".
func WithNamespace(ns string) Option { return func(c *Collector) { c.ns = ns } }

// WithTimeout bounds a scrape's wait for the torrents' loops (default
// DefaultTimeout); a torrent waits at most a second of it.
func WithTimeout(d time.Duration) Option {
	return func(c *Collector) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithWorkers sets how many torrents are read at once (default
// DefaultWorkers).
func WithWorkers(n int) Option {
	return func(c *Collector) {
		if n > 0 {
			c.workers = n
		}
	}
}

// WithoutTorrentSeries leaves out the per-torrent series (the
// bttspeed_torrent_* metrics); the client's totals stay.
func WithoutTorrentSeries() Option { return func(c *Collector) { c.noTorrents = true } }

// Collector is a prometheus.Collector of a peer.Client's figures; see
// the package doc for the metrics. It is safe for concurrent scrapes,
// which run one at a time.
type Collector struct {
	cl         *peer.Client
	ext        *speed.Extension
	ns         string
	timeout    time.Duration
	workers    int
	noTorrents bool
	d          descs

	// mu serializes scrapes and guards what they remember: each
	// torrent's name and last counters, and the counters of torrents
	// removed since the collector was made.
	mu       sync.Mutex
	known    map[metainfo.Hash]*torrentMemo
	retired  counters
	timeouts int
}

// torrentMemo is what the collector remembers of a torrent between
// scrapes.
type torrentMemo struct {
	name string
	last counters
}

// counters are a torrent's monotonic figures.
type counters struct{ up, down, wasted int64 }

func (a counters) add(b counters) counters {
	return counters{a.up + b.up, a.down + b.down, a.wasted + b.wasted}
}

// New returns a Collector of cl's figures.
func New(cl *peer.Client, opts ...Option) *Collector {
	c := &Collector{cl: cl, ns: "bttspeed", timeout: DefaultTimeout, workers: DefaultWorkers, known: map[metainfo.Hash]*torrentMemo{}}
	for _, o := range opts {
		o(c)
	}
	c.d = newDescs(c.ns)
	return c
}

// selling and buying say which of the extension's figures apply.
func (c *Collector) selling() (speed.Seller, bool) {
	if c.ext == nil {
		return speed.Seller{}, false
	}
	return c.ext.SellerConfig()
}

func (c *Collector) buying() (speed.Buyer, bool) {
	if c.ext == nil {
		return speed.Buyer{}, false
	}
	return c.ext.BuyerConfig()
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.d.client() {
		ch <- d
	}
	if !c.noTorrents {
		for _, d := range c.d.torrent() {
			ch <- d
		}
	}
	if _, ok := c.selling(); ok {
		for _, d := range c.d.sell() {
			ch <- d
		}
	}
	if _, ok := c.buying(); ok {
		for _, d := range c.d.buy() {
			ch <- d
		}
	}
}

// peerKey names a connection: its torrent and the peer's address.
type peerKey struct {
	torrent [20]byte
	addr    string
}

// reading is one torrent's figures of one scrape.
type reading struct {
	t     *peer.Torrent
	ih    metainfo.Hash
	st    peer.Stats
	peers []peer.PeerInfo
	name  string
	err   error
}

// Collect implements prometheus.Collector. It returns within the
// timeout (WithTimeout) whatever the torrents' loops do.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()

	// The extension's figures, beside the torrents' (both wait on loops).
	var figs map[peerKey]speed.PeerFigures
	var figsDone chan struct{}
	if c.ext != nil {
		figsDone = make(chan struct{})
		go func() {
			defer close(figsDone)
			fs, _ := c.ext.Peers(ctx) // partial on timeout: what was read
			figs = make(map[peerKey]speed.PeerFigures, len(fs))
			for _, f := range fs {
				figs[peerKey{f.Torrent, f.Addr.String()}] = f
			}
		}()
	}
	rs := c.read(ctx, c.cl.Torrents())
	if figsDone != nil {
		<-figsDone
	}
	c.emit(ch, rs, figs)
}

// read reads every torrent, c.workers at a time, each within
// torrentTimeout of the scrape's ctx.
func (c *Collector) read(ctx context.Context, ts []*peer.Torrent) []reading {
	rs := make([]reading, len(ts))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(c.workers, len(ts)) {
		wg.Go(func() {
			for i := range next {
				rs[i] = c.readOne(ctx, ts[i])
			}
		})
	}
	for i := range ts {
		next <- i
	}
	close(next)
	wg.Wait()
	return rs
}

func (c *Collector) readOne(ctx context.Context, t *peer.Torrent) reading {
	r := reading{t: t, ih: t.InfoHash()}
	if ctx.Err() != nil {
		r.err = ctx.Err()
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, torrentTimeout)
	defer cancel()
	r.st, r.err = t.Stats(ctx)
	if r.err == nil && r.st.Peers > 0 {
		r.peers, r.err = t.Peers(ctx)
	}
	// The name, once the info is known, is read once and remembered (the
	// memo map is not written while the workers read it).
	if m := c.known[r.ih]; m != nil && m.name != "" {
		r.name = m.name
	} else if r.err == nil {
		select {
		case <-t.GotInfo():
			if info, err := t.Info(ctx); err == nil && info != nil {
				r.name = info.BestName()
			}
		default:
		}
	}
	return r
}

// totals are the client's figures summed over the torrents.
type totals struct {
	torrents, speedPeers, legacyPeers       int
	conns                                   map[[2]string]int // by transport and encrypted
	upRate, downRate, left, sold            int64
	pieces, done                            int
	paid, free, interested, unchokedBy, won int
	clearing, highestBid, bid               btt.Amount
	cnt                                     counters
}

func (c *Collector) emit(ch chan<- prometheus.Metric, rs []reading, figs map[peerKey]speed.PeerFigures) {
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	cnt := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	_, selling := c.selling()
	_, buying := c.buying()
	tot := totals{conns: map[[2]string]int{}}
	seen := make(map[metainfo.Hash]bool, len(rs))
	for _, r := range rs {
		seen[r.ih] = true
		m := c.known[r.ih]
		if m == nil {
			m = &torrentMemo{}
			c.known[r.ih] = m
		}
		switch {
		case r.err == nil:
			m.last = counters{r.st.Uploaded, r.st.Downloaded, r.st.Wasted}
		case errors.Is(r.err, peer.ErrClosed):
			delete(seen, r.ih) // removed meanwhile: retired below
			continue
		default:
			c.timeouts++
		}
		if r.name != "" {
			m.name = r.name
		}
		name := m.name
		tot.torrents++
		tot.cnt = tot.cnt.add(m.last)
		ih := r.ih.HexString()
		if r.err != nil {
			// Stuck: its counters as last read, no gauges this scrape.
			if !c.noTorrents {
				cnt(c.d.tUploaded, float64(m.last.up), ih, name)
				cnt(c.d.tDownloaded, float64(m.last.down), ih, name)
			}
			continue
		}
		var t totals
		for _, pi := range r.peers {
			f := figs[peerKey{r.ih, pi.Addr.String()}]
			if slices.Contains(pi.Extensions, speedwire.Name) {
				t.speedPeers++
			} else {
				t.legacyPeers++
			}
			tot.conns[[2]string{pi.Transport, boolLabel(pi.Encrypted)}]++
			if pi.PeerInterested {
				t.interested++
			}
			if !pi.PeerChoking {
				t.unchokedBy++
			}
			if !pi.AmChoking {
				if f.Sell != nil && f.Sell.PaidSlot {
					t.paid++
					t.clearing = btt.Max(t.clearing, f.Sell.Price)
				} else {
					t.free++
				}
			}
			if f.Sell != nil {
				t.highestBid = btt.Max(t.highestBid, f.Sell.Bid)
				t.sold += f.Sell.Sold // to the peers connected now
			}
			if f.Buy != nil {
				t.bid = btt.Max(t.bid, f.Buy.Bid)
				if f.Buy.Won {
					t.won++
				}
			}
		}
		tot.speedPeers += t.speedPeers
		tot.legacyPeers += t.legacyPeers
		tot.interested += t.interested
		tot.unchokedBy += t.unchokedBy
		tot.paid += t.paid
		tot.free += t.free
		tot.won += t.won
		tot.clearing = btt.Max(tot.clearing, t.clearing)
		tot.highestBid = btt.Max(tot.highestBid, t.highestBid)
		tot.bid = btt.Max(tot.bid, t.bid)
		tot.upRate += r.st.UpRate
		tot.downRate += r.st.DownRate
		tot.left += r.st.Left
		tot.pieces += r.st.Pieces
		tot.done += r.st.PiecesDone
		if c.noTorrents {
			continue
		}
		g(c.d.tPeers, float64(t.speedPeers), ih, name, "btt_speed")
		g(c.d.tPeers, float64(t.legacyPeers), ih, name, "legacy")
		cnt(c.d.tUploaded, float64(r.st.Uploaded), ih, name)
		cnt(c.d.tDownloaded, float64(r.st.Downloaded), ih, name)
		g(c.d.tUpRate, float64(r.st.UpRate), ih, name)
		g(c.d.tDownRate, float64(r.st.DownRate), ih, name)
		g(c.d.tPieces, float64(r.st.Pieces), ih, name)
		g(c.d.tPiecesDone, float64(r.st.PiecesDone), ih, name)
		g(c.d.tSlotsHeld, float64(t.paid), ih, name, "paid")
		g(c.d.tSlotsHeld, float64(t.free), ih, name, "free")
		if selling {
			g(c.d.tClearing, baseFloat(t.clearing), ih, name)
			g(c.d.tSold, float64(t.sold), ih, name)
		}
		if buying {
			g(c.d.tBid, baseFloat(t.bid), ih, name)
		}
	}
	// Torrents gone since the last scrape keep their last counters.
	for ih, m := range c.known {
		if !seen[ih] {
			c.retired = c.retired.add(m.last)
			delete(c.known, ih)
		}
	}
	tot.cnt = tot.cnt.add(c.retired)

	g(c.d.torrents, float64(tot.torrents))
	g(c.d.peers, float64(tot.speedPeers), "btt_speed")
	g(c.d.peers, float64(tot.legacyPeers), "legacy")
	for _, tr := range []string{"tcp", "utp"} {
		for _, enc := range []string{"false", "true"} {
			g(c.d.conns, float64(tot.conns[[2]string{tr, enc}]), tr, enc)
			delete(tot.conns, [2]string{tr, enc})
		}
	}
	for k, n := range tot.conns { // another network, with Config.Dial
		g(c.d.conns, float64(n), k[0], k[1])
	}
	cnt(c.d.uploaded, float64(tot.cnt.up))
	cnt(c.d.downloaded, float64(tot.cnt.down))
	cnt(c.d.wasted, float64(tot.cnt.wasted))
	g(c.d.upRate, float64(tot.upRate))
	g(c.d.downRate, float64(tot.downRate))
	g(c.d.pieces, float64(tot.pieces))
	g(c.d.piecesDone, float64(tot.done))
	g(c.d.left, float64(tot.left))
	g(c.d.slotsHeld, float64(tot.paid), "paid")
	g(c.d.slotsHeld, float64(tot.free), "free")
	g(c.d.interested, float64(tot.interested))
	g(c.d.unchokedBy, float64(tot.unchokedBy))
	cnt(c.d.timeouts, float64(c.timeouts))
	if s, ok := c.selling(); ok {
		g(c.d.reserve, baseFloat(s.Ask))
		g(c.d.clearing, baseFloat(tot.clearing))
		g(c.d.highestBid, baseFloat(tot.highestBid))
		var sold int64
		var owed btt.Amount
		for _, cs := range c.ext.Sales() {
			sold += cs.Sold
			owed, _ = owed.Add(cs.Owed)
		}
		cnt(c.d.sold, float64(sold))
		g(c.d.owed, bttFloat(owed))
		if s.Payee != nil {
			if pt, err := s.Payee.Totals(); err == nil {
				g(c.d.earned, bttFloat(pt.Earned))
				g(c.d.redeemed, bttFloat(pt.Redeemed))
				g(c.d.redeemable, bttFloat(pt.Redeemable))
			}
		}
	}
	if b, ok := c.buying(); ok {
		g(c.d.spent, bttFloat(c.ext.Spent()))
		g(c.d.budget, bttFloat(b.Budget))
		g(c.d.bid, baseFloat(tot.bid))
		g(c.d.won, float64(tot.won))
	}
}

func boolLabel(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// baseFloat is an amount in base units as a float64, for metrics only.
func baseFloat(a btt.Amount) float64 {
	f, _ := new(big.Float).SetInt(a.Big()).Float64()
	return f
}

// bttFloat is an amount in whole BTT as a float64, for metrics only.
func bttFloat(a btt.Amount) float64 {
	f, _ := new(big.Float).Quo(new(big.Float).SetInt(a.Big()), big.NewFloat(1e18)).Float64()
	return f
}
