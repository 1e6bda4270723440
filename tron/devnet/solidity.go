package devnet

import (
	"context"
	"fmt"
	"maps"

	"github.com/ethereum/go-ethereum/core/state"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"

	"github.com/bttspeed/bttspeed/btt"
)

// MaxSolidLag bounds Config.SolidLag: a block keeps a copy of the state
// while it is not solidified.
const MaxSolidLag = 1000

// snapshot is the state as of a block: what a constant call on it reads,
// and what dropping the blocks after it restores. Accounts are copied (their
// bandwidth usage changes); contracts are never changed once created.
type snapshot struct {
	state     *state.StateDB
	accounts  map[btt.Address]*account
	contracts map[btt.Address]*core.SmartContract
}

func (c *chain) snapshot() *snapshot {
	accts := make(map[btt.Address]*account, len(c.accounts))
	for a, acct := range c.accounts {
		cp := *acct
		accts[a] = &cp
	}
	return &snapshot{state: c.state.Copy(), accounts: accts, contracts: maps.Clone(c.contracts)}
}

// beforeMine keeps the head's state, direct state changes since it was
// mined (FundTRX, MintTokens) included, before a block is mined on it,
// while blocks solidify with a lag.
func (c *chain) beforeMine() {
	if c.cfg.SolidLag > 0 {
		c.head().snap = c.snapshot()
	}
}

// afterMine moves the solidified block up to SolidLag behind the head and
// frees the states of the blocks below it.
func (c *chain) afterMine() {
	head := c.head().number()
	old := c.solid
	c.solid = max(c.solid, head-int64(c.cfg.SolidLag))
	for i := max(old, 0); i < c.solid; i++ {
		c.blocks[i].snap = nil
	}
}

// solidifyAll makes the head solid (the blocks Start mines).
func (c *chain) solidifyAll() {
	for _, b := range c.blocks {
		b.snap = nil
	}
	c.solid = c.head().number()
}

// atSolid runs f with the chain seen as of the solidified block: its
// state, and no block after it. With the head solid, that is the live
// state. The node's lock is held: nothing else sees the swap.
func (c *chain) atSolid(f func()) {
	if c.solid >= c.head().number() {
		f()
		return
	}
	b := c.blocks[c.solid]
	st, accts, cts, blocks := c.state, c.accounts, c.contracts, c.blocks
	defer func() { c.state, c.accounts, c.contracts, c.blocks = st, accts, cts, blocks }()
	// A constant call reverts what it changed; it leaves the snapshot as
	// it was.
	c.state, c.accounts, c.contracts, c.blocks = b.snap.state, b.snap.accounts, b.snap.contracts, c.blocks[:c.solid+1]
	f()
}

// SolidHead is the number of the latest solidified block: Config.SolidLag
// behind the head, never going back (DropBlocks cannot drop it).
func (n *Node) SolidHead() int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.chain.solid
}

// DropBlocks drops the last k blocks, as a fork that won without them
// would: their transactions leave the chain (unknown to
// GetTransactionById and GetTransactionInfoById; broadcasting the same
// signed transaction again works while it has not expired), the state
// goes back to the new head's — direct state changes made since included
// — and the clock goes on. Solidified blocks cannot be dropped: k must
// leave the solidified block the head or below it (with SolidLag 0 no
// block can be dropped).
func (n *Node) DropBlocks(k int) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.chain
	head := c.head().number()
	if k <= 0 || head-int64(k) < c.solid {
		return fmt.Errorf("devnet: drop %d blocks: the head is block %d and block %d is solidified: at most %d can be dropped", k, head, c.solid, head-c.solid)
	}
	keep := c.blocks[head-int64(k)]
	for _, b := range c.blocks[head-int64(k)+1:] {
		for _, id := range b.txids {
			delete(c.included, id)
		}
	}
	clear(c.blocks[head-int64(k)+1:])
	c.blocks = c.blocks[:head-int64(k)+1]
	c.state, c.accounts, c.contracts = keep.snap.state, keep.snap.accounts, keep.snap.contracts
	keep.snap = nil // the live state now; kept again before the next block
	return nil
}

