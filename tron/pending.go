package tron

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/protobuf/proto"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

var _ paychan.TxKeeper = (*Escrow)(nil)

// maxDone bounds the settled receipts an Escrow keeps for calls that have
// not asked again (see Escrow.done).
const maxDone = 8

// maxPendingBytes bounds a pending record read back from a journal.
const maxPendingBytes = 1 << 20

// pendingJSON is a pendingTx as kept in a paychan.TxJournal.
type pendingJSON struct {
	To   btt.Address `json:"to"`
	Data []byte      `json:"data"`
	// Tx is the signed transaction, protobuf-encoded.
	Tx []byte `json:"tx"`
}

// journalKey names this escrow's account's record in a journal.
func (e *Escrow) journalKey() string {
	return "tron/" + e.addr.String() + "/" + e.c.Address().String()
}

// KeepTxsIn implements paychan.TxKeeper: from now on the transaction in
// flight is written to j after it is signed and before it is sent, and
// removed once its outcome is known. One left there by an earlier process
// is taken up: the next call settles it before anything else is signed,
// and a call with its arguments gets its outcome.
func (e *Escrow) KeepTxsIn(_ context.Context, j paychan.TxJournal) error {
	if j == nil {
		return fmt.Errorf("tron: keep transactions: %w: nil journal", ErrInvalidArgument)
	}
	b, err := j.PendingTx(e.journalKey())
	if err != nil {
		return fmt.Errorf("tron: read the pending transaction: %w", err)
	}
	var p *pendingTx
	if b != nil {
		if p, err = decodePending(b); err != nil {
			return fmt.Errorf("tron: the pending transaction of %s: %w", e.journalKey(), err)
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
	raw, err := proto.Marshal(p.tx.signed)
	if err != nil {
		return nil, err
	}
	return json.Marshal(pendingJSON{To: p.to, Data: p.data, Tx: raw})
}

// decodePending reads a journal's record back; the transaction's id is
// computed again from its bytes.
func decodePending(b []byte) (*pendingTx, error) {
	if len(b) > maxPendingBytes {
		return nil, fmt.Errorf("%w: pending record of %d bytes", ErrBadResponse, len(b))
	}
	var j pendingJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("pending record: %w", err)
	}
	signed := new(core.Transaction)
	if err := proto.Unmarshal(j.Tx, signed); err != nil {
		return nil, fmt.Errorf("pending record's transaction: %w", err)
	}
	if signed.GetRawData() == nil || len(signed.GetSignature()) == 0 {
		return nil, fmt.Errorf("pending record: no signed transaction")
	}
	id, err := TxIDOf(signed)
	if err != nil {
		return nil, err
	}
	raw := signed.GetRawData()
	tx := &Tx{ID: id, Expiration: time.UnixMilli(raw.GetExpiration()).UTC(), FeeLimit: raw.GetFeeLimit(), signed: signed}
	return &pendingTx{to: j.To, data: j.Data, tx: tx}, nil
}

// keepPending makes p the transaction in flight, in memory and, with a
// journal, on disk — before it is sent. nil clears it.
func (e *Escrow) keepPending(p *pendingTx) error {
	e.mu.Lock()
	j := e.journal
	e.mu.Unlock()
	if j != nil {
		var b []byte
		if p != nil {
			var err error
			if b, err = encodePending(p); err != nil {
				return err
			}
		}
		if err := j.SetPendingTx(e.journalKey(), b); err != nil {
			return err
		}
	}
	e.setPending(p)
	return nil
}

// doneReceipt is the receipt of a call whose outcome was unknown to its
// caller, found while settling it for another call.
type doneReceipt struct {
	to   btt.Address
	data []byte
	r    *Receipt
	err  error
}

// remember keeps the outcome of a settled call that nobody has asked for
// again (a retry of it gets it instead of signing a second transaction).
func (e *Escrow) remember(p *pendingTx, r *Receipt, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.done = append(e.done, doneReceipt{to: p.to, data: p.data, r: r, err: err})
	if len(e.done) > maxDone {
		e.done = e.done[len(e.done)-maxDone:]
	}
}

// recall returns, and forgets, the remembered outcome of a call of to with
// data.
func (e *Escrow) recall(to btt.Address, data []byte) (doneReceipt, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, d := range e.done {
		if d.to == to && bytes.Equal(d.data, data) {
			e.done = append(e.done[:i], e.done[i+1:]...)
			return d, true
		}
	}
	return doneReceipt{}, false
}

// owed reports whether a call of to with data was sent before and its
// outcome is still to be given: the transaction in flight, or a
// remembered one. Such a call must not pay for anything again first
// (Open's approve).
func (e *Escrow) owed(to btt.Address, data []byte) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pending != nil && e.pending.to == to && bytes.Equal(e.pending.data, data) {
		return true
	}
	for _, d := range e.done {
		if d.to == to && bytes.Equal(d.data, data) {
			return true
		}
	}
	return false
}
