// Package choker decides which peers a torrent uploads to.
//
// A Policy is a pure, deterministic function over a snapshot of the swarm:
// the peer engine calls Rechoke every rechoke interval (10 s by default) and
// applies the Decision it returns. Policies own no sockets, timers or
// goroutines and read no wall clock; time and randomness (a seeded
// *rand.Rand) come in as arguments or configuration, so the same inputs give
// the same decision and policies can be tested with tables and run inside
// the bidding/simulate swarm simulator.
//
// A Policy may keep state between calls (the current optimistic unchoke, the
// time of the last rotation). It is not safe for concurrent use: one torrent
// loop owns one Policy.
//
// The policies:
//
//   - TitForTat, the engine's default: BEP 3 as clients implement it.
//   - BidDriven, the BitTorrent Speed auction: paid slots to the highest
//     bids at a uniform clearing price, with free slots that rotate among
//     everyone so legacy (non-paying) peers are still served.
//   - PropShare, Levin et al.'s proportional share.
//   - RoundRobin and AntiLeech, libtorrent's seed choking algorithms.
//
// Each selects its slots with a bounded top-k pass rather than a full sort,
// and reuses its buffers: a rechoke costs O(peers × slots) time and no
// allocation per peer (BenchmarkRechoke: under 1 ms at 10,000 peers).
package choker

import (
	"strconv"
	"time"

	"github.com/bttspeed/bttspeed/btt"
)

// PeerID identifies a connected peer within one torrent. The engine assigns
// it; policies only compare it.
type PeerID uint64

// PeerStat is the snapshot of one connected peer that a Policy sees.
type PeerStat struct {
	ID PeerID
	// Interested reports whether the peer wants data from us.
	Interested bool
	// AmInterested reports whether we want data from the peer.
	AmInterested bool
	// Choked reports whether we currently choke the peer.
	Choked bool
	// DownRate is the rate at which we receive payload from the peer, in
	// bytes per second, averaged over about 20 s.
	DownRate int64
	// UpRate is the rate at which we send payload to the peer, in bytes
	// per second, averaged over about 20 s.
	UpRate int64
	// Downloaded and Uploaded are the payload bytes received from and sent
	// to the peer since it connected.
	Downloaded, Uploaded int64
	// ConnectedAt is when the connection was established.
	ConnectedAt time.Time
	// LastBlockAt is when the peer last sent us a block we asked for; the
	// zero time means never.
	LastBlockAt time.Time
	// Seed reports whether the peer has every piece.
	Seed bool
	// Have is the number of bytes of the torrent the peer has, from its
	// bitfield and haves.
	Have int64

	// The fields below are set only for peers that speak btt_speed.

	// Bidder reports whether the peer speaks btt_speed (is not a legacy
	// peer).
	Bidder bool
	// Bid is the price per byte the peer currently offers; zero means no
	// bid.
	Bid btt.Amount
	// Unpaid is the payload bytes sent to the peer that its vouchers do not
	// yet cover.
	Unpaid int64
	// Credit is the unpaid bytes the payee currently allows the peer.
	Credit int64
}

// Snapshot is the input of one rechoke.
type Snapshot struct {
	// Seeding reports whether we have every piece (TitForTat then ranks
	// peers by rate sent rather than rate received).
	Seeding bool
	// Size is the torrent's total size in bytes (0 if not yet known).
	Size int64
	// Peers are the connected peers, in any order. IDs are unique.
	Peers []PeerStat
}

// Slot says which kind of upload slot an unchoked peer holds.
type Slot uint8

// The slot kinds.
const (
	NoSlot     Slot = iota // choked
	Regular                // won by rate (tit-for-tat, PropShare, seed policies)
	Optimistic             // the rotating optimistic / free slot
	Paid                   // won in the auction; the peer pays the clearing price
)

func (s Slot) String() string {
	switch s {
	case NoSlot:
		return "none"
	case Regular:
		return "regular"
	case Optimistic:
		return "optimistic"
	case Paid:
		return "paid"
	}
	return "slot(" + strconv.Itoa(int(s)) + ")"
}

// Outcome is the decision for one peer.
type Outcome struct {
	ID      PeerID
	Unchoke bool
	Slot    Slot
	// Price is the price per byte a Paid peer pays: the clearing price.
	Price btt.Amount
	// Reason says why, for logs and status pages.
	Reason Reason
	// Share is the peer's share of our upload in parts per million, for
	// policies that split bandwidth (PropShare); zero otherwise.
	Share uint32
}

// Decision is the output of one rechoke: one Outcome per peer of the
// snapshot, in the snapshot's order. The engine unchokes exactly the peers
// with Unchoke set and chokes every other.
//
// A Policy may reuse the Decision's slice between calls: the Decision is
// valid until the next call to Rechoke.
type Decision struct {
	Outcomes []Outcome
	// ClearingPrice is the auction's uniform price per byte (BidDriven
	// only; zero otherwise).
	ClearingPrice btt.Amount
}

// Unchoked returns the IDs of the unchoked peers, in snapshot order.
func (d Decision) Unchoked() []PeerID {
	var ids []PeerID
	for _, o := range d.Outcomes {
		if o.Unchoke {
			ids = append(ids, o.ID)
		}
	}
	return ids
}

// Policy chooses the peers to unchoke.
type Policy interface {
	// Rechoke returns the decision for the snapshot at time now.
	Rechoke(now time.Time, s Snapshot) Decision
}
