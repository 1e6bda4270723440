package tron

import (
	"context"
	"fmt"

	"github.com/ethereum/go-ethereum/accounts/abi"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/internal/evmescrow"
	"github.com/bttspeed/bttspeed/paychan"
)

// trc20ABI is the part of the TRC-20 (ERC-20) interface the client uses
// (evmescrow's, shared with bttc).
var trc20ABI = evmescrow.ERC20ABI

// callUint256 runs a view returning one uint256 and converts it.
func (c *Client) callUint256(ctx context.Context, contract btt.Address, a abi.ABI, method string, args ...any) (btt.Amount, error) {
	out, err := c.callABI(ctx, contract, a, method, args...)
	if err != nil {
		return btt.Amount{}, err
	}
	return escrowCodec.Amount(method, out)
}

// callABI packs a call, runs it as a constant call and unpacks its outputs.
func (c *Client) callABI(ctx context.Context, contract btt.Address, a abi.ABI, method string, args ...any) ([]any, error) {
	data, err := a.Pack(method, args...)
	if err != nil {
		return nil, fmt.Errorf("tron: encode %s: %w", method, err)
	}
	ret, err := c.Call(ctx, contract, data)
	if err != nil {
		return nil, fmt.Errorf("tron: %s on %s: %w", method, contract, err)
	}
	out, err := a.Unpack(method, ret)
	if err != nil {
		return nil, fmt.Errorf("%w: %s on %s returned %d bytes that do not decode: %v", ErrBadResponse, method, contract, len(ret), err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s on %s returned nothing", ErrBadResponse, method, contract)
	}
	return out, nil
}

// BalanceOf returns owner's balance of the TRC-20 token.
func (c *Client) BalanceOf(ctx context.Context, token, owner btt.Address) (btt.Amount, error) {
	return c.callUint256(ctx, token, trc20ABI(), "balanceOf", evmAddr(owner))
}

// Allowance returns what spender may still move of owner's tokens.
func (c *Client) Allowance(ctx context.Context, token, owner, spender btt.Address) (btt.Amount, error) {
	return c.callUint256(ctx, token, trc20ABI(), "allowance", evmAddr(owner), evmAddr(spender))
}

// Decimals returns the token's decimals (18 for BTT).
func (c *Client) Decimals(ctx context.Context, token btt.Address) (uint8, error) {
	out, err := c.callABI(ctx, token, trc20ABI(), "decimals")
	if err != nil {
		return 0, err
	}
	d, ok := out[0].(uint8)
	if !ok {
		return 0, fmt.Errorf("%w: decimals returned %T", ErrBadResponse, out[0])
	}
	return d, nil
}

// Approve lets spender move up to amount of the client's tokens (it
// replaces any earlier allowance) and returns the receipt.
func (c *Client) Approve(ctx context.Context, token, spender btt.Address, amount btt.Amount) (*Receipt, error) {
	data, err := trc20ABI().Pack("approve", evmAddr(spender), amount.Big())
	if err != nil {
		return nil, fmt.Errorf("tron: encode approve: %w", err)
	}
	r, err := c.Transact(ctx, token, data)
	if err != nil {
		return r, fmt.Errorf("tron: approve %s for %s of %s: %w", spender, amount, token, err)
	}
	return r, nil
}

// Transfer sends amount of the token to `to` and returns the receipt. A
// balance short of amount gives a *paychan.InsufficientFundsError with
// the shortfall, before anything is sent.
func (c *Client) Transfer(ctx context.Context, token, to btt.Address, amount btt.Amount) (*Receipt, error) {
	if c.signer == nil {
		return nil, ErrNoSigner
	}
	bal, err := c.BalanceOf(ctx, token, c.signer.Address())
	if err != nil {
		return nil, err
	}
	if bal.Lt(amount) {
		return nil, fmt.Errorf("tron: transfer %s of %s: %w: the balance of %s is %s; get more tokens or send less",
			amount, token, &paychan.InsufficientFundsError{Shortfall: amount.SubFloor(bal)}, c.signer.Address(), bal)
	}
	data, err := trc20ABI().Pack("transfer", evmAddr(to), amount.Big())
	if err != nil {
		return nil, fmt.Errorf("tron: encode transfer: %w", err)
	}
	r, err := c.Transact(ctx, token, data)
	if err != nil {
		return r, fmt.Errorf("tron: transfer %s of %s to %s: %w", amount, token, to, err)
	}
	return r, nil
}
