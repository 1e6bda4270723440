package bttc

import (
	"context"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/internal/evmescrow"
)

// erc20ABI is the part of the ERC-20 interface the client uses
// (evmescrow's, shared with tron).
var erc20ABI = evmescrow.ERC20ABI

func (c *Client) callUint256(ctx context.Context, contract btt.Address, method string, args ...any) (btt.Amount, error) {
	out, err := c.callABI(ctx, contract, erc20ABI(), method, args...)
	if err != nil {
		return btt.Amount{}, err
	}
	return escrowCodec.Amount(method, out)
}

// BalanceOf is who's balance of an ERC-20 token.
func (c *Client) BalanceOf(ctx context.Context, token, who btt.Address) (btt.Amount, error) {
	return c.callUint256(ctx, token, "balanceOf", common.Address(who.EVM()))
}

// Allowance is what spender may move of owner's tokens.
func (c *Client) Allowance(ctx context.Context, token, owner, spender btt.Address) (btt.Amount, error) {
	return c.callUint256(ctx, token, "allowance", common.Address(owner.EVM()), common.Address(spender.EVM()))
}
