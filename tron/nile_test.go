package tron

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

// nileSigner reads the key TestNile runs with from the environment.
func nileSigner(t *testing.T) *KeySigner {
	t.Helper()
	if hexKey := os.Getenv("BTTSPEED_TRON_KEY"); hexKey != "" {
		s, err := ParseKeyHex(hexKey)
		require.NoError(t, err, "BTTSPEED_TRON_KEY")
		return s
	}
	if path := os.Getenv("BTTSPEED_TRON_KEYSTORE"); path != "" {
		s, err := LoadKeystore(path, os.Getenv("BTTSPEED_TRON_PASSPHRASE"))
		require.NoError(t, err, "BTTSPEED_TRON_KEYSTORE")
		return s
	}
	t.Fatal("BTTSPEED_TRON_NODE is set but no key: set BTTSPEED_TRON_KEY (hex) or BTTSPEED_TRON_KEYSTORE and BTTSPEED_TRON_PASSPHRASE")
	return nil
}

// TestNile runs the channel's life cycle on a real TRON node (see the
// package documentation): it deploys a TestToken and an escrow there, funds
// a fresh payee key with a little TRX, opens, tops up, claims and closes.
func TestNile(t *testing.T) {
	addr := os.Getenv("BTTSPEED_TRON_NODE")
	if addr == "" {
		t.Skip("set BTTSPEED_TRON_NODE (gRPC host:port, e.g. grpc.nile.trongrid.io:50051) and BTTSPEED_TRON_KEY, or BTTSPEED_TRON_KEYSTORE and BTTSPEED_TRON_PASSPHRASE, to run the life cycle on a real TRON node")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	payerKey := nileSigner(t)
	cfg := Config{
		Addr:           addr,
		Insecure:       os.Getenv("BTTSPEED_TRON_INSECURE") == "1",
		APIKey:         os.Getenv("BTTSPEED_TRON_APIKEY"),
		FeeLimit:       1000 * SunPerTRX,
		ReceiptTimeout: time.Minute,
		PollInterval:   2 * time.Second,
		Signer:         payerKey,
	}
	payerC, err := Dial(ctx, cfg)
	require.NoError(t, err)
	defer payerC.Close()
	chainID, err := payerC.ChainID(ctx)
	require.NoError(t, err)
	trx, err := payerC.TRXBalance(ctx, payerKey.Address())
	require.NoError(t, err)
	t.Logf("node %s, chain id %#x, account %s with %s", addr, chainID, payerKey.Address(), formatSun(trx))
	if trx < 600*SunPerTRX {
		t.Fatalf("%s has %s; the test needs about 600 TRX of fees (Nile's faucet: https://nileex.io/join/getJoinPage)", payerKey.Address(), formatSun(trx))
	}

	token, err := DeployTestToken(ctx, payerC)
	require.NoError(t, err)
	t.Logf("TestToken at %s", token)
	_, err = MintTestToken(ctx, payerC, token, payerKey.Address(), btt.BTT(1))
	require.NoError(t, err)
	esc, err := DeployEscrow(ctx, payerC, token, time.Minute)
	require.NoError(t, err)
	t.Logf("BttSpeedEscrow at %s", esc.Address())

	k, err := crypto.GenerateKey()
	require.NoError(t, err)
	payeeKey, err := NewKeySigner(k)
	require.NoError(t, err)
	_, err = payerC.TransferTRX(ctx, payeeKey.Address(), 80*SunPerTRX)
	require.NoError(t, err)
	pcfg := cfg
	pcfg.Signer, pcfg.FeeLimit = payeeKey, 100*SunPerTRX
	payeeC, err := Dial(ctx, pcfg)
	require.NoError(t, err)
	defer payeeC.Close()

	lifecycle(t, ctx, payerC, payeeC, esc.Address())

	// Give the payee's TRX back (it used free bandwidth or a little TRX).
	if left, err := payeeC.TRXBalance(ctx, payeeKey.Address()); err == nil && left > 2*SunPerTRX {
		if _, err := payeeC.TransferTRX(ctx, payerKey.Address(), left-2*SunPerTRX); err != nil {
			t.Logf("returning the payee's TRX: %v", err)
		}
	}
	after, err := payerC.TRXBalance(ctx, payerKey.Address())
	require.NoError(t, err)
	t.Logf("spent %s in all", formatSun(trx-after))
}

// TestNileOnDevnet runs TestNile's code against the devnet, through the
// same environment variables (the key from a keystore file), so that it
// cannot rot while no one has a Nile account at hand.
func TestNileOnDevnet(t *testing.T) {
	node := startNode(t, devnet.Config{})
	path := filepath.Join(t.TempDir(), "key.json")
	require.NoError(t, SaveKeystore(path, node.Keys()[3], "pass", KDFLight))
	t.Setenv("BTTSPEED_TRON_NODE", node.Addr())
	t.Setenv("BTTSPEED_TRON_INSECURE", "1")
	t.Setenv("BTTSPEED_TRON_KEY", "")
	t.Setenv("BTTSPEED_TRON_KEYSTORE", path)
	t.Setenv("BTTSPEED_TRON_PASSPHRASE", "pass")
	TestNile(t)
}
