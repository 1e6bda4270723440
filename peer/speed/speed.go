// Package speed is the btt_speed extension for the peer engine: a seeder
// sells upload slots in choker.BidDriven's auction and is paid through
// payment channels; a leecher bids with a bidding.Strategy, opens a channel
// when it wins a slot, and pays with a voucher for each piece it received in
// a paid slot once the piece has passed its hash check.
//
// Register it in peer.Config.Extensions. Chain calls (opening a channel,
// reading one) and database writes (storing a voucher) run off the torrent's
// loop; their results come back to it.
package speed

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/anacrolix/torrent/bencode"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/speedwire"
)

// Error codes of the error message.
const (
	CodeBadVoucher = 1 // a voucher failed verification: nothing credited, the peer is choked
	CodeNoChannel  = 2 // a voucher before its channel was accepted
	CodeBadChannel = 3 // the announced channel failed its check on chain
	// CodeChannelEnding: the channel takes no more vouchers (the seller
	// is closing it, or it is closed or near expiry); the payer should
	// announce a new one, which replaces it on the connection.
	CodeChannelEnding = 4
	// CodeAccounting: what the payer was sent could not be charged (an
	// arithmetic overflow); it is refused and choked, never served free.
	CodeAccounting = 5
	// CodeViolation: the peer broke the protocol in a way that could
	// cost us money (a seller's award above our bid); we drop it.
	CodeViolation = 6
)

// Config configures the extension. A peer can sell, buy, or both.
type Config struct {
	// Domain is the chain and escrow both sides must use.
	Domain paychan.Domain
	// Sell, if set, sells our upload.
	Sell *Seller
	// Buy, if set, buys from seeders.
	Buy *Buyer
	// Logger receives the extension's logs; nil discards them.
	Logger *slog.Logger
}

