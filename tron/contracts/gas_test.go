package contracts

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGasFigures runs a channel's life with TestToken and logs the gas of
// each step (go test -v -run TestGasFigures): the execution gas (London
// schedule, what a devnet running this EVM charges as energy) and what the
// whole transaction would cost on Ethereum (intrinsic gas and refunds
// included). It also bounds them, so a change that makes a step much
// dearer fails here.
func TestGasFigures(t *testing.T) {
	type row struct {
		step    string
		gas, tx uint64
		ceiling uint64
	}
	var rows []row
	record := func(step string, res txResult, ceiling uint64) {
		t.Helper()
		require.NoError(t, res.Err, "%s reverted: %q", step, res.Revert)
		rows = append(rows, row{step, res.Gas, res.TxGas, ceiling})
	}

	c := newEVMChain(t, tronMainnetChainID)
	owner := newAccount(t, "owner")
	_, res := c.exec(owner.addr, nil, TokenDeployData())
	record("deploy TestToken", res, 450_000)
	e := newEnv(t, tronMainnetChainID)
	_, res = e.exec(e.owner.addr, nil, EscrowDeployData(e.token, testChallengePeriod))
	record("deploy BttSpeedEscrow", res, 1_700_000)

	id, res := e.open(e.payer.addr, e.payee.addr, 1000, e.now+86400)
	record("open (first channel)", res, 160_000)
	id2, res := e.open(e.payer.addr, e.payee.addr, 1000, e.now+3600)
	record("open (next channel)", res, 130_000)
	record("topUp (amount and expiry)", e.topUp(e.payer.addr, id, 500, e.now+90000), 50_000)
	record("topUp (expiry only)", e.topUp(e.payer.addr, id, 0, e.now+95000), 20_000)
	record("claim (payee's first tokens)", e.claim(e.payee.addr, id, 300, e.sig(id, 300)), 90_000)
	record("claim (again)", e.claim(e.payee.addr, id, 600, e.sig(id, 600)), 52_000)
	record("checkVoucher (view)", e.checkVoucher(id, 700, e.sig(id, 700)), 15_000)
	record("close (pays payee and payer)", e.close(e.payee.addr, id, 900, e.sig(id, 900)), 70_000)
	record("startClose", e.startClose(e.payer.addr, id2), 22_000)
	record("claim (in the challenge window)", e.claim(e.payee.addr, id2, 100, e.sig(id2, 100)), 72_000)
	e.advance(testChallengePeriod)
	record("reclaim (after the challenge window)", e.reclaim(e.payer.addr, id2), 45_000)
	id3, res := e.open(e.payer.addr, e.payee.addr, 1000, e.now+60)
	require.NoError(t, res.Err)
	e.advance(60)
	record("reclaim (after expiry)", e.reclaim(e.payer.addr, id3), 45_000)

	var b strings.Builder
	fmt.Fprintf(&b, "%-38s %12s %12s\n", "step", "exec gas", "Ethereum tx")
	for _, r := range rows {
		tx := "-" // a view is no transaction
		if r.tx > 0 {
			tx = fmt.Sprint(r.tx)
		}
		fmt.Fprintf(&b, "%-38s %12d %12s\n", r.step, r.gas, tx)
	}
	t.Logf("gas with solc %s, London schedule:\n%s", SolcVersion, b.String())
	for _, r := range rows {
		assert.LessOrEqual(t, r.gas, r.ceiling, "%s costs more execution gas than its ceiling", r.step)
	}
}
