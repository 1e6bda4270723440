package main

import (
	"bytes"
	"context"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/examples/internal/chain"
	"github.com/bttspeed/bttspeed/examples/internal/chain/devbttc"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/examples/internal/market"
	"github.com/bttspeed/bttspeed/peer"
)

// TestRunPaysBTTC: the same paid download as TestRunPays with the
// payments on BitTorrent Chain — a BTTC dev chain on loopback, -chain its
// JSON-RPC URL, the escrow proven by -escrow-tx: the leecher pays the
// seller in TestToken through the EIP-712 escrow, the seller redeems what
// it holds, the leecher reclaims the rest after expiry, and every token
// balance adds up; the gas is paid in native BTT.
func TestRunPaysBTTC(t *testing.T) {
	ctx := context.Background()
	n, err := devbttc.Start(ctx, devbttc.Config{Accounts: 2, Seed: "leecher-pays-bttc"})
	require.NoError(t, err)
	defer n.Close()
	flags := []string{"-chain", n.URL(), "-escrow", n.EscrowHex(), "-escrow-tx", n.EscrowTx.Hex()}
	sellerChain, err := chain.Connect(ctx, chain.Flags{Node: n.URL(), Escrow: n.EscrowHex(), EscrowTx: n.EscrowTx.Hex()},
		envOf(map[string]string{chain.EnvKey: n.KeyHex(0)}), 0, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer sellerChain.Close()
	require.Equal(t, chain.NativeBTT, sellerChain.Gas)
	seller, err := market.NewSeller(ctx, sellerChain, market.SellConfig{StateDir: t.TempDir(), Reserve: btt.NewAmount(500), Slots: 5, FreePercent: 20, Rotation: time.Second})
	require.NoError(t, err)
	defer seller.Close()
	dataDir, tf := fixture(t, 2<<20)
	seed, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", RechokeInterval: 200 * time.Millisecond, Policy: seller.Policy, Extensions: []peer.Extension{seller.Ext}})
	require.NoError(t, err)
	defer seed.Close()
	_, err = seed.AddTorrent(ctx, peer.TorrentSpec{TorrentFile: tf, Dir: dataDir, Verify: true})
	require.NoError(t, err)

	tokens := func(i int) btt.Amount {
		t.Helper()
		b, err := n.Owner.BalanceOf(ctx, n.Token, n.Account(i))
		require.NoError(t, err)
		return b
	}
	gas := func(i int) *big.Int {
		t.Helper()
		b, err := n.Owner.BTTBalance(ctx, n.Account(i))
		require.NoError(t, err)
		return b
	}
	leecherBefore, sellerBefore, leecherGas := tokens(1), tokens(0), gas(1)

	state, dl := t.TempDir(), t.TempDir()
	env := envOf(map[string]string{chain.EnvKey: n.KeyHex(1)})
	var out, errOut syncBuffer
	code := run(ctx, append([]string{"-torrent", tf, "-dir", dl, "-budget", "0.5", "-strategy", "fixed", "-price", "800", "-state", state,
		"-peer", seed.Addr().String(), "-listen", "127.0.0.1:0", "-progress", "50ms", "-log-level", "warn"}, flags...), &out, &errOut, env)
	require.Equal(t, cli.ExitOK, code, "stdout: %s\nstderr: %s", &out, &errOut)
	want, _ := os.ReadFile(filepath.Join(dataDir, "data.bin"))
	got, _ := os.ReadFile(filepath.Join(dl, "data.bin"))
	assert.True(t, bytes.Equal(want, got), "the data is the seeder's")
	o := out.String()
	assert.Contains(t, o, "complete: data.bin, 2.0 MiB in ")
	m := regexp.MustCompile(`(?m)^spent: (\d+) base units \(\S+ BTT\) of a budget of 0.5 BTT$`).FindStringSubmatch(o)
	require.NotNil(t, m, o)
	spent, err := btt.ParseAmount(m[1])
	require.NoError(t, err)
	assert.True(t, spent.Gt(btt.Zero))
	assert.False(t, spent.Gt(btt.NewAmount(500*(2<<20))), "never more than the clearing price (the reserve) for every byte")
	assert.Contains(t, o, "leecher reclaim -chain "+n.URL()+" -escrow "+n.EscrowHex()+" -escrow-tx "+n.EscrowTx.Hex()+" -state "+state, "the hint reaches the same escrow")
	require.Regexp(t, `(?m)^channel: [0-9a-f]{64} payee `+common.Address(sellerChain.Account().EVM()).Hex()+` deposit 0.5 BTT signed `+m[1]+` base units expires `, o)
	tot, err := seller.Payee.Totals()
	require.NoError(t, err)
	assert.Equal(t, spent, tot.Earned, "the seller holds every voucher the leecher signed before it exited")
	deposit := btt.NewAmount(500_000_000_000_000_000)
	afterOpen, _ := leecherBefore.Sub(deposit)
	assert.Equal(t, afterOpen, tokens(1), "the deposit is in the escrow")
	assert.Equal(t, -1, gas(1).Cmp(leecherGas), "the leecher paid its gas in native BTT")

	// The seller redeems what it holds.
	res, err := seller.RedeemOnShutdown(ctx)
	require.NoError(t, err)
	assert.Equal(t, spent, res.Redeemed)
	earned, _ := sellerBefore.Add(spent)
	assert.Equal(t, earned, tokens(0), "the seller was paid exactly what the leecher spent")

	// Reclaim: nothing before expiry; the rest of the deposit after.
	out = syncBuffer{}
	code = run(ctx, append([]string{"reclaim", "-state", state, "-log-level", "warn"}, flags...), &out, &errOut, env)
	require.Equal(t, cli.ExitOK, code, "stderr: %s", &errOut)
	assert.Contains(t, out.String(), "reclaimed: 0 base units (0 BTT) from 0 channels; 1 not expired yet")
	require.NoError(t, n.Chain.AdjustTime(25*time.Hour))
	out = syncBuffer{}
	code = run(ctx, append([]string{"-reclaim", "-state", state}, flags...), &out, &errOut, env)
	require.Equal(t, cli.ExitOK, code, "stderr: %s", &errOut)
	back, _ := deposit.Sub(spent)
	assert.Contains(t, out.String(), "reclaimed: "+back.String()+" base units ("+back.FormatBTT()+" BTT) from 1 channels")
	final, _ := leecherBefore.Sub(spent)
	assert.Equal(t, final, tokens(1), "the leecher lost exactly what it spent")
	held, err := n.Owner.BalanceOf(ctx, n.Token, n.Escrow)
	require.NoError(t, err)
	assert.True(t, held.IsZero(), "the escrow holds nothing once the channel is settled")
}
