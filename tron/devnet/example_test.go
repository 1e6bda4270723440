package devnet_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/fbsobreira/gotron-sdk/pkg/client"
	"github.com/fbsobreira/gotron-sdk/pkg/signer"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

// A node, a TRX transfer through gotron-sdk's client, and its receipt.
func Example() {
	ctx := context.Background()
	node, err := devnet.Start(ctx, devnet.Config{Seed: "example", GenesisTime: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	c := client.NewGrpcClient(node.Addr())
	if err := c.Start(client.GRPCInsecure()); err != nil {
		fmt.Println(err)
		return
	}
	defer c.Stop()

	from, to := node.Accounts()[0], node.Accounts()[1]
	ext, err := c.TransferCtx(ctx, from.String(), to.String(), 3*devnet.SunPerTRX)
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := signer.NewPrivateKeySigner(node.Keys()[0])
	if err != nil {
		fmt.Println(err)
		return
	}
	tx, err := s.Sign(ext.Transaction)
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := c.BroadcastCtx(ctx, tx); err != nil {
		fmt.Println(err)
		return
	}
	// Mined at once: the receipt is there.
	info, err := c.GetTransactionInfoByIDCtx(ctx, hex.EncodeToString(ext.Txid))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("block", info.BlockNumber, "at", time.UnixMilli(info.BlockTimeStamp).UTC().Format(time.TimeOnly))
	fmt.Println("fee", info.Fee, "bandwidth", info.Receipt.NetUsage)
	fmt.Println("received", node.TRXBalance(to)-devnet.DefaultAccountTRX)
	fmt.Printf("chain id %#x\n", node.ChainID())
	// Output:
	// block 2 at 00:00:03
	// fee 0 bandwidth 268
	// received 3000000
	// chain id 0xf629ebcd
}

// The clock moves only when told to; a month is one block.
func ExampleNode_Advance() {
	node, err := devnet.Start(context.Background(), devnet.Config{GenesisTime: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	node.Advance(30 * 24 * time.Hour)
	n, at := node.Head()
	fmt.Println(n, at.UTC().Format(time.DateTime))
	// Output:
	// 2 2025-01-31 00:00:00
}

// With DeployContracts the funded keys hold test tokens and the escrow is
// deployed.
func ExampleConfig_deployContracts() {
	node, err := devnet.Start(context.Background(), devnet.Config{DeployContracts: true, TokenMint: btt.BTT(500)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	fmt.Println(node.TokenBalance(node.Accounts()[0]).FormatBTT())
	fmt.Println(!node.Escrow().IsZero(), node.ChallengePeriod())
	// Output:
	// 500
	// true 1h0m0s
}
