// Package paychantest is an in-memory escrow chain with the escrow
// contract's rules, a controllable clock and switchable faults, for tests of
// payment channels without a node.
package paychantest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// Chain is an in-memory escrow: token balances, channels and a clock.
type Chain struct {
	mu          sync.Mutex
	domain      paychan.Domain
	now         time.Time
	balances    map[btt.Address]btt.Amount
	channels    map[paychan.ChannelID]*paychan.Channel
	nonce       uint64
	unavailable bool
	downAfter   string // the method after whose next call the chain goes down
	latency     time.Duration
	closeErr    error  // what every Close fails with, if set
	lostAnswer  string // the method whose next answer is lost (SetLostAnswer)
	// ChallengePeriod is the payee's window after a payer's early close
	// (default 1 h).
	ChallengePeriod time.Duration
	// Calls counts the escrow calls made, by method name.
	Calls map[string]int
}

// New returns a chain with the given id, escrow and token addresses, its
// clock at start.
func New(domain paychan.Domain, start time.Time) *Chain {
	return &Chain{domain: domain, now: start, balances: make(map[btt.Address]btt.Amount), channels: make(map[paychan.ChannelID]*paychan.Channel), ChallengePeriod: time.Hour, Calls: make(map[string]int)}
}

// Mint gives addr amount tokens.
func (c *Chain) Mint(addr btt.Address, amount btt.Amount) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.balances[addr], _ = c.balances[addr].Add(amount)
}

// Balance returns addr's token balance.
func (c *Chain) Balance(addr btt.Address) btt.Amount {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.balances[addr]
}

// Count returns how many escrow calls of a method were made (safe while
// calls are being made).
func (c *Chain) Count(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Calls[method]
}

// Now returns the chain's clock, whatever the faults switched on.
func (c *Chain) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock.
func (c *Chain) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// SetLatency makes every call take d longer, like a node far away or a
// transaction waiting for its block.
func (c *Chain) SetLatency(d time.Duration) {
	c.mu.Lock()
	c.latency = d
	c.mu.Unlock()
}

// SetUnavailable makes every call fail with paychan.ErrChainUnavailable.
func (c *Chain) SetUnavailable(down bool) {
	c.mu.Lock()
	c.unavailable = down
	c.mu.Unlock()
}

// SetDownAfter makes the chain go down, as SetUnavailable(true), right
// after the next call of method succeeds: a fault at an exact point, where
// a test that waits for the call and then takes the chain down races with
// whoever calls next.
func (c *Chain) SetDownAfter(method string) {
	c.mu.Lock()
	c.downAfter = method
	c.mu.Unlock()
}

// FailCloses makes every Close fail with err, changing nothing, until
// FailCloses(nil): as an escrow whose close pays the payee and refunds the
// payer in one transaction does when the token refuses to credit the
// payer (pass an error wrapping paychan.ErrTokenRefused). Claims go
// through.
func (c *Chain) FailCloses(err error) {
	c.mu.Lock()
	c.closeErr = err
	c.mu.Unlock()
}

// As returns the escrow as seen by account addr.
func (c *Chain) As(addr btt.Address) paychan.Escrow { return &account{c: c, self: addr} }

type account struct {
	c    *Chain
	self btt.Address
}

var _ paychan.Escrow = (*account)(nil)

func (a *account) begin(method string) (func(), error) {
	a.c.mu.Lock()
	if d := a.c.latency; d > 0 {
		a.c.mu.Unlock()
		time.Sleep(d)
		a.c.mu.Lock()
	}
	a.c.Calls[method]++
	if a.c.unavailable {
		a.c.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", paychan.ErrChainUnavailable, method)
	}
	if a.c.downAfter == method {
		// This call goes through (the lock is held until it is done);
		// the next finds the chain down.
		a.c.downAfter, a.c.unavailable = "", true
	}
	return a.c.mu.Unlock, nil
}

func (a *account) Domain(context.Context) (paychan.Domain, error) {
	unlock, err := a.begin("Domain")
	if err != nil {
		return paychan.Domain{}, err
	}
	defer unlock()
	return a.c.domain, nil
}

func (a *account) Now(context.Context) (time.Time, error) {
	unlock, err := a.begin("Now")
	if err != nil {
		return time.Time{}, err
	}
	defer unlock()
	return a.c.now, nil
}

