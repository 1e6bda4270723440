package tron

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/grpc/status"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// Log is one event a contract emitted.
type Log struct {
	Address btt.Address
	Topics  [][32]byte
	Data    []byte
}

// Receipt is a transaction's result once it is in a block.
type Receipt struct {
	TxID        TxID
	BlockNumber int64
	BlockTime   time.Time
	// Fee is what the transaction burnt, in sun; EnergyUsed the energy it
	// used in all, NetUsage the bandwidth.
	Fee, EnergyUsed, NetUsage int64
	// ContractAddress is the deployed contract (Deploy) or the called one.
	ContractAddress btt.Address
	// Result is what the call returned.
	Result []byte
	Logs   []Log
}

// WaitReceipt polls for the receipt of transaction id until it is in a
// block, Config.ReceiptTimeout passes (ErrReceiptTimeout), or ctx ends;
// with FinalitySolid it then waits, up to Config.SolidTimeout, for the
// block to solidify and returns the solidity API's receipt (a transaction
// whose block is dropped meanwhile gives an error wrapping ErrDropped).
// A transaction that failed gives its receipt and a *RevertError (with the
// decoded reason), an *OutOfEnergyError or an error wrapping ErrTxFailed.
func (c *Client) WaitReceipt(ctx context.Context, id TxID) (*Receipt, error) {
	r, err := c.waitHead(ctx, id)
	return c.final(ctx, id, r, err)
}

// waitHead polls for the receipt of transaction id until it is in a block
// of the node's head chain, Config.ReceiptTimeout passes or ctx ends.
func (c *Client) waitHead(ctx context.Context, id TxID) (*Receipt, error) {
	deadline := time.Now().Add(c.cfg.ReceiptTimeout)
	var lastErr error
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("tron: wait for %s: %w", id, ctx.Err())
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
		info, err := c.sdk.GetTransactionInfoByIDCtx(rctx, id.String())
		cancel()
		switch {
		case err == nil:
			return c.receipt(id, info)
		case ctx.Err() != nil:
			return nil, fmt.Errorf("tron: wait for %s: %w", id, ctx.Err())
		default:
			if _, isRPC := status.FromError(err); isRPC {
				lastErr = unavailable(ctx, "read receipt of "+id.String(), err)
				if !errors.Is(lastErr, paychan.ErrChainUnavailable) {
					return nil, lastErr
				}
			} else {
				lastErr = nil // not in a block yet
			}
		}
		if !time.Now().Before(deadline) {
			if lastErr != nil {
				return nil, fmt.Errorf("%w for %s after %s: %w", ErrReceiptTimeout, id, c.cfg.ReceiptTimeout, lastErr)
			}
			return nil, fmt.Errorf("%w: %s not in a block after %s", ErrReceiptTimeout, id, c.cfg.ReceiptTimeout)
		}
		t.Reset(min(c.cfg.PollInterval, time.Until(deadline)))
	}
}

// receipt converts a transaction info and reports a failure.
func (c *Client) receipt(id TxID, info *core.TransactionInfo) (*Receipt, error) {
	r := &Receipt{
		TxID:        id,
		BlockNumber: info.GetBlockNumber(),
		BlockTime:   time.UnixMilli(info.GetBlockTimeStamp()).UTC(),
		Fee:         info.GetFee(),
		EnergyUsed:  info.GetReceipt().GetEnergyUsageTotal(),
		NetUsage:    info.GetReceipt().GetNetUsage(),
	}
	if len(info.GetContractAddress()) > 0 {
		a, err := addressFromWire(info.GetContractAddress())
		if err != nil {
			return nil, fmt.Errorf("%w: receipt of %s: %v", ErrBadResponse, id, err)
		}
		r.ContractAddress = a
	}
	if len(info.GetContractResult()) > 0 {
		r.Result = info.GetContractResult()[0]
	}
	for _, l := range info.GetLog() {
		a, err := addressFromWire(l.GetAddress())
		if err != nil {
			return nil, fmt.Errorf("%w: log in receipt of %s: %v", ErrBadResponse, id, err)
		}
		lg := Log{Address: a, Data: l.GetData()}
		for _, t := range l.GetTopics() {
			if len(t) != 32 {
				return nil, fmt.Errorf("%w: log topic of %d bytes in receipt of %s", ErrBadResponse, len(t), id)
			}
			lg.Topics = append(lg.Topics, [32]byte(t))
		}
		r.Logs = append(r.Logs, lg)
	}
	cr := info.GetReceipt().GetResult()
	if info.GetResult() == core.TransactionInfo_SUCESS && (cr == core.Transaction_Result_DEFAULT || cr == core.Transaction_Result_SUCCESS) {
		return r, nil
	}
	msg := string(info.GetResMessage())
	switch cr {
	case core.Transaction_Result_REVERT:
		return r, &RevertError{Reason: revertReason(r.Result, msg), TxID: id.String()}
	case core.Transaction_Result_OUT_OF_ENERGY:
		return r, &OutOfEnergyError{TxID: id.String(), FeeLimit: c.cfg.FeeLimit, EnergyUsed: r.EnergyUsed, Fee: r.Fee}
	}
	if reason := revertReason(r.Result, ""); reason != "" {
		return r, &RevertError{Reason: reason, TxID: id.String()}
	}
	return r, fmt.Errorf("%w: %s: %s: %s (fee %s)", ErrTxFailed, id, cr, msg, formatSun(r.Fee))
}

