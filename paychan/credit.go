package paychan

// Credit is a payee's credit window for one payer: how many bytes it will
// serve ahead of payment. It starts near one piece and grows Growth-fold,
// up to Max, each time the payer pays, so each side risks at most the
// window. Each step waits for a voucher — a piece verified, then a durable
// write on each side, a few milliseconds — with the payer held at its
// window meanwhile. By default (DefaultCreditGrowth) the first payment
// opens the window to Max at once: with growth per payment, a smaller
// step held back only a payer that stops after exactly one voucher (one
// that pays twice, for a piece each time, got Max all the same), and it
// cost a fast transfer about 3% of its throughput (docs/DECISIONS.md).
// A payer that stops paying still gets at most the window it
// had. Pure.
type Credit struct {
	Window, Max int64
	// Growth is the factor a payment grows the window by (at least 2).
	Growth int64
}

// DefaultCreditGrowth is how much a payment grows the credit window by
// default: from a start of about a piece straight to any Max up to 1024
// pieces (256 KiB to 256 MiB).
const DefaultCreditGrowth = 1024

// NewCredit returns a window that starts at start bytes, may grow to
// limit, and grows growth-fold with each payment (DefaultCreditGrowth if
// growth is below 2).
func NewCredit(start, limit, growth int64) Credit {
	if start <= 0 {
		start = 1
	}
	c := Credit{Window: start, Max: max(limit, start), Growth: growth}
	c.Growth = c.growth()
	return c
}

// growth is Growth, or DefaultCreditGrowth if it is below 2 (a zero
// Credit).
func (c Credit) growth() int64 {
	if c.Growth < 2 {
		return DefaultCreditGrowth
	}
	return c.Growth
}

// Allows reports whether a payer with unpaid bytes outstanding may be
// served more.
func (c Credit) Allows(unpaid int64) bool { return unpaid < c.Window }

// Paid grows the window after the payer paid.
func (c *Credit) Paid() {
	g := c.growth()
	if c.Window > c.Max/g {
		c.Window = c.Max
		return
	}
	c.Window = min(g*c.Window, c.Max)
}
