package main

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"log/slog"
	"math/big"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/paychan"
)

// snapshotFunc produces a snapshot; the status server's only input.
type snapshotFunc func(ctx context.Context) (Snapshot, error)

//go:embed status.html
var pageFS embed.FS

var page = template.Must(template.New("status.html").Funcs(template.FuncMap{
	"btt":   func(a btt.Amount) string { return a.FormatBTT() },
	"price": cli.FormatPrice,
	"bytes": cli.HumanBytes,
	"time":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	// magnet lets a magnet link through html/template's URL filter,
	// which passes only http(s) and mailto; anything else stays filtered.
	"magnet": func(s string) any {
		if strings.HasPrefix(s, "magnet:?") && !strings.ContainsAny(s, "\"<> ") {
			return template.URL(s) //nolint:gosec // a magnet: link, checked above
		}
		return s
	},
	"short": func(s string) string {
		if len(s) > 16 {
			return s[:16] + "…"
		}
		return s
	},
}).ParseFS(pageFS, "status.html"))

// pageData is what the page's template gets: the snapshot, the charts,
// and the rows its tables show.
type pageData struct {
	Snapshot
	Charts template.HTML
	// ShownTorrents and ShownPeers are the busiest (by upload rate, then
	// bytes uploaded) at most maxRows of each; the page says how many
	// more there are, and status.json has them all.
	ShownTorrents []TorrentRow
	ShownPeers    []PeerRow
	MoreTorrents  int
	MorePeers     int
}

// maxRows bounds the page's tables: a seeder of thousands of torrents
// still serves a page a browser shows at once.
const maxRows = 200

func newPageData(s Snapshot, ss []Sample) pageData {
	d := pageData{Snapshot: s, Charts: charts(ss)}
	d.ShownTorrents, d.MoreTorrents = busiest(s.Torrents, func(t TorrentRow) (int64, int64) { return t.UpRate, t.Uploaded })
	d.ShownPeers, d.MorePeers = busiest(s.Peers, func(p PeerRow) (int64, int64) { return p.UpRate, p.Uploaded })
	return d
}

// busiest returns the rows with the highest rate (then total), at most
// maxRows, in their original order, and how many were left out.
func busiest[T any](rows []T, key func(T) (rate, total int64)) ([]T, int) {
	if len(rows) <= maxRows {
		return rows, 0
	}
	idx := make([]int, len(rows))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		ra, ta := key(rows[a])
		rb, tb := key(rows[b])
		if c := cmp.Compare(rb, ra); c != 0 {
			return c
		}
		return cmp.Compare(tb, ta)
	})
	idx = idx[:maxRows]
	slices.Sort(idx)
	out := make([]T, len(idx))
	for i, j := range idx {
		out[i] = rows[j]
	}
	return out, len(rows) - maxRows
}

// newStatusHandler serves / (the HTML page, which reloads itself every
// 5 s), /status.json, /history.json (the charts' samples) and /metrics
// (Prometheus text format, from its own registry: the Go and process
// collectors and cs; with no cs, the seeder's own metrics read from the
// snapshots). hist may be nil: the charts then show the current snapshot
// only.
func newStatusHandler(snap snapshotFunc, hist *history, log *slog.Logger, cs ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if len(cs) == 0 {
		cs = []prometheus.Collector{&collector{only: onlyOf(snap), log: log}}
	}
	reg.MustRegister(cs...)
	samples := func(now Snapshot) []Sample {
		var ss []Sample
		if hist != nil {
			ss = hist.samples()
		}
		return append(ss, sampleOf(now))
	}
	writeJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(v)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) {
		s, err := snapshotFor(r.Context(), snap)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, s)
	})
	mux.HandleFunc("GET /history.json", func(w http.ResponseWriter, r *http.Request) {
		s, err := snapshotFor(r.Context(), snap)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, samples(s))
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s, err := snapshotFor(r.Context(), snap)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := page.Execute(w, newPageData(s, samples(s))); err != nil {
			log.Warn("status page", "err", err)
		}
	})
	return mux
}

