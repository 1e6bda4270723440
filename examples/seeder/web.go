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
// (Prometheus text format, from its own registry). hist may be nil: the
// charts then show the current snapshot only.
func newStatusHandler(snap snapshotFunc, hist *history, log *slog.Logger) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{snap: snap, log: log},
	)
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

// collector turns snapshots into Prometheus metrics at each scrape.
type collector struct {
	snap snapshotFunc
	log  *slog.Logger
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("bttspeed_seeder_"+name, help, labels, nil)
}

// Every metric is bttspeed_seeder_*; the seeder's totals carry no torrent
// label, and the bttspeed_seeder_torrent_* series carry infohash and name.
// Peers are one metric with a protocol label (btt_speed or legacy).
var (
	descPeers       = desc("peers", "Connected peers, by protocol: btt_speed (they can pay) or legacy.", "protocol")
	descTorrents    = desc("torrents", "Torrents seeded.")
	descSlots       = desc("slots", "Upload slots of each torrent's auction, by kind.", "kind")
	descSlotsHeld   = desc("slots_held", "Upload slots held by peers now over all torrents, by kind.", "kind")
	descUploaded    = desc("uploaded_bytes_total", "Payload bytes uploaded since the start.")
	descUpRate      = desc("upload_rate_bytes_per_second", "Upload rate over about 20 s.")
	descSold        = desc("sold_bytes_total", "Bytes sent in paid slots since the start.")
	descPieces      = desc("pieces", "Pieces of the torrents seeded.")
	descPiecesDone  = desc("pieces_done", "Pieces verified on disk, over the torrents seeded.")
	descReserve     = desc("reserve_price_base_units_per_byte", "Reserve (ask) price per byte.")
	descClearing    = desc("clearing_price_base_units_per_byte", "Highest price per byte a paid slot pays now (0: none held).")
	descHighestBid  = desc("highest_bid_base_units_per_byte", "Highest bid per byte among connected peers.")
	descEarned      = desc("earned_btt", "Sum of the best vouchers received, in BTT.")
	descRedeemed    = desc("redeemed_btt", "Vouchers cashed on chain, in BTT.")
	descRedeemable  = desc("redeemable_btt", "Vouchers received and not yet cashed, in BTT.")
	descOwed        = desc("owed_btt", "What the paid-slot bytes sent since the start cost, in BTT.")
	descChannels    = desc("channels", "Payment channels in the payee store, by last known state.", "state")
	descRedemptions = desc("redemptions_total", "Successful redemptions with value since the start.")
	descRedeemFail  = desc("redemption_failures_total", "Failed redemption attempts since the start.")
	descUp          = desc("up", "1 if the last snapshot was read, 0 if it failed.")

	torrentLabels   = []string{"infohash", "name"}
	descTPeers      = desc("torrent_peers", "Connected peers of a torrent, by protocol.", "infohash", "name", "protocol")
	descTUploaded   = desc("torrent_uploaded_bytes_total", "Payload bytes of a torrent uploaded since it was added.", torrentLabels...)
	descTUpRate     = desc("torrent_upload_rate_bytes_per_second", "A torrent's upload rate over about 20 s.", torrentLabels...)
	descTPieces     = desc("torrent_pieces", "A torrent's pieces.", torrentLabels...)
	descTPiecesDone = desc("torrent_pieces_done", "A torrent's pieces verified on disk.", torrentLabels...)
	descTSlotsHeld  = desc("torrent_slots_held", "A torrent's upload slots held now, by kind.", "infohash", "name", "kind")
	descTClearing   = desc("torrent_clearing_price_base_units_per_byte", "A torrent's clearing price now (0: no paid slot held).", torrentLabels...)
	descTSold       = desc("torrent_sold_bytes", "Bytes of a torrent sent in paid slots to the peers connected now.", torrentLabels...)
)

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPeers, descTorrents, descSlots, descSlotsHeld, descUploaded, descUpRate, descSold, descPieces, descPiecesDone,
		descReserve, descClearing, descHighestBid, descEarned, descRedeemed, descRedeemable, descOwed, descChannels, descRedemptions, descRedeemFail, descUp,
		descTPeers, descTUploaded, descTUpRate, descTPieces, descTPiecesDone, descTSlotsHeld, descTClearing, descTSold} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s, err := snapshotFor(context.Background(), c.snap)
	if err != nil {
		c.log.Warn("metrics snapshot", "err", err)
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
	speedPeers := 0
	for _, p := range s.Peers {
		if p.BttSpeed {
			speedPeers++
		}
	}
	g(descPeers, float64(speedPeers), "btt_speed")
	g(descPeers, float64(len(s.Peers)-speedPeers), "legacy")
	g(descTorrents, float64(len(s.Torrents)))
	g(descSlots, float64(s.PaidSlots), "paid")
	g(descSlots, float64(s.FreeSlots), "free")
	g(descSlotsHeld, float64(s.HeldPaid), "paid")
	g(descSlotsHeld, float64(s.HeldFree), "free")
	cnt(descUploaded, float64(s.Uploaded))
	g(descUpRate, float64(s.UpRate))
	cnt(descSold, float64(s.Sold))
	var pieces, done int
	for _, t := range s.Torrents {
		pieces, done = pieces+t.Pieces, done+t.PiecesDone
		l := []string{t.InfoHash, t.Name}
		g(descTPeers, float64(t.BttSpeedPeers), t.InfoHash, t.Name, "btt_speed")
		g(descTPeers, float64(t.Peers-t.BttSpeedPeers), t.InfoHash, t.Name, "legacy")
		cnt(descTUploaded, float64(t.Uploaded), l...)
		g(descTUpRate, float64(t.UpRate), l...)
		g(descTPieces, float64(t.Pieces), l...)
		g(descTPiecesDone, float64(t.PiecesDone), l...)
		g(descTSlotsHeld, float64(t.HeldPaid), t.InfoHash, t.Name, "paid")
		g(descTSlotsHeld, float64(t.HeldFree), t.InfoHash, t.Name, "free")
		g(descTClearing, baseFloat(t.Clearing), l...)
		g(descTSold, float64(t.Sold), l...)
	}
	g(descPieces, float64(pieces))
	g(descPiecesDone, float64(done))
	g(descReserve, baseFloat(s.Reserve))
	g(descClearing, baseFloat(s.Clearing))
	g(descHighestBid, baseFloat(s.HighestBid))
	g(descEarned, cli.Float(s.Earned))
	g(descRedeemed, cli.Float(s.Redeemed))
	g(descRedeemable, cli.Float(s.Redeemable))
	g(descOwed, cli.Float(s.Owed))
	states := map[string]int{}
	for _, st := range []paychan.ChannelState{paychan.ChannelOpen, paychan.ChannelClosing, paychan.ChannelClosed} {
		states[st.String()] = 0
	}
	for _, c := range s.Channels {
		states[c.State]++
	}
	for st, n := range states {
		g(descChannels, float64(n), st)
	}
	cnt(descRedemptions, float64(s.Redeem.Redemptions))
	cnt(descRedeemFail, float64(s.Redeem.Failures))
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
