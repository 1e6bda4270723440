package evmescrow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// Chain is what the escrow's calls need of a chain package's escrow: its
// account, its proven domain and time, and the transport of one call. R
// is the chain's receipt.
type Chain[R any] interface {
	// Self is the sending account (zero without a key).
	Self() btt.Address
	Domain(ctx context.Context) (paychan.Domain, error)
	Now(ctx context.Context) (time.Time, error)
	// View runs a view of the escrow and returns its outputs.
	View(ctx context.Context, method string, args ...any) ([]any, error)
	// Owed reports whether a call of the escrow with data was sent and
	// its outcome is still to be given (it must not pay for anything
	// again first).
	Owed(data []byte) bool
	// Fund makes sure the account holds amount of token and the escrow
	// may pull it (Fund).
	Fund(ctx context.Context, token btt.Address, amount btt.Amount) error
	// Transact sends a call of the escrow and waits for its receipt.
	Transact(ctx context.Context, data []byte) (R, error)
	// Failed wraps the error of a call op that was to pull amount of
	// token (Failed).
	Failed(ctx context.Context, op string, token btt.Address, amount btt.Amount, err error) error
	// Opened reads the channel a receipt's ChannelOpened event opened.
	Opened(r R) (paychan.Channel, error)
	// TxName names a receipt's transaction in messages.
	TxName(r R) string
}

// Calls are paychan.Escrow's calls of BttSpeedEscrow over one chain: the
// checks before anything is signed, the encoding, the funding and the
// reads after. Errors start with Name and wrap paychan's errors or the
// chain's sentinels given here.
type Calls[R any] struct {
	Chain Chain[R]
	Codec *Codec
	// Address is the escrow's.
	Address btt.Address
	// Name starts messages ("tron"); Escrow names the escrow in them.
	Name, Escrow string
	// The chain's sentinels.
	NoSigner, InvalidArgument, ExpiryTooFar error
	// ChainIDVerb formats chain ids in messages ("%d", "%#x").
	ChainIDVerb string
	// CheckScheme refuses a voucher of another digest scheme than the
	// escrow's before anything is sent.
	CheckScheme bool
}

// Open opens a channel: it checks the arguments and the expiry against
// the chain's time, funds the deposit (unless the same open is owed: its
// deposit may be pulled already), sends the open and reads the channel
// from its ChannelOpened event.
func (c *Calls[R]) Open(ctx context.Context, payee btt.Address, deposit btt.Amount, expiry time.Time) (paychan.Channel, error) {
	self := c.Chain.Self()
	switch {
	case self.IsZero():
		return paychan.Channel{}, fmt.Errorf("%s: open: %w", c.Name, c.NoSigner)
	case deposit.IsZero():
		return paychan.Channel{}, fmt.Errorf("%s: open: %w: zero deposit; deposit a positive amount", c.Name, c.InvalidArgument)
	case payee.IsZero() || payee == self:
		return paychan.Channel{}, fmt.Errorf("%s: open: %w: payee %q must be set and differ from the payer", c.Name, c.InvalidArgument, payee)
	}
	exp, err := UnixSeconds(expiry, c.InvalidArgument)
	if err != nil {
		return paychan.Channel{}, fmt.Errorf("%s: open: %w", c.Name, err)
	}
	dom, err := c.Chain.Domain(ctx)
	if err != nil {
		return paychan.Channel{}, fmt.Errorf("%s: open: %w", c.Name, err)
	}
	// The contract checks this too, but only after an approve was paid for.
	now, err := c.Chain.Now(ctx)
	if err != nil {
		return paychan.Channel{}, fmt.Errorf("%s: open: %w", c.Name, err)
	}
	if !expiry.After(now) {
		return paychan.Channel{}, fmt.Errorf("%s: open: %w: expiry %s is not after the chain's time %s; choose a later one",
			c.Name, paychan.ErrExpired, expiry.UTC().Format(time.RFC3339), now.Format(time.RFC3339))
	}
	if err := CheckLifetime(expiry, now, c.ExpiryTooFar); err != nil {
		return paychan.Channel{}, fmt.Errorf("%s: open: %w", c.Name, err)
	}
	data, err := c.Codec.Open(payee, deposit, exp)
	if err != nil {
		return paychan.Channel{}, fmt.Errorf("%s: open: encode: %w", c.Name, err)
	}
	// The same open sent before and not settled: its outcome is owed,
	// and its deposit may be pulled already — no balance check, no
	// second approve.
	if !c.Chain.Owed(data) {
		if err := c.Chain.Fund(ctx, dom.Token, deposit); err != nil {
			return paychan.Channel{}, fmt.Errorf("%s: open: %w", c.Name, err)
		}
	}
	r, err := c.Chain.Transact(ctx, data)
	if err != nil {
		return paychan.Channel{}, c.Chain.Failed(ctx, "open", dom.Token, deposit, err)
	}
	ch, err := c.Chain.Opened(r)
	if err != nil {
		return paychan.Channel{}, fmt.Errorf("%s: open (transaction %s): %w", c.Name, c.Chain.TxName(r), err)
	}
	ch.Token = dom.Token
	return ch, nil
}

