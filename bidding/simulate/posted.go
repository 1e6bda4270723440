package simulate

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
)

// PostedPrice is a baseline seller for comparison with the auction: it
// posts one fixed price per byte, gives its paid slots to interested bidders
// whose bid meets the price, taking turns each rechoke when more qualify than
// there are slots, and charges every one of them the posted price. One free
// slot rotates at random among the other interested peers, as in BidDriven.
type PostedPrice struct {
	price btt.Amount
	paid  int
	rng   *rand.Rand
	turn  int
	out   []choker.Outcome
	qual  []int
	rest  []int
}

// NewPostedPrice returns a PostedPrice seller with slots slots (one of them
// free) at price per byte.
func NewPostedPrice(price btt.Amount, slots int, rng *rand.Rand) (*PostedPrice, error) {
	if slots < 2 {
		return nil, fmt.Errorf("%w: PostedPrice needs at least 2 slots, got %d", ErrScenario, slots)
	}
	if rng == nil {
		rng = rand.New(rand.NewPCG(1, 1))
	}
	return &PostedPrice{price: price, paid: slots - 1, rng: rng}, nil
}

// Reserve returns the posted price (leechers see it as the ask).
func (p *PostedPrice) Reserve() btt.Amount { return p.price }

// Rechoke implements choker.Policy.
func (p *PostedPrice) Rechoke(_ time.Time, s choker.Snapshot) choker.Decision {
	p.out = p.out[:0]
	p.qual, p.rest = p.qual[:0], p.rest[:0]
	for i, ps := range s.Peers {
		p.out = append(p.out, choker.Outcome{ID: ps.ID, Reason: choker.ReasonNotInterested})
		if !ps.Interested {
			continue
		}
		if ps.Bidder && !ps.Bid.IsZero() && !ps.Bid.Lt(p.price) {
			p.qual = append(p.qual, i)
		} else {
			p.rest = append(p.rest, i)
		}
	}
	n := len(p.qual)
	for k := 0; k < n; k++ {
		i := p.qual[(p.turn+k)%n]
		if k < p.paid {
			p.out[i] = choker.Outcome{ID: s.Peers[i].ID, Unchoke: true, Slot: choker.Paid, Price: p.price, Reason: choker.ReasonWonAuction}
		} else {
			p.out[i].Reason = choker.ReasonLostAuction
			p.rest = append(p.rest, i)
		}
	}
	if n > 0 {
		p.turn = (p.turn + p.paid) % n
	}
	for _, i := range p.rest {
		if s.Peers[i].Bidder && !s.Peers[i].Bid.IsZero() && s.Peers[i].Bid.Lt(p.price) {
			p.out[i].Reason = choker.ReasonBelowReserve
		} else if p.out[i].Reason == choker.ReasonNotInterested {
			p.out[i].Reason = choker.ReasonNoBid
		}
	}
	if len(p.rest) > 0 {
		i := p.rest[p.rng.IntN(len(p.rest))]
		p.out[i] = choker.Outcome{ID: s.Peers[i].ID, Unchoke: true, Slot: choker.Optimistic, Reason: choker.ReasonOptimistic}
	}
	var clearing btt.Amount
	if n > 0 {
		clearing = p.price
	}
	return choker.Decision{Outcomes: p.out, ClearingPrice: clearing}
}
