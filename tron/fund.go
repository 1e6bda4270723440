package tron

import (
	"context"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/internal/evmescrow"
)

// fund makes sure the account holds amount tokens and the escrow may pull
// them, approving it if the policy says so (evmescrow.Fund).
func (e *Escrow) fund(ctx context.Context, token btt.Address, amount btt.Amount) error {
	return evmescrow.Fund(ctx, e.c, e.c.Address(), e.addr, e.addr.String(), token, amount, evmescrow.Approve(e.approve),
		func(ctx context.Context, data []byte) error {
			_, err := e.transact(ctx, token, data)
			return err
		})
}

// fail wraps a failed escrow call. A failed token transfer into the escrow
// becomes a *paychan.InsufficientFundsError when the balance or allowance
// is short.
func (e *Escrow) fail(ctx context.Context, op string, token btt.Address, amount btt.Amount, err error) error {
	return evmescrow.Failed(ctx, e.c, "tron", op, e.c.Address(), e.addr, token, amount, err, ErrTokenTransfer)
}

// maxAmount is 2^256-1, what ApproveUnlimited approves.
var maxAmount = evmescrow.MaxAmount
