package speed

import (
	"net/netip"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// The extension's events, delivered with the engine's through
// peer.Client.Subscribe and peer.Torrent.Subscribe (each names its
// torrent, EventInfoHash). They are published only when someone
// subscribes, and never block.

// Paid: the buyer signed a voucher for verified pieces of a torrent.
type Paid struct {
	InfoHash metainfo.Hash
	Seller   netip.AddrPort
	Channel  paychan.ChannelID
	// Pieces are the pieces paid for, Amount what they cost, Total the
	// voucher's cumulative amount on the channel.
	Pieces        []int
	Amount, Total btt.Amount
}

// BidWon: a seller awarded us a paid slot at Price per byte (the
// auction's clearing price).
type BidWon struct {
	InfoHash metainfo.Hash
	Seller   netip.AddrPort
	Price    btt.Amount
}

// BidLost: a seller took our paid slot away or refused our bid; Beat is
// the price to beat it gave (zero if none).
type BidLost struct {
	InfoHash metainfo.Hash
	Seller   netip.AddrPort
	Beat     btt.Amount
}

// EventInfoHash names the event's torrent for per-torrent subscribers.
func (e Paid) EventInfoHash() metainfo.Hash { return e.InfoHash }

// EventInfoHash names the event's torrent.
func (e BidWon) EventInfoHash() metainfo.Hash { return e.InfoHash }

// EventInfoHash names the event's torrent.
func (e BidLost) EventInfoHash() metainfo.Hash { return e.InfoHash }

// event sends an event of h's torrent to the engine's subscribers.
func (h *handler) event(ev any) {
	if t := h.p.Torrent(); t != nil { // a test's fake peer has none
		t.Publish(ev)
	}
}

// ih is h's torrent's info hash (zero for a test's fake peer).
func (h *handler) ih() metainfo.Hash {
	if t := h.p.Torrent(); t != nil {
		return t.InfoHash()
	}
	return metainfo.Hash{}
}
