package bttc_test

import (
	"context"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/bttc"
	"github.com/bttspeed/bttspeed/bttc/bttcdev"
	"github.com/bttspeed/bttspeed/paychan"
)

// A channel on an EVM development chain: deploy the token and an EIP-712
// escrow, open, and redeem a voucher signed by the payer.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	payerKey, payeeKey := bttcdev.Key("example payer"), bttcdev.Key("example payee")
	gas := new(big.Int).Mul(big.NewInt(100), big.NewInt(1e18)) // 100 BTT for gas each
	chain, err := bttcdev.Start(bttcdev.Config{Alloc: map[common.Address]*big.Int{
		crypto.PubkeyToAddress(payerKey.PublicKey): gas,
		crypto.PubkeyToAddress(payeeKey.PublicKey): gas,
	}})
	if err != nil {
		panic(err)
	}
	defer chain.Close()

	payer, err := bttc.Dial(ctx, bttc.Config{URL: chain.URL(), Key: payerKey, Confirmations: 1, PollInterval: 20 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	defer payer.Close()
	payee, err := bttc.Dial(ctx, bttc.Config{URL: chain.URL(), Key: payeeKey, Confirmations: 1, PollInterval: 20 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	defer payee.Close()
	token, _, err := bttc.DeployTestToken(ctx, payer)
	if err != nil {
		panic(err)
	}
	escrow, _, err := bttc.DeployEscrow(ctx, payer, token, time.Hour)
	if err != nil {
		panic(err)
	}
	if _, err := bttc.Mint(ctx, payer, token, payer.Address(), btt.BTT(100)); err != nil {
		panic(err)
	}

	pe, _ := bttc.NewEscrow(payer, escrow)
	qe, _ := bttc.NewEscrow(payee, escrow)
	dom, err := pe.Domain(ctx)
	if err != nil {
		panic(err)
	}
	now, _ := pe.Now(ctx)
	ch, err := pe.Open(ctx, payee.Address(), btt.BTT(10), now.Add(time.Hour))
	if err != nil {
		panic(err)
	}
	s, _ := paychan.NewKeySigner(payerKey)
	sv, err := paychan.Sign(s, dom.Voucher(ch.ID, btt.BTT(4)))
	if err != nil {
		panic(err)
	}
	ch, err = qe.Close(ctx, sv)
	if err != nil {
		panic(err)
	}
	paid, _ := payee.BalanceOf(ctx, token, payee.Address())
	fmt.Println(dom.Scheme, ch.State, paid.FormatBTT())
	// Output: eip712 closed 4
}
