package main

import (
	"context"
	"embed"
	"encoding/hex"
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
	"github.com/bttspeed/bttspeed/examples/internal/market"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/speed"
)

// Snapshot is what the status page, /status.json and /metrics show.
type Snapshot struct {
	Time     time.Time
	Name     string
	InfoHash string
	Magnet   string
	Payee    string
	Listen   string

	Reserve              btt.Amount
	PaidSlots, FreeSlots int
	Pieces, PiecesDone   int
	Length               int64
	Uploaded, UpRate     int64

	Peers []PeerRow
	// HeldPaid and HeldFree count the slots held; Clearing is the price
	// the paid slots pay (the auction's uniform price); HighestBid the
	// best bid among the peers.
	HeldPaid, HeldFree   int
	Clearing, HighestBid btt.Amount

	// Earned is the best vouchers' sum, Redeemed what was cashed on
	// chain, Redeemable the rest (paychan.Payee.Totals); Owed what the
	// paid slots' bytes cost and Sold those bytes (speed.Seller.Sales).
	Earned, Redeemed, Redeemable, Owed btt.Amount
	Sold                               int64
	Channels                           []ChannelRow
	Redeem                             market.RedeemStats
}

// PeerRow is one connected peer.
type PeerRow struct {
	Addr       string
	Client     string
	Slot       string // paid, free or choked
	Interested bool
	BttSpeed   bool
	Have       int
	Uploaded   int64
	UpRate     int64
	// btt_speed peers only:
	Bid, Price btt.Amount
	Sold       int64
	Owed, Paid btt.Amount
	Credit     int64
	Held       bool
	// HeldSeconds is how long, in all, the credit gate held the peer back
	// in its paid slot (for its channel or a voucher).
	HeldSeconds float64
	Channel     string
	Refused     string
}

// ChannelRow is one payment channel the payee store knows.
type ChannelRow struct {
	ID       string
	Payer    string
	State    string
	Deposit  btt.Amount
	Best     btt.Amount // the best voucher
	Redeemed btt.Amount
	Owed     btt.Amount // what its payer's paid-slot bytes cost (this run)
	Sold     int64
	Expiry   time.Time
}

// source gathers snapshots from a running seeder.
type source struct {
	tor      *peer.Torrent
	seller   *market.Seller
	name     string
	magnet   string
	listen   string
	pieces   int
	length   int64
	payee    btt.Address
	paidSlot int
	freeSlot int
}

// Snapshot reads the torrent, the extension, the seller and the store.
func (s *source) Snapshot(ctx context.Context) (Snapshot, error) {
	snap := Snapshot{
		Time: time.Now(), Name: s.name, InfoHash: s.tor.InfoHash().HexString(), Magnet: s.magnet,
		Payee: s.payee.String(), Listen: s.listen, Reserve: s.seller.Reserve(),
		PaidSlots: s.paidSlot, FreeSlots: s.freeSlot, Pieces: s.pieces, Length: s.length,
	}
	st, err := s.tor.Stats(ctx)
	if err != nil {
		return snap, err
	}
	snap.PiecesDone, snap.Uploaded, snap.UpRate = st.PiecesDone, st.Uploaded, st.UpRate
	infos, err := s.tor.Peers(ctx)
	if err != nil {
		return snap, err
	}
	figs, err := s.seller.Ext.Peers(ctx)
	if err != nil {
		return snap, err
	}
	byAddr := make(map[netip.AddrPort]speed.PeerFigures, len(figs))
	for _, f := range figs {
		byAddr[f.Addr] = f
	}
	for _, pi := range infos {
		row := PeerRow{Addr: pi.Addr.String(), Client: clientName(pi.PeerID), Interested: pi.PeerInterested, Have: pi.Have, Uploaded: pi.Uploaded, UpRate: pi.UpRate, Slot: "choked"}
		if f, ok := byAddr[pi.Addr]; ok && f.Sell != nil {
			sf := f.Sell
			row.BttSpeed = true
			row.Bid, row.Price, row.Sold, row.Owed, row.Paid, row.Credit, row.Held, row.Refused = sf.Bid, sf.Price, sf.Sold, sf.Owed, sf.Paid, sf.Credit, sf.Held, sf.Refused
			row.HeldSeconds = sf.HeldFor.Seconds()
			if sf.Channel != (paychan.ChannelID{}) {
				row.Channel = hex.EncodeToString(sf.Channel[:])
			}
			if sf.Bid.Gt(snap.HighestBid) {
				snap.HighestBid = sf.Bid
			}
			if sf.PaidSlot && !pi.AmChoking {
				row.Slot = "paid"
				snap.Clearing = btt.Max(snap.Clearing, sf.Price)
			}
		}
		if row.Slot == "choked" && !pi.AmChoking {
			row.Slot = "free"
		}
		switch row.Slot {
		case "paid":
			snap.HeldPaid++
		case "free":
			snap.HeldFree++
		}
		snap.Peers = append(snap.Peers, row)
	}
	slices.SortFunc(snap.Peers, func(a, b PeerRow) int { return strings.Compare(a.Addr, b.Addr) })

	tot, err := s.seller.Payee.Totals()
	if err != nil {
		return snap, err
	}
	snap.Earned, snap.Redeemed, snap.Redeemable = tot.Earned, tot.Redeemed, tot.Redeemable
	sales := make(map[paychan.ChannelID]speed.ChannelSales)
	for _, cs := range s.seller.Seller.Sales() {
		sales[cs.Channel] = cs
		snap.Sold += cs.Sold
		snap.Owed, _ = snap.Owed.Add(cs.Owed)
	}
	recs, err := s.seller.Store.Payees()
	if err != nil {
		return snap, err
	}
	for _, r := range recs {
		cs := sales[r.Channel.ID]
		snap.Channels = append(snap.Channels, ChannelRow{
			ID: hex.EncodeToString(r.Channel.ID[:]), Payer: r.Channel.Payer.String(), State: r.Channel.State.String(),
			Deposit: r.Channel.Deposit, Best: r.Best.Amount, Redeemed: r.Redeemed, Owed: cs.Owed, Sold: cs.Sold, Expiry: r.Channel.Expiry,
		})
	}
	snap.Redeem = s.seller.RedeemStats()
	return snap, nil
}