func (a *account) transfer(from, to btt.Address, amt btt.Amount) error {
	bal := a.c.balances[from]
	rest, err := bal.Sub(amt)
	if err != nil {
		return &paychan.InsufficientFundsError{Shortfall: amt.SubFloor(bal)}
	}
	a.c.balances[from] = rest
	a.c.balances[to], _ = a.c.balances[to].Add(amt)
	return nil
}

func (a *account) Open(_ context.Context, payee btt.Address, deposit btt.Amount, expiry time.Time) (paychan.Channel, error) {
	unlock, err := a.begin("Open")
	if err != nil {
		return paychan.Channel{}, err
	}
	defer unlock()
	if deposit.IsZero() || payee.IsZero() || payee == a.self {
		return paychan.Channel{}, fmt.Errorf("paychantest: open: zero deposit or bad payee")
	}
	if !expiry.After(a.c.now) {
		return paychan.Channel{}, fmt.Errorf("%w: expiry in the past", paychan.ErrExpired)
	}
	if err := a.transfer(a.self, a.c.domain.Escrow, deposit); err != nil {
		return paychan.Channel{}, err
	}
	a.c.nonce++
	id := a.c.channelID(a.self, payee, a.c.nonce)
	ch := &paychan.Channel{ID: id, Payer: a.self, Payee: payee, Token: a.c.domain.Token, Deposit: deposit, Expiry: expiry, State: paychan.ChannelOpen}
	a.c.channels[id] = ch
	if a.c.lost("Open") {
		return paychan.Channel{}, fmt.Errorf("%w: open sent, the answer lost", paychan.ErrChainUnavailable)
	}
	return *ch, nil
}

func (a *account) channel(id paychan.ChannelID) (*paychan.Channel, error) {
	ch := a.c.channels[id]
	if ch == nil {
		return nil, fmt.Errorf("%w: %x", paychan.ErrUnknownChannel, id[:8])
	}
	if ch.State == paychan.ChannelClosed {
		return nil, fmt.Errorf("%w: %x", paychan.ErrChannelClosed, id[:8])
	}
	return ch, nil
}

func (a *account) TopUp(_ context.Context, id paychan.ChannelID, amount btt.Amount, expiry time.Time) (paychan.Channel, error) {
	unlock, err := a.begin("TopUp")
	if err != nil {
		return paychan.Channel{}, err
	}
	defer unlock()
	ch, err := a.channel(id)
	if err != nil {
		return paychan.Channel{}, err
	}
	switch {
	case ch.Payer != a.self:
		return paychan.Channel{}, fmt.Errorf("paychantest: top up: not the payer")
	case ch.State != paychan.ChannelOpen:
		return paychan.Channel{}, fmt.Errorf("%w: closing", paychan.ErrChannelClosed)
	case expiry.Before(ch.Expiry):
		return paychan.Channel{}, fmt.Errorf("paychantest: top up: expiry may only extend")
	}
	if err := a.transfer(a.self, a.c.domain.Escrow, amount); err != nil {
		return paychan.Channel{}, err
	}
	ch.Deposit, _ = ch.Deposit.Add(amount)
	ch.Expiry = expiry
	if a.c.lost("TopUp") {
		return paychan.Channel{}, fmt.Errorf("%w: top-up sent, the answer lost", paychan.ErrChainUnavailable)
	}
	return *ch, nil
}

func (a *account) Channel(_ context.Context, id paychan.ChannelID) (paychan.Channel, error) {
	unlock, err := a.begin("Channel")
	if err != nil {
		return paychan.Channel{}, err
	}
	defer unlock()
	ch := a.c.channels[id]
	if ch == nil {
		return paychan.Channel{ID: id}, fmt.Errorf("%w: %x", paychan.ErrUnknownChannel, id[:8])
	}
	return *ch, nil
}

