package chain_test

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/examples/internal/chain"
	"github.com/bttspeed/bttspeed/examples/internal/chain/devbttc"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/internal/leaktest"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/tron"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

// TestMain checks for leaked goroutines, but for those go-ethereum keeps
// for the process (the BTTC dev chain's).
func TestMain(m *testing.M) { leaktest.VerifyTestMain(m, devbttc.LeakOptions...) }

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// envOf makes an Env from a map.
func envOf(m map[string]string) chain.Env {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func keyHex(k *ecdsa.PrivateKey) string { return hex.EncodeToString(crypto.FromECDSA(k)) }

func startNode(t *testing.T, contracts bool) *devnet.Node {
	t.Helper()
	node, err := devnet.Start(context.Background(), devnet.Config{Seed: "chain-test", Accounts: 2, DeployContracts: contracts})
	require.NoError(t, err)
	t.Cleanup(func() { node.Close() })
	return node
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestConnectToNode: with -chain the escrow is found on the devnet, or
// taken from -escrow; the domain is the devnet's.
func TestConnectToNode(t *testing.T) {
	ctx := context.Background()
	node := startNode(t, true)
	env := envOf(map[string]string{chain.EnvKey: keyHex(node.Keys()[1])})

	found, err := chain.FindEscrow(ctx, node.Addr(), true)
	require.NoError(t, err)
	assert.Equal(t, node.Escrow(), found)

	for _, escrow := range []string{"", node.Escrow().String(), node.Escrow().Hex()} {
		c, err := chain.Connect(ctx, chain.Flags{Node: node.Addr(), Escrow: escrow}, env, 0, quiet())
		require.NoError(t, err, escrow)
		assert.Nil(t, c.Node)
		assert.Equal(t, node.Accounts()[1], c.Account())
		assert.Equal(t, paychan.Domain{ChainID: node.ChainID(), Escrow: node.Escrow(), Token: node.Token()}, c.Domain)
		require.NoError(t, c.Close())
	}
}

// TestConnectEmbedded: no -chain starts a devnet in the process; without
// a key it uses one of the devnet's, with one it funds it.
func TestConnectEmbedded(t *testing.T) {
	ctx := context.Background()
	c, err := chain.Connect(ctx, chain.Flags{}, envOf(nil), 1, quiet())
	require.NoError(t, err)
	require.NotNil(t, c.Node)
	assert.Equal(t, c.Node.Accounts()[1], c.Account())
	assert.Equal(t, c.Node.Escrow(), c.Domain.Escrow)
	require.NoError(t, c.Close())

	key, err := crypto.GenerateKey()
	require.NoError(t, err)
	c, err = chain.Connect(ctx, chain.Flags{}, envOf(map[string]string{chain.EnvKey: keyHex(key)}), 0, quiet())
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, paychan.AddressOf(&key.PublicKey), c.Account())
	assert.Zero(t, c.Node.TRXBalance(c.Account()))
	require.NoError(t, c.Require(ctx, chain.LeecherMin, "the test", btt.BTT(5), "the test"))
	assert.Equal(t, chain.LeecherMin.Sun, c.Node.TRXBalance(c.Account()), "the embedded devnet funds the account")
	assert.Equal(t, btt.BTT(5), c.Node.TokenBalance(c.Account()))
}

// TestConnectErrors: every way to fail at start is a setup error (exit
// code 2) that says what to do, and never shows the key.
func TestConnectErrors(t *testing.T) {
	ctx := context.Background()
	node := startNode(t, true)
	bare := startNode(t, false)
	good := keyHex(node.Keys()[0])
	for _, tc := range []struct {
		name  string
		flags chain.Flags
		env   map[string]string
		has   string
		is    error
	}{
		{"unreachable", chain.Flags{Node: closedAddr(t)}, map[string]string{chain.EnvKey: good}, "cannot reach the TRON node", paychan.ErrChainUnavailable},
		{"no port", chain.Flags{Node: "127.0.0.1"}, map[string]string{chain.EnvKey: good}, "want the node's gRPC host:port", nil},
		{"escrow without chain", chain.Flags{Escrow: node.Escrow().String()}, nil, "-escrow needs -chain", nil},
		{"bad escrow", chain.Flags{Node: node.Addr(), Escrow: "Tnope"}, map[string]string{chain.EnvKey: good}, "-escrow", btt.ErrBadAddress},
		{"token as escrow", chain.Flags{Node: node.Addr(), Escrow: node.Token().String()}, map[string]string{chain.EnvKey: good}, "does not answer as a BttSpeedEscrow", nil},
		{"not a bttspeed devnet", chain.Flags{Node: bare.Addr()}, map[string]string{chain.EnvKey: good}, "give the escrow's address with -escrow", nil},
		{"no key", chain.Flags{Node: node.Addr()}, nil, "no key: set $BTTSPEED_KEY", nil},
		{"bad key", chain.Flags{Node: node.Addr()}, map[string]string{chain.EnvKey: "c0ffee" + good[6:40]}, "$BTTSPEED_KEY", nil},
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

// TestLoadKey: the key comes from BTTSPEED_KEY or a keystore file with
// BTTSPEED_PASSPHRASE, never both, and no error repeats a secret.
func TestLoadKey(t *testing.T) {
	key, err := crypto.GenerateKey()
	require.NoError(t, err)
	addr := paychan.AddressOf(&key.PublicKey)
	dir := t.TempDir()
	ks := filepath.Join(dir, "key.json")
	require.NoError(t, tron.SaveKeystore(ks, key, "s3cret-pass", tron.KDFLight))
	open := filepath.Join(dir, "open.json")
	require.NoError(t, tron.SaveKeystore(open, key, "s3cret-pass", tron.KDFLight))
	require.NoError(t, os.Chmod(open, 0o644))
	hexKey := keyHex(key)

	for _, tc := range []struct {
		name     string
		keystore string
		env      map[string]string
		optional bool
		want     bool   // a key
		has      string // error text
	}{
		{name: "env", env: map[string]string{chain.EnvKey: hexKey}, want: true},
		{name: "env 0x", env: map[string]string{chain.EnvKey: "0x" + hexKey}, want: true},
		{name: "keystore", keystore: ks, env: map[string]string{chain.EnvPassphrase: "s3cret-pass"}, want: true},
		{name: "none optional", optional: true},
		{name: "none", has: "no key"},
		{name: "both", keystore: ks, env: map[string]string{chain.EnvKey: hexKey, chain.EnvPassphrase: "s3cret-pass"}, has: "use one"},
		{name: "no passphrase", keystore: ks, has: "set its passphrase in $BTTSPEED_PASSPHRASE"},
		{name: "wrong passphrase", keystore: ks, env: map[string]string{chain.EnvPassphrase: "guess-pass"}, has: "-keystore"},
		{name: "group-readable", keystore: open, env: map[string]string{chain.EnvPassphrase: "s3cret-pass"}, has: "-keystore"},
		{name: "missing file", keystore: filepath.Join(dir, "none.json"), env: map[string]string{chain.EnvPassphrase: "s3cret-pass"}, has: "-keystore"},
		{name: "short hex", env: map[string]string{chain.EnvKey: hexKey[:20]}, has: "$BTTSPEED_KEY"},
		{name: "not hex", env: map[string]string{chain.EnvKey: strings.Repeat("zz", 32)}, has: "$BTTSPEED_KEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := chain.LoadKey(tc.keystore, envOf(tc.env), tc.optional)
			if tc.has != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.has)
				assert.Equal(t, cli.ExitSetup, cli.ExitCode(err))
				for _, secret := range []string{hexKey[:16], hexKey[20:], "s3cret", "guess"} {
					assert.NotContains(t, err.Error(), secret)
				}
				return
			}
			require.NoError(t, err)
			if !tc.want {
				assert.Nil(t, k)
				return
			}
			require.NotNil(t, k)
			assert.Equal(t, addr, k.Address())
		})
	}
}