// clientName is the readable start of a peer id ("-BS0100-").
func clientName(id [20]byte) string {
	var b strings.Builder
	for _, c := range id[:8] {
		if c < 0x20 || c > 0x7e {
			break
		}
		b.WriteByte(c)
	}
	return b.String()
}

// snapshotFunc produces a snapshot; the status server's only input.
type snapshotFunc func(ctx context.Context) (Snapshot, error)

//go:embed status.html
var pageFS embed.FS

var page = template.Must(template.New("status.html").Funcs(template.FuncMap{
	"btt":   func(a btt.Amount) string { return a.FormatBTT() },
	"price": cli.FormatPrice,
	"bytes": cli.HumanBytes,
	"time":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"short": func(s string) string {
		if len(s) > 16 {
			return s[:16] + "…"
		}
		return s
	},
}).ParseFS(pageFS, "status.html"))

// newStatusHandler serves / (the HTML page), /status.json and /metrics
// (Prometheus text format, from its own registry).
func newStatusHandler(snap snapshotFunc, log *slog.Logger) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{snap: snap, log: log},
	)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) {
		s, err := snapshotFor(r.Context(), snap)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(s)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s, err := snapshotFor(r.Context(), snap)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := page.Execute(w, s); err != nil {
			log.Warn("status page", "err", err)
		}
	})
	return mux
}

// snapshotFor bounds a snapshot's wait for the torrent's loop.
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

var (
	descPeers       = desc("peers", "Connected peers.")
	descSpeedPeers  = desc("bttspeed_peers", "Connected peers that speak btt_speed.")
	descSlots       = desc("slots", "Upload slots of the auction policy, by kind.", "kind")
	descSlotsHeld   = desc("slots_held", "Upload slots held by peers now, by kind.", "kind")
	descUploaded    = desc("uploaded_bytes_total", "Payload bytes uploaded since the start.")
	descUpRate      = desc("upload_rate_bytes_per_second", "Upload rate over about 20 s.")
	descSold        = desc("sold_bytes_total", "Bytes sent in paid slots since the start.")
	descPieces      = desc("pieces", "Pieces of the torrent.")
	descPiecesDone  = desc("pieces_done", "Pieces verified on disk.")
	descReserve     = desc("reserve_price_base_units_per_byte", "Reserve (ask) price per byte.")
	descClearing    = desc("clearing_price_base_units_per_byte", "Price per byte the paid slots pay now (0: none held).")
	descHighestBid  = desc("highest_bid_base_units_per_byte", "Highest bid per byte among connected peers.")
	descEarned      = desc("earned_btt", "Sum of the best vouchers received, in BTT.")
	descRedeemed    = desc("redeemed_btt", "Vouchers cashed on chain, in BTT.")
	descRedeemable  = desc("redeemable_btt", "Vouchers received and not yet cashed, in BTT.")
	descOwed        = desc("owed_btt", "What the paid-slot bytes sent since the start cost, in BTT.")
	descChannels    = desc("channels", "Payment channels in the payee store, by last known state.", "state")
	descRedemptions = desc("redemptions_total", "Successful redemptions with value since the start.")
	descRedeemFail  = desc("redemption_failures_total", "Failed redemption attempts since the start.")
	descUp          = desc("up", "1 if the last snapshot was read, 0 if it failed.")
)

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPeers, descSpeedPeers, descSlots, descSlotsHeld, descUploaded, descUpRate, descSold, descPieces, descPiecesDone,
		descReserve, descClearing, descHighestBid, descEarned, descRedeemed, descRedeemable, descOwed, descChannels, descRedemptions, descRedeemFail, descUp} {
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
	cnt := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	g(descUp, 1)
	speedPeers := 0
	for _, p := range s.Peers {
		if p.BttSpeed {
			speedPeers++
		}
	}
	g(descPeers, float64(len(s.Peers)))
	g(descSpeedPeers, float64(speedPeers))
	g(descSlots, float64(s.PaidSlots), "paid")
	g(descSlots, float64(s.FreeSlots), "free")
	g(descSlotsHeld, float64(s.HeldPaid), "paid")
	g(descSlotsHeld, float64(s.HeldFree), "free")
	cnt(descUploaded, float64(s.Uploaded))
	g(descUpRate, float64(s.UpRate))
	cnt(descSold, float64(s.Sold))
	g(descPieces, float64(s.Pieces))
	g(descPiecesDone, float64(s.PiecesDone))
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
	host, port, err := splitHostPort(addr)
	if err != nil {
		return cli.Setupf("-http %q: want host:port such as 127.0.0.1:8080: %v", addr, err)
	}
	_ = port
	if allowRemote {
		return nil
	}
	if host == "localhost" {
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
