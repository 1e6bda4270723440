package bttc

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"

	"github.com/bttspeed/bttspeed/btt"
)

// erc20ABIJSON is the part of the ERC-20 interface the client uses.
const erc20ABIJSON = `[
{"type":"function","name":"balanceOf","stateMutability":"view","inputs":[{"name":"owner","type":"address"}],"outputs":[{"name":"","type":"uint256"}]},
{"type":"function","name":"allowance","stateMutability":"view","inputs":[{"name":"owner","type":"address"},{"name":"spender","type":"address"}],"outputs":[{"name":"","type":"uint256"}]},
{"type":"function","name":"approve","stateMutability":"nonpayable","inputs":[{"name":"spender","type":"address"},{"name":"amount","type":"uint256"}],"outputs":[{"name":"","type":"bool"}]},
{"type":"function","name":"transfer","stateMutability":"nonpayable","inputs":[{"name":"to","type":"address"},{"name":"amount","type":"uint256"}],"outputs":[{"name":"","type":"bool"}]}
]`

var erc20ABI = sync.OnceValue(func() abi.ABI {
	a, err := abi.JSON(strings.NewReader(erc20ABIJSON))
	if err != nil {
		panic("bttc: ERC-20 ABI: " + err.Error()) // a constant: tested
	}
	return a
})

func (c *Client) callUint256(ctx context.Context, contract btt.Address, method string, args ...any) (btt.Amount, error) {
	out, err := c.callABI(ctx, contract, erc20ABI(), method, args...)
	if err != nil {
		return btt.Amount{}, err
	}
	v, ok := out[0].(*big.Int)
	if !ok {
		return btt.Amount{}, fmt.Errorf("%w: %s returned %T", ErrBadResponse, method, out[0])
	}
	return btt.AmountFromBig(v)
}

// BalanceOf is who's balance of an ERC-20 token.
func (c *Client) BalanceOf(ctx context.Context, token, who btt.Address) (btt.Amount, error) {
	return c.callUint256(ctx, token, "balanceOf", common.Address(who.EVM()))
}

// Allowance is what spender may move of owner's tokens.
func (c *Client) Allowance(ctx context.Context, token, owner, spender btt.Address) (btt.Amount, error) {
	return c.callUint256(ctx, token, "allowance", common.Address(owner.EVM()), common.Address(spender.EVM()))
}
