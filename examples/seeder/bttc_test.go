package main

import (
	"context"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/examples/internal/chain"
	"github.com/bttspeed/bttspeed/examples/internal/chain/devbttc"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
)

// TestCheckBTTC: -check with a BTTC -chain shows the wallet on that
// chain — 0x addresses, the gas in native BTT — and refuses a wallet
// without the gas for a redemption.
func TestCheckBTTC(t *testing.T) {
	n, err := devbttc.Start(context.Background(), devbttc.Config{Seed: "seeder-check-bttc", Accounts: 1})
	require.NoError(t, err)
	defer n.Close()
	flags := []string{"-check", "-chain", n.URL(), "-escrow", n.EscrowHex(), "-escrow-tx", n.EscrowTx.Hex(), "-state", t.TempDir(), "-log-level", "error"}
	var out, errOut syncBuffer
	code := run(context.Background(), flags, &out, &errOut, envOf(map[string]string{chain.EnvKey: n.KeyHex(0)}))
	require.Equal(t, cli.ExitOK, code, "stderr: %s", &errOut)
	o := out.String()
	assert.Contains(t, o, "chain: "+n.URL()+"\n")
	assert.Contains(t, o, "escrow: "+n.EscrowHex()+"\n")
	assert.Contains(t, o, "account: "+common.Address(n.Account(0).EVM()).Hex()+"\n")
	assert.Contains(t, o, "gas: 1000000 BTT (BTTC's native coin pays the gas")
	assert.Contains(t, o, "btt: 1000000 BTT (token "+common.Address(n.Token.EVM()).Hex()+")\n")
	assert.Contains(t, o, "ok: ready to seed\n")

	out, errOut = syncBuffer{}, syncBuffer{}
	code = run(context.Background(), flags, &out, &errOut, envOf(map[string]string{chain.EnvKey: "11" + n.KeyHex(0)[2:]}))
	assert.Equal(t, cli.ExitSetup, code, "stdout: %s", &out)
	assert.Contains(t, out.String(), "gas: 0 BTT")
	assert.Contains(t, errOut.String(), "empty wallet")
	assert.Contains(t, errOut.String(), "BTTC's native coin")
}
