package tron

import (
	"context"
	"errors"
	"fmt"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// fund makes sure the account holds amount tokens and the escrow may pull
// them, approving it if the policy says so.
func (e *Escrow) fund(ctx context.Context, token btt.Address, amount btt.Amount) error {
	self := e.c.Address()
	bal, err := e.c.BalanceOf(ctx, token, self)
	if err != nil {
		return err
	}
	if bal.Lt(amount) {
		return fmt.Errorf("%w: %s holds %s of token %s, the deposit is %s; get more tokens or deposit less",
			&paychan.InsufficientFundsError{Shortfall: amount.SubFloor(bal)}, self, bal, token, amount)
	}
	allowed, err := e.c.Allowance(ctx, token, self, e.addr)
	if err != nil {
		return err
	}
	if !allowed.Lt(amount) {
		return nil
	}
	want := amount
	switch e.approve {
	case ApproveNever:
		return fmt.Errorf("%w: the escrow may move %s of %s's tokens, the deposit is %s; approve %s for it",
			&paychan.InsufficientFundsError{Shortfall: amount.SubFloor(allowed)}, allowed, self, amount, e.addr)
	case ApproveUnlimited:
		want = maxAmount
	}
	data, err := trc20ABI().Pack("approve", evmAddr(e.addr), want.Big())
	if err != nil {
		return fmt.Errorf("tron: encode approve: %w", err)
	}
	if _, err := e.transact(ctx, token, data); err != nil {
		return fmt.Errorf("approve the escrow for %s: %w", want, err)
	}
	return nil
}

var maxAmount = func() btt.Amount {
	var b [32]byte
	for i := range b {
		b[i] = 0xff
	}
	return btt.AmountFromBytes32(b)
}()

// fail wraps a failed escrow call. A failed token transfer into the escrow
// becomes a *paychan.InsufficientFundsError when the balance or allowance
// is short.
func (e *Escrow) fail(ctx context.Context, op string, token btt.Address, amount btt.Amount, err error) error {
	if errors.Is(err, ErrTokenTransfer) && !token.IsZero() && !amount.IsZero() {
		self := e.c.Address()
		bal, berr := e.c.BalanceOf(ctx, token, self)
		allowed, aerr := e.c.Allowance(ctx, token, self, e.addr)
		if berr == nil && aerr == nil {
			if have := btt.Min(bal, allowed); have.Lt(amount) {
				return fmt.Errorf("tron: %s: %w: balance %s, allowance %s, needed %s; get tokens or approve the escrow (%w)",
					op, &paychan.InsufficientFundsError{Shortfall: amount.SubFloor(have)}, bal, allowed, amount, err)
			}
		}
	}
	return fmt.Errorf("tron: %s: %w", op, err)
}
