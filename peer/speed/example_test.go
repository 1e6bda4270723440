package speed_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/paychan/paychantest"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/speed"
)

// A seeder sells its upload in the auction and a leecher buys a 1 MiB
// download from it, paying a voucher for every verified piece through a
// payment channel. The escrow here is in memory (paychantest); on TRON it
// is tron.NewEscrow over a deployed contract, and nothing else changes.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "speed-example")
	defer os.RemoveAll(dir)
	dom := paychan.Domain{ChainID: 0x2b6653dc, Escrow: btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")}
	chain := paychantest.New(dom, time.Now())
	sellerKey, buyerKey := newKey(), newKey()
	budget := btt.NewAmount(1_000_000_000) // base units (1 BTT = 10^18)
	chain.Mint(buyerKey.Address(), budget)

	// A 1 MiB file and its torrent.
	data := make([]byte, 1<<20)
	_, _ = rand.Read(data)
	src := filepath.Join(dir, "seed", "file.bin")
	_ = os.MkdirAll(filepath.Dir(src), 0o755)
	_ = os.WriteFile(src, data, 0o644)
	info := metainfo.Info{PieceLength: 64 << 10}
	_ = info.BuildFromFilePath(src)
	infoBytes, _ := bencode.Marshal(info)
	mi := &metainfo.MetaInfo{InfoBytes: infoBytes}

	// The seeder: a payee that stores vouchers in bbolt, and the auction
	// with a reserve of 2 base units per byte.
	payeeStore, _ := paychan.OpenStore(filepath.Join(dir, "payee.db"))
	defer payeeStore.Close()
	payee, _ := paychan.NewPayee(ctx, payeeStore, chain.As(sellerKey.Address()), paychan.PayeeConfig{Self: sellerKey.Address()})
	reserve := btt.NewAmount(2)
	sell, _ := speed.New(speed.Config{Domain: dom, Sell: &speed.Seller{Payee: payee, Self: sellerKey.Address(), Ask: reserve}})
	seeder, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", Extensions: []peer.Extension{sell},
		Policy: sell.Policy(choker.BidDrivenConfig{})}) // the auction, its reserve the ask
	if err != nil {
		panic(err)
	}
	defer seeder.Close()
	if _, err := seeder.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: filepath.Dir(src), Verify: true}); err != nil {
		panic(err)
	}

	// The leecher: a payer, a bid strategy and a budget.
	payerStore, _ := paychan.OpenStore(filepath.Join(dir, "payer.db"))
	defer payerStore.Close()
	payer, _ := paychan.NewPayer(ctx, payerStore, chain.As(buyerKey.Address()), buyerKey)
	buyer := &speed.Buyer{Payer: payer, Strategy: bidding.Fixed{Price: btt.NewAmount(5)}, Budget: budget}
	buy, _ := speed.New(speed.Config{Domain: dom, Buy: buyer})
	leecher, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", Extensions: []peer.Extension{buy}})
	if err != nil {
		panic(err)
	}
	defer leecher.Close()
	dst := filepath.Join(dir, "leech")
	t, err := leecher.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: dst, Peers: []netip.AddrPort{seeder.Addr()}})
	if err != nil {
		panic(err)
	}
	select {
	case <-t.Done():
	case <-time.After(time.Minute):
		panic("download timed out")
	}

	// The last voucher may still be on its way: the leecher hangs up once
	// nothing is in flight, and the seeder stores what it receives.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		st, _ := t.Stats(ctx)
		tot, _ := payee.Totals()
		if st.Peers == 0 && tot.Earned == buy.Spent() {
			break
		}
		if time.Now().After(deadline) {
			panic("vouchers did not arrive")
		}
	}
	// The seeder redeems and closes the channel: the rest goes back.
	redeemed, err := payee.RedeemAll(ctx, true)
	if err != nil {
		panic(err)
	}
	got, _ := os.ReadFile(filepath.Join(dst, "file.bin"))
	fmt.Println("byte-identical:", bytes.Equal(got, data))
	fmt.Println("paid:", buy.Spent(), "base units, the reserve (the clearing price of an uncontested auction) times", len(data), "bytes")
	fmt.Println("redeemed:", redeemed)
	fmt.Println("balances: seller", chain.Balance(sellerKey.Address()), "buyer", chain.Balance(buyerKey.Address()))
	// Output:
	// byte-identical: true
	// paid: 2097152 base units, the reserve (the clearing price of an uncontested auction) times 1048576 bytes
	// redeemed: 2097152
	// balances: seller 2097152 buyer 997902848
}

// newKey makes a throwaway secp256k1 key.
func newKey() *paychan.KeySigner {
	k, err := crypto.GenerateKey()
	if err != nil {
		panic(err)
	}
	s, err := paychan.NewKeySigner(k)
	if err != nil {
		panic(err)
	}
	return s
}
