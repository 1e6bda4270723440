package tron

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/tron/contracts"
)

// DevnetChainID is the chain id of a tron/devnet chain: the last 4 bytes
// of its fixed genesis block's id (devnet.DefaultChainID), unless
// devnet.Config.ChainID replaces it.
const DevnetChainID = 0xf629ebcd

// DevnetEscrowBlocks is how many of a devnet's first blocks
// FindDevnetEscrow reads (the devnet deploys its escrow in block 1).
const DevnetEscrowBlocks = 16

// ErrNotDevnet: escrow discovery was asked of a chain whose id is not
// DevnetChainID. On any other chain the escrow's address must be given:
// on a public chain anyone can deploy a contract named BttSpeedEscrow.
var ErrNotDevnet = errors.New("tron: not a bttspeed devnet")

// FindDevnetEscrow finds the escrow of a bttspeed devnet (tron/devnet,
// `go run ./examples/devnet`): the first contract deployed from the
// embedded BttSpeedEscrow creation code in the chain's first
// DevnetEscrowBlocks blocks that Escrow.Domain proves genuine (see
// ErrNotGenuineEscrow; a contract's name proves nothing). It refuses with
// ErrNotDevnet on a chain whose id is not DevnetChainID.
func FindDevnetEscrow(ctx context.Context, c *Client, opts ...EscrowOption) (*Escrow, error) {
	id, err := c.ChainID(ctx)
	if err != nil {
		return nil, fmt.Errorf("tron: find the devnet's escrow: %w", err)
	}
	if id != DevnetChainID {
		return nil, fmt.Errorf("%w: chain id %#x, a devnet's is %#x; give the escrow's address instead", ErrNotDevnet, id, uint64(DevnetChainID))
	}
	code := contracts.EscrowBytecode()
	var refused []error
	for n := int64(1); n <= DevnetEscrowBlocks; n++ {
		var blk *api.BlockExtention
		err := c.rpc(ctx, fmt.Sprintf("read block %d", n), func(ctx context.Context) error {
			var err error
			blk, err = c.sdk.GetBlockByNumCtx(ctx, n)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("tron: find the devnet's escrow: %w", err)
		}
		if blk.GetBlockHeader() == nil && len(blk.GetTransactions()) == 0 {
			break // past the head
		}
		for _, te := range blk.GetTransactions() {
			addr, ok := deployedFrom(te.GetTransaction(), code)
			if !ok {
				continue
			}
			e, err := NewEscrow(c, addr, opts...)
			if err != nil {
				return nil, err
			}
			if _, err := e.Domain(ctx); err != nil {
				if errors.Is(err, ErrNotGenuineEscrow) || errors.Is(err, ErrChallengePeriod) {
					refused = append(refused, err)
					continue
				}
				return nil, fmt.Errorf("tron: find the devnet's escrow: %w", err)
			}
			return e, nil
		}
	}
	return nil, fmt.Errorf("tron: no genuine BttSpeedEscrow deployed in the first %d blocks of chain %#x; give the escrow's address (%w)",
		DevnetEscrowBlocks, id, errors.Join(append([]error{ErrNotGenuineEscrow}, refused...)...))
}

// deployedFrom is the address of the contract tx deploys when it is one
// deployment of creation code followed by constructor arguments.
func deployedFrom(tx *core.Transaction, code []byte) (btt.Address, bool) {
	cs := tx.GetRawData().GetContract()
	if len(cs) != 1 || cs[0].GetType() != core.Transaction_Contract_CreateSmartContract {
		return btt.Address{}, false
	}
	var create core.CreateSmartContract
	if err := cs[0].GetParameter().UnmarshalTo(&create); err != nil || !bytes.HasPrefix(create.GetNewContract().GetBytecode(), code) {
		return btt.Address{}, false
	}
	owner, err := btt.AddressFromBytes(create.GetOwnerAddress())
	if err != nil {
		return btt.Address{}, false
	}
	id, err := TxIDOf(tx)
	if err != nil {
		return btt.Address{}, false
	}
	return ContractAddress(id, owner), true
}
