package tron

import (
	"context"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bttspeed/bttspeed/btt"
)

// Refund is what the escrow holds for payer: the refunds of closes the
// token refused to credit it (a blacklist, a pause, a hook), which the
// payer takes with Withdraw. Close pays the payee whatever the refund
// does (issue 30 item 4).
func (e *Escrow) Refund(ctx context.Context, payer btt.Address) (btt.Amount, error) {
	if _, err := e.Domain(ctx); err != nil {
		return btt.Zero, fmt.Errorf("tron: read refund: %w", err)
	}
	out, err := e.c.callABI(ctx, e.addr, e.abi, "refunds", evmAddr(payer))
	if err != nil {
		return btt.Zero, fmt.Errorf("tron: read refund of %s: %w", payer, err)
	}
	v, ok := out[0].(*big.Int)
	if !ok {
		return btt.Zero, fmt.Errorf("%w: refunds returned %T", ErrBadResponse, out[0])
	}
	a, err := btt.AmountFromBig(v)
	if err != nil {
		return btt.Zero, fmt.Errorf("%w: refunds: %v", ErrBadResponse, err)
	}
	return a, nil
}

// Withdraw takes the refunds the escrow holds for the client's account
// (Refund) and returns how much it paid. With none held it fails with
// ErrNothingToWithdraw, signing nothing; while the token still refuses to
// credit the account it fails with ErrTokenTransfer.
func (e *Escrow) Withdraw(ctx context.Context) (btt.Amount, error) {
	self := e.c.Address()
	if self.IsZero() {
		return btt.Zero, fmt.Errorf("tron: withdraw: %w", ErrNoSigner)
	}
	if _, err := e.Domain(ctx); err != nil {
		return btt.Zero, fmt.Errorf("tron: withdraw: %w", err)
	}
	data, err := e.abi.Pack("withdraw")
	if err != nil {
		return btt.Zero, fmt.Errorf("tron: withdraw: encode: %w", err)
	}
	r, err := e.transact(ctx, e.addr, data)
	if err != nil {
		return btt.Zero, fmt.Errorf("tron: withdraw: %w", err)
	}
	ev := e.abi.Events["Withdrawn"]
	for _, l := range r.Logs {
		if l.Address != e.addr || len(l.Topics) != 2 || l.Topics[0] != ev.ID || fromEVM(common.BytesToAddress(l.Topics[1][12:])) != self {
			continue
		}
		vals, err := ev.Inputs.NonIndexed().Unpack(l.Data)
		if err != nil || len(vals) != 1 {
			return btt.Zero, fmt.Errorf("%w: Withdrawn data: %v", ErrBadResponse, err)
		}
		v, ok := vals[0].(*big.Int)
		if !ok {
			return btt.Zero, fmt.Errorf("%w: Withdrawn data", ErrBadResponse)
		}
		a, err := btt.AmountFromBig(v)
		if err != nil {
			return btt.Zero, fmt.Errorf("%w: Withdrawn amount: %v", ErrBadResponse, err)
		}
		return a, nil
	}
	return btt.Zero, fmt.Errorf("%w: no Withdrawn event from %s in transaction %s", ErrBadResponse, e.addr, r.TxID)
}
