package market_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/examples/internal/chain"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/examples/internal/market"
	"github.com/bttspeed/bttspeed/internal/leaktest"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func connect(t *testing.T, node *devnet.Node, i int) *chain.Chain {
	t.Helper()
	k := hex.EncodeToString(crypto.FromECDSA(node.Keys()[i]))
	env := func(name string) (string, bool) {
		if name == chain.EnvKey {
			return k, true
		}
		return "", false
	}
	c, err := chain.Connect(context.Background(), chain.Flags{Node: node.Addr()}, env, 0, quiet())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func fixture(t *testing.T, size int) (string, *metainfo.MetaInfo) {
	t.Helper()
	dir := t.TempDir()
	data := make([]byte, size)
	_, _ = rand.Read(data)
	path := filepath.Join(dir, "data.bin")
	require.NoError(t, os.WriteFile(path, data, 0o644))
	info := metainfo.Info{PieceLength: 64 << 10}
	require.NoError(t, info.BuildFromFilePath(path))
	ib, err := bencode.Marshal(info)
	require.NoError(t, err)
	return dir, &metainfo.MetaInfo{InfoBytes: ib}
}

// trade runs a seeder and a paying leecher over the devnet until the
// download completes and the payee holds every voucher; it returns what
// was spent.
func trade(t *testing.T, seller *market.Seller, buyer *market.Buyer) btt.Amount {
	t.Helper()
	ctx := context.Background()
	dir, mi := fixture(t, 1<<20)
	seed, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", RechokeInterval: 200 * time.Millisecond, Policy: seller.Policy, Extensions: []peer.Extension{seller.Ext}})
	require.NoError(t, err)
	defer seed.Close()
	_, err = seed.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: dir, Verify: true})
	require.NoError(t, err)
	leech, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", Extensions: []peer.Extension{buyer.Ext}})
	require.NoError(t, err)
	defer leech.Close()
	tor, err := leech.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: t.TempDir(), Peers: []netip.AddrPort{seed.Addr()}})
	require.NoError(t, err)
	select {
	case <-tor.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the download did not complete")
	}
	// The last vouchers may still be on their way: wait until the payee
	// holds all the buyer signed, and that stays so.
	var last btt.Amount
	stable := 0
	require.Eventually(t, func() bool {
		spent := buyer.Ext.Spent()
		tot, err := seller.Payee.Totals()
		if err != nil || spent.IsZero() || tot.Earned != spent || spent != last {
			last, stable = spent, 0
			return false
		}
		stable++
		return stable >= 10
	}, 15*time.Second, 20*time.Millisecond, "the payee holds every voucher")
	return last
}

