package bidding

import (
	"errors"
	"fmt"
	"time"

	"github.com/bttspeed/bttspeed/btt"
)

// ErrConfig reports a strategy configuration that is refused.
var ErrConfig = errors.New("bidding: invalid configuration")

// Reasons the shipped strategies give.
const (
	ReasonDone        = "nothing left to download"
	ReasonBroke       = "no budget left"
	ReasonBudgetCap   = "capped so the budget covers every byte still wanted"
	ReasonHold        = "bid moved less than 10%: keep the standing bid"
	ReasonRebid       = "re-bid: spending rate × balance / remaining"
	ReasonFixed       = "fixed price"
	ReasonStart       = "opening bid"
	ReasonRaise       = "lost the last round: raise"
	ReasonLower       = "won repeatedly: lower"
	ReasonKeep        = "keep the price"
	ReasonBehind      = "behind schedule: raise"
	ReasonAhead       = "ahead of schedule: lower"
	ReasonPastDue     = "past the deadline: bid all the budget affords"
	ReasonBelowAsk    = "cannot afford the seeder's reserve"
	ReasonOnSchedule  = "on schedule: keep the price"
	ReasonNeverBidder = "legacy: never bids"
)

// Default is the BitTorrent Speed whitepaper's default strategy: bid
// spending rate × balance / remaining bytes, re-bidding only when the bid
// would move by more than 10%, and bidding nothing once nothing remains.
// With a spending rate of 1 the leecher offers to spend its whole balance
// on what it still needs.
type Default struct {
	// SpendPermille is the spending rate in thousandths, in [0, 1000];
	// zero means the default, 1000 (a rate of 1).
	SpendPermille uint64
}

// NewDefault returns the default strategy with a spending rate of
// spendPermille/1000, refusing a rate above 1.
func NewDefault(spendPermille uint64) (Default, error) {
	if spendPermille > 1000 {
		return Default{}, fmt.Errorf("%w: spending rate %d‰ is above 1000‰", ErrConfig, spendPermille)
	}
	return Default{SpendPermille: spendPermille}, nil
}

// Name implements Strategy.
func (Default) Name() string { return "default" }

// Bid implements Strategy.
func (d Default) Bid(m Market) Bid {
	if m.Remaining <= 0 {
		return Bid{Reason: ReasonDone}
	}
	rate := d.SpendPermille
	if rate == 0 || rate > 1000 {
		rate = 1000
	}
	avail := m.Balance.SubFloor(m.Committed)
	spend, err := avail.MulUint64(rate)
	if err != nil {
		// avail is within a factor 1000 of 2^256: divide first.
		spend, _ = avail.DivUint64(1000).MulUint64(rate)
	} else {
		spend = spend.DivUint64(1000)
	}
	price := spend.DivUint64(uint64(m.Remaining))
	if price.IsZero() {
		return Bid{Reason: ReasonBroke}
	}
	if !m.Current.IsZero() && !m.Current.Gt(MaxAffordable(m)) && !movedMoreThan10Percent(m.Current, price) {
		return Bid{Price: m.Current, Reason: ReasonHold}
	}
	return Bid{Price: price, Reason: ReasonRebid}
}

// Fixed bids one price, capped by what the budget affords.
type Fixed struct {
	// Price is the price per byte offered.
	Price btt.Amount
}

// Name implements Strategy.
func (Fixed) Name() string { return "fixed" }

// Bid implements Strategy.
func (f Fixed) Bid(m Market) Bid {
	if m.Remaining <= 0 {
		return Bid{Reason: ReasonDone}
	}
	p, wasCapped := capped(m, f.Price)
	if p.IsZero() {
		return Bid{Reason: ReasonBroke}
	}
	if wasCapped {
		return Bid{Price: p, Reason: ReasonBudgetCap}
	}
	return Bid{Price: p, Reason: ReasonFixed}
}

// Adaptive raises its bid after losing a round and lowers it after winning
// several in a row, in the spirit of BitTyrant: it looks for the lowest
// price that keeps a slot. Since the auction charges the clearing price, not
// the bid, lowering matters most when the leecher is itself the marginal
// bidder that sets the price.
type Adaptive struct {
	// Start is the opening bid; zero means the seeder's reserve (or 1 base
	// unit if none is known).
	Start btt.Amount
	// Max caps the bid (zero: only the budget caps it).
	Max btt.Amount
	// UpPercent is how much to raise after a loss, in percent (default 25).
	UpPercent uint64
	// DownPercent is how much to lower after LowerAfter wins (default 10).
	DownPercent uint64
	// LowerAfter is the number of consecutive wins before lowering
	// (default 3).
	LowerAfter int
}

