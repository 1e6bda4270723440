package bttc

import (
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/bttc/bttcdev"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/tron/contracts"
)

// TestGasFigures runs a channel's life on the development chain (an
// EIP-712 escrow, TestToken) and logs the gas each whole transaction used
// (go test -v -run TestGasFigures ./bttc/): what a payer or payee pays on
// BTTC, times the gas price, in native BTT. It also bounds them.
func TestGasFigures(t *testing.T) {
	e := newEnv(t)
	payer := e.client(bttcdev.Key("payer"), nil)
	payee := e.client(bttcdev.Key("payee"), nil)
	esc := contracts.EscrowABI()
	dom, err := e.party("payer", nil).Domain(e.ctx)
	require.NoError(t, err)
	s := signer(t, "payer")
	now, err := payer.Now(e.ctx)
	require.NoError(t, err)
	exp := uint64(now.Add(24 * time.Hour).Unix())

	type row struct {
		step    string
		gas     uint64
		ceiling uint64
	}
	var rows []row
	send := func(c *Client, step string, to btt.Address, ceiling uint64, method string, args ...any) *Receipt {
		t.Helper()
		a := esc
		if to == e.token {
			a = contracts.TokenABI()
		}
		data, err := a.Pack(method, args...)
		require.NoError(t, err)
		r, err := c.Transact(e.ctx, &to, data)
		require.NoError(t, err, step)
		rows = append(rows, row{step, r.GasUsed, ceiling})
		return r
	}
	sig := func(id [32]byte, amount int64) []byte {
		sv, err := paychan.Sign(s, dom.Voucher(id, btt.NewAmount(uint64(amount))))
		require.NoError(t, err)
		return sv.Sig[:]
	}
	payeeAddr := common.Address(addrOf("payee").EVM())
	send(payer, "approve (token)", e.token, 60_000, "approve", common.Address(e.escrow.EVM()), new(big.Int).Lsh(big.NewInt(1), 255))
	send(payer, "open (first channel)", e.escrow, 170_000, "open", payeeAddr, big.NewInt(1000), exp)
	id := [32]byte(ChannelID(e.escrow, addrOf("payer"), addrOf("payee"), 1))
	send(payer, "open (next channel)", e.escrow, 135_000, "open", payeeAddr, big.NewInt(1000), exp)
	id2 := [32]byte(ChannelID(e.escrow, addrOf("payer"), addrOf("payee"), 2))
	send(payer, "topUp (amount and expiry)", e.escrow, 70_000, "topUp", id, big.NewInt(500), exp+3600)
	send(payee, "claim (payee's first tokens)", e.escrow, 105_000, "claim", id, big.NewInt(300), sig(id, 300))
	send(payee, "claim (again)", e.escrow, 72_000, "claim", id, big.NewInt(600), sig(id, 600))
	send(payee, "close (pays payee and payer)", e.escrow, 90_000, "close", id, big.NewInt(900), sig(id, 900))
	send(payer, "startClose", e.escrow, 45_000, "startClose", id2)
	require.NoError(t, e.chain.AdjustTime(testPeriod))
	send(payer, "reclaim (after the challenge window)", e.escrow, 60_000, "reclaim", id2)

	var b strings.Builder
	fmt.Fprintf(&b, "%-38s %10s\n", "step", "gas")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-38s %10d\n", r.step, r.gas)
	}
	t.Logf("BTTC gas (whole transactions, EIP-712 escrow, solc %s):\n%s", contracts.SolcVersion, b.String())
	for _, r := range rows {
		assert.LessOrEqual(t, r.gas, r.ceiling, "%s costs more gas than its ceiling", r.step)
	}
}
