package bttc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/internal/evmescrow"
	"github.com/bttspeed/bttspeed/paychan"
)

// maxPendingBytes bounds a pending record read back from a journal.
const maxPendingBytes = 1 << 20

// pendingJSON is a pendingTx as kept in a paychan.TxJournal.
type pendingJSON struct {
	// To is the called contract; nil for a deployment.
	To   *btt.Address `json:"to"`
	Data []byte       `json:"data"`
	// Tx is the signed transaction, in its binary (EIP-2718) encoding.
	Tx []byte `json:"tx"`
}

// journalKey names this escrow's account's record in a journal.
func (e *Escrow) journalKey() string {
	return "bttc/" + common.Address(e.addr.EVM()).Hex() + "/" + e.c.addr.Hex()
}

// KeepTxsIn implements paychan.TxKeeper: from now on the transaction in
// flight is written to j after it is signed and before it is sent, and
// removed once its outcome is known. One left there by an earlier process
// is taken up: the next call settles it before anything else is signed.
func (e *Escrow) KeepTxsIn(_ context.Context, j paychan.TxJournal) error {
	if j == nil {
		return fmt.Errorf("bttc: keep transactions: %w: nil journal", ErrInvalidArgument)
	}
	b, err := j.PendingTx(e.journalKey())
	if err != nil {
		return fmt.Errorf("bttc: read the pending transaction: %w", err)
	}
	var p *pendingTx
	if b != nil {
		if p, err = decodePending(b, e.c.addr); err != nil {
			return fmt.Errorf("bttc: the pending transaction of %s: %w", e.journalKey(), err)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.journal = j
	if e.pending == nil {
		e.pending = p
	}
	return nil
}

func encodePending(p *pendingTx) ([]byte, error) {
	raw, err := p.tx.tx.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return json.Marshal(pendingJSON{To: p.to, Data: p.data, Tx: raw})
}

// decodePending reads a journal's record back: a transaction signed by
// from, calling To with Data.
func decodePending(b []byte, from common.Address) (*pendingTx, error) {
	if len(b) > maxPendingBytes {
		return nil, fmt.Errorf("%w: pending record of %d bytes", ErrBadResponse, len(b))
	}
	var j pendingJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("pending record: %w", err)
	}
	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(j.Tx); err != nil {
		return nil, fmt.Errorf("pending record's transaction: %w", err)
	}
	sender, err := types.Sender(types.LatestSignerForChainID(tx.ChainId()), tx)
	if err != nil || sender != from {
		return nil, fmt.Errorf("pending record's transaction is not signed by %s", from.Hex())
	}
	to := tx.To()
	if (to == nil) != (j.To == nil) || (to != nil && *to != common.Address(j.To.EVM())) || !bytes.Equal(tx.Data(), j.Data) {
		return nil, fmt.Errorf("pending record: the transaction is not the call recorded")
	}
	return &pendingTx{to: j.To, data: j.Data, tx: &Tx{Hash: tx.Hash(), Nonce: tx.Nonce(), Gas: tx.Gas(), MaxFeePerGas: tx.GasFeeCap(), tx: tx}}, nil
}

// keepPending makes p the transaction in flight, in memory and, with a
// journal, on disk — before it is sent. nil clears it.
func (e *Escrow) keepPending(p *pendingTx) error {
	e.mu.Lock()
	j := e.journal
	e.mu.Unlock()
	return evmescrow.KeepPending(j, e.journalKey(), p, encodePending, e.setPending)
}

// remember keeps the outcome of a settled call that nobody has asked for
// again (a retry of it gets it instead of signing a second transaction).
func (e *Escrow) remember(p *pendingTx, r *Receipt, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.done.Remember(evmescrow.Call{To: p.to, Data: p.data}, r, err)
}

// recall returns, and forgets, the remembered outcome of a call of to with
// data.
func (e *Escrow) recall(to *btt.Address, data []byte) (evmescrow.Outcome[*Receipt], bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.done.Recall(evmescrow.Call{To: to, Data: data})
}

// owed reports whether a call of to with data was sent before and its
// outcome is still to be given: the transaction in flight, or a
// remembered one. Such a call must not pay for anything again first
// (Open's approve).
func (e *Escrow) owed(to *btt.Address, data []byte) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	call := evmescrow.Call{To: to, Data: data}
	return (e.pending != nil && evmescrow.Call{To: e.pending.to, Data: e.pending.data}.Same(call)) || e.done.Has(call)
}
