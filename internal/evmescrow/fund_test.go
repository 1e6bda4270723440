package evmescrow

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

func amt(n uint64) btt.Amount { return btt.NewAmount(n) }

func TestFundingPlan(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		bal, allowed, amount uint64
		policy               Approve
		approve              btt.Amount
		short                uint64 // the shortfall of a refusal, 0 for none
	}{
		{"enough allowance", 10, 10, 10, ApproveExact, btt.Amount{}, 0},
		{"more allowance than needed", 10, 50, 10, ApproveNever, btt.Amount{}, 0},
		{"short allowance, exact", 10, 3, 10, ApproveExact, amt(10), 0},
		{"short allowance, unlimited", 10, 3, 10, ApproveUnlimited, MaxAmount, 0},
		{"short allowance, never", 10, 3, 10, ApproveNever, btt.Amount{}, 7},
		{"short balance wins over allowance", 4, 0, 10, ApproveExact, btt.Amount{}, 6},
		{"short balance with allowance", 4, 100, 10, ApproveUnlimited, btt.Amount{}, 6},
		{"an unknown policy approves exactly", 10, 0, 10, Approve(9), amt(10), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Funding{Self: addr(1), Token: addr(9), Escrow: "the escrow", Amount: amt(tc.amount),
				Balance: amt(tc.bal), Allowance: amt(tc.allowed), Policy: tc.policy}
			approve, err := f.Plan()
			if tc.short > 0 {
				var ie *paychan.InsufficientFundsError
				require.ErrorAs(t, err, &ie)
				assert.Equal(t, amt(tc.short), ie.Shortfall)
				assert.True(t, approve.IsZero())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.approve, approve)
		})
	}
}

func TestShortfall(t *testing.T) {
	for _, tc := range []struct {
		bal, allowed, amount, short uint64
	}{
		{10, 10, 10, 0},
		{9, 10, 10, 1},
		{10, 7, 10, 3},
		{2, 7, 10, 8},
		{0, 0, 0, 0},
	} {
		got := Shortfall(amt(tc.bal), amt(tc.allowed), amt(tc.amount))
		if tc.short == 0 {
			assert.Nil(t, got, "%+v", tc)
			continue
		}
		require.NotNil(t, got, "%+v", tc)
		assert.Equal(t, amt(tc.short), got.Shortfall, "%+v", tc)
	}
}

// tokens is an ERC-20 token's state, read as a node would answer.
type tokens struct {
	balance, allowance btt.Amount
	err                error
	reads              int
}

func (k *tokens) BalanceOf(context.Context, btt.Address, btt.Address) (btt.Amount, error) {
	k.reads++
	return k.balance, k.err
}

func (k *tokens) Allowance(context.Context, btt.Address, btt.Address, btt.Address) (btt.Amount, error) {
	k.reads++
	return k.allowance, k.err
}

// errShort in a case of TestFund wants a *paychan.InsufficientFundsError.
var errShort = errors.New("insufficient funds")

func TestFund(t *testing.T) {
	ctx := context.Background()
	self, esc, tok := addr(1), addr(2), addr(9)
	errNode := errors.New("node down")
	for _, tc := range []struct {
		name      string
		k         tokens
		policy    Approve
		approveEr error
		approved  *big.Int // the approve sent, nil for none
		wantErr   error
	}{
		{"funded", tokens{balance: amt(10), allowance: amt(10)}, ApproveExact, nil, nil, nil},
		{"approves the deposit", tokens{balance: amt(10), allowance: amt(1)}, ApproveExact, nil, big.NewInt(10), nil},
		{"approves 2^256-1", tokens{balance: amt(10)}, ApproveUnlimited, nil, MaxAmount.Big(), nil},
		{"the approve fails", tokens{balance: amt(10)}, ApproveExact, errNode, big.NewInt(10), errNode},
		{"never approves", tokens{balance: amt(10)}, ApproveNever, nil, nil, errShort},
		{"short balance", tokens{balance: amt(3), allowance: amt(10)}, ApproveExact, nil, nil, errShort},
		{"node down", tokens{err: errNode}, ApproveExact, nil, nil, errNode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sent *big.Int
			err := Fund(ctx, &tc.k, self, esc, "the escrow", tok, amt(10), tc.policy, func(_ context.Context, data []byte) error {
				args, err := ERC20ABI().Methods["approve"].Inputs.Unpack(data[4:])
				require.NoError(t, err)
				assert.Equal(t, common.Address(esc.EVM()), args[0], "approves the escrow")
				sent = args[1].(*big.Int)
				return tc.approveEr
			})
			var ie *paychan.InsufficientFundsError
			switch {
			case tc.wantErr == errShort:
				assert.ErrorAs(t, err, &ie)
			case tc.wantErr != nil:
				assert.ErrorIs(t, err, tc.wantErr)
			default:
				assert.NoError(t, err)
			}
			assert.Equal(t, tc.approved, sent)
		})
	}
	k := tokens{balance: amt(1)}
	_ = Fund(ctx, &k, self, esc, "e", tok, amt(10), ApproveExact, nil)
	assert.Equal(t, 1, k.reads, "a short balance refuses before reading the allowance")
}

func TestFailed(t *testing.T) {
	ctx := context.Background()
	self, esc, tok := addr(1), addr(2), addr(9)
	revert := fmt.Errorf("reverted: %w", errTokenTransfer)
	other := errors.New("other")
	for _, tc := range []struct {
		name   string
		k      tokens
		token  btt.Address
		amount btt.Amount
		err    error
		short  uint64
	}{
		{"allowance short", tokens{balance: amt(10), allowance: amt(4)}, tok, amt(10), revert, 6},
		{"balance short", tokens{balance: amt(1), allowance: amt(40)}, tok, amt(10), revert, 9},
		{"both enough: the token refused", tokens{balance: amt(10), allowance: amt(10)}, tok, amt(10), revert, 0},
		{"not a token transfer", tokens{}, tok, amt(10), other, 0},
		{"no amount pulled", tokens{}, tok, btt.Amount{}, revert, 0},
		{"no token", tokens{}, btt.Address{}, amt(10), revert, 0},
		{"the node fails the reads", tokens{err: errors.New("down")}, tok, amt(10), revert, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Failed(ctx, &tc.k, "chain", "open", self, esc, tc.token, tc.amount, tc.err, errTokenTransfer)
			assert.ErrorIs(t, err, tc.err, "wraps the call's error")
			assert.Contains(t, err.Error(), "chain: open: ")
			var ie *paychan.InsufficientFundsError
			if tc.short == 0 {
				assert.False(t, errors.As(err, &ie))
				return
			}
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, amt(tc.short), ie.Shortfall)
		})
	}
}
