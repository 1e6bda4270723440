package speed_test

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/bttspeed/bttspeed/internal/legacy"

	"github.com/anacrolix/torrent"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/paychan/paychantest"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/speed"
)

// newAnacrolix starts a stock anacrolix client on loopback — a legacy
// peer: it knows nothing of btt_speed.
func newAnacrolix(t *testing.T, dir string) *torrent.Client {
	t.Helper()
	cfg := legacy.Config(dir, nil)
	cl, err := torrent.NewClient(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { cl.Close() })
	return cl
}

// TestPaidSwarmAuction: a seeder with one paid slot and one free slot, its
// upload capped so that slots matter, sells to three leechers of ours
// bidding 40, 20 and 10 base units per byte, and serves a stock anacrolix
// client (legacy) through the free slot. All complete, byte-identical; the
// paid slot goes by bid, so the higher bidders finish sooner; every payer
// paid, to the base unit, the clearing price for the bytes it got in the
// paid slot, less at most its credit window; and the legacy peer completes
// through the free slot alone.
func TestPaidSwarmAuction(t *testing.T) {
	ctx := context.Background()
	dom := paychan.Domain{ChainID: 0x2b6653dc, Escrow: btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")}
	chain := paychantest.New(dom, time.Now())
	reserve := btt.NewAmount(2)
	const size = 6 << 20

	seedKey := key(t, 1)
	pst, err := paychan.OpenStore(filepath.Join(t.TempDir(), "payee.db"))
	require.NoError(t, err)
	defer pst.Close()
	payee, err := paychan.NewPayee(ctx, pst, chain.As(seedKey.Address()), paychan.PayeeConfig{Self: seedKey.Address()})
	require.NoError(t, err)
	seller := &speed.Seller{Payee: payee, Self: seedKey.Address(), Ask: reserve, CreditMax: 1 << 20}
	sell, err := speed.New(speed.Config{Domain: dom, Sell: seller})
	require.NoError(t, err)
	seeder, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", RechokeInterval: 100 * time.Millisecond, UploadRate: 8 << 20,
		Extensions: []peer.Extension{sell},
		Policy: func() (choker.Policy, error) {
			return choker.NewBidDriven(choker.BidDrivenConfig{Slots: 2, FreePercent: 50, Reserve: reserve, RotationPeriod: 200 * time.Millisecond, LeaveIdle: true})
		}})
	require.NoError(t, err)
	defer seeder.Close()
	dir, mi, sum := fixture(t, size)
	_, err = seeder.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: dir, Verify: true})
	require.NoError(t, err)

	start := time.Now()
	bids := []uint64{40, 20, 10}
	type leecher struct {
		bid   uint64
		buyer *speed.Buyer
		ext   *speed.Extension
		tor   *peer.Torrent
		dir   string
		took  time.Duration
	}
	var ls []*leecher
	budget := btt.NewAmount(1 << 40)
	for i, bid := range bids {
		k := key(t, byte(20+i))
		chain.Mint(k.Address(), budget)
		st, err := paychan.OpenStore(filepath.Join(t.TempDir(), "payer.db"))
		require.NoError(t, err)
		defer st.Close()
		payer, err := paychan.NewPayer(ctx, st, chain.As(k.Address()), k)
		require.NoError(t, err)
		l := &leecher{bid: bid, buyer: &speed.Buyer{Payer: payer, Strategy: bidding.Fixed{Price: btt.NewAmount(bid)}, Budget: budget}, dir: t.TempDir()}
		l.ext, err = speed.New(speed.Config{Domain: dom, Buy: l.buyer})
		require.NoError(t, err)
		cl, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", RechokeInterval: 100 * time.Millisecond, Extensions: []peer.Extension{l.ext}})
		require.NoError(t, err)
		defer cl.Close()
		l.tor, err = cl.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: l.dir, Peers: []netip.AddrPort{seeder.Addr()}})
		require.NoError(t, err)
		ls = append(ls, l)
	}
	legacyDir := t.TempDir()
	ac := newAnacrolix(t, legacyDir)
	at, err := ac.AddTorrent(mi)
	require.NoError(t, err)
	at.AddPeers([]torrent.PeerInfo{{Addr: net.TCPAddrFromAddrPort(seeder.Addr()), Trusted: true}})
	<-at.GotInfo()
	at.DownloadAll()

	for _, l := range ls {
		select {
		case <-l.tor.Done():
			l.took = time.Since(start)
		case <-time.After(2 * time.Minute):
			st, _ := l.tor.Stats(ctx)
			t.Fatalf("leecher bidding %d did not complete: %+v", l.bid, st)
		}
		assert.Equal(t, sum, fileSum(t, filepath.Join(l.dir, "data.bin")), "leecher bidding %d", l.bid)
		t.Logf("bid %2d: complete after %v (%.1f MB/s)", l.bid, l.took.Round(time.Millisecond), float64(size)/l.took.Seconds()/1e6)
	}
	select {
	case <-at.Complete().On():
	case <-time.After(2 * time.Minute):
		t.Fatalf("the legacy peer did not complete: %d bytes missing", at.BytesMissing())
	}
	t.Logf("legacy: complete after %v", time.Since(start).Round(time.Millisecond))
	assert.Equal(t, sum, fileSum(t, filepath.Join(legacyDir, "data.bin")), "legacy peer")

	// The paid slot goes by bid: the higher bidders finish sooner.
	assert.Less(t, ls[0].took, ls[1].took, "bid 40 finishes before bid 20")
	assert.Less(t, ls[0].took, ls[2].took, "bid 40 finishes before bid 10")

	// Every payer's vouchers reach the payee...
	var buyers []*speed.Extension
	for _, l := range ls {
		buyers = append(buyers, l.ext)
	}
	settled(t, payee, buyers...)
	// ...and each paid the clearing price for the bytes it got in the
	// paid slot, to the base unit, less at most its credit window.
	// (The highest bidder won the paid slot; the others may have got
	// all they needed in the free slot, as the legacy peer did.)
	sales := sell.Sales()
	require.NotEmpty(t, sales, "channels from the payers")
	for _, s := range sales {
		var l *leecher
		for _, c := range ls {
			if c.ext.Spent() == s.Paid {
				l = c
			}
		}
		require.NotNil(t, l, "a payer signed exactly %s", s.Paid)
		t.Logf("bid %2d: sold %d bytes in the paid slot, owed %s, paid %s", l.bid, s.Sold, s.Owed, s.Paid)
		// Each side prices a piece at the clearing price it knows: the
		// seeder when it sends, the payer when it verifies; and each
		// decides by its own clock whether the piece came in the paid
		// slot. They differ only for the pieces in flight when the price
		// or the slot changed — the leecher's request pipeline, which
		// the credit window (at most 1 MiB here) bounds.
		diff := s.Owed.SubFloor(s.Paid)
		if s.Paid.Gt(s.Owed) {
			diff = s.Paid.SubFloor(s.Owed)
		}
		bound, err := btt.NewAmount(l.bid).MulUint64(1 << 20)
		require.NoError(t, err)
		assert.False(t, diff.Gt(bound), "bid %d: owed %s and paid %s differ by more than the credit window at the bid (%s)", l.bid, s.Owed, s.Paid, bound)
	}
}
