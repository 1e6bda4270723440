package tron

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/protobuf/proto"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/internal/evmescrow"
	"github.com/bttspeed/bttspeed/paychan"
)

var _ paychan.TxKeeper = (*Escrow)(nil)

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
		var owner btt.Address
		if p, owner, err = decodePending(b); err != nil {
			return fmt.Errorf("tron: the pending transaction of %s: %w", e.journalKey(), err)
		}
		if owner != e.c.Address() {
			return fmt.Errorf("tron: the pending transaction of %s was signed by %s", e.journalKey(), owner)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pending != nil && (p == nil || p.tx.ID != e.pending.tx.ID) {
		return fmt.Errorf("tron: keep transactions: %s has transaction %s in flight, which the journal does not hold; settle it first", e, e.pending.tx.ID)
	}
	e.journal = j
	if e.pending == nil {
		e.pending = p
	}
	return nil
}

// InFlight implements paychan.OpenFinder: whether a transaction this
// escrow signed — in this process or, with a journal, an earlier one —
// may still be included. One that is pending is settled first (looked up,
// rebroadcast, waited for): included or expired, it is not in flight, and
// its outcome is kept for the call that asks again.
func (e *Escrow) InFlight(ctx context.Context) (bool, error) {
	e.mu.Lock()
	p := e.pending
	e.mu.Unlock()
	if p == nil {
		return false, nil
	}
	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return true, ctx.Err()
	}
	defer func() { <-e.sem }()
	e.mu.Lock()
	p = e.pending
	e.mu.Unlock()
	if p == nil {
		return false, nil
	}
	r, err := e.settle(ctx, p.tx)
	switch {
	case r != nil:
		if cerr := e.keepPending(nil); cerr != nil {
			return true, cerr
		}
		e.remember(p, r, err)
		return false, nil
	case errors.Is(err, ErrTxExpired):
		if cerr := e.keepPending(nil); cerr != nil {
			return true, cerr
		}
		return false, nil
	}
	return true, nil // still unknown: in flight
}

func encodePending(p *pendingTx) ([]byte, error) {
	raw, err := proto.Marshal(p.tx.signed)
	if err != nil {
		return nil, err
	}
	return json.Marshal(pendingJSON{To: p.to, Data: p.data, Tx: raw})
}

// decodePending reads a journal's record back and returns it with the
// account that signed it. Nothing in it is taken as written: the call
// (to, data) must be the signed transaction's one TriggerSmartContract,
// with no value, and the signature must recover to its owner.
func decodePending(b []byte) (*pendingTx, btt.Address, error) {
	if len(b) > maxPendingBytes {
		return nil, btt.Address{}, fmt.Errorf("%w: pending record of %d bytes", ErrBadResponse, len(b))
	}
	var j pendingJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, btt.Address{}, fmt.Errorf("pending record: %w", err)
	}
	signed := new(core.Transaction)
	if err := proto.Unmarshal(j.Tx, signed); err != nil {
		return nil, btt.Address{}, fmt.Errorf("pending record's transaction: %w", err)
	}
	raw := signed.GetRawData()
	if raw == nil || len(signed.GetSignature()) != 1 {
		return nil, btt.Address{}, fmt.Errorf("pending record: no signed transaction")
	}
	if len(raw.GetContract()) != 1 || raw.GetContract()[0].GetType() != core.Transaction_Contract_TriggerSmartContract {
		return nil, btt.Address{}, fmt.Errorf("pending record: not one contract call")
	}
	var ct core.TriggerSmartContract
	if err := raw.GetContract()[0].GetParameter().UnmarshalTo(&ct); err != nil {
		return nil, btt.Address{}, fmt.Errorf("pending record's call: %w", err)
	}
	owner, err := btt.AddressFromBytes(ct.GetOwnerAddress())
	if err != nil {
		return nil, btt.Address{}, fmt.Errorf("pending record's owner: %w", err)
	}
	to, err := btt.AddressFromBytes(ct.GetContractAddress())
	if err != nil {
		return nil, btt.Address{}, fmt.Errorf("pending record's contract: %w", err)
	}
	if to != j.To || !bytes.Equal(ct.GetData(), j.Data) || ct.GetCallValue() != 0 || ct.GetCallTokenValue() != 0 {
		return nil, btt.Address{}, fmt.Errorf("pending record: its call is not its transaction's")
	}
	id, err := TxIDOf(signed)
	if err != nil {
		return nil, btt.Address{}, err
	}
	by, err := txSigner(id, signed.GetSignature()[0])
	if err != nil || by != owner {
		return nil, btt.Address{}, fmt.Errorf("pending record: the transaction is not signed by its owner %s", owner)
	}
	tx := &Tx{ID: id, Expiration: time.UnixMilli(raw.GetExpiration()).UTC(), FeeLimit: raw.GetFeeLimit(), signed: signed}
	return &pendingTx{to: to, data: bytes.Clone(ct.GetData()), tx: tx}, owner, nil
}

// txSigner recovers the account that signed transaction id.
func txSigner(id TxID, sig []byte) (btt.Address, error) {
	if len(sig) != 65 {
		return btt.Address{}, fmt.Errorf("signature of %d bytes", len(sig))
	}
	s := bytes.Clone(sig)
	if s[64] >= 27 {
		s[64] -= 27
	}
	pub, err := crypto.SigToPub(id[:], s)
	if err != nil {
		return btt.Address{}, err
	}
	return fromEVM(crypto.PubkeyToAddress(*pub)), nil
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
	e.done.Remember(evmescrow.Call{To: &p.to, Data: p.data}, r, err)
}

// recall returns, and forgets, the remembered outcome of a call of to with
// data.
func (e *Escrow) recall(to btt.Address, data []byte) (evmescrow.Outcome[*Receipt], bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.done.Recall(evmescrow.Call{To: &to, Data: data})
}

// owed reports whether a call of to with data was sent before and its
// outcome is still to be given: the transaction in flight, or a
// remembered one. Such a call must not pay for anything again first
// (Open's approve).
func (e *Escrow) owed(to btt.Address, data []byte) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	call := evmescrow.Call{To: &to, Data: data}
	return (e.pending != nil && evmescrow.Call{To: &e.pending.to, Data: e.pending.data}.Same(call)) || e.done.Has(call)
}
