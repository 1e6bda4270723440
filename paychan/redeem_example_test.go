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

// A seller runs a Redeemer beside its engine: vouchers worth the threshold
// are claimed on chain as they come, and RedeemAll settles the rest on
// shutdown.
func ExampleRedeemer() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "redeemer")
	defer os.RemoveAll(dir)
	payerKey, _ := crypto.HexToECDSA("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
	payerSigner, _ := paychan.NewKeySigner(payerKey)
	payeeAddr := btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")
	chain := paychantest.New(paychan.Domain{ChainID: 1, Escrow: btt.MustParseAddress("TE2H9hWjzYdwzDFRJfx9BFhr4MmjH1CHaz")}, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	chain.Mint(payerSigner.Address(), btt.BTT(10))

	payerStore, _ := paychan.OpenStore(filepath.Join(dir, "payer.db"))
	defer payerStore.Close()
	payer, _ := paychan.NewPayer(ctx, payerStore, chain.As(payerSigner.Address()), payerSigner)
	payeeStore, _ := paychan.OpenStore(filepath.Join(dir, "payee.db"))
	defer payeeStore.Close()
	payee, _ := paychan.NewPayee(ctx, payeeStore, chain.As(payeeAddr), paychan.PayeeConfig{Self: payeeAddr, RedeemThreshold: btt.BTT(1), Now: chain.Now})

	ch, _ := payer.Open(ctx, payeeAddr, btt.BTT(5), chain.Now().Add(24*time.Hour))
	_, _ = payee.Accept(ctx, ch.ID)
	sv, _ := payer.PayForPieces(ch.ID, [20]byte{1}, []paychan.PiecePayment{{Piece: 0, Amount: btt.BTT(2)}})
	_, _ = payee.Receive(sv)

	redeemed := make(chan btt.Amount, 1)
	r := &paychan.Redeemer{Payee: payee, Interval: time.Second, Report: func(_ paychan.ChannelID, got btt.Amount, err error) {
		if err == nil {
			redeemed <- got
		}
	}}
	rctx, stop := context.WithCancel(ctx)
	go r.Run(rctx)
	fmt.Println("claimed", (<-redeemed).FormatBTT(), "BTT")
	stop()
	fmt.Println("payee holds", chain.Balance(payeeAddr).FormatBTT(), "BTT")
	// Output:
	// claimed 2 BTT
	// payee holds 2 BTT
}