// snapshotFor bounds a snapshot's wait for the torrents' loops.
func snapshotFor(ctx context.Context, snap snapshotFunc) (Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return snap(ctx)
}

// seederOnly are the figures only the seeder knows, beside the
// engine's and the extension's (metrics.Collector): its slots per
// torrent, its channels by state, its redeemer's work.
type seederOnly struct {
	PaidSlots, FreeSlots int
	Channels             map[string]int // by paychan.ChannelState's name
	Redeem               RedeemRow
}

// onlyFunc reads the seeder-only figures; ctx bounds the wait.
type onlyFunc func(ctx context.Context) (seederOnly, error)

// onlyOf reads the seeder-only figures from whole snapshots.
func onlyOf(snap snapshotFunc) onlyFunc {
	return func(ctx context.Context) (seederOnly, error) {
		s, err := snap(ctx)
		if err != nil {
			return seederOnly{}, err
		}
		o := seederOnly{PaidSlots: s.PaidSlots, FreeSlots: s.FreeSlots, Channels: map[string]int{}, Redeem: s.Redeem}
		for _, c := range s.Channels {
			o.Channels[c.State]++
		}
		return o, nil
	}
}

// collector turns the seeder-only figures into Prometheus metrics at each
// scrape; the engine's and the extension's come from metrics.Collector.
type collector struct {
	only onlyFunc
	log  *slog.Logger
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("bttspeed_seeder_"+name, help, labels, nil)
}

// The seeder's own metrics are bttspeed_seeder_*; the rest are the
// library's bttspeed_* (see package metrics).
var (
	descSlots       = desc("slots", "Upload slots of each torrent's auction, by kind.", "kind")
	descChannels    = desc("channels", "Payment channels in the payee store, by last known state.", "state")
	descRedemptions = desc("redemptions_total", "Successful redemptions with value since the start.")
	descRedeemFail  = desc("redemption_failures_total", "Failed redemption attempts since the start.")
	descUp          = desc("up", "1 if the seeder's figures were read, 0 if not.")
)

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSlots, descChannels, descRedemptions, descRedeemFail, descUp} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	o, err := c.only(ctx)
	if err != nil {
		c.log.Warn("metrics: the seeder's figures", "err", err)
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 0)
		return
	}
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	cnt := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	g(descUp, 1)
	g(descSlots, float64(o.PaidSlots), "paid")
	g(descSlots, float64(o.FreeSlots), "free")
	states := map[string]int{}
	for _, st := range []paychan.ChannelState{paychan.ChannelOpen, paychan.ChannelClosing, paychan.ChannelClosed} {
		states[st.String()] = 0
	}
	for st, n := range o.Channels {
		states[st] += n
	}
	for st, n := range states {
		g(descChannels, float64(n), st)
	}
	cnt(descRedemptions, float64(o.Redeem.Redemptions))
	cnt(descRedeemFail, float64(o.Redeem.Failures))
}

// baseFloat is an amount in base units as a float64, for metrics only.
func baseFloat(a btt.Amount) float64 {
	f, _ := new(big.Float).SetInt(a.Big()).Float64()
	return f
}

// checkHTTPAddr refuses a status address that is not loopback unless
// allowed: the page shows the seeder's peers and earnings.
func checkHTTPAddr(addr string, allowRemote bool) error {
	host, _, err := splitHostPort(addr)
	if err != nil {
		return cli.Setupf("-http %q: want host:port such as 127.0.0.1:8080: %v", addr, err)
	}
	if allowRemote || host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return cli.Setupf("-http %q is not a loopback address: the status page shows peers and earnings to whoever can reach it; use 127.0.0.1:PORT, or add -http-allow-remote to serve it on %q anyway", addr, host)
	}
	return nil
}

func splitHostPort(addr string) (string, string, error) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return "", "", fmt.Errorf("missing port")
	}
	host := strings.TrimSuffix(strings.TrimPrefix(addr[:i], "["), "]")
	return host, addr[i+1:], nil
}
