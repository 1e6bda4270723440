package tron

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// Finality says when a transaction's receipt counts, and which state the
// client's constant calls read.
//
// A TRON block is final once it is solidified: two thirds of the 27 super
// representatives built on it, about 19 blocks (under a minute) after it
// was produced. Until then a fork can drop it, and with it the
// transaction; a receipt read from it, and a channel read from its state,
// may be undone.
type Finality int

const (
	// FinalitySolid (the default): Confirm and WaitReceipt return a
	// receipt only once the solidity API (java-tron's WalletSolidity
	// service, Config.SolidityAddr) has it, that is once its block is
	// solidified; Call (and every read built on it: Escrow.Channel,
	// BalanceOf, CheckVoucher ...) runs on the solidified state. What a
	// caller records from a receipt or a read — a redemption as
	// Redeemed, an open — cannot be undone by a fork.
	FinalitySolid Finality = iota
	// FinalityHead: a receipt counts once its transaction is in a block
	// of the node's head chain, and reads run on the head block: a
	// second or two sooner, but a fork may undo what was recorded. For
	// tests, and for callers that check again later.
	FinalityHead
)

// String names the finality.
func (f Finality) String() string {
	switch f {
	case FinalitySolid:
		return "solid"
	case FinalityHead:
		return "head"
	}
	return fmt.Sprintf("Finality(%d)", int(f))
}

// DefaultSolidTimeout is how long Confirm waits, by default, for a
// transaction in a block to solidify (mainnet takes about 57 s).
const DefaultSolidTimeout = 3 * time.Minute

// SolidHead returns the number and time of the latest solidified block,
// as the solidity API says (with FinalityHead, the head block's).
func (c *Client) SolidHead(ctx context.Context) (int64, time.Time, error) {
	if c.solid == nil {
		return c.head(ctx)
	}
	var blk *api.BlockExtention
	err := c.rpc(ctx, "read the latest solidified block", func(ctx context.Context) error {
		var err error
		blk, err = c.solid.GetNowBlock2(c.withAPIKey(ctx), &api.EmptyMessage{})
		return err
	})
	if err != nil {
		return 0, time.Time{}, err
	}
	raw := blk.GetBlockHeader().GetRawData()
	if raw == nil {
		return 0, time.Time{}, fmt.Errorf("%w: latest solidified block without a header", ErrBadResponse)
	}
	return raw.GetNumber(), time.UnixMilli(raw.GetTimestamp()).UTC(), nil
}

// head returns the head block's number and time.
func (c *Client) head(ctx context.Context) (int64, time.Time, error) {
	var blk *api.BlockExtention
	err := c.rpc(ctx, "read the latest block", func(ctx context.Context) error {
		var err error
		blk, err = c.sdk.GetNowBlockCtx(ctx)
		return err
	})
	if err != nil {
		return 0, time.Time{}, err
	}
	raw := blk.GetBlockHeader().GetRawData()
	if raw == nil {
		return 0, time.Time{}, fmt.Errorf("%w: latest block without a header", ErrBadResponse)
	}
	return raw.GetNumber(), time.UnixMilli(raw.GetTimestamp()).UTC(), nil
}

// checkSolidity is Dial's check that the solidity API answers: a node
// that does not serve it (a java-tron full node's main port serves the
// Wallet service only) gets a clear error instead of receipts that never
// come.
func (c *Client) checkSolidity(ctx context.Context) error {
	_, _, err := c.SolidHead(ctx)
	if isUnimplemented(err) {
		return fmt.Errorf("tron: %s does not serve the solidity API (WalletSolidity): set Config.SolidityAddr to the node's solidity gRPC port (java-tron: 50061), or Config.Finality to FinalityHead to accept receipts before their blocks are final: %w", c.solidAddr(), err)
	}
	return err
}

// isUnimplemented reports whether any error in err's chain is a gRPC
// Unimplemented status.
func isUnimplemented(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if s, ok := status.FromError(e); ok && s.Code() == codes.Unimplemented {
			return true
		}
	}
	return false
}