// TestSellBuyRedeemReclaim: a seller and a buyer built here trade over the
// devnet; at shutdown the seller claims (or, near expiry, closes) the
// channel; the buyer reclaims the rest after expiry.
func TestSellBuyRedeemReclaim(t *testing.T) {
	for _, tc := range []struct {
		name   string
		margin time.Duration
		closed bool
		floor  btt.Amount // MinRedeem
	}{
		{"claim", time.Hour, false, btt.Zero},
		{"close near expiry", 13 * time.Hour, true, btt.Zero}, // 24 h channels are within 2 × 13 h
		// A seller whose transactions cost more than the channel holds
		// leaves it: not even at shutdown (issue 23, case 7).
		{"below the floor", 13 * time.Hour, false, btt.BTT(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			node, err := devnet.Start(ctx, devnet.Config{Seed: "market-" + tc.name, Accounts: 2, DeployContracts: true})
			require.NoError(t, err)
			defer node.Close()
			sc, bc := connect(t, node, 0), connect(t, node, 1)
			seller, err := market.NewSeller(ctx, sc, market.SellConfig{StateDir: t.TempDir(), Reserve: btt.NewAmount(1000), Slots: 2, FreePercent: 50, Rotation: time.Second, ExpiryMargin: tc.margin, RedeemThreshold: btt.BTT(1), MinRedeem: tc.floor})
			require.NoError(t, err)
			defer seller.Close()
			paid, free := seller.Slots()
			assert.Equal(t, [2]int{1, 1}, [2]int{paid, free})
			bstate := t.TempDir()
			buyer, err := market.NewBuyer(ctx, bc, market.BuyConfig{StateDir: bstate, Strategy: bidding.Fixed{Price: btt.NewAmount(3000)}, Budget: btt.BTT(2), Deposit: btt.BTT(1)})
			require.NoError(t, err)
			seedBefore, leechBefore := node.TokenBalance(sc.Account()), node.TokenBalance(bc.Account())

			spent := trade(t, seller, buyer)
			// The auction charged the reserve (the only bidder: no
			// higher losing price) for what came in the paid slot, at
			// most 1 MiB at 1000 base units a byte.
			assert.False(t, spent.Gt(btt.NewAmount(1000*(1<<20))), "spent %s", spent)
			_, rem := spent.Big().DivMod(spent.Big(), btt.NewAmount(1000*(64<<10)).Big(), new(big.Int))
			assert.Zero(t, rem.Sign(), "whole 64 KiB pieces at the reserve: %s", spent)
			chans, err := buyer.Channels()
			require.NoError(t, err)
			require.Len(t, chans, 1)
			assert.Equal(t, spent, chans[0].Signed)
			assert.Equal(t, btt.BTT(1), chans[0].Channel.Deposit)

			res, err := seller.RedeemOnShutdown(ctx)
			require.NoError(t, err)
			if !tc.floor.IsZero() {
				assert.True(t, res.Redeemed.IsZero(), "redeemed %s below the floor", res.Redeemed)
				assert.Equal(t, 1, res.BelowFloor)
				assert.Zero(t, res.Claimed+res.Closed, "no transaction")
				assert.Equal(t, seedBefore, node.TokenBalance(sc.Account()))
				return
			}
			assert.Equal(t, spent, res.Redeemed)
			assert.Equal(t, [2]int{btoi(!tc.closed), btoi(tc.closed)}, [2]int{res.Claimed, res.Closed})
			got, _ := node.TokenBalance(sc.Account()).Sub(seedBefore)
			assert.Equal(t, spent, got, "the seeder's balance grew by what the vouchers say")
			tot, err := seller.Payee.Totals()
			require.NoError(t, err)
			assert.Equal(t, paychan.Totals{Earned: spent, Redeemed: spent}, tot)
			st := seller.RedeemStats()
			assert.Equal(t, 1, st.Redemptions)
			again, err := seller.RedeemOnShutdown(ctx)
			require.NoError(t, err)
			assert.True(t, again.Redeemed.IsZero(), "nothing twice")

			require.NoError(t, buyer.Close()) // reclaim is another run: it opens the store itself
			var out strings.Builder
			rr, err := market.Reclaim(ctx, bc, bstate, &out)
			require.NoError(t, err)
			if tc.closed {
				assert.Equal(t, 1, rr.Settled, out.String())
				assert.Contains(t, out.String(), "already settled")
				left, _ := leechBefore.Sub(spent)
				assert.Equal(t, left, node.TokenBalance(bc.Account()), "the close refunded the rest")
				return
			}
			assert.Equal(t, 1, rr.Waiting, out.String())
			assert.Contains(t, out.String(), "not expired")
			node.Advance(25 * time.Hour)
			out.Reset()
			rr, err = market.Reclaim(ctx, bc, bstate, &out)
			require.NoError(t, err)
			back, _ := btt.BTT(1).Sub(spent)
			assert.Equal(t, 1, rr.Reclaimed, out.String())
			assert.Equal(t, back, rr.Back)
			diff, _ := rr.BalanceAfter.Sub(rr.BalanceBefore)
			assert.Equal(t, back, diff)
			assert.Contains(t, out.String(), "reclaimed "+back.FormatBTT()+" BTT")
			left, _ := leechBefore.Sub(spent)
			assert.Equal(t, left, node.TokenBalance(bc.Account()), "every base unit not spent came back")
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestOpenState: a state directory belongs to one account on one escrow.
func TestOpenState(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	dom := paychan.Domain{ChainID: 7, Escrow: btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")}
	acct := btt.MustParseAddress("TE2H9hWjzYdwzDFRJfx9BFhr4MmjH1CHaz")
	require.NoError(t, market.OpenState(dir, dom, acct))
	require.NoError(t, market.OpenState(dir, dom, acct), "the same again")
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())

	other := dom
	other.ChainID = 8
	for _, tc := range []struct {
		dom  paychan.Domain
		acct btt.Address
	}{{other, acct}, {dom, dom.Escrow}} {
		err := market.OpenState(dir, tc.dom, tc.acct)
		require.Error(t, err)
		assert.Equal(t, cli.ExitSetup, cli.ExitCode(err))
		assert.Contains(t, err.Error(), "give another -state")
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "state.json"), []byte("{nope"), 0o600))
	assert.ErrorContains(t, market.OpenState(dir, dom, acct), "is not ours")
	assert.Error(t, market.OpenState("", dom, acct))
}

// TestImportJournal: the channels.json of an earlier version moves into
// the payer store — channels the store lacks, opens with an unknown
// outcome as intents — and a damaged one is an error, not an empty list.
func TestImportJournal(t *testing.T) {
	dir := t.TempDir()
	st, err := paychan.OpenStore(filepath.Join(dir, "payer.db"))
	require.NoError(t, err)
	defer st.Close()
	payer := btt.MustParseAddress("TJRabPrwbZy45sbavfcjinPJC18kjpRTv8")
	payee := btt.MustParseAddress("TE2H9hWjzYdwzDFRJfx9BFhr4MmjH1CHaz")
	known := paychan.Channel{ID: paychan.ChannelID{1}, Payer: payer, Payee: payee, Deposit: btt.BTT(2), State: paychan.ChannelOpen}
	require.NoError(t, st.SavePayer(paychan.PayerRecord{Channel: known, Signed: btt.BTT(1)}))
	journal := `[
  {"id": "0100000000000000000000000000000000000000000000000000000000000000", "payee": "TE2H9hWjzYdwzDFRJfx9BFhr4MmjH1CHaz", "deposit": "2000000000000000000", "expiry": "2030-01-02T03:04:05Z"},
  {"id": "0900000000000000000000000000000000000000000000000000000000000000", "payee": "TE2H9hWjzYdwzDFRJfx9BFhr4MmjH1CHaz", "deposit": "1000000000000000000", "expiry": "2030-01-02T03:04:05Z"},
  {"payee": "TE2H9hWjzYdwzDFRJfx9BFhr4MmjH1CHaz", "deposit": "1000000000000000000", "expiry": "2030-01-02T03:04:05Z", "from_nonce": 7, "at": "2029-12-31T00:00:00Z"}
]`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "channels.json"), []byte(journal), 0o600))
	require.NoError(t, market.ImportJournal(dir, st, payer))

	recs, err := st.Payers()
	require.NoError(t, err)
	require.Len(t, recs, 2)
	got := map[paychan.ChannelID]paychan.PayerRecord{recs[0].Channel.ID: recs[0], recs[1].Channel.ID: recs[1]}
	assert.Equal(t, btt.BTT(1), got[known.ID].Signed, "a channel the store has keeps what was signed")
	orphan := got[paychan.ChannelID{9}]
	assert.Equal(t, payer, orphan.Channel.Payer)
	assert.Equal(t, btt.BTT(1), orphan.Channel.Deposit)
	assert.True(t, orphan.Signed.IsZero())
	ins, err := st.Intents()
	require.NoError(t, err)
	require.Len(t, ins, 1)
	assert.Equal(t, uint64(7), ins[0].Mark)
	_, err = os.Stat(filepath.Join(dir, "channels.json.imported"))
	require.NoError(t, err)
	require.NoError(t, market.ImportJournal(dir, st, payer), "nothing left to import")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "channels.json"), []byte(`[{"id":"zz"}]`), 0o600))
	assert.ErrorContains(t, market.ImportJournal(dir, st, payer), "bad channel id")
}

