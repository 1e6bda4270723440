package choker

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/bttspeed/bttspeed/btt"
)

// BidDrivenConfig configures BidDriven. Zero fields take the defaults shown.
type BidDrivenConfig struct {
	// Slots is the total number of upload slots, paid and free (default
	// 5).
	Slots int
	// FreePercent is the share of Slots, in percent, that is never
	// auctioned and rotates among all interested peers (default 20). The
	// free slots are FreePercent × Slots / 100 rounded to the nearest
	// integer, and never fewer than 1.
	FreePercent int
	// Reserve is the lowest price per byte, in base units, that can win a
	// paid slot. The zero value accepts any positive bid, and winners of
	// an uncontested auction then pay nothing: set a reserve to earn.
	Reserve btt.Amount
	// RotationPeriod is how long a free slot is held before it rotates
	// (default 30 s).
	RotationPeriod time.Duration
	// LeaveIdle keeps paid slots that nobody won empty. By default they are
	// handed out as extra free slots for the round, so upload capacity is
	// not wasted while few peers bid.
	LeaveIdle bool
	// Rand draws the free-slot holders. Nil means a generator with a fixed
	// seed.
	Rand *rand.Rand
}

func (c *BidDrivenConfig) setDefaults() error {
	if c.Slots < 0 {
		return fmt.Errorf("%w: BidDriven: Slots %d is negative", ErrConfig, c.Slots)
	}
	if c.FreePercent < 0 || c.FreePercent > 100 {
		return fmt.Errorf("%w: BidDriven: FreePercent %d is not in [0, 100]", ErrConfig, c.FreePercent)
	}
	if c.RotationPeriod < 0 {
		return fmt.Errorf("%w: BidDriven: RotationPeriod %v is negative", ErrConfig, c.RotationPeriod)
	}
	if c.Slots == 0 {
		c.Slots = 5
	}
	if c.FreePercent == 0 {
		c.FreePercent = 20
	}
	if c.RotationPeriod == 0 {
		c.RotationPeriod = 30 * time.Second
	}
	if c.Rand == nil {
		c.Rand = defaultRand()
	}
	if c.Slots < 2 {
		return fmt.Errorf("%w: BidDriven: %d slots leave no paid slot beside the free one", ErrConfig, c.Slots)
	}
	return nil
}

// freeSlots is the number of never-auctioned slots.
func (c *BidDrivenConfig) freeSlots() int {
	f := (c.Slots*c.FreePercent + 50) / 100
	if f < 1 {
		f = 1
	}
	if f > c.Slots-1 {
		f = c.Slots - 1
	}
	return f
}

// BidDriven sells upload slots in the BitTorrent Speed whitepaper's
// multi-unit uniform-price auction.
//
// Each rechoke, the paid slots (Slots less the free ones) go to the highest
// bids among the eligible bidders: interested peers that speak btt_speed,
// bid a positive price at or above Reserve, and whose unpaid bytes do not
// exceed their credit. Every winner pays the same clearing price per byte:
// the highest losing eligible bid, or Reserve if no eligible bid lost. No
// winner therefore pays more than it bid. Equal bids rank by rate received
// from the peer (DownRate), then rate sent (UpRate), then lower PeerID; a
// bidder that loses only on that tie-break sets the clearing price at its
// (equal) bid.
//
// The free slots (FreePercent of Slots, at least one) are never auctioned:
// they rotate every RotationPeriod among all interested peers that did not
// win a paid slot — legacy peers that never bid included — so a swarm of
// stock clients is still served and new peers bootstrap. Paid slots nobody
// won are added to the free ones for the round unless LeaveIdle is set.
//
// A payer whose Unpaid bytes exceed its Credit is choked (ReasonOverCredit)
// and holds no slot of either kind until it pays.
type BidDriven struct {
	cfg   BidDrivenConfig
	free  int
	top   topK
	rot   rotator
	out   []Outcome
	slot  []Slot
	buf   []int
	class []bidClass
}