func (c *Client) solidAddr() string {
	if c.cfg.SolidityAddr != "" {
		return c.cfg.SolidityAddr
	}
	return c.cfg.Addr
}

// solidReceipt reads a receipt from the solidity API once: nil and no
// error when its block is not solidified (or it is in none).
func (c *Client) solidReceipt(ctx context.Context, id TxID) (*Receipt, error) {
	rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	info, err := c.solid.GetTransactionInfoById(c.withAPIKey(rctx), &api.BytesMessage{Value: id[:]})
	if err != nil {
		return nil, unavailable(ctx, "read the solidified receipt of "+id.String(), err)
	}
	if len(info.GetId()) == 0 {
		return nil, nil // java-tron answers an empty info for a transaction it does not have
	}
	return c.receipt(id, info)
}

// waitSolid waits for the receipt of a transaction seen in a block of the
// head chain to be solidified. It polls the solidity API; while it has
// not got it, it checks that the head chain still has the transaction: one
// that left it (its block dropped by a fork) gives an error wrapping
// ErrDropped, to be rebroadcast or, expired, signed anew. No solidified
// receipt within Config.SolidTimeout gives an error wrapping
// ErrReceiptTimeout: the outcome is still unknown.
func (c *Client) waitSolid(ctx context.Context, id TxID) (*Receipt, error) {
	deadline := time.Now().Add(c.cfg.SolidTimeout)
	var lastErr error
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("tron: wait for %s to solidify: %w", id, ctx.Err())
		case <-t.C:
		}
		r, err := c.solidReceipt(ctx, id)
		if r != nil {
			return r, err
		}
		if err != nil && !errors.Is(err, paychan.ErrChainUnavailable) {
			return nil, err
		}
		lastErr = err
		if err == nil {
			hr, herr := c.lookupHead(ctx, id)
			switch {
			case hr == nil && herr == nil:
				return nil, fmt.Errorf("%w: %s is no longer in a block of the node's chain", ErrDropped, id)
			case herr != nil && errors.Is(herr, paychan.ErrChainUnavailable):
				lastErr = herr
			}
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("tron: wait for %s to solidify: %w", id, ctx.Err())
		}
		if !time.Now().Before(deadline) {
			if lastErr != nil {
				return nil, fmt.Errorf("%w: %s in a block but not solidified after %s: %w", ErrReceiptTimeout, id, c.cfg.SolidTimeout, lastErr)
			}
			return nil, fmt.Errorf("%w: %s in a block but not solidified after %s", ErrReceiptTimeout, id, c.cfg.SolidTimeout)
		}
		t.Reset(min(c.cfg.PollInterval, time.Until(deadline)))
	}
}

// final turns a receipt from the head chain into one that counts under
// the client's finality: itself with FinalityHead, the solidified one with
// FinalitySolid.
func (c *Client) final(ctx context.Context, id TxID, r *Receipt, err error) (*Receipt, error) {
	if r == nil || c.solid == nil {
		return r, err
	}
	return c.waitSolid(ctx, id)
}

// solidCall runs a constant call on the solidified state.
func (c *Client) solidCall(ctx context.Context, from, contract btt.Address, data []byte) ([]byte, error) {
	if contract.IsZero() {
		return nil, fmt.Errorf("tron: call: %w: zero contract address", btt.ErrBadAddress)
	}
	in := &core.TriggerSmartContract{ContractAddress: contract[:], Data: data}
	if !from.IsZero() {
		in.OwnerAddress = from[:]
	}
	var ext *api.TransactionExtention
	err := c.rpc(ctx, "call "+contract.String()+" on the solidified state", func(ctx context.Context) error {
		var err error
		ext, err = c.solid.TriggerConstantContract(c.withAPIKey(ctx), in)
		return err
	})
	if err != nil {
		return nil, err
	}
	if ext == nil {
		return nil, fmt.Errorf("%w: empty answer to a call of %s", ErrBadResponse, contract)
	}
	out, err := constantResult(ext)
	if err != nil {
		return nil, fmt.Errorf("tron: call %s: %w", contract, err)
	}
	return out, nil
}
