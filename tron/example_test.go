package tron_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/tron"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

// Dial a node (here the in-process devnet) and read its chain id and time.
func ExampleDial() {
	ctx := context.Background()
	node, err := devnet.Start(ctx, devnet.Config{ChainID: 0x2b6653dc, GenesisTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()

	c, err := tron.Dial(ctx, tron.Config{Addr: node.Addr(), Insecure: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	id, err := c.ChainID(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	now, err := c.Now(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("chain id %#x, time %s\n", id, now.Format(time.RFC3339))
	// Output: chain id 0x2b6653dc, time 2026-01-01T00:00:00Z
}

// A channel on the devnet's escrow: the payer opens it (approving the
// escrow first), the payee closes it with the payer's voucher.
func ExampleNewEscrow() {
	ctx := context.Background()
	node, err := devnet.Start(ctx, devnet.Config{Seed: "example", DeployContracts: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	payerKey, _ := tron.NewKeySigner(node.Keys()[0])
	payeeKey, _ := tron.NewKeySigner(node.Keys()[1])
	payerC, err := tron.Dial(ctx, tron.Config{Addr: node.Addr(), Insecure: true, Signer: payerKey})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer payerC.Close()
	payeeC, err := tron.Dial(ctx, tron.Config{Addr: node.Addr(), Insecure: true, Signer: payeeKey})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer payeeC.Close()
	payerE, _ := tron.NewEscrow(payerC, node.Escrow())
	payeeE, _ := tron.NewEscrow(payeeC, node.Escrow())

	ch, err := payerE.Open(ctx, payeeKey.Address(), btt.BTT(10), node.Now().Add(24*time.Hour))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("opened with", ch.Deposit.FormatBTT(), "BTT:", ch.State)

	dom, _ := payerE.Domain(ctx)
	sv, _ := paychan.Sign(payerKey, paychan.Voucher{ChainID: dom.ChainID, Escrow: dom.Escrow, Channel: ch.ID, Amount: btt.BTT(3)})
	ch, err = payeeE.Close(ctx, sv)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ch.State, "after paying", ch.Paid.FormatBTT(), "BTT")
	got := node.TokenBalance(payeeKey.Address()).SubFloor(devnet.DefaultTokenMint)
	fmt.Println("the payee got", got.FormatBTT(), "BTT")

	// A second close is refused by the contract, as a paychan error.
	_, err = payeeE.Close(ctx, sv)
	fmt.Println(errors.Is(err, paychan.ErrChannelClosed))
	// Output:
	// opened with 10 BTT: open
	// closed after paying 3 BTT
	// the payee got 3 BTT
	// true
}

// paychan's Payer and Payee over the TRON escrow: vouchers are checked and
// stored off chain; only the open and the redeem touch the chain.
func Example_paychan() {
	ctx := context.Background()
	node, err := devnet.Start(ctx, devnet.Config{Seed: "example", DeployContracts: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	dir, _ := os.MkdirTemp("", "tron-example")
	defer os.RemoveAll(dir)

	payerKey, _ := tron.NewKeySigner(node.Keys()[0])
	payeeKey, _ := tron.NewKeySigner(node.Keys()[1])
	payerC, _ := tron.Dial(ctx, tron.Config{Addr: node.Addr(), Insecure: true, Signer: payerKey})
	defer payerC.Close()
	payeeC, _ := tron.Dial(ctx, tron.Config{Addr: node.Addr(), Insecure: true, Signer: payeeKey})
	defer payeeC.Close()
	payerE, _ := tron.NewEscrow(payerC, node.Escrow())
	payeeE, _ := tron.NewEscrow(payeeC, node.Escrow())

	payerStore, _ := paychan.OpenStore(filepath.Join(dir, "payer.db"))
	defer payerStore.Close()
	payeeStore, _ := paychan.OpenStore(filepath.Join(dir, "payee.db"))
	defer payeeStore.Close()
	payer, err := paychan.NewPayer(ctx, payerStore, payerE, payerKey)
	if err != nil {
		fmt.Println(err)
		return
	}
	payee, err := paychan.NewPayee(ctx, payeeStore, payeeE, paychan.PayeeConfig{Self: payeeKey.Address(), Now: node.Now})
	if err != nil {
		fmt.Println(err)
		return
	}

	ch, err := payer.Open(ctx, payeeKey.Address(), btt.BTT(1), node.Now().Add(24*time.Hour))
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := payee.Accept(ctx, ch.ID); err != nil {
		fmt.Println(err)
		return
	}
	price, _ := btt.ParseBTT("0.01")
	for piece := range 4 {
		sv, _ := payer.PayFor(ch.ID, [20]byte{1}, piece, price)
		if _, err := payee.Receive(sv); err != nil {
			fmt.Println(err)
			return
		}
	}
	got, err := payee.Redeem(ctx, ch.ID, true)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("redeemed", got.FormatBTT(), "BTT")
	// Output: redeemed 0.04 BTT
}

// Deploy a test token and an escrow on a chain (here the devnet; TestNile
// does it on Nile).
func ExampleDeployEscrow() {
	ctx := context.Background()
	node, err := devnet.Start(ctx, devnet.Config{Seed: "example"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	key, _ := tron.NewKeySigner(node.Keys()[0])
	c, err := tron.Dial(ctx, tron.Config{Addr: node.Addr(), Insecure: true, Signer: key, FeeLimit: 1000 * tron.SunPerTRX})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	token, err := tron.DeployTestToken(ctx, c)
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := tron.MintTestToken(ctx, c, token, key.Address(), btt.BTT(100)); err != nil {
		fmt.Println(err)
		return
	}
	esc, err := tron.DeployEscrow(ctx, c, token, 10*time.Minute)
	if err != nil {
		fmt.Println(err)
		return
	}
	period, _ := esc.ChallengePeriod(ctx)
	dom, _ := esc.Domain(ctx)
	decimals, _ := c.Decimals(ctx, token)
	bal, _ := c.BalanceOf(ctx, token, key.Address())
	fmt.Println("challenge period", period, "token matches:", dom.Token == token)
	fmt.Println("balance", bal.FormatBTT(), "with", decimals, "decimals")
	// Output:
	// challenge period 10m0s token matches: true
	// balance 100 with 18 decimals
}

// A key from hex, as wallets export it; printing it shows the address only.
func ExampleParseKeyHex() {
	s, err := tron.ParseKeyHex("0x1111111111111111111111111111111111111111111111111111111111111111")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s)
	fmt.Printf("%#v\n", s)
	// Output:
	// KeySigner(TCLBgkbfVkJroVBJVqBEsxtPNQEQMTQCLQ)
	// KeySigner(TCLBgkbfVkJroVBJVqBEsxtPNQEQMTQCLQ)
}

// A key saved to a keystore file (mode 0600) and loaded back.
func ExampleLoadKeystore() {
	dir, _ := os.MkdirTemp("", "tron-keystore")
	defer os.RemoveAll(dir)
	key, _ := crypto.HexToECDSA("1111111111111111111111111111111111111111111111111111111111111111")
	s, _ := tron.NewKeySigner(key)
	path := filepath.Join(dir, "key.json")
	// KDFLight is for throw-away keys; real keys use KDFStandard.
	if err := tron.SaveKeystore(path, key, "secret", tron.KDFLight); err != nil {
		fmt.Println(err)
		return
	}
	loaded, err := tron.LoadKeystore(path, "secret")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(loaded.Address() == s.Address())
	_, err = tron.LoadKeystore(path, "wrong")
	fmt.Println(err != nil)
	// Output:
	// true
	// true
}
