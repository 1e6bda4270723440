package speed

import (
	"fmt"

	"github.com/bttspeed/bttspeed/btt"
)

// The seller's arithmetic, pure: what bytes cost, what an amount buys, and
// how much a channel can still pay for. The handler (sell.go) feeds it the
// bytes sent and the channel as the chain and the store know it.
//
// Invariants:
//   - every price here came through speedwire, so it is at most
//     speedwire.MaxPrice (< 2^100) and price × bytes cannot overflow; an
//     overflow is still an error, never a zero: the caller fails closed
//     (the payer is refused and choked), it never serves for nothing;
//   - a channel's capacity is what its deposit can still pay beyond its
//     best voucher: the payer's unpaid exposure on it is held to that, so
//     a voucher the seller has not yet got can always be paid in full.

// cost returns what n bytes cost at price.
func cost(price btt.Amount, n int64) (btt.Amount, error) {
	if n < 0 {
		return btt.Zero, fmt.Errorf("speed: cost of %d bytes", n)
	}
	c, err := price.MulUint64(uint64(n))
	if err != nil {
		return btt.Zero, fmt.Errorf("speed: %d bytes at %s a byte: %w", n, price, err)
	}
	return c, nil
}

// maxBytes is the most bytes the accounting counts in one figure: far
// above any torrent, and far from overflowing an int64 when added to.
const maxBytes = 1 << 62

// bytesAt returns how many bytes amount buys at price, at most maxBytes (and
// maxBytes at a zero price: anything is affordable for nothing).
func bytesAt(amount, price btt.Amount) int64 {
	bytes, ok := amount.Div(price)
	if !ok {
		return maxBytes
	}
	n, fits := bytes.Uint64()
	if !fits || n > maxBytes {
		return maxBytes
	}
	return int64(n)
}

// capacity returns the bytes, at price, that a channel with deposit can
// still pay for beyond best, its best voucher (or what was redeemed, if
// more): the most a payer may hold unpaid on it, its debt included.
func capacity(deposit, best, price btt.Amount) int64 {
	return bytesAt(deposit.SubFloor(best), price)
}
