package bttc

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/bttspeed/bttspeed/btt"
)

// Tx is a signed transaction.
type Tx struct {
	Hash  common.Hash
	Nonce uint64
	// Gas is its gas limit; MaxFeePerGas what it offers per gas at most.
	Gas          uint64
	MaxFeePerGas *big.Int
	tx           *types.Transaction
}

// Transaction returns the signed transaction.
func (t *Tx) Transaction() *types.Transaction { return t.tx }

// Receipt is a mined transaction with its confirmations.
type Receipt struct {
	TxHash      common.Hash
	BlockNumber uint64
	BlockHash   common.Hash
	// GasUsed is the gas the transaction used; EffectiveGasPrice what it
	// paid per gas (wei).
	GasUsed           uint64
	EffectiveGasPrice *big.Int
	// ContractAddress is the contract a deployment created.
	ContractAddress common.Address
	Logs            []*types.Log
	// Failed: the transaction reverted (or ran out of gas); its state
	// changes are undone.
	Failed bool
}

// SignCall simulates a call of contract (nil: a deployment) from the
// client's account, estimates its gas and fees, and signs it with the
// account's next nonce. Nothing is sent: a call that would revert gives
// its *RevertError, fees above the cap ErrFeeCap.
func (c *Client) SignCall(ctx context.Context, contract *btt.Address, data []byte) (*Tx, error) {
	return c.signTx(ctx, contract, nil, data)
}

// signTx is SignCall with value wei of native BTT sent along.
func (c *Client) signTx(ctx context.Context, contract *btt.Address, value *big.Int, data []byte) (*Tx, error) {
	if c.key == nil {
		return nil, ErrNoSigner
	}
	chainID, err := c.ChainID(ctx)
	if err != nil {
		return nil, err
	}
	msg := ethereum.CallMsg{From: c.addr, Data: data, Value: value}
	if contract != nil {
		to := common.Address(contract.EVM())
		msg.To = &to
	}
	// eth_call first: a revert gives its reason (estimateGas's error may
	// not carry it).
	if msg.To != nil {
		if _, err := c.call(ctx, msg, nil); err != nil {
			return nil, err
		}
	}
	var gas uint64
	var rev *RevertError
	err = c.rpc(ctx, "estimate gas", func(ctx context.Context) error {
		var err error
		gas, err = c.b.EstimateGas(ctx, msg)
		if r, ok := revertOf(err); ok {
			rev = r
			return nil
		}
		return err
	})
	if err != nil {
		if insufficientFunds(err.Error()) {
			return nil, fmt.Errorf("%w: %s cannot pay for the gas: %v", ErrInsufficientBTT, c.addr.Hex(), err)
		}
		return nil, err
	}
	if rev != nil {
		return nil, rev
	}
	gas += gas * c.cfg.GasMargin / 100
	tip, maxFee, err := c.fees(ctx)
	if err != nil {
		return nil, err
	}
	var nonce uint64
	err = c.rpc(ctx, "read the account's nonce", func(ctx context.Context) error {
		var err error
		nonce, err = c.b.PendingNonceAt(ctx, c.addr)
		return err
	})
	if err != nil {
		return nil, err
	}
	id := new(big.Int).SetUint64(chainID)
	signed, err := types.SignNewTx(c.key, types.LatestSignerForChainID(id), &types.DynamicFeeTx{
		ChainID: id, Nonce: nonce, GasTipCap: tip, GasFeeCap: maxFee, Gas: gas, To: msg.To, Value: value, Data: data,
	})
	if err != nil {
		return nil, fmt.Errorf("bttc: sign: %w", err)
	}
	return &Tx{Hash: signed.Hash(), Nonce: nonce, Gas: gas, MaxFeePerGas: maxFee, tx: signed}, nil
}

