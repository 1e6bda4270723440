package chain_test

import (
	"context"
	"errors"
	"math/big"
	"path/filepath"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/bttc"
	"github.com/bttspeed/bttspeed/examples/internal/chain"
	"github.com/bttspeed/bttspeed/examples/internal/chain/devbttc"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/tron"
)

func startBTTC(t *testing.T, cfg devbttc.Config) *devbttc.Net {
	t.Helper()
	n, err := devbttc.Start(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	return n
}

// TestConnectBTTC: an http:// -chain connects to BTTC with the key from
// $BTTSPEED_KEY or a keystore: the escrow is a bttc.Escrow whose domain
// is the chain's EIP-712 one (its creation proven with -escrow-tx), the
// gas is native BTT, and balances read through the Client.
func TestConnectBTTC(t *testing.T) {
	ctx := context.Background()
	n := startBTTC(t, devbttc.Config{Accounts: 1, Seed: "chain-bttc"})
	dir := t.TempDir()
	ks := filepath.Join(dir, "key.json")
	require.NoError(t, tron.SaveKeystore(ks, n.Keys[0], "s3cret-pass", tron.KDFLight))
	for _, tc := range []struct {
		name  string
		flags chain.Flags
		env   map[string]string
	}{
		{"key", chain.Flags{Node: n.URL(), Escrow: n.EscrowHex()}, map[string]string{chain.EnvKey: n.KeyHex(0)}},
		{"creation proven", chain.Flags{Node: n.URL(), Escrow: n.EscrowHex(), EscrowTx: n.EscrowTx.Hex()}, map[string]string{chain.EnvKey: n.KeyHex(0)}},
		{"keystore, T address", chain.Flags{Node: n.URL(), Escrow: n.Escrow.String(), Keystore: ks}, map[string]string{chain.EnvPassphrase: "s3cret-pass"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := chain.Connect(ctx, tc.flags, envOf(tc.env), 0, quiet())
			require.NoError(t, err)
			defer c.Close()
			assert.Nil(t, c.Node)
			assert.Equal(t, chain.NativeBTT, c.Gas)
			assert.IsType(t, &bttc.Escrow{}, c.Escrow)
			assert.Equal(t, n.Account(0), c.Account())
			assert.Equal(t, n.Escrow, c.Domain.Escrow)
			assert.Equal(t, n.Token, c.Domain.Token)
			assert.Equal(t, n.Chain.ChainID(), c.Domain.ChainID)
			assert.Equal(t, paychan.SchemeEIP712, c.Domain.Scheme)
			gas, err := c.Client.GasBalance(ctx, c.Account())
			require.NoError(t, err)
			assert.Equal(t, devbttc.DefaultGas, gas.Big())
			tok, err := c.Client.BalanceOf(ctx, n.Token, c.Account())
			require.NoError(t, err)
			assert.Equal(t, devbttc.DefaultTokens, tok)
			require.NoError(t, c.Require(ctx, chain.LeecherMin, "the test", btt.BTT(5), "the test"))
		})
	}
}

// TestConnectBTTCErrors: every way a BTTC -chain fails at start is a
// setup error that says what to do, and never shows the key.
func TestConnectBTTCErrors(t *testing.T) {
	ctx := context.Background()
	n := startBTTC(t, devbttc.Config{Accounts: 1, Seed: "chain-bttc-errors"})
	good := n.KeyHex(0)
	key := map[string]string{chain.EnvKey: good}
	var otherTx common.Hash
	otherTx[0] = 1
	for _, tc := range []struct {
		name  string
		flags chain.Flags
		env   map[string]string
		has   string
		is    error
	}{
		{"unreachable", chain.Flags{Node: "http://" + closedAddr(t), Escrow: n.EscrowHex()}, key, "cannot reach the BTTC node", paychan.ErrChainUnavailable},
		{"no escrow", chain.Flags{Node: n.URL()}, key, "-escrow is needed with a BTTC -chain", nil},
		{"bad escrow", chain.Flags{Node: n.URL(), Escrow: "0x1234"}, key, "-escrow", btt.ErrBadAddress},
		{"bad escrow tx", chain.Flags{Node: n.URL(), Escrow: n.EscrowHex(), EscrowTx: "0xabc"}, key, "-escrow-tx", nil},
		{"wrong escrow tx", chain.Flags{Node: n.URL(), Escrow: n.EscrowHex(), EscrowTx: otherTx.Hex()}, key, "does not answer as a BttSpeedEscrow", nil},
		{"token as escrow", chain.Flags{Node: n.URL(), Escrow: common.Address(n.Token.EVM()).Hex()}, key, "does not answer as a BttSpeedEscrow", nil},
		{"solidity", chain.Flags{Node: n.URL(), Escrow: n.EscrowHex(), Solidity: "127.0.0.1:50061"}, key, "-solidity is for a TRON -chain", nil},
		{"no host", chain.Flags{Node: "http://", Escrow: n.EscrowHex()}, key, "want the node's JSON-RPC URL", nil},
		{"no key", chain.Flags{Node: n.URL(), Escrow: n.EscrowHex()}, nil, "no key: set $BTTSPEED_KEY", nil},
		{"bad key", chain.Flags{Node: n.URL(), Escrow: n.EscrowHex()}, map[string]string{chain.EnvKey: good[:40]}, "$BTTSPEED_KEY", nil},
		{"escrow tx on TRON", chain.Flags{Node: "127.0.0.1:50051", EscrowTx: n.EscrowTx.Hex()}, key, "-escrow-tx is for a BTTC -chain", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := chain.Connect(ctx, tc.flags, envOf(tc.env), 0, quiet())
			require.Error(t, err)
			assert.Nil(t, c)
			assert.Equal(t, cli.ExitSetup, cli.ExitCode(err))
			assert.Contains(t, err.Error(), tc.has)
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
			assert.NotContains(t, err.Error(), good[8:40], "the key never shows")
		})
	}
}