type bidClass uint8

const (
	classNone bidClass = iota
	classUninterested
	classOverCredit
	classNoBid
	classBelowReserve
	classEligible
)

// NewBidDriven returns a BidDriven policy.
func NewBidDriven(cfg BidDrivenConfig) (*BidDriven, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	return &BidDriven{cfg: cfg, free: cfg.freeSlots()}, nil
}

// PaidSlots returns the number of auctioned slots.
func (b *BidDriven) PaidSlots() int { return b.cfg.Slots - b.free }

// FreeSlots returns the number of never-auctioned slots.
func (b *BidDriven) FreeSlots() int { return b.free }

// Reserve returns the reserve price per byte.
func (b *BidDriven) Reserve() btt.Amount { return b.cfg.Reserve }

// OverCredit reports whether a peer has been served more unpaid bytes than
// its credit allows.
func OverCredit(p PeerStat) bool { return p.Bidder && p.Unpaid > p.Credit }

// Rechoke implements Policy.
func (b *BidDriven) Rechoke(now time.Time, s Snapshot) Decision {
	peers := s.Peers
	b.out = resize(b.out, len(peers))
	b.slot = resize(b.slot, len(peers))
	b.class = resize(b.class, len(peers))
	k := b.PaidSlots()
	better := func(x, y int) bool {
		if c := peers[x].Bid.Cmp(peers[y].Bid); c != 0 {
			return c > 0
		}
		if peers[x].DownRate != peers[y].DownRate {
			return peers[x].DownRate > peers[y].DownRate
		}
		if peers[x].UpRate != peers[y].UpRate {
			return peers[x].UpRate > peers[y].UpRate
		}
		return peers[x].ID < peers[y].ID
	}
	// Select the k winners and the best loser in one pass.
	b.top.reset(k+1, better)
	for i := range peers {
		p := &peers[i]
		switch {
		case !p.Interested:
			b.class[i] = classUninterested
		case OverCredit(*p):
			b.class[i] = classOverCredit
		case !p.Bidder || p.Bid.IsZero():
			b.class[i] = classNoBid
		case p.Bid.Lt(b.cfg.Reserve):
			b.class[i] = classBelowReserve
		default:
			b.class[i] = classEligible
			b.top.offer(i)
		}
	}
	price := b.cfg.Reserve
	winners := b.top.idx
	if len(winners) > k {
		price = peers[winners[k]].Bid
		winners = winners[:k]
	}
	for _, i := range winners {
		b.slot[i] = Paid
	}
	free := b.free
	if !b.cfg.LeaveIdle {
		free += k - len(winners)
	}
	b.buf = b.rot.update(now, b.cfg.RotationPeriod, peers, func(i int) bool {
		c := b.class[i]
		return b.slot[i] == NoSlot && c != classUninterested && c != classOverCredit
	}, free, b.cfg.Rand, b.buf[:0])
	for _, i := range b.buf {
		b.slot[i] = Optimistic
	}
	var clearing btt.Amount
	if len(winners) > 0 {
		clearing = price
	}
	for i, p := range peers {
		o := Outcome{ID: p.ID, Slot: b.slot[i], Unchoke: b.slot[i] != NoSlot}
		switch {
		case b.slot[i] == Paid:
			o.Price = price
			o.Reason = ReasonWonAuction
		case b.slot[i] == Optimistic:
			o.Reason = ReasonOptimistic
		default:
			switch b.class[i] {
			case classUninterested:
				o.Reason = ReasonNotInterested
			case classOverCredit:
				o.Reason = ReasonOverCredit
			case classNoBid:
				o.Reason = ReasonNoBid
			case classBelowReserve:
				o.Reason = ReasonBelowReserve
			default:
				o.Reason = ReasonLostAuction
			}
		}
		b.out[i] = o
	}
	return Decision{Outcomes: b.out, ClearingPrice: clearing}
}
