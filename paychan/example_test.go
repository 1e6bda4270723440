package paychan_test

import (
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

func ExampleSign() {
	key, _ := crypto.HexToECDSA("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
	payer, _ := paychan.NewKeySigner(key)
	sv, err := paychan.Sign(payer, paychan.Voucher{
		ChainID: 0x2b6653dc,
		Escrow:  btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4"),
		Channel: paychan.ChannelID{1},
		Amount:  btt.BTT(1),
	})
	if err != nil {
		panic(err)
	}
	signer, _ := paychan.Recover(sv)
	fmt.Println(signer == payer.Address(), payer.Address())
	// Output: true TE2H9hWjzYdwzDFRJfx9BFhr4MmjH1CHaz
}

func ExampleVerify() {
	key, _ := crypto.HexToECDSA("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
	payer, _ := paychan.NewKeySigner(key)
	payee := btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")
	escrow := btt.MustParseAddress("TE2H9hWjzYdwzDFRJfx9BFhr4MmjH1CHaz")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ch := paychan.Channel{ID: paychan.ChannelID{1}, Payer: payer.Address(), Payee: payee, Deposit: btt.BTT(10), Expiry: now.Add(24 * time.Hour), State: paychan.ChannelOpen}
	check := paychan.Check{Domain: paychan.Domain{ChainID: 1, Escrow: escrow}, Payee: payee, Channel: ch, Prev: btt.BTT(1), Now: now, ExpiryMargin: time.Hour}

	sv, _ := paychan.Sign(payer, paychan.Voucher{ChainID: 1, Escrow: escrow, Channel: ch.ID, Amount: btt.BTT(3)})
	delta, err := paychan.Verify(check, sv)
	fmt.Println(delta.FormatBTT(), "BTT more, err:", err)

	stale, _ := paychan.Sign(payer, paychan.Voucher{ChainID: 1, Escrow: escrow, Channel: ch.ID, Amount: btt.BTT(1)})
	_, err = paychan.Verify(check, stale)
	fmt.Println(err)
	// Output:
	// 2 BTT more, err: <nil>
	// paychan: voucher amount not above the last one: 1000000000000000000 after 1000000000000000000
}

// A payee's credit window: about a piece until the payer first pays, then
// grown by each payment up to the limit — at once by default, or in steps
// with a smaller growth.
func ExampleNewCredit() {
	for _, growth := range []int64{0, 64} { // 0: DefaultCreditGrowth
		c := paychan.NewCredit(256<<10, 256<<20, growth)
		fmt.Print(c.Window>>10, " KiB")
		for range 2 {
			c.Paid()
			fmt.Print(" -> ", c.Window>>20, " MiB")
		}
		fmt.Println()
	}
	// Output:
	// 256 KiB -> 256 MiB -> 256 MiB
	// 256 KiB -> 16 MiB -> 256 MiB
}
