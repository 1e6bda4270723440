package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/examples/internal/chain/devbttc"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/internal/leaktest"
	"github.com/bttspeed/bttspeed/tron"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m, devbttc.LeakOptions...) }

// TestDeploy deploys a test token and the escrow on a devnet, as one would
// on Nile, and checks the escrow works with the token it names.
func TestDeploy(t *testing.T) {
	ctx := context.Background()
	node, err := devnet.Start(ctx, devnet.Config{Accounts: 1})
	require.NoError(t, err)
	defer node.Close()
	keyHex := hex.EncodeToString(crypto.FromECDSA(node.Keys()[0]))
	env := func(k string) string {
		if k == "BTTSPEED_KEY" {
			return keyHex
		}
		return ""
	}
	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"-chain", node.Addr(), "-test-token", "-mint", "5", "-challenge", "30m"}, env, &out))
	t.Log(out.String())
	assert.NotContains(t, out.String(), keyHex, "the key is never printed")
	lines := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		k, v, ok := strings.Cut(l, ": ")
		require.True(t, ok, l)
		lines[k] = v
	}
	token, err := btt.ParseAddress(lines["token"])
	require.NoError(t, err)
	escrowAddr, err := btt.ParseAddress(lines["escrow"])
	require.NoError(t, err)

	signer, err := tron.ParseKeyHex(keyHex)
	require.NoError(t, err)
	c, err := tron.Dial(ctx, tron.Config{Addr: node.Addr(), Insecure: true, Signer: signer})
	require.NoError(t, err)
	defer c.Close()
	esc, err := tron.NewEscrow(c, escrowAddr)
	require.NoError(t, err)
	dom, err := esc.Domain(ctx)
	require.NoError(t, err)
	assert.Equal(t, token, dom.Token)
	period, err := esc.ChallengePeriod(ctx)
	require.NoError(t, err)
	assert.Equal(t, 30*time.Minute, period)
	bal, err := c.BalanceOf(ctx, token, signer.Address())
	require.NoError(t, err)
	assert.Equal(t, btt.BTT(5), bal, "the test tokens were minted to the account")
}

func TestDeployRefuses(t *testing.T) {
	none := func(string) string { return "" }
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no chain", nil, "-chain is required"},
		{"bad token", []string{"-chain", "127.0.0.1:1", "-token", "nope"}, "-token"},
		{"no key", []string{"-chain", "127.0.0.1:1"}, "BTTSPEED_KEY"},
		{"fractional challenge", []string{"-chain", "127.0.0.1:1", "-challenge", "1500ms"}, "whole seconds"},
		{"key on the command line", []string{"-chain", "127.0.0.1:1", "-key", "00"}, "-key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.args, none, &bytes.Buffer{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Equal(t, cli.ExitSetup, cli.ExitCode(err))
		})
	}
}
