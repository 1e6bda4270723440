package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/examples/internal/chain"
	"github.com/bttspeed/bttspeed/examples/internal/chain/devbttc"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/examples/internal/market"
	"github.com/bttspeed/bttspeed/peer"
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

// TestRunSeedsBTTC: the seeder command on a BTTC -chain sells to a paying
// leecher (a market.Buyer on the same chain, as the leecher command makes
// it), and on stop redeems its vouchers on chain: its token balance grows
// by what it redeemed, which the leecher spent, and the leecher's deposit
// left its wallet.
func TestRunSeedsBTTC(t *testing.T) {
	ctx := context.Background()
	n, err := devbttc.Start(ctx, devbttc.Config{Seed: "seeder-seeds-bttc", Accounts: 2})
	require.NoError(t, err)
	defer n.Close()
	tokens := func(i int) btt.Amount {
		t.Helper()
		b, err := n.Owner.BalanceOf(ctx, n.Token, n.Account(i))
		require.NoError(t, err)
		return b
	}
	sellerBefore, buyerBefore := tokens(0), tokens(1)
	data := dataFile(t, t.TempDir(), 1<<20)
	r := startSeeder(t, envOf(map[string]string{chain.EnvKey: n.KeyHex(0)}),
		"-chain", n.URL(), "-escrow", n.EscrowHex(), "-escrow-tx", n.EscrowTx.Hex(), "-state", t.TempDir(),
		"-listen", "127.0.0.1:0", "-rechoke", "200ms", "-piece-length", "64KiB", "-reserve", "100", "-log-level", "warn", data)
	listen := r.line(t, `listening: (\S+)`)[1]
	assert.Contains(t, r.line(t, `payee: (\S+)`)[1], common.Address(n.Account(0).EVM()).Hex())
	r.line(t, `leecher: leecher -chain `+regexp.QuoteMeta(n.URL())+` -escrow `+n.EscrowHex()+` -escrow-tx `+n.EscrowTx.Hex()+` .*`)

	bc, err := chain.Connect(ctx, chain.Flags{Node: n.URL(), Escrow: n.EscrowHex(), EscrowTx: n.EscrowTx.Hex()},
		envOf(map[string]string{chain.EnvKey: n.KeyHex(1)}), 0, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer bc.Close()
	deposit := btt.BTT(1)
	buyer, err := market.NewBuyer(ctx, bc, market.BuyConfig{StateDir: t.TempDir(), Strategy: bidding.Fixed{Price: btt.NewAmount(200)}, Budget: deposit})
	require.NoError(t, err)
	defer buyer.Close()
	cl, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", Extensions: []peer.Extension{buyer.Ext}, RechokeInterval: 200 * time.Millisecond})
	require.NoError(t, err)
	defer cl.Close()
	got := t.TempDir()
	tor, err := cl.AddTorrent(ctx, peer.TorrentSpec{TorrentFile: data + ".torrent", Dir: got, Peers: []netip.AddrPort{netip.MustParseAddrPort(listen)}})
	require.NoError(t, err)
	select {
	case <-tor.Done():
	case <-time.After(60 * time.Second):
		t.Fatal("the paying leecher did not complete")
	}
	want, _ := os.ReadFile(data)
	have, _ := os.ReadFile(filepath.Join(got, "data.bin"))
	assert.True(t, bytes.Equal(want, have))
	afterOpen, _ := buyerBefore.Sub(deposit)
	assert.Equal(t, afterOpen, tokens(1), "the deposit left the leecher's wallet")

	// Let the last vouchers reach the seeder, then stop it: it redeems.
	time.Sleep(500 * time.Millisecond)
	require.Equal(t, cli.ExitOK, r.stop(t), "stderr: %s", &r.err)
	spent := buyer.Ext.Spent()
	require.True(t, spent.Gt(btt.Zero), "the leecher paid")
	m := regexp.MustCompile(`(?m)^redeemed: (\d+) base units`).FindStringSubmatch(r.out.String())
	require.NotNil(t, m, r.out.String())
	redeemed, err := btt.ParseAmount(m[1])
	require.NoError(t, err)
	assert.True(t, redeemed.Gt(btt.Zero))
	assert.False(t, redeemed.Gt(spent), "never more than the leecher signed")
	earned, _ := sellerBefore.Add(redeemed)
	assert.Equal(t, earned, tokens(0), "the seeder's token balance grew by what it redeemed")
}