// Name implements Strategy.
func (Adaptive) Name() string { return "adaptive" }

// Bid implements Strategy.
func (a Adaptive) Bid(m Market) Bid {
	if m.Remaining <= 0 {
		return Bid{Reason: ReasonDone}
	}
	up, down, after := a.UpPercent, a.DownPercent, a.LowerAfter
	if up == 0 {
		up = 25
	}
	if down == 0 || down >= 100 {
		down = 10
	}
	if after <= 0 {
		after = 3
	}
	var price btt.Amount
	reason := ReasonKeep
	switch {
	case m.Current.IsZero():
		price, reason = a.Start, ReasonStart
		if price.IsZero() {
			price = btt.Max(m.Reserve, btt.NewAmount(1))
		}
		price = btt.Max(price, m.PriceToBeat)
	case !m.Won && m.Losses > 0:
		price, reason = scalePercent(m.Current, 100+up), ReasonRaise
		if !price.Gt(m.Current) {
			price = addOne(m.Current)
		}
		price = btt.Max(price, m.PriceToBeat)
	case m.Won && m.Wins >= after && m.Wins%after == 0:
		price, reason = scalePercent(m.Current, 100-down), ReasonLower
		price = btt.Max(price, m.Reserve)
		if price.IsZero() {
			price = btt.NewAmount(1)
		}
	default:
		price = m.Current
	}
	if !a.Max.IsZero() && price.Gt(a.Max) {
		price = a.Max
	}
	p, wasCapped := capped(m, price)
	if p.IsZero() {
		return Bid{Reason: ReasonBroke}
	}
	if wasCapped {
		reason = ReasonBudgetCap
	}
	return Bid{Price: p, Reason: reason}
}

// Paced spends a budget evenly against a deadline: it compares the rate it
// needs to finish by Deadline with the rate it gets, raises its bid by
// StepPercent while it is behind and lowers it while comfortably ahead. Past
// the deadline it bids all the budget affords.
type Paced struct {
	// Deadline is when the download should be complete.
	Deadline time.Time
	// Start is the opening bid; zero means the seeder's reserve (or 1).
	Start btt.Amount
	// StepPercent is the size of each adjustment (default 10).
	StepPercent uint64
}

// Name implements Strategy.
func (Paced) Name() string { return "paced" }

// Bid implements Strategy.
func (p Paced) Bid(m Market) Bid {
	if m.Remaining <= 0 {
		return Bid{Reason: ReasonDone}
	}
	step := p.StepPercent
	if step == 0 || step >= 100 {
		step = 10
	}
	limit := MaxAffordable(m)
	if limit.IsZero() {
		return Bid{Reason: ReasonBroke}
	}
	left := p.Deadline.Sub(m.Now)
	if left <= 0 {
		return Bid{Price: limit, Reason: ReasonPastDue}
	}
	price, reason := m.Current, ReasonOnSchedule
	if price.IsZero() {
		price, reason = p.Start, ReasonStart
		if price.IsZero() {
			price = btt.Max(m.Reserve, btt.NewAmount(1))
		}
		price = btt.Max(price, m.PriceToBeat)
	} else {
		// need = Remaining / seconds left, in bytes per second (ceil).
		secs := int64(left / time.Second)
		if secs < 1 {
			secs = 1
		}
		need := (m.Remaining + secs - 1) / secs
		switch {
		case m.Rate < need || (!m.Won && m.Losses > 0):
			price, reason = btt.Max(scalePercent(price, 100+step), addOne(price)), ReasonBehind
			price = btt.Max(price, m.PriceToBeat)
		case m.Rate > need+need/2:
			price, reason = btt.Max(scalePercent(price, 100-step), m.Reserve), ReasonAhead
		}
	}
	if price.Gt(limit) {
		return Bid{Price: limit, Reason: ReasonBudgetCap}
	}
	if price.IsZero() {
		return Bid{Reason: ReasonBroke}
	}
	return Bid{Price: price, Reason: reason}
}

func addOne(a btt.Amount) btt.Amount {
	r, err := a.Add(btt.NewAmount(1))
	if err != nil {
		return a
	}
	return r
}

var (
	_ Strategy = Default{}
	_ Strategy = Fixed{}
	_ Strategy = Adaptive{}
	_ Strategy = Paced{}
)
