package devnet

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	gtaddress "github.com/fbsobreira/gotron-sdk/pkg/address"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"not loopback", Config{Listen: "0.0.0.0:0"}},
		{"a host name", Config{Listen: "example.com:50051"}},
		{"no port", Config{Listen: "127.0.0.1"}},
		{"negative accounts", Config{Accounts: -1}},
		{"too many accounts", Config{Accounts: 10_001}},
		{"negative TRX", Config{AccountTRX: -5}},
		{"negative interval", Config{BlockInterval: -time.Second}},
		{"fractional challenge period", Config{ChallengePeriod: 1500 * time.Millisecond}},
		{"negative challenge period", Config{ChallengePeriod: -time.Hour}},
		{"challenge period below the escrow's minimum", Config{ChallengePeriod: 59 * time.Second}},
		{"challenge period above the escrow's maximum", Config{ChallengePeriod: 30*24*time.Hour + time.Second}},
		{"negative energy price", Config{EnergyPrice: -1}},
		{"free bandwidth below -1", Config{FreeBandwidth: -2}},
		{"genesis before 1970", Config{GenesisTime: time.Unix(1, 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Start(context.Background(), tc.cfg)
			require.ErrorIs(t, err, ErrConfig)
			assert.Nil(t, n)
		})
	}

	cfg, err := Config{FreeBandwidth: -1, CreateAccountFee: -1, CreateAccountSystemFee: -1}.withDefaults()
	require.NoError(t, err)
	assert.Zero(t, cfg.FreeBandwidth)
	assert.Zero(t, cfg.CreateAccountFee)
	assert.Zero(t, cfg.CreateAccountSystemFee)
	assert.Equal(t, DefaultAccounts, cfg.Accounts)
	assert.Equal(t, DefaultEnergyPrice, cfg.EnergyPrice)
	assert.Equal(t, DefaultListen, cfg.Listen)
}

func TestKeys(t *testing.T) {
	a, err := deriveKeys("seed", 3)
	require.NoError(t, err)
	b, err := deriveKeys("seed", 3)
	require.NoError(t, err)
	c, err := deriveKeys("other", 3)
	require.NoError(t, err)
	r, err := deriveKeys("", 3)
	require.NoError(t, err)
	seen := map[string]bool{}
	for i := range a {
		assert.Equal(t, crypto.FromECDSA(a[i]), crypto.FromECDSA(b[i]), "same seed, same keys")
		assert.NotEqual(t, crypto.FromECDSA(a[i]), crypto.FromECDSA(c[i]))
		assert.NotEqual(t, crypto.FromECDSA(a[i]), crypto.FromECDSA(r[i]))
		seen[addressOf(a[i]).String()] = true
	}
	assert.Len(t, seen, 3)
	// The documented derivation, through gotron-sdk's address code.
	h := sha256.Sum256([]byte("bttspeed/devnet/v1/seed/2"))
	k, err := crypto.ToECDSA(h[:])
	require.NoError(t, err)
	assert.Equal(t, gtaddress.PubkeyToAddress(k.PublicKey).String(), addressOf(a[2]).String())
	assert.Equal(t, "TFrJLuXBTafgtVvNEpFGcesB3q9SYbAt49", addressOf(a[0]).String(), "the derivation must not drift")
}

func TestStartCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Start(ctx, Config{})
	assert.ErrorIs(t, err, context.Canceled)
}

func TestCloseTwiceAndAfter(t *testing.T) {
	n, err := Start(context.Background(), Config{BlockInterval: time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, n.Close())
	require.NoError(t, n.Close())
	// The accessors still answer; the server is gone.
	assert.Positive(t, n.TRXBalance(n.Accounts()[0]))
}
