package speed

import (
	"fmt"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// The seller's accounting, pure: the meter that charges what was sent at
// the terms it went out under; what bytes cost and what an amount buys;
// a channel's debt and what its deposit can still pay for; the window a
// payer may use. The credit window's growth is paychan.Credit; the gate
// that holds a payer to these is gate.go. The handler (sell.go) feeds
// them the bytes sent and the channel as the chain and the store know
// it.
//
// Invariants:
//   - every price here came through speedwire, so it is at most
//     speedwire.MaxPrice (< 2^100) and price × bytes cannot overflow; an
//     overflow is still an error, never a zero: the caller fails closed
//     (the payer is refused and choked), it never serves for nothing;
//   - a channel's capacity is what its deposit can still pay beyond its
//     best voucher: the payer's unpaid exposure on it is held to that, so
//     a voucher the seller has not yet got can always be paid in full.

// terms are what the bytes sent to a payer are charged at.
type terms struct {
	paid  bool
	price btt.Amount
}

// meter counts what one connection was charged: fed the bytes charged so
// far (sent, less those served free) and the terms they went out under,
// it charges the new ones. Pure: no clock, no I/O. Invariant: owed is
// what sold cost, each byte at the terms it was counted under.
type meter struct {
	counted int64      // bytes charged so far, in a paid slot or not
	sold    int64      // of which in a paid slot
	owed    btt.Amount // what those cost
}

// to counts the bytes charged up to charged in all, at terms t, and
// returns those it charged in a paid slot and their cost. Bytes counted
// out of a paid slot (or at a zero price) cost nothing. An overflow is an
// error and counts nothing: the caller fails closed.
func (m *meter) to(charged int64, t terms) (n int64, c btt.Amount, err error) {
	if charged <= m.counted {
		return 0, btt.Zero, nil
	}
	d := charged - m.counted
	if !t.paid || t.price.IsZero() {
		m.counted = charged
		return 0, btt.Zero, nil
	}
	c, err = cost(t.price, d)
	var owed btt.Amount
	if err == nil {
		owed, err = m.owed.Add(c)
	}
	if err != nil {
		return 0, btt.Zero, fmt.Errorf("charging %d bytes: %w", d, err)
	}
	m.counted, m.sold, m.owed = charged, m.sold+d, owed
	return d, c, nil
}

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

// debtBytes is owed less paid in bytes at price (negative if paid ahead).
func debtBytes(owed, paid, price btt.Amount) int64 {
	if paid.Gt(owed) {
		return -bytesAt(paid.SubFloor(owed), price)
	}
	return bytesAt(owed.SubFloor(paid), price)
}

// usableWindow is the credit a payer may use: its credit window (which
// grows with its payments: paychan.Credit), bounded by its channel's
// capacity.
func usableWindow(c paychan.Credit, capBytes int64) int64 { return min(c.Window, capBytes) }
