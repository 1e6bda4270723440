package bttc

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// fund makes sure the account holds amount tokens and the escrow may pull
// them, approving it if the policy says so.
func (e *Escrow) fund(ctx context.Context, token btt.Address, amount btt.Amount) error {
	self := e.c.Address()
	bal, err := e.c.BalanceOf(ctx, token, self)
	if err != nil {
		return err
	}
	if bal.Lt(amount) {
		return fmt.Errorf("%w: %s holds %s of token %s, the deposit is %s; get more tokens or deposit less",
			&paychan.InsufficientFundsError{Shortfall: amount.SubFloor(bal)}, self, bal, token, amount)
	}
	allowed, err := e.c.Allowance(ctx, token, self, e.addr)
	if err != nil {
		return err
	}
	if !allowed.Lt(amount) {
		return nil
	}
	want := amount
	switch e.approve {
	case ApproveNever:
		return fmt.Errorf("%w: the escrow may move %s of %s's tokens, the deposit is %s; approve %s for it",
			&paychan.InsufficientFundsError{Shortfall: amount.SubFloor(allowed)}, allowed, self, amount, e)
	case ApproveUnlimited:
		want = maxAmount
	}
	data, err := erc20ABI().Pack("approve", common.Address(e.addr.EVM()), want.Big())
	if err != nil {
		return fmt.Errorf("bttc: encode approve: %w", err)
	}
	if _, err := e.transact(ctx, &token, data); err != nil {
		return fmt.Errorf("approve the escrow for %s: %w", want, err)
	}
	return nil
}

var maxAmount = func() btt.Amount {
	var b [32]byte
	for i := range b {
		b[i] = 0xff
	}
	return btt.AmountFromBytes32(b)
}()

// fail wraps a failed escrow call; a failed pull of tokens becomes a
// *paychan.InsufficientFundsError when the balance or allowance is short.
func (e *Escrow) fail(ctx context.Context, op string, token btt.Address, amount btt.Amount, err error) error {
	if errors.Is(err, ErrTokenTransfer) && !token.IsZero() && !amount.IsZero() {
		self := e.c.Address()
		bal, berr := e.c.BalanceOf(ctx, token, self)
		allowed, aerr := e.c.Allowance(ctx, token, self, e.addr)
		if berr == nil && aerr == nil {
			if have := btt.Min(bal, allowed); have.Lt(amount) {
				return fmt.Errorf("bttc: %s: %w: balance %s, allowance %s, needed %s (%w)",
					op, &paychan.InsufficientFundsError{Shortfall: amount.SubFloor(have)}, bal, allowed, amount, err)
			}
		}
	}
	return fmt.Errorf("bttc: %s: %w", op, err)
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
			if sameCall(p.to, p.data, to, data) {
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
		return d.r, d.err
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

func sameCall(ato *btt.Address, adata []byte, bto *btt.Address, bdata []byte) bool {
	if (ato == nil) != (bto == nil) || (ato != nil && *ato != *bto) {
		return false
	}
	return bytes.Equal(adata, bdata)
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
