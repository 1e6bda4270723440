package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/bttc"
	"github.com/bttspeed/bttspeed/examples/internal/chain"
	"github.com/bttspeed/bttspeed/examples/internal/chain/devbttc"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/paychan"
)

// TestDeployBTTC deploys a test token and the escrow to a BTTC dev chain
// by its URL, as one would on Donau, and checks that a seeder's chain
// connects to it with the printed -escrow and -escrow-tx (the creation
// proven), the token minted to the account.
func TestDeployBTTC(t *testing.T) {
	ctx := context.Background()
	n, err := devbttc.Start(ctx, devbttc.Config{Accounts: 1, NoTokens: true})
	require.NoError(t, err)
	defer n.Close()
	keyHex := n.KeyHex(0)
	env := func(k string) string {
		if k == chain.EnvKey {
			return keyHex
		}
		return ""
	}
	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"-chain", n.URL(), "-test-token", "-mint", "5", "-challenge", "30m"}, env, &out))
	t.Log(out.String())
	assert.NotContains(t, out.String(), keyHex, "the key is never printed")
	lines := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		k, v, ok := strings.Cut(l, ": ")
		require.True(t, ok, l)
		lines[k] = v
	}
	assert.Equal(t, common.Address(n.Account(0).EVM()).Hex(), lines["account"])
	require.Regexp(t, `^0x[0-9a-fA-F]{40}$`, lines["escrow"])
	require.Regexp(t, `^0x[0-9a-f]{64}$`, lines["escrow-tx"])

	c, err := chain.Connect(ctx, chain.Flags{Node: n.URL(), Escrow: lines["escrow"], EscrowTx: lines["escrow-tx"]},
		func(k string) (string, bool) { v := env(k); return v, v != "" }, 0, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, lines["token"], common.Address(c.Domain.Token.EVM()).Hex())
	assert.Equal(t, paychan.SchemeEIP712, c.Domain.Scheme)
	esc, ok := c.Escrow.(*bttc.Escrow)
	require.True(t, ok, "%T", c.Escrow)
	period, err := esc.ChallengePeriod(ctx)
	require.NoError(t, err)
	assert.Equal(t, 30*time.Minute, period)
	bal, err := c.Client.BalanceOf(ctx, c.Domain.Token, c.Account())
	require.NoError(t, err)
	assert.Equal(t, btt.BTT(5), bal, "the test tokens were minted to the account")
}

func TestDeployBTTCRefuses(t *testing.T) {
	none := func(string) string { return "" }
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no token", []string{"-chain", "http://127.0.0.1:1"}, "-token is required on BTTC"},
		{"fee limit", []string{"-chain", "http://127.0.0.1:1", "-test-token", "-fee-limit", "5"}, "-fee-limit is for a TRON -chain"},
		{"no host", []string{"-chain", "http://", "-test-token"}, "want the node's JSON-RPC URL"},
		{"bad token", []string{"-chain", "ws://127.0.0.1:1", "-token", "0x12"}, "-token"},
		{"no key", []string{"-chain", "http://127.0.0.1:1", "-test-token"}, "BTTSPEED_KEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.args, none, &bytes.Buffer{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Equal(t, cli.ExitSetup, cli.ExitCode(err))
		})
	}
}