// fees returns the tip and the fee cap of a transaction sent now: the
// node's suggested tip (at most MaxTip), and twice the latest base fee
// plus the tip, held to MaxFeePerGas. A base fee and tip above
// MaxFeePerGas give ErrFeeCap.
func (c *Client) fees(ctx context.Context) (tip, maxFee *big.Int, err error) {
	h, err := c.head(ctx)
	if err != nil {
		return nil, nil, err
	}
	err = c.rpc(ctx, "suggest a tip", func(ctx context.Context) error {
		var err error
		tip, err = c.b.SuggestGasTipCap(ctx)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if c.cfg.MaxTip != nil && tip.Cmp(c.cfg.MaxTip) > 0 {
		tip = new(big.Int).Set(c.cfg.MaxTip)
	}
	base := h.BaseFee
	if base == nil {
		base = new(big.Int) // a chain before London: the tip is the price
	}
	need := new(big.Int).Add(base, tip)
	if need.Cmp(c.cfg.MaxFeePerGas) > 0 {
		return nil, nil, fmt.Errorf("%w: the base fee %s wei and the tip %s wei per gas exceed MaxFeePerGas %s wei; wait, or raise the cap",
			ErrFeeCap, base, tip, c.cfg.MaxFeePerGas)
	}
	maxFee = new(big.Int).Add(new(big.Int).Mul(base, big.NewInt(2)), tip)
	if maxFee.Cmp(c.cfg.MaxFeePerGas) > 0 {
		maxFee = new(big.Int).Set(c.cfg.MaxFeePerGas)
	}
	return tip, maxFee, nil
}

// Send sends a signed transaction (again: sending the same bytes twice is
// harmless). nil means the node has it, or had it (its nonce is used: a
// receipt or ErrTxReplaced will tell). A refusal proving it was not taken
// is a *TxRejectedError; any other failure — the node unreachable, ctx
// ended in flight — a *TxError: the node may have it.
func (c *Client) Send(ctx context.Context, tx *Tx) error {
	var refused *TxRejectedError
	err := c.rpc(ctx, "send transaction "+tx.Hash.Hex(), func(ctx context.Context) error {
		err := c.b.SendTransaction(ctx, tx.tx)
		if err == nil || isTransient(err) {
			return err
		}
		msg := strings.ToLower(err.Error())
		switch {
		case strings.Contains(msg, "already known"), strings.Contains(msg, "nonce too low"),
			strings.Contains(msg, "already imported"):
			return nil // it, or another of its nonce, is in the pool or a block
		case strings.Contains(msg, "replacement transaction underpriced"):
			// Another transaction of this nonce is pending: which one is
			// mined is not known yet.
			return err
		}
		refused = &TxRejectedError{Hash: tx.Hash.Hex(), Msg: err.Error()}
		return nil
	})
	if refused != nil {
		return refused
	}
	if err != nil {
		return &TxError{Tx: tx, Err: err}
	}
	return nil
}

// Confirm waits for tx's receipt and its confirmations, sending tx again
// now and then while there is none. A receipt of a failed transaction
// comes with its error (the revert replayed, or ErrOutOfGas). Without a
// receipt: ErrTxReplaced if the account's nonce moved past tx (it never
// will be mined), else a *TxError (ErrReceiptTimeout, or ctx's end) — the
// outcome unknown.
func (c *Client) Confirm(ctx context.Context, tx *Tx) (*Receipt, error) {
	deadline := time.Now().Add(c.cfg.ReceiptTimeout)
	resend := time.Now().Add(c.cfg.ReceiptTimeout / 4)
	var last error
	for {
		r, err := c.receiptConfirmed(ctx, tx)
		switch {
		case err == nil && r != nil:
			return r, c.failure(ctx, tx, r)
		case errors.Is(err, ErrTxReplaced):
			return nil, err
		case err != nil:
			last = err
		}
		if time.Now().After(deadline) {
			if last == nil {
				last = ErrReceiptTimeout
			} else {
				last = fmt.Errorf("%w (last: %v)", ErrReceiptTimeout, last)
			}
			return nil, &TxError{Tx: tx, Err: last}
		}
		if time.Now().After(resend) {
			_ = c.Send(ctx, tx) // the node may have dropped it
			resend = time.Now().Add(c.cfg.ReceiptTimeout / 4)
		}
		t := time.NewTimer(c.cfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, &TxError{Tx: tx, Err: ctx.Err()}
		case <-t.C:
		}
	}
}

// receiptConfirmed returns tx's receipt once it has its confirmations and
// is still in the canonical chain, nil if not yet, or ErrTxReplaced.
func (c *Client) receiptConfirmed(ctx context.Context, tx *Tx) (*Receipt, error) {
	r, err := c.receipt(ctx, tx.Hash)
	if err != nil {
		return nil, err
	}
	if r == nil {
		// Replaced only if the account's nonce moved past tx's in a block
		// as deep as a receipt must be: a replacement a reorg can still
		// undo, or a receipt the node has not indexed yet, is no proof.
		var head uint64
		err := c.rpc(ctx, "read the block number", func(ctx context.Context) error {
			var err error
			head, err = c.b.BlockNumber(ctx)
			return err
		})
		if err != nil {
			return nil, err
		}
		if head+1 < c.cfg.Confirmations {
			return nil, nil
		}
		at := new(big.Int).SetUint64(head + 1 - c.cfg.Confirmations)
		var n uint64
		err = c.rpc(ctx, "read the account's nonce", func(ctx context.Context) error {
			var err error
			n, err = c.b.NonceAt(ctx, c.addr, at)
			return err
		})
		if err != nil {
			return nil, err
		}
		if n <= tx.Nonce {
			return nil, nil
		}
		// The nonce is used: by tx (its receipt raced this look-up) or by
		// another.
		if r, err = c.receipt(ctx, tx.Hash); err != nil || r != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s (nonce %d; the account is at %d in block %s)", ErrTxReplaced, tx.Hash.Hex(), tx.Nonce, n, at)
	}
	var head uint64
	err = c.rpc(ctx, "read the block number", func(ctx context.Context) error {
		var err error
		head, err = c.b.BlockNumber(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	if head+1 < r.BlockNumber+c.cfg.Confirmations {
		return nil, nil
	}
	// Still there, in the same block, once confirmed (no reorg took it).
	again, err := c.receipt(ctx, tx.Hash)
	if err != nil || again == nil || again.BlockHash != r.BlockHash {
		return nil, err
	}
	return again, nil
}

// receipt reads a receipt; nil if the node has none.
func (c *Client) receipt(ctx context.Context, hash common.Hash) (*Receipt, error) {
	var r *types.Receipt
	err := c.rpc(ctx, "read the receipt of "+hash.Hex(), func(ctx context.Context) error {
		var err error
		r, err = c.b.TransactionReceipt(ctx, hash)
		if errors.Is(err, ethereum.NotFound) {
			r, err = nil, nil
		}
		return err
	})
	if err != nil || r == nil {
		return nil, err
	}
	if r.TxHash != hash || r.BlockNumber == nil {
		return nil, fmt.Errorf("%w: asked for the receipt of %s, got %s", ErrBadResponse, hash.Hex(), r.TxHash.Hex())
	}
	return &Receipt{
		TxHash: r.TxHash, BlockNumber: r.BlockNumber.Uint64(), BlockHash: r.BlockHash, GasUsed: r.GasUsed,
		EffectiveGasPrice: r.EffectiveGasPrice, ContractAddress: r.ContractAddress, Logs: r.Logs,
		Failed: r.Status != types.ReceiptStatusSuccessful,
	}, nil
}

// failure is nil for a successful receipt; for a failed one it replays the
// call at the block before to find the revert reason.
func (c *Client) failure(ctx context.Context, tx *Tx, r *Receipt) error {
	if !r.Failed {
		return nil
	}
	if r.GasUsed >= tx.Gas {
		return fmt.Errorf("%w: transaction %s used all its %d gas", ErrOutOfGas, tx.Hash.Hex(), tx.Gas)
	}
	msg := ethereum.CallMsg{From: c.addr, To: tx.tx.To(), Data: tx.tx.Data(), Gas: tx.Gas, Value: tx.tx.Value()}
	block := new(big.Int).SetUint64(r.BlockNumber - 1)
	if _, err := c.call(ctx, msg, block); err != nil {
		var rev *RevertError
		if errors.As(err, &rev) {
			rev.TxHash = tx.Hash.Hex()
			return rev
		}
	}
	return fmt.Errorf("%w: transaction %s in block %d", ErrTxFailed, tx.Hash.Hex(), r.BlockNumber)
}

// Transact signs, sends and confirms one call of contract (nil: a
// deployment). Outside an Escrow, a *TxError leaves the caller to settle
// the transaction (Send, Confirm) before signing another.
func (c *Client) Transact(ctx context.Context, contract *btt.Address, data []byte) (*Receipt, error) {
	tx, err := c.SignCall(ctx, contract, data)
	if err != nil {
		return nil, err
	}
	if err := c.Send(ctx, tx); err != nil {
		return nil, err
	}
	return c.Confirm(ctx, tx)
}

// TransferBTT sends wei of native BTT to to and waits for the receipt.
func (c *Client) TransferBTT(ctx context.Context, to btt.Address, wei *big.Int) (*Receipt, error) {
	if wei == nil || wei.Sign() <= 0 {
		return nil, fmt.Errorf("bttc: transfer: %w: amount %v", ErrInvalidArgument, wei)
	}
	tx, err := c.signTx(ctx, &to, wei, nil)
	if err != nil {
		return nil, fmt.Errorf("bttc: transfer %s wei to %s: %w", wei, to, err)
	}
	if err := c.Send(ctx, tx); err != nil {
		return nil, fmt.Errorf("bttc: transfer %s wei to %s: %w", wei, to, err)
	}
	return c.Confirm(ctx, tx)
}
