package main

import (
	"context"
	"encoding/hex"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/examples/internal/market"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/speed"
)

// Snapshot is what the status page, /status.json and /metrics show.
//
// In JSON every key is camelCase, chosen once for the whole document;
// amounts of BTT (Reserve, Earned, …) are strings of base units (10^-18
// BTT), exactly as the chain and the wire carry them; prices are base
// units per byte; byte counts and rates (bytes per second) are numbers;
// times are RFC 3339.
type Snapshot struct {
	Time   time.Time `json:"time"`
	Payee  string    `json:"payee"`
	Listen string    `json:"listen"`

	// Reserve is the ask; PaidSlots and FreeSlots are each torrent's
	// slots of the auction.
	Reserve   btt.Amount `json:"reserve"`
	PaidSlots int        `json:"paidSlots"`
	FreeSlots int        `json:"freeSlots"`

	// Uploaded is every payload byte sent since the start (torrents
	// since removed included); UpRate the sum of the torrents' rates.
	Uploaded int64 `json:"uploaded"`
	UpRate   int64 `json:"upRate"`

	Torrents []TorrentRow `json:"torrents"`
	Peers    []PeerRow    `json:"peers"`

	// HeldPaid and HeldFree count the slots held over all torrents;
	// Clearing is the highest price a paid slot pays now (each torrent's
	// auction clears at its own uniform price); HighestBid the best bid.
	HeldPaid   int        `json:"heldPaid"`
	HeldFree   int        `json:"heldFree"`
	Clearing   btt.Amount `json:"clearing"`
	HighestBid btt.Amount `json:"highestBid"`

	// Earned is the best vouchers' sum, Redeemed what was cashed on
	// chain, Redeemable the rest (paychan.Payee.Totals); Owed what the
	// paid slots' bytes cost and Sold those bytes (speed.Extension.Sales).
	Earned     btt.Amount   `json:"earned"`
	Redeemed   btt.Amount   `json:"redeemed"`
	Redeemable btt.Amount   `json:"redeemable"`
	Owed       btt.Amount   `json:"owed"`
	Sold       int64        `json:"sold"`
	Channels   []ChannelRow `json:"channels"`
	Redeem     RedeemRow    `json:"redeem"`
}

// TorrentRow is one torrent seeded. Sold and Owed count the peers
// connected now: a channel pays for what its payer got of every torrent,
// so earnings are per channel, not per torrent.
type TorrentRow struct {
	Name       string `json:"name"`
	InfoHash   string `json:"infoHash"`
	Magnet     string `json:"magnet"`
	File       string `json:"file"`
	Origin     string `json:"origin"`
	Watched    bool   `json:"watched"`
	Length     int64  `json:"length"`
	Pieces     int    `json:"pieces"`
	PiecesDone int    `json:"piecesDone"`
	Uploaded   int64  `json:"uploaded"`
	UpRate     int64  `json:"upRate"`
	Peers      int    `json:"peers"`
	// BttSpeedPeers speak btt_speed; HeldPaid and HeldFree are this
	// torrent's slots held; Clearing its auction's price now.
	BttSpeedPeers int        `json:"bttSpeedPeers"`
	HeldPaid      int        `json:"heldPaid"`
	HeldFree      int        `json:"heldFree"`
	Clearing      btt.Amount `json:"clearing"`
	Sold          int64      `json:"sold"`
	Owed          btt.Amount `json:"owed"`
	Error         string     `json:"error,omitempty"`
}

