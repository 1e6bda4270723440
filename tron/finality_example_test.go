package tron_test

import (
	"context"
	"fmt"
	"time"

	"github.com/bttspeed/bttspeed/tron"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

// With FinalitySolid (the default) a receipt counts once its block is
// solidified. Here the devnet's solidified block is two blocks behind the
// head: the transfer's receipt comes once two more blocks are mined. A block dropped before it
// solidifies takes its transactions with it (DropBlocks), and nothing
// read from it was final.
func ExampleFinality() {
	ctx := context.Background()
	node, err := devnet.Start(ctx, devnet.Config{Seed: "example", SolidLag: 2, GenesisTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	key, _ := tron.NewKeySigner(node.Keys()[0])
	c, err := tron.Dial(ctx, tron.Config{Addr: node.Addr(), Insecure: true, Signer: key, PollInterval: time.Millisecond})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	to := node.Accounts()[1]
	before := node.TRXBalance(to)
	done := make(chan *tron.Receipt)
	go func() {
		r, err := c.TransferTRX(ctx, to, 5*tron.SunPerTRX)
		if err != nil {
			fmt.Println(err)
		}
		done <- r
	}()
	// The transfer is mined into block 2 at once; Confirm then waits for
	// it to solidify, which takes two more blocks.
	for node.TRXBalance(to) == before {
		time.Sleep(time.Millisecond)
	}
	node.Advance(devnet.BlockTime)
	node.Advance(devnet.BlockTime)
	r := <-done
	solid, _, err := c.SolidHead(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("in block", r.BlockNumber, "solidified:", r.BlockNumber <= solid)

	// A block the head has but the solidity API does not can be dropped.
	head, _ := node.Head()
	fmt.Println("droppable:", head-node.SolidHead(), "blocks;", node.DropBlocks(int(head-node.SolidHead())) == nil)
	fmt.Println("solid block dropped:", node.DropBlocks(1) == nil)
	// Output:
	// in block 2 solidified: true
	// droppable: 2 blocks; true
	// solid block dropped: false
}