// Confirm waits for tx's receipt (with FinalitySolid, the solidified
// one: see WaitReceipt); when none comes in ReceiptTimeout, or its block
// is dropped before it solidifies, it rebroadcasts the same signed
// transaction (up to Config.Rebroadcasts times) while it has not expired. A transaction whose outcome is still
// unknown gives a *TxError — ctx ending, the node failing, a receipt that
// does not read; one that expired unincluded an error wrapping
// ErrTxExpired, given only once the chain says it is not in a block.
func (c *Client) Confirm(ctx context.Context, tx *Tx) (*Receipt, error) {
	for i := 0; ; i++ {
		r, err := c.waitHead(ctx, tx.ID)
		if r != nil {
			// In a block: with FinalitySolid, wait for it to solidify.
			// A block dropped meanwhile is as if no receipt came.
			r, err = c.final(ctx, tx.ID, r, err)
			if r != nil {
				return r, err
			}
			if !errors.Is(err, ErrDropped) {
				return nil, &TxError{Tx: tx, Err: err}
			}
		} else if !errors.Is(err, ErrReceiptTimeout) {
			return nil, &TxError{Tx: tx, Err: err}
		}
		if now, nerr := c.Now(ctx); nerr == nil && now.After(tx.Expiration) {
			// One last look: it may have made it into the last block.
			// Only a node that answers "not there" proves it expired.
			r, err2 := c.lookup(ctx, tx.ID)
			if r != nil {
				return r, err2
			}
			if err2 != nil {
				return nil, &TxError{Tx: tx, Err: fmt.Errorf("%w (past its expiration, the last look for its receipt failed)", err2)}
			}
			return nil, fmt.Errorf("%w: %s expired at %s (chain time %s); it is safe to send again", ErrTxExpired, tx.ID, tx.Expiration.Format(time.RFC3339), now.Format(time.RFC3339))
		}
		if i >= c.cfg.Rebroadcasts {
			return nil, &TxError{Tx: tx, Err: err}
		}
		if berr := c.broadcast(ctx, tx); berr != nil {
			if errors.Is(berr, ErrTxExpired) {
				// java-tron checks the expiration before the
				// duplicate: an included transaction rebroadcast
				// past it is answered "expired". Only a look that
				// finds no receipt proves it.
				r, lerr := c.lookup(ctx, tx.ID)
				if r != nil {
					return r, lerr
				}
				if lerr != nil {
					return nil, &TxError{Tx: tx, Err: fmt.Errorf("%w (answered expired; the look for its receipt failed)", lerr)}
				}
				return nil, berr
			}
			var te *TxError
			if errors.As(berr, &te) {
				return nil, berr
			}
			// A refusal of the same bytes the node accepted before
			// proves nothing about the first broadcast.
			return nil, &TxError{Tx: tx, Err: fmt.Errorf("tron: rebroadcast %s: %w", tx.ID, berr)}
		}
	}
}

// lookup reads a receipt once: nil and no error if the transaction is not
// in a block; a receipt and its failure if it is — with FinalitySolid,
// once its block is solidified (it waits for that, as Confirm does; a
// transaction whose block is dropped meanwhile is in none).
func (c *Client) lookup(ctx context.Context, id TxID) (*Receipt, error) {
	r, err := c.lookupHead(ctx, id)
	if r == nil || c.solid == nil {
		return r, err
	}
	r, err = c.waitSolid(ctx, id)
	if errors.Is(err, ErrDropped) {
		return nil, nil
	}
	return r, err
}

// lookupHead reads a receipt once from the node's head chain.
func (c *Client) lookupHead(ctx context.Context, id TxID) (*Receipt, error) {
	rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	info, err := c.sdk.GetTransactionInfoByIDCtx(rctx, id.String())
	if err != nil {
		if _, isRPC := status.FromError(err); isRPC {
			return nil, unavailable(ctx, "read receipt of "+id.String(), err)
		}
		return nil, nil
	}
	return c.receipt(id, info)
}
