package bttc

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/internal/evmescrow"
)

// fund makes sure the account holds amount tokens and the escrow may pull
// them, approving it if the policy says so (evmescrow.Fund).
func (e *Escrow) fund(ctx context.Context, token btt.Address, amount btt.Amount) error {
	return evmescrow.Fund(ctx, e.c, e.c.Address(), e.addr, e.String(), token, amount, evmescrow.Approve(e.approve),
		func(ctx context.Context, data []byte) error {
			_, err := e.transact(ctx, &token, data)
			return err
		})
}

// fail wraps a failed escrow call. A failed token transfer into the escrow
// becomes a *paychan.InsufficientFundsError when the balance or allowance
// is short.
func (e *Escrow) fail(ctx context.Context, op string, token btt.Address, amount btt.Amount, err error) error {
	return evmescrow.Failed(ctx, e.c, "bttc", op, e.c.Address(), e.addr, token, amount, err, ErrTokenTransfer)
}

// transact sends one call and waits for its receipt, after settling any
// transaction of an earlier call whose outcome is unknown. It never signs
// a new transaction while an old one may still be mined, and a call with
// the same arguments as the unknown one gets its outcome instead.
func (e *Escrow) transact(ctx context.Context, to *btt.Address, data []byte) (*Receipt, error) {
	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-e.sem }()

	e.mu.Lock()
	p := e.pending
	e.mu.Unlock()
	if p != nil {
		r, err := e.settle(ctx, p.tx)
		switch {
		case r != nil: // mined, successful or not
			if err := e.keepPending(nil); err != nil {
				return nil, fmt.Errorf("clearing the settled transaction %s: %w", p.tx.Hash.Hex(), err)
			}
			if (evmescrow.Call{To: p.to, Data: p.data}).Same(evmescrow.Call{To: to, Data: data}) {
				return r, err
			}
			e.remember(p, r, err)
		case errors.Is(err, ErrTxReplaced): // never mined: sign anew
			if err := e.keepPending(nil); err != nil {
				return nil, fmt.Errorf("clearing the replaced transaction %s: %w", p.tx.Hash.Hex(), err)
			}
		default:
			return nil, fmt.Errorf("an earlier transaction %s has no known outcome yet; it is looked up again on the next call: %w", p.tx.Hash.Hex(), err)
		}
	}
	if d, ok := e.recall(to, data); ok {
		return d.R, d.Err
	}
	tx, err := e.c.SignCall(ctx, to, data)
	if err != nil {
		return nil, err // nothing sent
	}
	p = &pendingTx{to: to, data: bytes.Clone(data), tx: tx}
	if err := e.keepPending(p); err != nil {
		e.setPending(nil)
		return nil, fmt.Errorf("not sending a transaction it could not record: %w", err)
	}
	if err := e.c.Send(ctx, tx); err != nil {
		var te *TxError
		if !errors.As(err, &te) {
			// Refused: proven not taken.
			if cerr := e.keepPending(nil); cerr != nil {
				return nil, errors.Join(err, cerr)
			}
		}
		return nil, err
	}
	r, err := e.c.Confirm(ctx, tx)
	if err != nil && r == nil && !errors.Is(err, ErrTxReplaced) {
		return nil, err // outcome unknown: stays pending
	}
	_ = e.keepPending(nil) // known now; a stale record costs one look-up
	return r, err
}

// settle finds out what became of a transaction with an unknown outcome:
// it sends it again (harmless if the node has it) and waits for it.
func (e *Escrow) settle(ctx context.Context, tx *Tx) (*Receipt, error) {
	if err := e.c.Send(ctx, tx); err != nil {
		var rej *TxRejectedError
		if !errors.As(err, &rej) {
			return nil, err
		}
		// Refused now: mined already, replaced, or never to be; Confirm
		// tells which (its nonce).
	}
	return e.c.Confirm(ctx, tx)
}

// Pending returns the signed transaction of an earlier call whose outcome
// is not known yet, or nil.
func (e *Escrow) Pending() *Tx {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pending == nil {
		return nil
	}
	return e.pending.tx
}

func (e *Escrow) setPending(p *pendingTx) {
	e.mu.Lock()
	e.pending = p
	e.mu.Unlock()
}
