package speed_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

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

// TestSeederCrashRedeemsAcknowledged: the seeder's process dies
// mid-transfer — its connections cut, its store never closed: the test
// keeps the database file as the crash left it. A new payee over that file
// redeems, on chain, at least everything the seeder had acknowledged (a
// voucher is credited only once stored), and the payer never paid more
// than it signed.
func TestSeederCrashRedeemsAcknowledged(t *testing.T) {
	ctx := context.Background()
	dom := paychan.Domain{ChainID: 1, Escrow: btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")}
	chain := paychantest.New(dom, time.Now())
	price := btt.NewAmount(4)
	const size = 8 << 20

	sk := key(t, 1)
	dbPath := filepath.Join(t.TempDir(), "payee.db")
	pst, err := paychan.OpenStore(dbPath)
	require.NoError(t, err)
	defer pst.Close() // only at the end of the test: the "dead" process never closes it
	payee, err := paychan.NewPayee(ctx, pst, chain.As(sk.Address()), paychan.PayeeConfig{Self: sk.Address()})
	require.NoError(t, err)
	seller := &speed.Seller{Payee: payee, Self: sk.Address(), Ask: price}
	sell, err := speed.New(speed.Config{Domain: dom, Sell: seller})
	require.NoError(t, err)
	seeder, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", RechokeInterval: 50 * time.Millisecond, UploadRate: 4 << 20, Extensions: []peer.Extension{sell},
		Policy: func() (choker.Policy, error) {
			return choker.NewBidDriven(choker.BidDrivenConfig{Slots: 2, Reserve: price, LeaveIdle: true})
		}})
	require.NoError(t, err)
	dir, mi, _ := fixture(t, size)
	_, err = seeder.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: dir, Verify: true})
	require.NoError(t, err)

	lk := key(t, 2)
	chain.Mint(lk.Address(), btt.BTT(1))
	lst, err := paychan.OpenStore(filepath.Join(t.TempDir(), "payer.db"))
	require.NoError(t, err)
	defer lst.Close()
	payer, err := paychan.NewPayer(ctx, lst, chain.As(lk.Address()), lk)
	require.NoError(t, err)
	buyer := &speed.Buyer{Payer: payer, Strategy: bidding.Fixed{Price: price}, Budget: btt.BTT(1)}
	buy, err := speed.New(speed.Config{Domain: dom, Buy: buyer})
	require.NoError(t, err)
	cl, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", Extensions: []peer.Extension{buy}})
	require.NoError(t, err)
	defer cl.Close()
	_, err = cl.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: t.TempDir(), Peers: []netip.AddrPort{seeder.Addr()}})
	require.NoError(t, err)

	// Mid-transfer: a good part paid, not all.
	paidOf := func() btt.Amount {
		var paid btt.Amount
		for _, s := range seller.Sales() {
			paid, _ = paid.Add(s.Paid)
		}
		return paid
	}
	quarter, err := price.MulUint64(size / 4)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return !paidOf().Lt(quarter) }, 30*time.Second, 5*time.Millisecond)
	seeder.Close() // the process dies: connections cut...
	acked := paidOf()
	full, _ := price.MulUint64(size)
	require.True(t, acked.Lt(full), "crashed mid-transfer (acknowledged %s of %s)", acked, full)
	// ...and the store is left as it was on disk: copy the file without
	// closing it, as a restarted process would find it.
	img, err := os.ReadFile(dbPath)
	require.NoError(t, err)
	restarted := filepath.Join(t.TempDir(), "payee.db")
	require.NoError(t, os.WriteFile(restarted, img, 0o600))

	st2, err := paychan.OpenStore(restarted)
	require.NoError(t, err)
	defer st2.Close()
	payee2, err := paychan.NewPayee(ctx, st2, chain.As(sk.Address()), paychan.PayeeConfig{Self: sk.Address()})
	require.NoError(t, err)
	got, err := payee2.RedeemAll(ctx, true)
	require.NoError(t, err)
	assert.False(t, got.Lt(acked), "redeemed %s, acknowledged %s", got, acked)
	assert.False(t, got.Gt(buyer.Spent()), "redeemed %s, more than the payer signed (%s)", got, buyer.Spent())
	assert.Equal(t, got, chain.Balance(sk.Address()))
	t.Logf("acknowledged %s before the crash, redeemed %s after it (the payer signed %s)", acked, got, buyer.Spent())
}