// TestRequire: a wallet without TRX or tokens is refused with what is
// missing and how much.
func TestRequire(t *testing.T) {
	ctx := context.Background()
	node := startNode(t, true)
	key, err := crypto.GenerateKey()
	require.NoError(t, err)
	c, err := chain.Connect(ctx, chain.Flags{Node: node.Addr()}, envOf(map[string]string{chain.EnvKey: keyHex(key)}), 0, quiet())
	require.NoError(t, err)
	defer c.Close()

	err = c.Require(ctx, chain.SeederMin, "redeeming", btt.Zero, "")
	require.Error(t, err)
	assert.Equal(t, cli.ExitSetup, cli.ExitCode(err))
	var fe *chain.FundsError
	require.True(t, errors.As(err, &fe))
	assert.Equal(t, "TRX", fe.Asset)
	assert.Contains(t, err.Error(), c.Account().String()+" has 0 TRX; it needs at least 15 TRX to pay the chain's fees for redeeming: send it 15 TRX more")

	require.NoError(t, node.FundTRX(c.Account(), 20*devnet.SunPerTRX+500_000))
	require.NoError(t, c.Require(ctx, chain.SeederMin, "redeeming", btt.Zero, ""))
	err = c.Require(ctx, chain.LeecherMin, "opening channels", btt.BTT(1), "the budget")
	require.True(t, errors.As(err, &fe))
	assert.Contains(t, err.Error(), "has 20.5 TRX; it needs at least 45 TRX to pay the chain's fees for opening channels: send it 24.5 TRX more")

	require.NoError(t, node.FundTRX(c.Account(), 50*devnet.SunPerTRX))
	require.NoError(t, node.MintTokens(c.Account(), btt.NewAmount(250_000_000_000_000_000)))
	err = c.Require(ctx, chain.LeecherMin, "opening channels", btt.BTT(2), "the budget")
	require.True(t, errors.As(err, &fe))
	assert.Equal(t, node.Token().String(), fe.Asset)
	assert.Contains(t, err.Error(), "holds 0.25 BTT of token "+node.Token().String()+"; it needs 2 BTT for the budget: send it 1.75 BTT more of that token")
	require.NoError(t, c.Require(ctx, chain.LeecherMin, "opening channels", btt.NewAmount(250_000_000_000_000_000), "the budget"))
}
