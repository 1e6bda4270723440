package evmescrow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// erc20ABIJSON is the part of the ERC-20 (TRC-20) interface the clients
// use.
const erc20ABIJSON = `[
{"type":"function","name":"balanceOf","stateMutability":"view","inputs":[{"name":"owner","type":"address"}],"outputs":[{"name":"","type":"uint256"}]},
{"type":"function","name":"allowance","stateMutability":"view","inputs":[{"name":"owner","type":"address"},{"name":"spender","type":"address"}],"outputs":[{"name":"","type":"uint256"}]},
{"type":"function","name":"decimals","stateMutability":"view","inputs":[],"outputs":[{"name":"","type":"uint8"}]},
{"type":"function","name":"approve","stateMutability":"nonpayable","inputs":[{"name":"spender","type":"address"},{"name":"amount","type":"uint256"}],"outputs":[{"name":"","type":"bool"}]},
{"type":"function","name":"transfer","stateMutability":"nonpayable","inputs":[{"name":"to","type":"address"},{"name":"amount","type":"uint256"}],"outputs":[{"name":"","type":"bool"}]},
{"type":"event","name":"Transfer","anonymous":false,"inputs":[{"name":"from","type":"address","indexed":true},{"name":"to","type":"address","indexed":true},{"name":"value","type":"uint256","indexed":false}]}
]`

// ERC20ABI is the part of the ERC-20 interface the clients use:
// balanceOf, allowance, decimals, approve, transfer and the Transfer
// event.
var ERC20ABI = sync.OnceValue(func() abi.ABI {
	a, err := abi.JSON(strings.NewReader(erc20ABIJSON))
	if err != nil {
		panic("evmescrow: ERC-20 ABI: " + err.Error()) // a constant: tested
	}
	return a
})

// MaxAmount is 2^256-1, the allowance ApproveUnlimited gives.
var MaxAmount = func() btt.Amount {
	var b [32]byte
	for i := range b {
		b[i] = 0xff
	}
	return btt.AmountFromBytes32(b)
}()

// Approve says how a deposit's token allowance is given; the chain
// packages' ApprovePolicy constants have the same values.
type Approve int

// The approve policies.
const (
	// ApproveExact approves the deposit when the allowance is short.
	ApproveExact Approve = iota
	// ApproveUnlimited approves MaxAmount once, when the allowance is
	// short.
	ApproveUnlimited
	// ApproveNever leaves allowances to the caller.
	ApproveNever
)

// Funding is what a deposit of Amount into the escrow needs to know of
// the payer's account.
type Funding struct {
	Self, Token btt.Address
	// Escrow names the escrow in messages.
	Escrow string
	// Amount is the deposit; Balance and Allowance the payer's token
	// balance and what the escrow may move of it.
	Amount, Balance, Allowance btt.Amount
	Policy                     Approve
}

// Plan decides a deposit's funding: nothing to do (zero, nil), an approve
// for the amount it returns, or a refusal — a *paychan.InsufficientFundsError
// with the shortfall when the balance is short, or the allowance is and
// the policy is ApproveNever.
func (f Funding) Plan() (approve btt.Amount, err error) {
	if f.Balance.Lt(f.Amount) {
		return btt.Amount{}, fmt.Errorf("%w: %s holds %s of token %s, the deposit is %s; get more tokens or deposit less",
			&paychan.InsufficientFundsError{Shortfall: f.Amount.SubFloor(f.Balance)}, f.Self, f.Balance, f.Token, f.Amount)
	}
	if !f.Allowance.Lt(f.Amount) {
		return btt.Amount{}, nil
	}
	switch f.Policy {
	case ApproveNever:
		return btt.Amount{}, fmt.Errorf("%w: the escrow may move %s of %s's tokens, the deposit is %s; approve %s for it",
			&paychan.InsufficientFundsError{Shortfall: f.Amount.SubFloor(f.Allowance)}, f.Allowance, f.Self, f.Amount, f.Escrow)
	case ApproveUnlimited:
		return MaxAmount, nil
	}
	return f.Amount, nil
}

// TokenReader reads an ERC-20 token's balances and allowances; both
// chains' clients are one.
type TokenReader interface {
	BalanceOf(ctx context.Context, token, owner btt.Address) (btt.Amount, error)
	Allowance(ctx context.Context, token, owner, spender btt.Address) (btt.Amount, error)
}

// Fund makes sure self holds amount of token and escrow may pull it
// (Funding.Plan), sending the approve Plan decides through approve (to
// the token, with the call's data). Nothing is sent on a refusal.
func Fund(ctx context.Context, r TokenReader, self, escrow btt.Address, name string, token btt.Address, amount btt.Amount, policy Approve,
	approve func(ctx context.Context, data []byte) error) error {
	bal, err := r.BalanceOf(ctx, token, self)
	if err != nil {
		return err
	}
	f := Funding{Self: self, Token: token, Escrow: name, Amount: amount, Balance: bal, Policy: policy}
	if bal.Lt(amount) {
		_, err := f.Plan()
		return err
	}
	if f.Allowance, err = r.Allowance(ctx, token, self, escrow); err != nil {
		return err
	}
	want, err := f.Plan()
	if err != nil || want.IsZero() {
		return err
	}
	data, err := ERC20ABI().Pack("approve", common.Address(escrow.EVM()), want.Big())
	if err != nil {
		return fmt.Errorf("encode approve: %w", err)
	}
	if err := approve(ctx, data); err != nil {
		return fmt.Errorf("approve the escrow for %s: %w", want, err)
	}
	return nil
}

// Shortfall is what a failed pull of amount lacks: a
// *paychan.InsufficientFundsError when the smaller of balance and
// allowance is short of amount, or nil.
func Shortfall(balance, allowance, amount btt.Amount) *paychan.InsufficientFundsError {
	if have := btt.Min(balance, allowance); have.Lt(amount) {
		return &paychan.InsufficientFundsError{Shortfall: amount.SubFloor(have)}
	}
	return nil
}

// Failed wraps err, a failed escrow call op that was to pull amount of
// token from self: when err is the token transfer's failure
// (tokenTransfer) and the balance or allowance, read again, is short, it
// becomes a *paychan.InsufficientFundsError wrapping err. chain prefixes
// the message.
func Failed(ctx context.Context, r TokenReader, chain, op string, self, escrow, token btt.Address, amount btt.Amount, err, tokenTransfer error) error {
	if errors.Is(err, tokenTransfer) && !token.IsZero() && !amount.IsZero() {
		bal, berr := r.BalanceOf(ctx, token, self)
		allowed, aerr := r.Allowance(ctx, token, self, escrow)
		if berr == nil && aerr == nil {
			if short := Shortfall(bal, allowed, amount); short != nil {
				return fmt.Errorf("%s: %s: %w: balance %s, allowance %s, needed %s; get tokens or approve the escrow (%w)",
					chain, op, short, bal, allowed, amount, err)
			}
		}
	}
	return fmt.Errorf("%s: %s: %w", chain, op, err)
}