// TestRequireBTTC: on BTTC the fees are native BTT, priced at today's
// gas fee; a wallet short of it or of the token is told how much to send,
// with its 0x address.
func TestRequireBTTC(t *testing.T) {
	ctx := context.Background()
	n := startBTTC(t, devbttc.Config{Accounts: 1, Seed: "chain-bttc-require", Gas: new(big.Int), NoTokens: true})
	c, err := chain.Connect(ctx, chain.Flags{Node: n.URL(), Escrow: n.EscrowHex()}, envOf(map[string]string{chain.EnvKey: n.KeyHex(0)}), 0, quiet())
	require.NoError(t, err)
	defer c.Close()
	hexAddr := crypto.PubkeyToAddress(n.Keys[0].PublicKey).Hex()

	err = c.Require(ctx, chain.SeederMin, "redeeming", btt.Zero, "")
	require.Error(t, err)
	assert.Equal(t, cli.ExitSetup, cli.ExitCode(err))
	var fe *chain.FundsError
	require.True(t, errors.As(err, &fe))
	assert.Equal(t, "BTT", fe.Asset)
	assert.True(t, fe.Have.IsZero())
	assert.False(t, fe.Need.IsZero(), "gas has a price")
	assert.Contains(t, err.Error(), "empty wallet: "+hexAddr+" has 0 BTT (BTTC's native coin); it needs at least "+fe.Need.FormatBTT()+" BTT to pay the gas for redeeming")

	// Fund it with the gas and a little token.
	send := func(to btt.Address, wei *big.Int) {
		t.Helper()
		r, err := n.Owner.TransferBTT(ctx, to, wei)
		require.NoError(t, err)
		require.NotNil(t, r)
	}
	send(c.Account(), new(big.Int).Mul(fe.Need.Big(), big.NewInt(100)))
	require.NoError(t, c.Require(ctx, chain.SeederMin, "redeeming", btt.Zero, ""))
	_, err = bttc.Mint(ctx, n.Owner, n.Token, c.Account(), btt.NewAmount(250_000_000_000_000_000))
	require.NoError(t, err)
	err = c.Require(ctx, chain.LeecherMin, "opening channels", btt.BTT(2), "the budget")
	require.True(t, errors.As(err, &fe))
	assert.Equal(t, common.Address(n.Token.EVM()).Hex(), fe.Asset)
	assert.Contains(t, err.Error(), "empty wallet: "+hexAddr+" holds 0.25 BTT of token "+fe.Asset+"; it needs 2 BTT for the budget: send it 1.75 BTT more of that token")
	require.NoError(t, c.Require(ctx, chain.LeecherMin, "opening channels", btt.NewAmount(250_000_000_000_000_000), "the budget"))
}
