package chain

import (
	"context"
	"fmt"
	"strings"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/tron"
)

// Fees the commands need at least, in sun, from the costs measured at
// mainnet prices (210 sun per energy; see the tron package): a payee's
// claim or close costs about 12 TRX; a payer's approve about 5 and its open
// about 29, a top-up about 8.
const (
	SeederMinTRX  int64 = 15 * tron.SunPerTRX // one redemption, with a margin
	LeecherMinTRX int64 = 45 * tron.SunPerTRX // approve + open + a top-up
	ReclaimMinTRX int64 = 15 * tron.SunPerTRX // a reclaim, with a margin
)

// FundsError is a wallet without what the command needs.
type FundsError struct {
	Account btt.Address
	// Asset is "TRX" or the token's address.
	Asset string
	// Have and Need are in sun for TRX, base units for the token.
	Have, Need btt.Amount
	// Why says what it is needed for.
	Why string
}

func (e *FundsError) Error() string {
	if e.Asset == "TRX" {
		return fmt.Sprintf("empty wallet: %s has %s TRX; it needs at least %s TRX to pay the chain's fees for %s: send it %s TRX more",
			e.Account, trx(e.Have), trx(e.Need), e.Why, trx(e.Need.SubFloor(e.Have)))
	}
	return fmt.Sprintf("empty wallet: %s holds %s BTT of token %s; it needs %s BTT for %s: send it %s BTT more of that token",
		e.Account, e.Have.FormatBTT(), e.Asset, e.Need.FormatBTT(), e.Why, e.Need.SubFloor(e.Have).FormatBTT())
}

// trx formats sun as TRX.
func trx(sun btt.Amount) string {
	n, _ := sun.Uint64()
	if n%uint64(tron.SunPerTRX) == 0 {
		return fmt.Sprint(n / uint64(tron.SunPerTRX))
	}
	return strings.TrimRight(fmt.Sprintf("%d.%06d", n/uint64(tron.SunPerTRX), n%uint64(tron.SunPerTRX)), "0")
}

// Require checks that the account holds at least needSun of TRX (for the
// fees of trxWhy) and needToken of the escrow's token (for tokenWhy), or
// returns a setup error wrapping a *FundsError that says which is short and
// by how much. On the embedded devnet it funds the account instead.
func (c *Chain) Require(ctx context.Context, needSun int64, trxWhy string, needToken btt.Amount, tokenWhy string) error {
	acct := c.Account()
	have, err := c.Client.TRXBalance(ctx, acct)
	if err != nil {
		return cli.Setupf("reading %s's TRX balance: %w", acct, err)
	}
	if have < needSun {
		if c.Node != nil {
			if err := c.Node.FundTRX(acct, needSun-have); err != nil {
				return cli.Setup(err)
			}
		} else {
			return cli.Setup(&FundsError{Account: acct, Asset: "TRX", Have: btt.NewAmount(uint64(max(have, 0))), Need: btt.NewAmount(uint64(needSun)), Why: trxWhy})
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
		return cli.Setup(&FundsError{Account: acct, Asset: c.Domain.Token.String(), Have: tok, Need: needToken, Why: tokenWhy})
	}
	return nil
}
