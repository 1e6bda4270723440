// Package bidding holds the leecher side of BitTorrent Speed: strategies
// that decide, per seeder and per round, what price per byte to offer for an
// upload slot.
//
// A Strategy is a pure function of a Market — the bytes still wanted, the
// budget left, what is already promised, the prices and rejects seen from
// that seeder, the rate observed, and the time — and returns a Bid with a
// reason. Strategies keep no state of their own: the per-seeder history they
// need (the current bid, consecutive wins and losses) arrives in the Market,
// so one Strategy value serves every seeder and every test is a table.
//
// Every shipped strategy caps its price so that paying it for every byte
// still wanted cannot exceed the budget left (see MaxAffordable): a leecher
// that pays the clearing price (never above its bid) for the bytes it
// receives never overspends, whatever the seeders do.
package bidding

import (
	"time"

	"github.com/bttspeed/bttspeed/btt"
)

// Market is what a leecher knows when it bids to one seeder.
type Market struct {
	// Now is the time of the round.
	Now time.Time
	// Remaining is the number of bytes still wanted (from all seeders).
	Remaining int64
	// Balance is the budget left to spend, in base units.
	Balance btt.Amount
	// Committed is what is promised but not yet paid: bytes received but
	// not yet covered by a voucher, at their price. It is not available to
	// new bids.
	Committed btt.Amount
	// Current is our standing bid at this seeder (zero: none).
	Current btt.Amount
	// Reserve is the seeder's advertised reserve (ask) price, if known.
	Reserve btt.Amount
	// LastClearing is the clearing price of the seeder's last auction we
	// heard of (from an award or a reject).
	LastClearing btt.Amount
	// PriceToBeat is the lowest price that would have won the last round,
	// from the seeder's last reject (zero if we won or never lost).
	PriceToBeat btt.Amount
	// Won reports whether we hold a paid slot at this seeder now.
	Won bool
	// Wins and Losses count the consecutive rounds won or lost at this
	// seeder (one of them is zero).
	Wins, Losses int
	// Rate is the download rate observed from this seeder, in bytes per
	// second.
	Rate int64
	// Stream is the state of the playback the download feeds, if one
	// does (zero: a plain download).
	Stream Stream
}

// Stream is what a leecher streaming a file knows of its playback: how
// much is buffered ahead of the playhead and how fast the playhead
// consumes it. With several readers it is the neediest one's.
type Stream struct {
	// Buffered is the bytes verified and contiguous from the playhead on.
	Buffered int64
	// Rate is the playback rate in bytes per second; zero means no stream.
	Rate int64
}

// BufferTime returns how long the buffer lasts at the playback rate (zero
// without a stream).
func (s Stream) BufferTime() time.Duration {
	if s.Rate <= 0 || s.Buffered <= 0 {
		return 0
	}
	secs := float64(s.Buffered) / float64(s.Rate)
	if secs > float64(1<<62)/float64(time.Second) {
		return time.Duration(1 << 62)
	}
	return time.Duration(secs * float64(time.Second))
}

// Bid is a strategy's decision for one seeder and round.
type Bid struct {
	// Price is the price per byte offered, in base units; zero means no
	// bid (withdraw any standing one).
	Price btt.Amount
	// Reason says why, for logs and reports.
	Reason string
}

// None reports whether the bid is no bid.
func (b Bid) None() bool { return b.Price.IsZero() }

// Strategy decides bids. Implementations must be pure and deterministic:
// the same Market gives the same Bid.
type Strategy interface {
	// Name names the strategy in reports.
	Name() string
	// Bid returns the bid for one seeder in one round.
	Bid(m Market) Bid
}

// MaxAffordable is the highest price per byte at which buying every byte
// still wanted stays within the balance not already committed: (Balance −
// Committed) / Remaining, rounded down. It is zero when nothing remains or
// nothing is left to spend.
func MaxAffordable(m Market) btt.Amount {
	if m.Remaining <= 0 {
		return btt.Zero
	}
	return m.Balance.SubFloor(m.Committed).DivUint64(uint64(m.Remaining))
}

// capped returns price limited to what the market affords, and whether it
// was limited.
func capped(m Market, price btt.Amount) (btt.Amount, bool) {
	limit := MaxAffordable(m)
	if price.Gt(limit) {
		return limit, true
	}
	return price, false
}

// movedMoreThan10Percent reports whether next differs from cur by more than
// a tenth of cur (any change from zero counts).
func movedMoreThan10Percent(cur, next btt.Amount) bool {
	if cur.IsZero() {
		return !next.IsZero()
	}
	diff := cur.SubFloor(next)
	if next.Gt(cur) {
		diff = next.SubFloor(cur)
	}
	// diff > cur/10  ⇔  10·diff > cur (exact, no rounding)
	d10, err := diff.MulUint64(10)
	if err != nil {
		return true
	}
	return d10.Gt(cur)
}

// scalePercent returns a × pct / 100, rounded down, saturating on overflow.
func scalePercent(a btt.Amount, pct uint64) btt.Amount {
	x, err := a.MulUint64(pct)
	if err == nil {
		return x.DivUint64(100)
	}
	// a is within a factor pct of 2^256: divide first.
	if y, err := a.DivUint64(100).MulUint64(pct); err == nil {
		return y
	}
	return a

}
