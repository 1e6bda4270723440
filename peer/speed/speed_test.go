package speed_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/paychan/paychantest"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/peertest"
	"github.com/bttspeed/bttspeed/peer/speed"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func key(t testing.TB, b byte) *paychan.KeySigner {
	t.Helper()
	d := make([]byte, 32)
	d[0], d[31] = 0x21, b
	k, err := crypto.ToECDSA(d)
	require.NoError(t, err)
	s, err := paychan.NewKeySigner(k)
	require.NoError(t, err)
	return s
}

func fixture(t testing.TB, size int64) (dir string, mi *metainfo.MetaInfo, sum [32]byte) {
	t.Helper()
	return fixtureOf(t, size, 64<<10)
}

// fixtureOf writes a file of size random bytes, in pieces of pieceLen.
func fixtureOf(t testing.TB, size, pieceLen int64) (dir string, mi *metainfo.MetaInfo, sum [32]byte) {
	t.Helper()
	dir = t.TempDir()
	data := make([]byte, size)
	_, _ = rand.Read(data)
	path := filepath.Join(dir, "data.bin")
	require.NoError(t, os.WriteFile(path, data, 0o644))
	info := metainfo.Info{PieceLength: pieceLen}
	require.NoError(t, info.BuildFromFilePath(path))
	ib, err := bencode.Marshal(info)
	require.NoError(t, err)
	return dir, &metainfo.MetaInfo{InfoBytes: ib}, sha256.Sum256(data)
}

func fileSum(t *testing.T, path string) [32]byte {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	require.NoError(t, err)
	var s [32]byte
	h.Sum(s[:0])
	return s
}

// TestPaidSwarm: a seeder sells its slots in the auction; two paying
// leechers with different bids and one legacy leecher all complete; what
// the payee earned equals what the payers signed, and it redeems it all on
// the (in-memory) chain.
func TestPaidSwarm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) { testPaidSwarm(t) })
}

func testPaidSwarm(t *testing.T) {
	onNet := onNetwork(t, peertest.NewNetwork())
	ctx := context.Background()
	dom := paychan.Domain{ChainID: 0x2b6653dc, Escrow: btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")}
	chain := paychantest.New(dom, time.Now())
	reserve := btt.NewAmount(2)

	seedKey := key(t, 1)
	pst, err := paychan.OpenStore(filepath.Join(t.TempDir(), "payee.db"))
	require.NoError(t, err)
	defer pst.Close()
	payee, err := paychan.NewPayee(ctx, pst, chain.As(seedKey.Address()), paychan.PayeeConfig{Self: seedKey.Address()})
	require.NoError(t, err)
	sellExt, err := speed.New(speed.Config{Domain: dom, Sell: &speed.Seller{Payee: payee, Self: seedKey.Address(), Ask: reserve}})
	require.NoError(t, err)
	cfg := peer.Config{RechokeInterval: 200 * time.Millisecond, Extensions: []peer.Extension{sellExt},
		Policy: func() (choker.Policy, error) {
			return choker.NewBidDriven(choker.BidDrivenConfig{Slots: 3, FreePercent: 34, Reserve: reserve})
		}}
	onNet(&cfg)
	seeder, err := peer.NewClient(cfg)
	require.NoError(t, err)
	defer seeder.Close()
	dir, mi, sum := fixture(t, 4<<20)
	_, err = seeder.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: dir, Verify: true})
	require.NoError(t, err)

	type leecher struct {
		cl    *peer.Client
		tor   *peer.Torrent
		buyer *speed.Extension
		dir   string
	}
	budget := btt.NewAmount(1_000_000_000)
	var leechers []leecher
	for i, bid := range []uint64{40, 10, 0} {
		var exts []peer.Extension
		var buyer *speed.Extension
		if bid > 0 {
			k := key(t, byte(10+i))
			chain.Mint(k.Address(), budget)
			st, err := paychan.OpenStore(filepath.Join(t.TempDir(), "payer.db"))
			require.NoError(t, err)
			defer st.Close()
			payer, err := paychan.NewPayer(ctx, st, chain.As(k.Address()), k)
			require.NoError(t, err)
			ext, err := speed.New(speed.Config{Domain: dom, Buy: &speed.Buyer{Payer: payer, Strategy: bidding.Fixed{Price: btt.NewAmount(bid)}, Budget: budget}})
			require.NoError(t, err)
			buyer = ext
			exts = append(exts, ext)
		}
		cfg := peer.Config{RechokeInterval: 200 * time.Millisecond, Extensions: exts}
		onNet(&cfg)
		cl, err := peer.NewClient(cfg)
		require.NoError(t, err)
		defer cl.Close()
		ld := t.TempDir()
		tor, err := cl.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: ld, Peers: []netip.AddrPort{seeder.Addr()}})
		require.NoError(t, err)
		leechers = append(leechers, leecher{cl, tor, buyer, ld})
	}
	for i, l := range leechers {
		select {
		case <-l.tor.Done():
		case <-time.After(90 * time.Second):
			st, _ := l.tor.Stats(ctx)
			t.Fatalf("leecher %d did not complete: %+v", i, st)
		}
		assert.Equal(t, sum, fileSum(t, filepath.Join(l.dir, "data.bin")), "leecher %d", i)
	}
	var buyers []*speed.Extension
	for _, l := range leechers {
		if l.buyer != nil {
			buyers = append(buyers, l.buyer)
		}
	}
	spent := settled(t, payee, buyers...)
	assert.True(t, spent.Gt(btt.Zero), "someone paid")
	t.Logf("paid in all: %s base units for %d bytes (reserve %s/byte)", spent, 4<<20, reserve)
	// Price × bytes: no payer paid more than its bid for the whole file.
	for i, l := range leechers[:2] {
		max, _ := btt.NewAmount([]uint64{40, 10}[i]).MulUint64(4 << 20)
		assert.False(t, l.buyer.Spent().Gt(max), "leecher %d paid above its bid", i)
	}
	got, err := payee.RedeemAll(ctx, true)
	require.NoError(t, err)
	assert.Equal(t, spent, got)
	assert.Equal(t, spent, chain.Balance(seedKey.Address()))
	total := new(big.Int).Mul(budget.Big(), big.NewInt(2))
	var sumBal btt.Amount
	for i := 0; i < 2; i++ {
		sumBal, _ = sumBal.Add(chain.Balance(key(t, byte(10+i)).Address()))
	}
	sumBal, _ = sumBal.Add(chain.Balance(seedKey.Address()))
	assert.Equal(t, 0, sumBal.Big().Cmp(total), "every base unit is accounted for: deposits refunded")
}

// settled waits until the payers have stopped paying and the payee holds
// every voucher they signed (the last ones may be on their way when the
// downloads complete), and returns what they spent in all.
func settled(t *testing.T, payee *paychan.Payee, buyers ...*speed.Extension) btt.Amount {
	t.Helper()
	var last btt.Amount
	stable := 0
	assert.Eventually(t, func() bool {
		var spent btt.Amount
		for _, b := range buyers {
			spent, _ = spent.Add(b.Spent())
		}
		tot, err := payee.Totals()
		if err != nil || tot.Earned != spent || spent != last {
			last, stable = spent, 0
			return false
		}
		stable++
		return stable >= 5
	}, 30*time.Second, 100*time.Millisecond, "the payee has every voucher the payers signed, and they stopped paying")
	if t.Failed() {
		tot, err := payee.Totals()
		t.Logf("spent %s, the payee's totals %+v (err %v)", last, tot, err)
	}
	return last
}
