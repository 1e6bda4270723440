package metrics_test

import (
	"context"
	"crypto/rand"
	"fmt"
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
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/metrics"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/paychan/paychantest"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/speed"
)

// makeTorrent writes a file of n random bytes named name under dir and
// returns its torrent (16 KiB pieces).
func makeTorrent(t testing.TB, dir, name string, n int) *metainfo.MetaInfo {
	t.Helper()
	data := make([]byte, n)
	_, _ = rand.Read(data)
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, data, 0o644))
	info := metainfo.Info{PieceLength: 16 << 10}
	require.NoError(t, info.BuildFromFilePath(p))
	ib, err := bencode.Marshal(info)
	require.NoError(t, err)
	return &metainfo.MetaInfo{InfoBytes: ib}
}

func newKey(t testing.TB) *paychan.KeySigner {
	t.Helper()
	k, err := crypto.GenerateKey()
	require.NoError(t, err)
	s, err := paychan.NewKeySigner(k)
	require.NoError(t, err)
	return s
}

// gathered is a scrape: the value of each series by name and labels.
type gathered map[string]float64

func gather(t testing.TB, c prometheus.Collector) gathered {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	fams, err := reg.Gather()
	require.NoError(t, err)
	out := gathered{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			var b strings.Builder
			b.WriteString(f.GetName())
			for _, l := range m.GetLabel() { // sorted by name
				fmt.Fprintf(&b, ",%s=%s", l.GetName(), l.GetValue())
			}
			v := m.GetGauge().GetValue()
			if m.GetCounter() != nil {
				v = m.GetCounter().GetValue()
			}
			out[b.String()] = v
		}
	}
	return out
}

// v is the value of the series name{labels...} (labels in name order),
// failing the test if there is none.
func (g gathered) v(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	k := name
	for i := 0; i+1 < len(labels); i += 2 {
		k += "," + labels[i] + "=" + labels[i+1]
	}
	val, ok := g[k]
	if !ok {
		t.Fatalf("no series %s", k)
	}
	return val
}

