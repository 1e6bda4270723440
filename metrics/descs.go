package metrics

import "github.com/prometheus/client_golang/prometheus"

// descs are the metrics' descriptions under one namespace.
type descs struct {
	torrents, peers, conns, uploaded, downloaded, wasted, upRate, downRate *prometheus.Desc
	pieces, piecesDone, left, slotsHeld, interested, unchokedBy, timeouts  *prometheus.Desc

	reserve, clearing, highestBid, sold, owed, earned, redeemed, redeemable *prometheus.Desc
	spent, budget, bid, won                                                 *prometheus.Desc

	tPeers, tUploaded, tDownloaded, tUpRate, tDownRate, tPieces, tPiecesDone *prometheus.Desc
	tSlotsHeld, tClearing, tSold, tBid                                       *prometheus.Desc
}

func newDescs(ns string) descs {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, "", name), help, labels, nil)
	}
	t := func(name, help string, labels ...string) *prometheus.Desc {
		return d("torrent_"+name, help, append([]string{"infohash", "name"}, labels...)...)
	}
	return descs{
		torrents:   d("torrents", "Torrents the client has."),
		peers:      d("peers", "Connected peers, by protocol: btt_speed (they named the extension) or legacy.", "protocol"),
		conns:      d("connections", "Connections by transport (tcp, utp) and encryption (true: RC4 through MSE/PE).", "transport", "encrypted"),
		uploaded:   d("uploaded_bytes_total", "Payload bytes uploaded since the collector was made."),
		downloaded: d("downloaded_bytes_total", "Payload bytes downloaded since the collector was made."),
		wasted:     d("wasted_bytes_total", "Bytes received that were not wanted."),
		upRate:     d("upload_rate_bytes_per_second", "Upload rate over about 20 s."),
		downRate:   d("download_rate_bytes_per_second", "Download rate over about 20 s."),
		pieces:     d("pieces", "Pieces of the torrents whose info is known."),
		piecesDone: d("pieces_done", "Pieces verified."),
		left:       d("left_bytes", "Bytes still to download."),
		slotsHeld:  d("slots_held", "Peers we unchoke, by kind: paid (a paid slot of the auction) or free.", "kind"),
		interested: d("interested_peers", "Peers interested in what we have."),
		unchokedBy: d("unchoked_by_peers", "Peers that unchoke us."),
		timeouts:   d("collect_timeouts_total", "Torrents a scrape gave up waiting for."),

		reserve:    d("reserve_price_base_units_per_byte", "Reserve (ask) price per byte."),
		clearing:   d("clearing_price_base_units_per_byte", "Highest price per byte a paid slot pays now (0: none held)."),
		highestBid: d("highest_bid_base_units_per_byte", "Highest bid per byte among connected peers."),
		sold:       d("sold_bytes_total", "Bytes sent in paid slots this run."),
		owed:       d("owed_btt", "What the bytes sent in paid slots this run cost, in BTT."),
		earned:     d("earned_btt", "Sum of the best vouchers in the payee store, in BTT."),
		redeemed:   d("redeemed_btt", "Vouchers cashed on chain, in BTT."),
		redeemable: d("redeemable_btt", "Vouchers received and not yet cashed, in BTT."),

		spent:  d("spent_btt", "What the buyer signed vouchers for, in BTT."),
		budget: d("budget_btt", "The buyer's budget, in BTT."),
		bid:    d("bid_base_units_per_byte", "Our highest bid per byte now."),
		won:    d("won_slots", "Paid slots we hold now."),

		tPeers:      t("peers", "A torrent's connected peers, by protocol.", "protocol"),
		tUploaded:   t("uploaded_bytes_total", "A torrent's payload bytes uploaded since it was added."),
		tDownloaded: t("downloaded_bytes_total", "A torrent's payload bytes downloaded since it was added."),
		tUpRate:     t("upload_rate_bytes_per_second", "A torrent's upload rate over about 20 s."),
		tDownRate:   t("download_rate_bytes_per_second", "A torrent's download rate over about 20 s."),
		tPieces:     t("pieces", "A torrent's pieces (0 until its info is known)."),
		tPiecesDone: t("pieces_done", "A torrent's pieces verified."),
		tSlotsHeld:  t("slots_held", "A torrent's peers we unchoke, by kind.", "kind"),
		tClearing:   t("clearing_price_base_units_per_byte", "A torrent's clearing price now (0: no paid slot held)."),
		tSold:       t("sold_bytes", "Bytes of a torrent sent in paid slots to the peers connected now."),
		tBid:        t("bid_base_units_per_byte", "Our highest bid per byte to a torrent's peers now."),
	}
}

func (d descs) client() []*prometheus.Desc {
	return []*prometheus.Desc{d.torrents, d.peers, d.conns, d.uploaded, d.downloaded, d.wasted, d.upRate, d.downRate,
		d.pieces, d.piecesDone, d.left, d.slotsHeld, d.interested, d.unchokedBy, d.timeouts}
}

func (d descs) torrent() []*prometheus.Desc {
	return []*prometheus.Desc{d.tPeers, d.tUploaded, d.tDownloaded, d.tUpRate, d.tDownRate, d.tPieces, d.tPiecesDone, d.tSlotsHeld}
}

// sell and buy are the extension's metrics, the client's and the
// torrents'.
func (d descs) sell() []*prometheus.Desc {
	return []*prometheus.Desc{d.reserve, d.clearing, d.highestBid, d.sold, d.owed, d.earned, d.redeemed, d.redeemable, d.tClearing, d.tSold}
}

func (d descs) buy() []*prometheus.Desc {
	return []*prometheus.Desc{d.spent, d.budget, d.bid, d.won, d.tBid}
}
