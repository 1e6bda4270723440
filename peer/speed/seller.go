package speed

import (
	"bytes"
	"slices"
	"sync"
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// The seller's configuration, and its books: what it sold through each
// channel, over all its connections, and what they paid.

// Seller configures the selling side. It is a value: New copies it and
// never writes to it; the figures are the Extension's (Sales).
type Seller struct {
	// Payee verifies and stores vouchers and redeems them.
	Payee *paychan.Payee
	// Self is our payee address; Ask our reserve price per byte (it
	// should equal the choker.BidDriven reserve).
	Self btt.Address
	Ask  btt.Amount
	// CreditStart and CreditMax bound the unpaid bytes a payer may be
	// served, and CreditGrowth is the factor each payment grows the
	// window by (defaults: 256 KiB, about a piece, to 256 MiB, growing
	// paychan.DefaultCreditGrowth-fold: the first payment opens it to
	// CreditMax; a CreditGrowth of 64 takes two, through 16 MiB). A payer
	// that stops paying gets at most the window it had.
	CreditStart, CreditMax, CreditGrowth int64
	// PayTimeout is how long a payer held back at its credit may go
	// without paying before it loses its paid slot (default 5 s).
	PayTimeout time.Duration
	// ChannelTimeout is how long a winner may take to announce a channel
	// that checks out on chain before it loses its paid slot (default
	// 1 min: opening one is a transaction). It gets no credit until then.
	ChannelTimeout time.Duration
}

// seller is the selling side running: its configuration, with defaults,
// and the figures and channels shared by every connection.
type seller struct {
	Seller

	mu    sync.Mutex
	sales map[paychan.ChannelID]*ChannelSales
	// credited is, per channel, what its vouchers added to its best
	// stored in this process; conns its connections, to wake when it is
	// paid.
	credited map[paychan.ChannelID]btt.Amount
	conns    map[paychan.ChannelID]map[*handler]struct{}
	// windows is, per channel, the largest credit window its payments
	// earned in this process: a connection on the channel starts there.
	windows map[paychan.ChannelID]int64
	// outstanding is, per channel, what each of its connections has
	// queued and reserved (publish): the deposit must cover it too.
	outstanding map[paychan.ChannelID]map[*handler]btt.Amount
	// reads is when each channel was last read from the chain for an
	// announcement (readAt).
	reads map[paychan.ChannelID]time.Time
}

// ChannelSales are what a seller sold through one channel, over every
// connection and torrent its payer used it for.
type ChannelSales struct {
	Channel paychan.ChannelID
	Payer   btt.Address
	// Sold is the bytes sent in a paid slot; Owed what they cost at the
	// clearing prices; Paid the best voucher's amount. Owed - Paid is at
	// most the payer's credit window while it keeps paying.
	Sold int64
	// Free is the bytes of pieces the channel paid for before, served
	// again without charge (a leecher that lost its data); not in Sold.
	Free       int64
	Owed, Paid btt.Amount
	// Vouchers is how many times a voucher (or a batch of them, stored
	// together) added to what the channel paid: a durable write each.
	Vouchers int
}

// sales returns what was sold through each channel, in channel order.
func (s *seller) salesList() []ChannelSales {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ChannelSales, 0, len(s.sales))
	for _, cs := range s.sales {
		out = append(out, *cs)
	}
	slices.SortFunc(out, func(a, b ChannelSales) int { return bytes.Compare(a.Channel[:], b.Channel[:]) })
	return out
}

// addSale records bytes sold and their cost on a channel.
func (s *seller) addSale(ch paychan.Channel, sold int64, owed btt.Amount) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sales == nil {
		s.sales = make(map[paychan.ChannelID]*ChannelSales)
	}
	cs := s.sales[ch.ID]
	if cs == nil {
		cs = &ChannelSales{Channel: ch.ID, Payer: ch.Payer}
		s.sales[ch.ID] = cs
	}
	cs.Sold += sold
	cs.Owed, _ = cs.Owed.Add(owed)
}

// addFree records bytes served free on a channel (pieces it paid for
// before).
func (s *seller) addFree(id paychan.ChannelID, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs := s.sales[id]; cs != nil {
		cs.Free += n
	}
}

// setPaid records a channel's best stored voucher and what it added.
func (s *seller) setPaid(id paychan.ChannelID, best, added btt.Amount) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs := s.sales[id]; cs != nil {
		if best.Gt(cs.Paid) {
			cs.Paid = best
		}
		if !added.IsZero() {
			cs.Vouchers++
		}
	}
	if s.credited == nil {
		s.credited = make(map[paychan.ChannelID]btt.Amount)
	}
	s.credited[id], _ = s.credited[id].Add(added)
}