// TestCollectorPaidTransfer: a leecher buys a 1 MiB torrent from a
// seeder through btt_speed on loopback (rate-capped, so the paid slot is
// seen while it is held); both clients' collectors show the peers, the
// slot, the prices while it runs, and the bytes, pieces, spend and
// earnings after.
func TestCollectorPaidTransfer(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dom := paychan.Domain{ChainID: 0x2b6653dc, Escrow: btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")}
	chain := paychantest.New(dom, time.Now())
	sellerKey, buyerKey := newKey(t), newKey(t)
	budget := btt.NewAmount(1_000_000_000)
	chain.Mint(buyerKey.Address(), budget)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "seed"), 0o755))
	const size = 1 << 20
	mi := makeTorrent(t, filepath.Join(dir, "seed"), "file.bin", size)

	payeeStore, err := paychan.OpenStore(filepath.Join(dir, "payee.db"))
	require.NoError(t, err)
	defer payeeStore.Close()
	payee, err := paychan.NewPayee(ctx, payeeStore, chain.As(sellerKey.Address()), paychan.PayeeConfig{Self: sellerKey.Address()})
	require.NoError(t, err)
	sell, err := speed.New(speed.Config{Domain: dom, Sell: &speed.Seller{Payee: payee, Self: sellerKey.Address(), Ask: btt.NewAmount(2)}})
	require.NoError(t, err)
	seeder, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", Extensions: []peer.Extension{sell},
		Policy: sell.Policy(choker.BidDrivenConfig{}), UploadRate: 512 << 10, RechokeInterval: 200 * time.Millisecond})
	require.NoError(t, err)
	defer seeder.Close()
	_, err = seeder.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: filepath.Join(dir, "seed"), Verify: true})
	require.NoError(t, err)

	payerStore, err := paychan.OpenStore(filepath.Join(dir, "payer.db"))
	require.NoError(t, err)
	defer payerStore.Close()
	payer, err := paychan.NewPayer(ctx, payerStore, chain.As(buyerKey.Address()), buyerKey)
	require.NoError(t, err)
	buy, err := speed.New(speed.Config{Domain: dom, Buy: &speed.Buyer{Payer: payer, Strategy: bidding.Fixed{Price: btt.NewAmount(5)}, Budget: budget}})
	require.NoError(t, err)
	leecher, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", Extensions: []peer.Extension{buy}})
	require.NoError(t, err)
	defer leecher.Close()

	sc := metrics.New(seeder, metrics.WithSpeed(sell))
	lc := metrics.New(leecher, metrics.WithSpeed(buy))
	// Before any peer: the seeder's torrent is whole, the reserve known.
	g := gather(t, sc)
	assert.Equal(t, 1.0, g.v(t, "bttspeed_torrents"))
	assert.Equal(t, 64.0, g.v(t, "bttspeed_pieces_done"))
	assert.Equal(t, 2.0, g.v(t, "bttspeed_reserve_price_base_units_per_byte"))
	assert.Equal(t, 0.0, g.v(t, "bttspeed_peers", "protocol", "btt_speed"))

	tor, err := leecher.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: filepath.Join(dir, "leech"), Peers: []netip.AddrPort{seeder.Addr()}})
	require.NoError(t, err)
	ih := mi.HashInfoBytes().HexString()

	// While it runs: one btt_speed peer each side, in a paid slot at the
	// reserve (an uncontested auction clears there), bid 5.
	require.Eventually(t, func() bool {
		g := gather(t, sc)
		return g.v(t, "bttspeed_slots_held", "kind", "paid") == 1
	}, 20*time.Second, 20*time.Millisecond, "the leecher never held a paid slot")
	g = gather(t, sc)
	assert.Equal(t, 1.0, g.v(t, "bttspeed_peers", "protocol", "btt_speed"))
	assert.Equal(t, 0.0, g.v(t, "bttspeed_peers", "protocol", "legacy"))
	assert.Equal(t, 1.0, g.v(t, "bttspeed_torrent_peers", "infohash", ih, "name", "file.bin", "protocol", "btt_speed"))
	assert.Equal(t, 1.0, g.v(t, "bttspeed_connections", "encrypted", "false", "transport", "tcp"))
	assert.Equal(t, 1.0, g.v(t, "bttspeed_interested_peers"))
	assert.Equal(t, 1.0, g.v(t, "bttspeed_torrent_slots_held", "infohash", ih, "kind", "paid", "name", "file.bin"))
	assert.Equal(t, 2.0, g.v(t, "bttspeed_clearing_price_base_units_per_byte"))
	assert.Equal(t, 5.0, g.v(t, "bttspeed_highest_bid_base_units_per_byte"))
	gl := gather(t, lc)
	assert.Equal(t, 1.0, gl.v(t, "bttspeed_peers", "protocol", "btt_speed"))
	assert.Equal(t, 5.0, gl.v(t, "bttspeed_bid_base_units_per_byte"))
	assert.Equal(t, 5.0, gl.v(t, "bttspeed_torrent_bid_base_units_per_byte", "infohash", ih, "name", "file.bin"))
	assert.Equal(t, 1.0, gl.v(t, "bttspeed_unchoked_by_peers"))
	assert.Equal(t, 1e9/1e18, gl.v(t, "bttspeed_budget_btt"))

	select {
	case <-tor.Done():
	case <-time.After(time.Minute):
		t.Fatal("download timed out")
	}
	// The last voucher may still be on its way: the leecher hangs up once
	// nothing is in flight, and the seeder stores what it receives.
	require.Eventually(t, func() bool {
		st, _ := tor.Stats(ctx)
		tot, err := payee.Totals()
		return err == nil && st.Peers == 0 && !buy.Spent().IsZero() && tot.Earned == buy.Spent()
	}, 30*time.Second, 10*time.Millisecond, "the last voucher never arrived")

	g, gl = gather(t, sc), gather(t, lc)
	assert.GreaterOrEqual(t, g.v(t, "bttspeed_uploaded_bytes_total"), float64(size))
	assert.Equal(t, g.v(t, "bttspeed_uploaded_bytes_total"), g.v(t, "bttspeed_torrent_uploaded_bytes_total", "infohash", ih, "name", "file.bin"))
	assert.Equal(t, float64(size), gl.v(t, "bttspeed_downloaded_bytes_total")-gl.v(t, "bttspeed_wasted_bytes_total"))
	assert.Equal(t, 64.0, gl.v(t, "bttspeed_pieces_done"))
	assert.Equal(t, 64.0, gl.v(t, "bttspeed_torrent_pieces", "infohash", ih, "name", "file.bin"))
	assert.Equal(t, 0.0, gl.v(t, "bttspeed_left_bytes"))
	assert.Equal(t, float64(size), g.v(t, "bttspeed_sold_bytes_total"))
	owed := float64(2*size) / 1e18 // the clearing price, 2 base units per byte
	assert.InEpsilon(t, owed, g.v(t, "bttspeed_owed_btt"), 1e-9)
	spent, _ := new(big.Float).SetInt(buy.Spent().Big()).Float64()
	spent /= 1e18
	assert.InEpsilon(t, spent, gl.v(t, "bttspeed_spent_btt"), 1e-9)
	assert.InEpsilon(t, spent, g.v(t, "bttspeed_earned_btt"), 1e-9)
	assert.InEpsilon(t, spent, g.v(t, "bttspeed_redeemable_btt"), 1e-9)
	assert.Equal(t, 0.0, g.v(t, "bttspeed_redeemed_btt"))
	t.Logf("owed %g BTT, spent %g BTT", owed, spent)
	assert.Equal(t, 0.0, g.v(t, "bttspeed_collect_timeouts_total"))

	// Names pass the linter; each collector describes what it collects.
	for _, c := range []*metrics.Collector{sc, lc} {
		reg := prometheus.NewPedanticRegistry() // checks each metric against Describe
		require.NoError(t, reg.Register(c))
		fams, err := reg.Gather()
		require.NoError(t, err)
		problems, err := promlint.NewWithMetricFamilies(fams).Lint()
		require.NoError(t, err)
		assert.Empty(t, problems)
	}

	// A removed torrent's bytes stay in the client's counters.
	require.NoError(t, leecher.Remove(mi.HashInfoBytes(), false))
	gl2 := gather(t, lc)
	assert.Equal(t, 0.0, gl2.v(t, "bttspeed_torrents"))
	assert.Equal(t, gl.v(t, "bttspeed_downloaded_bytes_total"), gl2.v(t, "bttspeed_downloaded_bytes_total"))
	_, ok := gl2["bttspeed_torrent_pieces,infohash="+ih+",name=file.bin"]
	assert.False(t, ok, "a removed torrent's series are gone")
}