// TopUp adds amount to channel id and moves its expiry, funding the
// amount first (unless the same top-up is owed, as Open).
func (c *Calls[R]) TopUp(ctx context.Context, id paychan.ChannelID, amount btt.Amount, expiry time.Time) (paychan.Channel, error) {
	if c.Chain.Self().IsZero() {
		return paychan.Channel{}, fmt.Errorf("%s: top up: %w", c.Name, c.NoSigner)
	}
	exp, err := UnixSeconds(expiry, c.InvalidArgument)
	if err != nil {
		return paychan.Channel{}, fmt.Errorf("%s: top up %x: %w", c.Name, id[:8], err)
	}
	dom, err := c.Chain.Domain(ctx)
	if err != nil {
		return paychan.Channel{}, fmt.Errorf("%s: top up %x: %w", c.Name, id[:8], err)
	}
	// The contract checks this too, but only after an approve was paid for.
	now, err := c.Chain.Now(ctx)
	if err != nil {
		return paychan.Channel{}, fmt.Errorf("%s: top up %x: %w", c.Name, id[:8], err)
	}
	if err := CheckLifetime(expiry, now, c.ExpiryTooFar); err != nil {
		return paychan.Channel{}, fmt.Errorf("%s: top up %x: %w", c.Name, id[:8], err)
	}
	data, err := c.Codec.TopUp(id, amount, exp)
	if err != nil {
		return paychan.Channel{}, fmt.Errorf("%s: top up %x: encode: %w", c.Name, id[:8], err)
	}
	if !amount.IsZero() && !c.Chain.Owed(data) {
		if err := c.Chain.Fund(ctx, dom.Token, amount); err != nil {
			return paychan.Channel{}, fmt.Errorf("%s: top up %x: %w", c.Name, id[:8], err)
		}
	}
	return c.change(ctx, "top up", id, dom.Token, amount, data)
}

// Channel reads channel id; an unknown id gives paychan.ErrUnknownChannel
// (and the zero channel with that ID).
func (c *Calls[R]) Channel(ctx context.Context, id paychan.ChannelID) (paychan.Channel, error) {
	dom, err := c.Chain.Domain(ctx)
	if err != nil {
		return paychan.Channel{ID: id}, fmt.Errorf("%s: read channel %x: %w", c.Name, id[:8], err)
	}
	out, err := c.Chain.View(ctx, "channels", [32]byte(id))
	if err != nil {
		return paychan.Channel{ID: id}, fmt.Errorf("%s: read channel %x: %w", c.Name, id[:8], err)
	}
	ch, err := c.Codec.Channel(id, out)
	if err != nil {
		return paychan.Channel{ID: id}, err
	}
	if ch.State == paychan.ChannelUnknown {
		return paychan.Channel{ID: id}, fmt.Errorf("%s: read channel %x: %w: not in escrow %s", c.Name, id[:8], paychan.ErrUnknownChannel, c.Escrow)
	}
	ch.Token = dom.Token
	return ch, nil
}

// Redeem sends method ("claim" or "close") with a voucher for this
// escrow's domain.
func (c *Calls[R]) Redeem(ctx context.Context, method string, sv paychan.SignedVoucher) (paychan.Channel, error) {
	id := sv.Channel
	if c.Chain.Self().IsZero() {
		return paychan.Channel{}, fmt.Errorf("%s: %s %x: %w", c.Name, method, id[:8], c.NoSigner)
	}
	dom, err := c.Chain.Domain(ctx)
	if err != nil {
		return paychan.Channel{}, fmt.Errorf("%s: %s %x: %w", c.Name, method, id[:8], err)
	}
	switch {
	case sv.ChainID != dom.ChainID:
		return paychan.Channel{}, fmt.Errorf("%s: %s %x: %w: voucher for chain "+c.ChainIDVerb+", this is "+c.ChainIDVerb,
			c.Name, method, id[:8], paychan.ErrWrongChain, sv.ChainID, dom.ChainID)
	case sv.Escrow != dom.Escrow:
		return paychan.Channel{}, fmt.Errorf("%s: %s %x: %w: voucher for %s, this is %s", c.Name, method, id[:8], paychan.ErrWrongEscrow, sv.Escrow, dom.Escrow)
	case c.CheckScheme && sv.Scheme != dom.Scheme:
		return paychan.Channel{}, fmt.Errorf("%s: %s %x: %w: a %s voucher, the escrow checks %s", c.Name, method, id[:8], paychan.ErrWrongChain, sv.Scheme, dom.Scheme)
	}
	data, err := c.Codec.Redeem(method, sv)
	if err != nil {
		return paychan.Channel{}, fmt.Errorf("%s: %s %x: encode: %w", c.Name, method, id[:8], err)
	}
	return c.change(ctx, method, id, dom.Token, btt.Amount{}, data)
}