// redeem applies a payee's voucher: the checks of the contract, then the
// payment of what it adds.
func (a *account) redeem(sv paychan.SignedVoucher, claim bool) (*paychan.Channel, error) {
	ch, err := a.channel(sv.Channel)
	if err != nil {
		return nil, err
	}
	if ch.Payee != a.self {
		return nil, fmt.Errorf("%w: caller is not the payee", paychan.ErrWrongPayee)
	}
	deadline := ch.Expiry
	if ch.State == paychan.ChannelClosing {
		deadline = ch.ChallengeEnd
	}
	switch {
	case !a.c.now.Before(deadline):
		return nil, fmt.Errorf("%w: redeem window over", paychan.ErrExpired)
	case sv.ChainID != a.c.domain.ChainID:
		return nil, paychan.ErrWrongChain
	case sv.Escrow != a.c.domain.Escrow:
		return nil, paychan.ErrWrongEscrow
	case sv.Amount.Gt(ch.Deposit):
		return nil, paychan.ErrOverDeposit
	}
	signer, err := paychan.Recover(sv)
	if err != nil {
		return nil, err
	}
	if signer != ch.Payer {
		return nil, fmt.Errorf("%w: not signed by the payer", paychan.ErrBadSignature)
	}
	if sv.Amount.Lt(ch.Paid) || claim && !sv.Amount.Gt(ch.Paid) {
		// As the contract: a claim must add something; a close may
		// repeat what was paid.
		return nil, fmt.Errorf("%w: %s, paid %s already", paychan.ErrNotIncreasing, sv.Amount, ch.Paid)
	}
	if sv.Amount.Gt(ch.Paid) {
		if err := a.transfer(a.c.domain.Escrow, ch.Payee, sv.Amount.SubFloor(ch.Paid)); err != nil {
			return nil, err
		}
		ch.Paid = sv.Amount
	}
	return ch, nil
}

func (a *account) Claim(_ context.Context, sv paychan.SignedVoucher) (paychan.Channel, error) {
	unlock, err := a.begin("Claim")
	if err != nil {
		return paychan.Channel{}, err
	}
	defer unlock()
	ch, err := a.redeem(sv, true)
	if err != nil {
		return paychan.Channel{}, err
	}
	return *ch, nil
}

func (a *account) Close(_ context.Context, sv paychan.SignedVoucher) (paychan.Channel, error) {
	unlock, err := a.begin("Close")
	if err != nil {
		return paychan.Channel{}, err
	}
	defer unlock()
	if a.c.closeErr != nil {
		return paychan.Channel{}, fmt.Errorf("paychantest: close: %w", a.c.closeErr)
	}
	ch, err := a.redeem(sv, false)
	if err != nil {
		return paychan.Channel{}, err
	}
	a.settle(ch)
	return *ch, nil
}

func (a *account) settle(ch *paychan.Channel) {
	_ = a.transfer(a.c.domain.Escrow, ch.Payer, ch.Deposit.SubFloor(ch.Paid))
	ch.State = paychan.ChannelClosed
}

func (a *account) StartClose(_ context.Context, id paychan.ChannelID) (paychan.Channel, error) {
	unlock, err := a.begin("StartClose")
	if err != nil {
		return paychan.Channel{}, err
	}
	defer unlock()
	ch, err := a.channel(id)
	if err != nil {
		return paychan.Channel{}, err
	}
	if ch.Payer != a.self || ch.State != paychan.ChannelOpen {
		return paychan.Channel{}, fmt.Errorf("paychantest: start close: not the payer, or already closing")
	}
	ch.State = paychan.ChannelClosing
	ch.ChallengeEnd = a.c.now.Add(a.c.ChallengePeriod)
	return *ch, nil
}

func (a *account) Reclaim(_ context.Context, id paychan.ChannelID) (paychan.Channel, error) {
	unlock, err := a.begin("Reclaim")
	if err != nil {
		return paychan.Channel{}, err
	}
	defer unlock()
	ch, err := a.channel(id)
	if err != nil {
		return paychan.Channel{}, err
	}
	if ch.Payer != a.self {
		return paychan.Channel{}, fmt.Errorf("paychantest: reclaim: not the payer")
	}
	ready := (ch.State == paychan.ChannelOpen && !a.c.now.Before(ch.Expiry)) ||
		(ch.State == paychan.ChannelClosing && !a.c.now.Before(ch.ChallengeEnd))
	if !ready {
		return paychan.Channel{}, fmt.Errorf("paychantest: reclaim before expiry or before the challenge window ends")
	}
	a.settle(ch)
	return *ch, nil
}