// Buyer configures the buying side: a strategy and a budget. It is a
// value: New copies it and never writes to it; the channels it opens and
// what it spends are the Extension's (Spent), shared by every torrent
// and seeder the Extension serves. Two Extensions made from one Buyer
// are two buyers, each with the whole budget.
type Buyer struct {
	Payer    *paychan.Payer
	Strategy bidding.Strategy
	// Budget is the most to spend in all; Deposit what one channel locks
	// (default: the whole budget); Lifetime a channel's (default 24 h).
	Budget   btt.Amount
	Deposit  btt.Amount
	Lifetime time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// buyer is the buying side running: its configuration, with defaults,
// and the channels and spending of every connection.
type buyer struct {
	Buyer

	mu       sync.Mutex
	locked   btt.Amount // deposits of the channels opened
	spent    btt.Amount // vouchers signed
	channels map[btt.Address]*buyChannel
	// ended are the channels a seller said take no more vouchers (code
	// 4): never resumed again in this process.
	ended map[paychan.ChannelID]bool
}

type buyChannel struct {
	ch paychan.Channel
	// signed is the most signed on the channel as far as this process
	// knows: what Resume found, then each voucher signed. A connection
	// opened once it is above zero resends the latest voucher first.
	signed  btt.Amount
	ready   bool
	opening bool
	topping bool // a top-up is on its way to the chain
	err     error
	waiters []waiter
}

// waiter is a handler's function to run on its own loop once a channel is
// opened or topped up.
type waiter struct {
	h *handler
	f func()
}

// wake runs the waiters, each on its own torrent's loop; the caller runs
// on h's.
func (h *handler) wake(ws []waiter) {
	for _, w := range ws {
		if w.h.p.Torrent() == h.p.Torrent() {
			w.f()
			continue
		}
		w.h.p.Post(w.f)
	}
}

// Spent returns what the buyer has signed vouchers for (zero if the
// extension does not buy).
func (e *Extension) Spent() btt.Amount {
	if e.buy == nil {
		return btt.Zero
	}
	e.buy.mu.Lock()
	defer e.buy.mu.Unlock()
	return e.buy.spent
}

// Sales returns what the seller sold through each channel, in channel
// order (nil if the extension does not sell).
func (e *Extension) Sales() []ChannelSales {
	if e.sell == nil {
		return nil
	}
	return e.sell.salesList()
}

// SellerConfig returns the seller's configuration as the extension runs
// it, defaults filled in; ok is false if it does not sell.
func (e *Extension) SellerConfig() (s Seller, ok bool) {
	if e.sell == nil {
		return Seller{}, false
	}
	return e.sell.Seller, true
}

// BuyerConfig returns the buyer's configuration as the extension runs it,
// defaults filled in; ok is false if it does not buy.
func (e *Extension) BuyerConfig() (b Buyer, ok bool) {
	if e.buy == nil {
		return Buyer{}, false
	}
	return e.buy.Buyer, true
}

// Ask is the seller's reserve price per byte (zero if the extension does
// not sell).
func (e *Extension) Ask() btt.Amount {
	if e.sell == nil {
		return btt.Zero
	}
	return e.sell.Ask
}

// Policy returns a constructor of the choker.BidDriven auction for
// peer.Config.Policy with cfg, its Reserve the seller's Ask: the two
// must agree (a reserve below the ask awards slots the seller then
// refuses to serve at that price), so one is derived from the other. A
// cfg.Reserve already set to something else is an error.
func (e *Extension) Policy(cfg choker.BidDrivenConfig) func() (choker.Policy, error) {
	return func() (choker.Policy, error) {
		if e.sell == nil {
			return nil, errors.New("speed: Policy: the extension does not sell")
		}
		if !cfg.Reserve.IsZero() && cfg.Reserve != e.sell.Ask {
			return nil, fmt.Errorf("speed: Policy: reserve %s differs from the seller's ask %s", cfg.Reserve, e.sell.Ask)
		}
		cfg.Reserve = e.sell.Ask
		return choker.NewBidDriven(cfg)
	}
}

// Extension implements peer.Extension.
type Extension struct {
	dom  paychan.Domain
	sell *seller
	buy  *buyer
	hs   speedwire.Handshake
	log  *slog.Logger

	mu       sync.Mutex
	handlers map[*handler]struct{} // the live btt_speed peers
}

var (
	_ peer.Extension = (*Extension)(nil)
	_ peer.Busy      = (*handler)(nil)
)

// New returns the extension.
func New(cfg Config) (*Extension, error) {
	if cfg.Sell == nil && cfg.Buy == nil {
		return nil, errors.New("speed: neither selling nor buying")
	}
	var sell *seller
	if cfg.Sell != nil {
		s := &seller{Seller: *cfg.Sell}
		if s.Payee == nil || s.Self.IsZero() {
			return nil, errors.New("speed: a seller needs a Payee and its address")
		}
		if s.CreditStart == 0 {
			s.CreditStart = 256 << 10
		}
		if s.CreditMax == 0 {
			s.CreditMax = 256 << 20
		}
		if s.PayTimeout == 0 {
			s.PayTimeout = 5 * time.Second
		}
		if s.ChannelTimeout == 0 {
			s.ChannelTimeout = time.Minute
		}
		if s.CreditGrowth == 0 {
			s.CreditGrowth = paychan.DefaultCreditGrowth
		}
		if s.CreditStart < 0 || s.CreditMax < s.CreditStart {
			return nil, fmt.Errorf("speed: credit window %d..%d: the start must be positive and at most the max", s.CreditStart, s.CreditMax)
		}
		if s.PayTimeout < 0 || s.ChannelTimeout < 0 {
			return nil, fmt.Errorf("speed: negative timeout (PayTimeout %v, ChannelTimeout %v)", s.PayTimeout, s.ChannelTimeout)
		}
		if s.CreditGrowth < 2 {
			return nil, fmt.Errorf("speed: credit growth %d: a payment must grow the window (2 or more)", s.CreditGrowth)
		}
		sell = s
	}
	var buy *buyer
	if cfg.Buy != nil {
		b := &buyer{Buyer: *cfg.Buy}
		if b.Payer == nil || b.Strategy == nil {
			return nil, errors.New("speed: a buyer needs a Payer and a Strategy")
		}
		if b.Deposit.IsZero() || b.Deposit.Gt(b.Budget) {
			b.Deposit = b.Budget
		}
		if b.Lifetime == 0 {
			b.Lifetime = 24 * time.Hour
		}
		if b.Now == nil {
			b.Now = time.Now
		}
		b.channels = make(map[btt.Address]*buyChannel)
		buy = b
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hs := speedwire.Handshake{Version: speedwire.Version, ChainID: cfg.Domain.ChainID, Token: cfg.Domain.Token, Escrow: cfg.Domain.Escrow}
	if sell != nil {
		hs.Payee, hs.Ask = sell.Self, sell.Ask
	}
	return &Extension{dom: cfg.Domain, sell: sell, buy: buy, hs: hs, log: log, handlers: make(map[*handler]struct{})}, nil
}

// Name implements peer.Extension.
func (e *Extension) Name() string { return speedwire.Name }

// HandshakeKeys implements peer.Extension.
func (e *Extension) HandshakeKeys(*peer.Torrent) map[string]any { return e.hs.Keys() }

// Attach implements peer.Extension. A peer on another chain or escrow is
// treated as a legacy peer (no handler).
func (e *Extension) Attach(p peer.ExtPeer, raw map[string]bencode.Bytes) (peer.ExtHandler, error) {
	hs, err := speedwire.ParseHandshake(raw)
	if err != nil {
		return nil, err
	}
	if hs.ChainID != e.hs.ChainID || hs.Escrow != e.hs.Escrow || hs.Token != e.hs.Token {
		e.log.Debug("btt_speed peer on another chain or escrow; treated as legacy", "peer", p.Addr())
		return nil, nil
	}
	if hs.Version < speedwire.Version {
		e.log.Debug("btt_speed peer of an earlier version (no channel proofs); treated as legacy", "peer", p.Addr(), "version", hs.Version)
		return nil, nil
	}
	h := &handler{e: e, p: p, theirs: hs}
	if e.sell != nil {
		h.sell = &sellState{credit: paychan.NewCredit(e.sell.CreditStart, e.sell.CreditMax, e.sell.CreditGrowth), capBytes: maxBytes}
		_, h.sell.marked = p.(peer.MarkedSender)
		if _, err := rand.Read(h.sell.nonce[:]); err != nil {
			return nil, fmt.Errorf("speed: challenge nonce: %w", err)
		}
		// Before anything else: the payer signs it to attach a channel.
		h.send(speedwire.Challenge{Nonce: h.sell.nonce})
	}
	if e.buy != nil && !hs.Payee.IsZero() {
		h.buy = &buyState{}
		h.bidRound() // bid at once: a download may not wait for our rechoke
		if t := p.Torrent(); t.Left() < 0 {
			// From a magnet link, without the info yet: bid as soon
			// as it comes.
			p.Go(func(ctx context.Context) {
				select {
				case <-t.GotInfo():
					p.Do(func() {
						if !h.closed {
							h.bidRound()
						}
					})
				case <-ctx.Done():
				}
			})
		}
	}
	e.mu.Lock()
	e.handlers[h] = struct{}{}
	e.mu.Unlock()
	return h, nil
}

// PeerFigures are one btt_speed peer's live figures, as we sell to it and
// buy from it.
type PeerFigures struct {
	Addr    netip.AddrPort
	Torrent [20]byte // the infohash
	Sell    *SellFigures
	Buy     *BuyFigures
}

// SellFigures describe what we sell to a peer.
type SellFigures struct {
	// Bid is the peer's bid per byte; Price the clearing price it pays in
	// its paid slot (zero outside one).
	Bid, Price btt.Amount
	PaidSlot   bool
	// Sold is the bytes sent in a paid slot; Owed what they cost; Paid
	// what this connection's vouchers added to their channel's total
	// (durably stored). A channel carries its payer's payments across
	// torrents and connections, so its total would credit one
	// connection with what was paid for on another.
	Sold int64
	// Free is the bytes of pieces its channel paid for before served
	// to it again without charge (a leecher that lost its data), at most
	// once each per connection; not in Sold.
	Free       int64
	Owed, Paid btt.Amount
	// Credit is the unpaid bytes the peer may hold; Held whether the
	// credit gate is holding its requests back, HeldFor how long it has,
	// in all, in the paid slot (waiting for its channel to check out, or
	// for a voucher): what paying has cost the peer in time.
	Credit  int64
	Held    bool
	HeldFor time.Duration
	// Channel is the channel it pays through (zero before one is
	// accepted); Refused why its vouchers are refused, if they are.
	Channel paychan.ChannelID
	Refused string
}

// BuyFigures describe what we buy from a peer.
type BuyFigures struct {
	// Bid is our bid; Clearing the price of our last award; Won whether
	// we hold a paid slot.
	Bid, Clearing btt.Amount
	Won           bool
	// Bought is the bytes of verified pieces paid for; Spent what we
	// signed for them; Due what waits to be paid (bytes).
	Bought int64
	Spent  btt.Amount
	Due    int64
}

// Peers returns the live figures of every btt_speed peer. It asks each
// torrent's loop; ctx bounds the wait.
func (e *Extension) Peers(ctx context.Context) ([]PeerFigures, error) {
	e.mu.Lock()
	hs := make([]*handler, 0, len(e.handlers))
	for h := range e.handlers {
		hs = append(hs, h)
	}
	e.mu.Unlock()
	out := make([]PeerFigures, 0, len(hs))
	for _, h := range hs {
		done := make(chan PeerFigures, 1)
		if !h.p.Post(func() { done <- h.figures() }) {
			continue // its torrent has stopped
		}
		select {
		case f := <-done:
			if !f.Addr.IsValid() {
				continue // closed meanwhile
			}
			out = append(out, f)
		case <-ctx.Done():
			return out, ctx.Err()
		}
	}
	slices.SortFunc(out, func(a, b PeerFigures) int { return a.Addr.Compare(b.Addr) })
	return out, nil
}
