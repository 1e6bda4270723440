package bidding

import (
	"fmt"
	"time"

	"github.com/bttspeed/bttspeed/btt"
)

// Reasons Deadline gives.
const (
	ReasonBuffered = "buffer full: no bid, ride the free slots"
	ReasonStarving = "buffer nearly empty: bid all the budget affords"
	ReasonLowBuf   = "buffer low and no slot: raise"
	ReasonHoldSlot = "buffer low, slot held: keep the price"
	ReasonEasing   = "buffer comfortable: lower towards the reserve"
)

// Deadline bids for a stream's playhead rather than for the download as a
// whole. What matters to a player is the buffer ahead of it, measured in
// playback time (Market.Stream): above High it bids nothing and takes what
// the free slots give, saving the budget; between Low and High it lowers a
// standing bid towards the seeder's reserve, and withdraws it once it would
// fall below; under Low it raises after each round it did not win a paid
// slot (keeping the price while it holds one); under Low/2 it bids all the
// budget affords, since a stall is the one outcome it exists to prevent.
// Without a stream (Stream.Rate zero) it bids as Download does.
//
// The budget it saves while ahead is what lets it outbid the competition
// when the buffer runs low: at the same budget, Default spends evenly on
// every byte and can be priced out at the moment the playhead needs bytes.
// Like every shipped strategy it never bids above MaxAffordable.
type Deadline struct {
	// Low and High are buffer levels in playback time (defaults 30 s and
	// 90 s; High must exceed Low). Low should span a few bidding rounds.
	Low, High time.Duration
	// UpPercent is the raise after a round without a paid slot while the
	// buffer is low (default 50).
	UpPercent uint64
	// DownPercent is the step down per round while the buffer is between
	// Low and High (default 20).
	DownPercent uint64
	// Download bids when no stream reads (nil: Default{}).
	Download Strategy
}

// NewDeadline returns a Deadline with the given buffer levels, refusing
// levels that are negative or out of order.
func NewDeadline(low, high time.Duration) (Deadline, error) {
	if low < 0 || high < 0 || (high != 0 && high <= low) {
		return Deadline{}, fmt.Errorf("%w: buffer levels %v and %v: want 0 < low < high", ErrConfig, low, high)
	}
	return Deadline{Low: low, High: high}, nil
}

// Name implements Strategy.
func (Deadline) Name() string { return "deadline" }

func (d Deadline) levels() (low, high time.Duration) {
	low, high = d.Low, d.High
	if low <= 0 {
		low = 30 * time.Second
	}
	if high <= low {
		high = max(3*low, 90*time.Second)
	}
	return low, high
}

// Bid implements Strategy.
func (d Deadline) Bid(m Market) Bid {
	if m.Remaining <= 0 {
		return Bid{Reason: ReasonDone}
	}
	if m.Stream.Rate <= 0 {
		if d.Download != nil {
			return d.Download.Bid(m)
		}
		return Default{}.Bid(m)
	}
	limit := MaxAffordable(m)
	if limit.IsZero() {
		return Bid{Reason: ReasonBroke}
	}
	up, down := d.UpPercent, d.DownPercent
	if up == 0 {
		up = 50
	}
	if down == 0 || down >= 100 {
		down = 20
	}
	low, high := d.levels()
	buf := m.Stream.BufferTime()
	var price btt.Amount
	var reason string
	switch {
	case buf >= high:
		return Bid{Reason: ReasonBuffered}
	case buf < low/2:
		return Bid{Price: limit, Reason: ReasonStarving}
	case buf < low:
		switch {
		case m.Current.IsZero():
			// Open where the last round cleared, so the first bid can win.
			price, reason = btt.Max(btt.Max(m.Reserve, addOne(m.LastClearing)), m.PriceToBeat), ReasonStart
		case !m.Won:
			price, reason = btt.Max(btt.Max(btt.Max(scalePercent(m.Current, 100+up), addOne(m.Current)), m.PriceToBeat), addOne(m.LastClearing)), ReasonLowBuf
		default:
			price, reason = m.Current, ReasonHoldSlot
		}
	default:
		if m.Current.IsZero() {
			return Bid{Reason: ReasonBuffered}
		}
		price, reason = scalePercent(m.Current, 100-down), ReasonEasing
		if price.IsZero() || price.Lt(m.Reserve) {
			return Bid{Reason: ReasonBuffered}
		}
	}
	if price.Gt(limit) {
		return Bid{Price: limit, Reason: ReasonBudgetCap}
	}
	return Bid{Price: price, Reason: reason}
}

var _ Strategy = Deadline{}