// OfChannel sends method ("startClose" or "reclaim") of channel id; op
// names it in messages.
func (c *Calls[R]) OfChannel(ctx context.Context, op, method string, id paychan.ChannelID) (paychan.Channel, error) {
	data, err := c.Codec.OfChannel(method, id)
	if err != nil {
		return paychan.Channel{}, fmt.Errorf("%s: %s %x: encode: %w", c.Name, op, id[:8], err)
	}
	return c.change(ctx, op, id, btt.Address{}, btt.Amount{}, data)
}

// change sends one call changing channel id and returns the channel as it
// is after it.
func (c *Calls[R]) change(ctx context.Context, op string, id paychan.ChannelID, token btt.Address, amount btt.Amount, data []byte) (paychan.Channel, error) {
	if c.Chain.Self().IsZero() {
		return paychan.Channel{}, fmt.Errorf("%s: %s %x: %w", c.Name, op, id[:8], c.NoSigner)
	}
	if _, err := c.Chain.Domain(ctx); err != nil {
		return paychan.Channel{}, fmt.Errorf("%s: %s %x: %w", c.Name, op, id[:8], err)
	}
	r, err := c.Chain.Transact(ctx, data)
	if err != nil {
		return paychan.Channel{}, c.Chain.Failed(ctx, fmt.Sprintf("%s %x", op, id[:8]), token, amount, err)
	}
	ch, err := c.Channel(ctx, id)
	if err != nil {
		return paychan.Channel{}, fmt.Errorf("%s: %s %x done in %s, but: %w", c.Name, op, id[:8], c.Chain.TxName(r), err)
	}
	return ch, nil
}

// Nonce reads the escrow's channel counter: how many channels it has
// opened, the last one's nonce.
func (c *Calls[R]) Nonce(ctx context.Context) (uint64, error) {
	out, err := c.Chain.View(ctx, "nonce")
	if err != nil {
		return 0, fmt.Errorf("%s: escrow nonce: %w", c.Name, err)
	}
	n, err := c.Codec.Uint64("nonce", out)
	if err != nil {
		return 0, fmt.Errorf("%s: escrow nonce: %w", c.Name, err)
	}
	return n, nil
}

// OpenMark is the nonce the next channel will have (paychan.OpenFinder).
func (c *Calls[R]) OpenMark(ctx context.Context) (uint64, error) {
	n, err := c.Nonce(ctx)
	if err != nil {
		return 0, err
	}
	return n + 1, nil
}

// CheckIntent refuses to look for an intent's channel without a key or a
// mark.
func (c *Calls[R]) CheckIntent(in paychan.Intent) error {
	switch {
	case c.Chain.Self().IsZero():
		return fmt.Errorf("%s: find open: %w", c.Name, c.NoSigner)
	case in.Mark == 0:
		return fmt.Errorf("%s: find open: %w: no mark", c.Name, c.InvalidArgument)
	}
	return nil
}

// FindByNonce looks for in's channel among the nonces from in.Mark to the
// escrow's current one, at most max of them (ScanNonces, reading with
// Channel). hint is added to the error of a scan over max.
func (c *Calls[R]) FindByNonce(ctx context.Context, in paychan.Intent, known func(paychan.ChannelID) bool, max uint64, hint string) (paychan.Channel, bool, error) {
	if err := c.CheckIntent(in); err != nil {
		return paychan.Channel{}, false, err
	}
	last, err := c.Nonce(ctx)
	if err != nil {
		return paychan.Channel{}, false, err
	}
	ch, ok, err := ScanNonces(ctx, c.Address, c.Chain.Self(), in, last, max, known, c.Channel)
	switch {
	case errors.Is(err, ErrScanBound) && hint != "":
		return paychan.Channel{}, false, fmt.Errorf("%s: find open on %s: %w; %s", c.Name, c.Escrow, err, hint)
	case err != nil:
		return paychan.Channel{}, false, fmt.Errorf("%s: find open: %w", c.Name, err)
	}
	return ch, ok, nil
}