// TestStrategyFlags: each strategy from its flags, and every bad value
// refused with the flag's name.
func TestStrategyFlags(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	base := market.StrategyFlags{Name: "default", SpendPermille: 1000, Up: 25, Down: 10, LowerAfter: 3, PacedStepPerct: 10}
	with := func(f func(*market.StrategyFlags)) market.StrategyFlags {
		c := base
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name  string
		flags market.StrategyFlags
		want  bidding.Strategy
		has   string
	}{
		{"default", base, bidding.Default{SpendPermille: 1000}, ""},
		{"default half", with(func(f *market.StrategyFlags) { f.SpendPermille = 500 }), bidding.Default{SpendPermille: 500}, ""},
		{"fixed", with(func(f *market.StrategyFlags) { f.Name, f.Price = "fixed", "1/GiB" }), bidding.Fixed{Price: btt.NewAmount(931322574)}, ""},
		{"adaptive", with(func(f *market.StrategyFlags) { f.Name, f.Start, f.Max = "adaptive", "10", "100" }), bidding.Adaptive{Start: btt.NewAmount(10), Max: btt.NewAmount(100), UpPercent: 25, DownPercent: 10, LowerAfter: 3}, ""},
		{"paced", with(func(f *market.StrategyFlags) { f.Name, f.PacedDeadline = "paced", time.Hour }), bidding.Paced{Deadline: now.Add(time.Hour), StepPercent: 10}, ""},
		{"unknown", with(func(f *market.StrategyFlags) { f.Name = "greedy" }), nil, "-strategy \"greedy\""},
		{"spend 0", with(func(f *market.StrategyFlags) { f.SpendPermille = 0 }), nil, "-spend-permille"},
		{"spend over", with(func(f *market.StrategyFlags) { f.SpendPermille = 1001 }), nil, "-spend-permille"},
		{"fixed no price", with(func(f *market.StrategyFlags) { f.Name = "fixed" }), nil, "needs -price"},
		{"fixed bad price", with(func(f *market.StrategyFlags) { f.Name, f.Price = "fixed", "cheap" }), nil, "-price"},
		{"adaptive start over max", with(func(f *market.StrategyFlags) { f.Name, f.Start, f.Max = "adaptive", "100", "10" }), nil, "above -max-price"},
		{"adaptive lower-after", with(func(f *market.StrategyFlags) { f.Name, f.LowerAfter = "adaptive", 0 }), nil, "-lower-after"},
		{"paced no deadline", with(func(f *market.StrategyFlags) { f.Name = "paced" }), nil, "needs -deadline"},
		{"paced step", with(func(f *market.StrategyFlags) { f.Name, f.PacedDeadline, f.PacedStepPerct = "paced", time.Hour, 0 }), nil, "-step-percent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.flags.Strategy(now)
			if tc.has != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.has)
				assert.Equal(t, cli.ExitSetup, cli.ExitCode(err))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, s)
		})
	}
}
