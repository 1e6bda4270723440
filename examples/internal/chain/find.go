package chain

import (
	"context"
	"crypto/tls"
	"fmt"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/tron"
)

// EscrowName is the name a BttSpeedEscrow is deployed under.
const EscrowName = "BttSpeedEscrow"

// FindBlocks is how many of the first blocks FindEscrow reads.
const FindBlocks = 16

// FindEscrow finds the escrow on a bttspeed devnet (tron/devnet, `go run
// ./examples/devnet`): the contract created under the name BttSpeedEscrow
// in one of the chain's first FindBlocks blocks (the devnet deploys it in
// block 1), at the address TRON gives it — 0x41 || keccak256(txid ||
// owner)[12:]. On a real chain, pass -escrow instead.
func FindEscrow(ctx context.Context, addr string, plain bool) (btt.Address, error) {
	creds := credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	if plain {
		creds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return btt.Address{}, fmt.Errorf("finding the escrow: %w", err)
	}
	defer conn.Close()
	w := api.NewWalletClient(conn)
	for n := int64(1); n <= FindBlocks; n++ {
		b, err := w.GetBlockByNum2(ctx, &api.NumberMessage{Num: n})
		if err != nil {
			return btt.Address{}, fmt.Errorf("finding the escrow: reading block %d: %w: %w", n, paychan.ErrChainUnavailable, err)
		}
		if b.GetBlockHeader() == nil && len(b.GetTransactions()) == 0 {
			break // past the head
		}
		for _, te := range b.GetTransactions() {
			tx := te.GetTransaction()
			cs := tx.GetRawData().GetContract()
			if len(cs) != 1 || cs[0].GetType() != core.Transaction_Contract_CreateSmartContract {
				continue
			}
			var create core.CreateSmartContract
			if err := cs[0].GetParameter().UnmarshalTo(&create); err != nil || create.GetNewContract().GetName() != EscrowName {
				continue
			}
			owner, err := btt.AddressFromBytes(create.GetOwnerAddress())
			if err != nil {
				continue
			}
			id, err := tron.TxIDOf(tx)
			if err != nil {
				continue
			}
			return tron.ContractAddress(id, owner), nil
		}
	}
	return btt.Address{}, fmt.Errorf("no %s deployed in the first %d blocks of %s: this is not a bttspeed devnet; give the escrow's address with -escrow", EscrowName, FindBlocks, addr)
}