// solidity implements the WalletSolidity RPCs the devnet supports: the
// chain as of the solidified block.
type solidity struct {
	api.UnimplementedWalletSolidityServer
	w *wallet
}

// solid runs f on the chain as of the solidified block, under the node's
// lock.
func solid[T any](s *solidity, f func(c *chain) T) (T, error) {
	return with(s.w, func(c *chain) T {
		var out T
		c.atSolid(func() { out = f(c) })
		return out
	})
}

// GetNowBlock2 implements api.WalletSolidityServer: the solidified block.
func (s *solidity) GetNowBlock2(context.Context, *api.EmptyMessage) (*api.BlockExtention, error) {
	return solid(s, func(c *chain) *api.BlockExtention { return blockExt(c.head()) })
}

// GetNowBlock implements api.WalletSolidityServer.
func (s *solidity) GetNowBlock(context.Context, *api.EmptyMessage) (*core.Block, error) {
	return solid(s, func(c *chain) *core.Block { return coreBlock(c.head()) })
}

// GetBlockByNum2 implements api.WalletSolidityServer: solidified blocks
// only.
func (s *solidity) GetBlockByNum2(_ context.Context, in *api.NumberMessage) (*api.BlockExtention, error) {
	return solid(s, func(c *chain) *api.BlockExtention {
		if b := c.blockAt(in.GetNum()); b != nil {
			return blockExt(b)
		}
		return &api.BlockExtention{}
	})
}

// GetBlockByNum implements api.WalletSolidityServer.
func (s *solidity) GetBlockByNum(_ context.Context, in *api.NumberMessage) (*core.Block, error) {
	return solid(s, func(c *chain) *core.Block {
		if b := c.blockAt(in.GetNum()); b != nil {
			return coreBlock(b)
		}
		return &core.Block{}
	})
}

// GetTransactionById implements api.WalletSolidityServer: a transaction
// in a solidified block, or empty.
func (s *solidity) GetTransactionById(_ context.Context, in *api.BytesMessage) (*core.Transaction, error) {
	return solid(s, func(c *chain) *core.Transaction {
		if b, i, ok := c.lookup(in.GetValue()); ok && b.number() <= c.solid {
			return b.txs[i]
		}
		return &core.Transaction{}
	})
}

// GetTransactionInfoById implements api.WalletSolidityServer: the receipt
// of a transaction in a solidified block, or an empty one.
func (s *solidity) GetTransactionInfoById(_ context.Context, in *api.BytesMessage) (*core.TransactionInfo, error) {
	return solid(s, func(c *chain) *core.TransactionInfo {
		if b, i, ok := c.lookup(in.GetValue()); ok && b.number() <= c.solid {
			return b.infos[i]
		}
		return &core.TransactionInfo{}
	})
}

// GetTransactionInfoByBlockNum implements api.WalletSolidityServer.
func (s *solidity) GetTransactionInfoByBlockNum(_ context.Context, in *api.NumberMessage) (*api.TransactionInfoList, error) {
	return solid(s, func(c *chain) *api.TransactionInfoList {
		out := &api.TransactionInfoList{}
		if b := c.blockAt(in.GetNum()); b != nil {
			out.TransactionInfo = b.infos
		}
		return out
	})
}

// GetAccount implements api.WalletSolidityServer: the account as of the
// solidified block.
func (s *solidity) GetAccount(_ context.Context, in *core.Account) (*core.Account, error) {
	var out *core.Account
	_, err := solid(s, func(c *chain) struct{} {
		out = c.accountMsg(in.GetAddress())
		return struct{}{}
	})
	return out, err
}

// TriggerConstantContract implements api.WalletSolidityServer: a constant
// call on the solidified state.
func (s *solidity) TriggerConstantContract(_ context.Context, in *core.TriggerSmartContract) (*api.TransactionExtention, error) {
	return solid(s, func(c *chain) *api.TransactionExtention { return c.constantExt(in) })
}