// channelAccount returns what was sold through a channel in this
// process, on all of its connections, and what its vouchers added to its
// best stored (false if nothing was sold through it): the channel owes the
// difference. This is exact whatever order vouchers sent on different
// connections arrive in, and counts nothing paid before this process, or
// for other torrents, as paid for these.
func (s *seller) channelAccount(id paychan.ChannelID) (owed, credited btt.Amount, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.sales[id]
	if cs == nil {
		return btt.Zero, btt.Zero, false
	}
	return cs.Owed, s.credited[id], true
}

// channelReadEvery is the least time between two chain reads of a
// channel for an announcement, per connection and per channel.
const channelReadEvery = time.Second

// readAt rate-limits chain reads for announcements: it returns how long to
// wait before channel id may be read for a connection that last read at
// *last, and, if that is no time, records now as both's last read.
func (s *seller) readAt(id paychan.ChannelID, last *time.Time, now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next time.Time
	if !last.IsZero() {
		next = last.Add(channelReadEvery)
	}
	if t, ok := s.reads[id]; ok && t.Add(channelReadEvery).After(next) {
		next = t.Add(channelReadEvery)
	}
	if wait := next.Sub(now); wait > 0 {
		return wait
	}
	if s.reads == nil {
		s.reads = make(map[paychan.ChannelID]time.Time)
	}
	for k, t := range s.reads {
		if now.Sub(t) > channelReadEvery {
			delete(s.reads, k) // bounded by the reads of the last interval
		}
	}
	s.reads[id], *last = now, now
	return 0
}

// best returns the best voucher stored on a channel in this process (zero
// if none).
func (s *seller) best(id paychan.ChannelID) btt.Amount {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs := s.sales[id]; cs != nil {
		return cs.Paid
	}
	return btt.Zero
}

// window returns the credit window a channel's payments have earned in
// this process (zero if none), and earned records a larger one.
func (s *seller) window(id paychan.ChannelID) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.windows[id]
}

func (s *seller) earned(id paychan.ChannelID, w int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.windows == nil {
		s.windows = make(map[paychan.ChannelID]int64)
	}
	s.windows[id] = max(s.windows[id], w)
}

// channelView returns, in one look, a channel's account (as
// channelAccount) and what its connections other than h have queued and
// reserved (publish).
func (s *seller) channelView(id paychan.ChannelID, h *handler) (owed, credited, others btt.Amount, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for o, a := range s.outstanding[id] {
		if o != h {
			others, _ = others.Add(a) // below MaxPrice, sums cannot overflow
		}
	}
	cs := s.sales[id]
	if cs == nil {
		return btt.Zero, btt.Zero, others, false
	}
	return cs.Owed, s.credited[id], others, true
}

// publish records what h has queued and reserved on channel id.
func (s *seller) publish(id paychan.ChannelID, h *handler, amount btt.Amount) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if amount.IsZero() {
		delete(s.outstanding[id], h)
		if len(s.outstanding[id]) == 0 {
			delete(s.outstanding, id)
		}
		return
	}
	if s.outstanding == nil {
		s.outstanding = make(map[paychan.ChannelID]map[*handler]btt.Amount)
	}
	if s.outstanding[id] == nil {
		s.outstanding[id] = make(map[*handler]btt.Amount)
	}
	s.outstanding[id][h] = amount
}

// join and leave keep track of a channel's connections.
func (s *seller) join(id paychan.ChannelID, h *handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		s.conns = make(map[paychan.ChannelID]map[*handler]struct{})
	}
	if s.conns[id] == nil {
		s.conns[id] = make(map[*handler]struct{})
	}
	s.conns[id][h] = struct{}{}
}

func (s *seller) leave(id paychan.ChannelID, h *handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns[id], h)
	if len(s.conns[id]) == 0 {
		delete(s.conns, id)
	}
	delete(s.outstanding[id], h)
	if len(s.outstanding[id]) == 0 {
		delete(s.outstanding, id)
	}
}

// others returns a channel's connections other than h.
func (s *seller) others(id paychan.ChannelID, h *handler) []*handler {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*handler
	for o := range s.conns[id] {
		if o != h {
			out = append(out, o)
		}
	}
	return out
}
