package paychan_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/paychan/paychantest"
)

// A payer opens a channel, pays for verified pieces with cumulative
// vouchers — never twice for a piece — and, after a restart over the same
// store, resumes the channel instead of locking a second deposit.
func ExamplePayer() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "payer")
	defer os.RemoveAll(dir)
	key, _ := crypto.HexToECDSA("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
	signer, _ := paychan.NewKeySigner(key)
	seller := btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")
	chain := paychantest.New(paychan.Domain{ChainID: 1, Escrow: btt.MustParseAddress("TE2H9hWjzYdwzDFRJfx9BFhr4MmjH1CHaz")}, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	chain.Mint(signer.Address(), btt.BTT(10))
	torrent := [20]byte{1}

	store, _ := paychan.OpenStore(filepath.Join(dir, "payer.db"))
	payer, _ := paychan.NewPayer(ctx, store, chain.As(signer.Address()), signer)
	ch, _ := payer.Open(ctx, seller, btt.BTT(5), chain.Now().Add(24*time.Hour))
	sv, _ := payer.PayForPieces(ch.ID, torrent, []paychan.PiecePayment{{Piece: 0, Amount: btt.BTT(1)}, {Piece: 1, Amount: btt.BTT(1)}})
	fmt.Println("voucher for", sv.Amount.FormatBTT(), "BTT")
	_, err := payer.PayForPieces(ch.ID, torrent, []paychan.PiecePayment{{Piece: 1, Amount: btt.BTT(1)}})
	fmt.Println(err)
	store.Close()

	// The process restarts.
	store, _ = paychan.OpenStore(filepath.Join(dir, "payer.db"))
	defer store.Close()
	payer, _ = paychan.NewPayer(ctx, store, chain.As(signer.Address()), signer)
	resumed, signed, ok, _ := payer.Resume(ctx, seller, chain.Now().Add(12*time.Hour))
	fmt.Println("resumed:", ok, resumed.ID == ch.ID, "signed so far:", signed.FormatBTT(), "BTT")
	sv, _ = payer.PayForPieces(resumed.ID, torrent, []paychan.PiecePayment{{Piece: 2, Amount: btt.BTT(1)}})
	fmt.Println("voucher for", sv.Amount.FormatBTT(), "BTT")
	// Output:
	// voucher for 2 BTT
	// paychan: piece already paid for: piece 1
	// resumed: true true signed so far: 2 BTT
	// voucher for 3 BTT
}