// stuckExt is a broken extension: its Attach blocks its torrent's loop
// until released, as a handler stuck on a lock would.
type stuckExt struct {
	attached chan struct{}
	release  chan struct{}
}

func (e *stuckExt) Name() string                               { return "stuck_test" }
func (e *stuckExt) HandshakeKeys(*peer.Torrent) map[string]any { return nil }
func (e *stuckExt) Attach(peer.ExtPeer, map[string]bencode.Bytes) (peer.ExtHandler, error) {
	select {
	case <-e.attached:
	default:
		close(e.attached)
	}
	<-e.release
	// No handler and no error: the connection stays. (An error here made
	// b, whose release is open from the start, drop the connection before
	// a had read its handshake: a never reached Attach, and b dialed again
	// only 30 s later.)
	return nil, nil
}

// TestCollectStuckTorrent: a torrent whose loop never answers costs a
// scrape at most its timeout; the other torrents are read, the stuck one
// counts as a timeout and keeps its series of counters.
func TestCollectStuckTorrent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ext := &stuckExt{attached: make(chan struct{}), release: make(chan struct{})}
	a, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", Extensions: []peer.Extension{ext}, CloseTimeout: time.Second})
	require.NoError(t, err)
	defer a.Close()
	// b names the extension too (so a's Attach runs), and never blocks.
	free := &stuckExt{attached: make(chan struct{}), release: make(chan struct{})}
	close(free.release)
	b, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", Extensions: []peer.Extension{free}})
	require.NoError(t, err)
	defer b.Close()
	stuck := makeTorrent(t, dir, "stuck.bin", 64<<10)
	fine := makeTorrent(t, dir, "fine.bin", 64<<10)
	for _, mi := range []*metainfo.MetaInfo{stuck, fine} {
		// Each in its own directory, as each has its completion database.
		info, err := mi.UnmarshalInfo()
		require.NoError(t, err)
		d := filepath.Join(dir, "a-"+info.Name)
		require.NoError(t, os.MkdirAll(d, 0o755))
		require.NoError(t, os.Rename(filepath.Join(dir, info.Name), filepath.Join(d, info.Name)))
		_, err = a.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: d, Verify: true})
		require.NoError(t, err)
	}
	c := metrics.New(a, metrics.WithTimeout(300*time.Millisecond))
	g := gather(t, c) // names both before one sticks
	require.Equal(t, 8.0, g.v(t, "bttspeed_pieces_done"))

	// b connects to a for the stuck torrent: a's loop blocks in Attach.
	_, err = b.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: stuck, Dir: filepath.Join(dir, "b"), Peers: []netip.AddrPort{a.Addr()}})
	require.NoError(t, err)
	select {
	case <-ext.attached:
	case <-time.After(10 * time.Second):
		t.Fatal("the peer never reached Attach")
	}
	defer close(ext.release)
	start := time.Now()
	g = gather(t, c)
	took := time.Since(start)
	assert.Less(t, took, 2*time.Second, "a scrape waited on the stuck loop")
	assert.Equal(t, 2.0, g.v(t, "bttspeed_torrents"))
	assert.Equal(t, 1.0, g.v(t, "bttspeed_collect_timeouts_total"))
	assert.Equal(t, 4.0, g.v(t, "bttspeed_torrent_pieces_done", "infohash", fine.HashInfoBytes().HexString(), "name", "fine.bin"))
	_, ok := g["bttspeed_torrent_pieces_done,infohash="+stuck.HashInfoBytes().HexString()+",name=stuck.bin"]
	assert.False(t, ok, "no gauges of a torrent not read")
	assert.Equal(t, 0.0, g.v(t, "bttspeed_torrent_uploaded_bytes_total", "infohash", stuck.HashInfoBytes().HexString(), "name", "stuck.bin"))
	t.Logf("a scrape with a stuck torrent took %v", took)
}
