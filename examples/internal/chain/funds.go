package chain

import (
	"context"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/tron"
)

// Gas is what pays a chain's fees.
type Gas int

const (
	// TRX pays TRON's fees (burnt for energy and bandwidth), counted in
	// sun.
	TRX Gas = iota
	// NativeBTT pays BTTC's gas, counted in wei (18 decimals).
	NativeBTT
)

// String is the asset's symbol.
func (g Gas) String() string {
	if g == NativeBTT {
		return "BTT"
	}
	return "TRX"
}

// Address writes a as the chain does: base58 T… on TRON, 0x… (EIP-55)
// on BTTC.
func (g Gas) Address(a btt.Address) string {
	if g == NativeBTT {
		return common.Address(a.EVM()).Hex()
	}
	return a.String()
}

// Format shows an amount of g's smallest unit in whole units, such as
// "20.5".
func (g Gas) Format(a btt.Amount) string {
	if g == NativeBTT {
		return a.FormatBTT()
	}
	return trx(a)
}

// Need is the least of a chain's fee asset a command needs to run: TRON's
// fees in sun, or BTTC's in gas units (priced at Require's time at what
// the bttc client would offer: twice the base fee plus the tip).
type Need struct {
	Sun int64
	Gas uint64
}

// Fees the commands need at least. TRON's are the costs measured at
// mainnet prices (210 sun per energy; see the tron package): a payee's
// claim or close costs about 12 TRX; a payer's approve about 5 and its
// open about 29, a top-up about 8. BTTC's are the gas of the same
// transactions (bttc's TestGas) with the client's 25% margin and more: a
// claim about 105,000, a close 90,000; an approve 60,000, an open
// 170,000, a top-up 70,000; a startClose 45,000 and a reclaim about as
// much.
var (
	SeederMin  = Need{Sun: 15 * tron.SunPerTRX, Gas: 150_000} // one redemption, with a margin
	LeecherMin = Need{Sun: 45 * tron.SunPerTRX, Gas: 400_000} // approve + open + a top-up
	ReclaimMin = Need{Sun: 15 * tron.SunPerTRX, Gas: 150_000} // a reclaim, with a margin
)

// FundsError is a wallet without what the command needs.
type FundsError struct {
	Account btt.Address
	// Chain is the chain's fee asset, which names the chain (addresses
	// are shown as it writes them).
	Chain Gas
	// Asset is "TRX" or "BTT" (the fee asset: Gas.String()) or the
	// token's address.
	Asset string
	// Have and Need are in the fee asset's smallest unit (sun, wei), or
	// base units of the token.
	Have, Need btt.Amount
	// Why says what it is needed for.
	Why string
}

func (e *FundsError) Error() string {
	acct := e.Chain.Address(e.Account)
	switch e.Asset {
	case TRX.String():
		return fmt.Sprintf("empty wallet: %s has %s TRX; it needs at least %s TRX to pay the chain's fees for %s: send it %s TRX more",
			acct, trx(e.Have), trx(e.Need), e.Why, trx(e.Need.SubFloor(e.Have)))
	case NativeBTT.String():
		return fmt.Sprintf("empty wallet: %s has %s BTT (BTTC's native coin); it needs at least %s BTT to pay the gas for %s at today's fees: send it %s BTT more",
			acct, e.Have.FormatBTT(), e.Need.FormatBTT(), e.Why, e.Need.SubFloor(e.Have).FormatBTT())
	}
	return fmt.Sprintf("empty wallet: %s holds %s BTT of token %s; it needs %s BTT for %s: send it %s BTT more of that token",
		acct, e.Have.FormatBTT(), e.Asset, e.Need.FormatBTT(), e.Why, e.Need.SubFloor(e.Have).FormatBTT())
}

// trx formats sun as TRX.
func trx(sun btt.Amount) string {
	n, _ := sun.Uint64()
	if n%uint64(tron.SunPerTRX) == 0 {
		return fmt.Sprint(n / uint64(tron.SunPerTRX))
	}
	return strings.TrimRight(fmt.Sprintf("%d.%06d", n/uint64(tron.SunPerTRX), n%uint64(tron.SunPerTRX)), "0")
}

// gasPricer prices gas units on BTTC.
type gasPricer interface {
	feePerGas(ctx context.Context) (*big.Int, error)
}

// needOf is n in the chain's fee asset's smallest unit.
func (c *Chain) needOf(ctx context.Context, n Need) (btt.Amount, error) {
	if c.Gas == TRX {
		return btt.NewAmount(uint64(max(n.Sun, 0))), nil
	}
	p, ok := c.Client.(gasPricer)
	if !ok {
		return btt.Amount{}, fmt.Errorf("the %T client cannot price gas", c.Client)
	}
	fee, err := p.feePerGas(ctx)
	if err != nil {
		return btt.Amount{}, fmt.Errorf("reading the gas price: %w", err)
	}
	return btt.AmountFromBig(new(big.Int).Mul(fee, new(big.Int).SetUint64(n.Gas)))
}

// Require checks that the account holds at least need of the chain's fee
// asset (for the fees of gasWhy) and needToken of the escrow's token (for
// tokenWhy), or returns a setup error wrapping a *FundsError that says
// which is short and by how much. On the embedded devnet it funds the
// account instead.
func (c *Chain) Require(ctx context.Context, need Need, gasWhy string, needToken btt.Amount, tokenWhy string) error {
	acct := c.Account()
	want, err := c.needOf(ctx, need)
	if err != nil {
		return cli.Setup(err)
	}
	have, err := c.Client.GasBalance(ctx, acct)
	if err != nil {
		return cli.Setupf("reading %s's %s balance: %w", acct, c.Gas, err)
	}
	if have.Lt(want) {
		if c.Node != nil {
			short, _ := want.SubFloor(have).Uint64()
			if err := c.Node.FundTRX(acct, int64(short)); err != nil {
				return cli.Setup(err)
			}
		} else {
			return cli.Setup(&FundsError{Account: acct, Chain: c.Gas, Asset: c.Gas.String(), Have: have, Need: want, Why: gasWhy})
		}
	}
	if needToken.IsZero() {
		return nil
	}
	tok, err := c.Client.BalanceOf(ctx, c.Domain.Token, acct)
	if err != nil {
		return cli.Setupf("reading %s's token balance: %w", acct, err)
	}
	if tok.Lt(needToken) {
		if c.Node != nil {
			return cli.Setup(c.Node.MintTokens(acct, needToken.SubFloor(tok)))
		}
		return cli.Setup(&FundsError{Account: acct, Chain: c.Gas, Asset: c.Gas.Address(c.Domain.Token), Have: tok, Need: needToken, Why: tokenWhy})
	}
	return nil
}