// PeerRow is one connected peer of one torrent.
type PeerRow struct {
	Torrent  string `json:"torrent"` // the torrent's name
	InfoHash string `json:"infoHash"`
	Addr     string `json:"addr"`
	Client   string `json:"client"`
	// Transport is tcp or utp; Encrypted reports RC4 on the stream
	// (MSE/PE; an MSE handshake that chose plaintext is not encrypted).
	Transport  string `json:"transport"`
	Encrypted  bool   `json:"encrypted"`
	Slot       string `json:"slot"` // paid, free or choked
	Interested bool   `json:"interested"`
	BttSpeed   bool   `json:"bttSpeed"`
	Have       int    `json:"have"`
	Uploaded   int64  `json:"uploaded"`
	UpRate     int64  `json:"upRate"`
	// btt_speed peers only:
	Bid    btt.Amount `json:"bid"`
	Price  btt.Amount `json:"price"`
	Sold   int64      `json:"sold"`
	Owed   btt.Amount `json:"owed"`
	Paid   btt.Amount `json:"paid"`
	Credit int64      `json:"credit"`
	Held   bool       `json:"held"`
	// HeldSeconds is how long, in all, the credit gate held the peer back
	// in its paid slot (for its channel or a voucher).
	HeldSeconds float64 `json:"heldSeconds"`
	Channel     string  `json:"channel"`
	Refused     string  `json:"refused"`
}

// ChannelRow is one payment channel the payee store knows.
type ChannelRow struct {
	ID       string     `json:"id"`
	Payer    string     `json:"payer"`
	State    string     `json:"state"`
	Deposit  btt.Amount `json:"deposit"`
	Best     btt.Amount `json:"best"` // the best voucher
	Redeemed btt.Amount `json:"redeemed"`
	Owed     btt.Amount `json:"owed"` // what its payer's paid-slot bytes cost (this run)
	Sold     int64      `json:"sold"`
	Expiry   time.Time  `json:"expiry"`
}

// RedeemRow counts the redeemer's work since the start.
type RedeemRow struct {
	Redemptions int    `json:"redemptions"`
	Failures    int    `json:"failures"`
	LastError   string `json:"lastError"`
}

// source gathers snapshots from a running seeder.
type source struct {
	set      *seedSet
	seller   *market.Seller
	listen   string
	payee    btt.Address
	paidSlot int
	freeSlot int
}

// peerKey names a connection: the torrent and the peer's address.
type peerKey struct {
	torrent [20]byte
	addr    netip.AddrPort
}

// Snapshot reads the torrents, the extension, the seller and the store.
// A torrent whose loop does not answer shows its error in its row rather
// than failing the whole snapshot.
func (s *source) Snapshot(ctx context.Context) (Snapshot, error) {
	snap := Snapshot{
		Time: time.Now(), Payee: s.payee.String(), Listen: s.listen, Reserve: s.seller.Reserve(),
		PaidSlots: s.paidSlot, FreeSlots: s.freeSlot, Uploaded: s.set.retired(),
		Torrents: []TorrentRow{}, Peers: []PeerRow{}, Channels: []ChannelRow{},
	}
	figs, err := s.seller.Ext.Peers(ctx)
	if err != nil {
		return snap, err
	}
	byKey := make(map[peerKey]speed.PeerFigures, len(figs))
	for _, f := range figs {
		byKey[peerKey{f.Torrent, f.Addr}] = f
	}
	for _, sd := range s.set.list() {
		row := TorrentRow{Name: sd.name, InfoHash: sd.tor.InfoHash().HexString(), Magnet: sd.magnet, File: sd.file, Origin: sd.origin,
			Watched: sd.watched, Length: sd.length, Pieces: sd.pieces}
		st, err := sd.tor.Stats(ctx)
		if err == nil {
			var infos []peer.PeerInfo
			infos, err = sd.tor.Peers(ctx)
			for _, pi := range infos {
				pr := peerRow(sd, pi, byKey[peerKey{sd.tor.InfoHash(), pi.Addr}])
				row.account(pr)
				snap.Peers = append(snap.Peers, pr)
			}
		}
		if err != nil {
			row.Error = err.Error()
		}
		row.PiecesDone, row.Uploaded, row.UpRate, row.Peers = st.PiecesDone, st.Uploaded, st.UpRate, st.Peers
		snap.Uploaded += st.Uploaded
		snap.UpRate += st.UpRate
		snap.HeldPaid += row.HeldPaid
		snap.HeldFree += row.HeldFree
		snap.Clearing = btt.Max(snap.Clearing, row.Clearing)
		snap.Torrents = append(snap.Torrents, row)
	}
	for _, p := range snap.Peers {
		snap.HighestBid = btt.Max(snap.HighestBid, p.Bid)
	}
	slices.SortFunc(snap.Peers, func(a, b PeerRow) int {
		if c := strings.Compare(a.Torrent, b.Torrent); c != 0 {
			return c
		}
		return strings.Compare(a.Addr, b.Addr)
	})

	tot, err := s.seller.Payee.Totals()
	if err != nil {
		return snap, err
	}
	snap.Earned, snap.Redeemed, snap.Redeemable = tot.Earned, tot.Redeemed, tot.Redeemable
	sales := make(map[paychan.ChannelID]speed.ChannelSales)
	for _, cs := range s.seller.Ext.Sales() {
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
	rs := s.seller.RedeemStats()
	snap.Redeem = RedeemRow{Redemptions: rs.Redemptions, Failures: rs.Failures, LastError: rs.LastError}
	return snap, nil
}

// peerRow is one connection's row: the engine's figures and, for a
// btt_speed peer, the seller's.
func peerRow(sd *seeded, pi peer.PeerInfo, f speed.PeerFigures) PeerRow {
	row := PeerRow{Torrent: sd.name, InfoHash: sd.tor.InfoHash().HexString(), Addr: pi.Addr.String(), Client: clientName(pi.PeerID),
		Transport: pi.Transport, Encrypted: pi.Encrypted,
		Interested: pi.PeerInterested, Have: pi.Have, Uploaded: pi.Uploaded, UpRate: pi.UpRate, Slot: "choked"}
	if sf := f.Sell; sf != nil {
		row.BttSpeed = true
		row.Bid, row.Price, row.Sold, row.Owed, row.Paid, row.Credit, row.Held, row.Refused = sf.Bid, sf.Price, sf.Sold, sf.Owed, sf.Paid, sf.Credit, sf.Held, sf.Refused
		row.HeldSeconds = sf.HeldFor.Seconds()
		if sf.Channel != (paychan.ChannelID{}) {
			row.Channel = hex.EncodeToString(sf.Channel[:])
		}
		if sf.PaidSlot && !pi.AmChoking {
			row.Slot = "paid"
		}
	}
	if row.Slot == "choked" && !pi.AmChoking {
		row.Slot = "free"
	}
	return row
}

// account adds a peer's row to its torrent's figures.
func (t *TorrentRow) account(p PeerRow) {
	switch p.Slot {
	case "paid":
		t.HeldPaid++
		t.Clearing = btt.Max(t.Clearing, p.Price)
	case "free":
		t.HeldFree++
	}
	if p.BttSpeed {
		t.BttSpeedPeers++
	}
	t.Sold += p.Sold
	t.Owed, _ = t.Owed.Add(p.Owed)
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

// SeederOnly reads what only the seeder knows for /metrics: its slots,
// its channels by state (the payee store) and its redeemer's work —
// without reading the torrents, which metrics.Collector does.
func (s *source) SeederOnly(context.Context) (seederOnly, error) {
	o := seederOnly{PaidSlots: s.paidSlot, FreeSlots: s.freeSlot, Channels: map[string]int{}}
	recs, err := s.seller.Store.Payees()
	if err != nil {
		return o, err
	}
	for _, r := range recs {
		o.Channels[r.Channel.State.String()]++
	}
	rs := s.seller.RedeemStats()
	o.Redeem = RedeemRow{Redemptions: rs.Redemptions, Failures: rs.Failures, LastError: rs.LastError}
	return o, nil
}
