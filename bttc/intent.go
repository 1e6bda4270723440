package bttc

import (
	"context"
	"errors"
	"fmt"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/internal/evmescrow"
	"github.com/bttspeed/bttspeed/paychan"
)

// MaxFindScan bounds the channel nonces FindOpen reads.
const MaxFindScan = 4096

// ChannelID is the id BttSpeedEscrow at escrow gives the nonce-th channel
// if payer opened it to payee: keccak256(abi.encodePacked(escrow, payer,
// payee, uint64 nonce)).
func ChannelID(escrow, payer, payee btt.Address, nonce uint64) paychan.ChannelID {
	return evmescrow.ChannelID(escrow, payer, payee, nonce)
}

// Nonce reads the escrow's channel counter.
func (e *Escrow) Nonce(ctx context.Context) (uint64, error) { return e.calls().Nonce(ctx) }

// OpenMark implements paychan.OpenFinder: the nonce the next channel will
// have.
func (e *Escrow) OpenMark(ctx context.Context) (uint64, error) { return e.calls().OpenMark(ctx) }

// FindOpen implements paychan.OpenFinder: for every nonce from in.Mark to
// the escrow's current one (at most MaxFindScan) it reads the channel this
// account would have opened to in.Payee with it; the first known one with
// in.Expiry that known does not report is returned.
func (e *Escrow) FindOpen(ctx context.Context, in paychan.Intent, known func(paychan.ChannelID) bool) (paychan.Channel, bool, error) {
	return e.calls().FindByNonce(ctx, in, known, MaxFindScan, "")
}

// InFlight implements paychan.OpenFinder: whether the transaction this
// escrow keeps with its outcome unknown may still be mined. None kept, one
// with a receipt, and one whose nonce another transaction took are not;
// one the node cannot tell about yet is.
func (e *Escrow) InFlight(ctx context.Context) (bool, error) {
	e.mu.Lock()
	p := e.pending
	e.mu.Unlock()
	if p == nil {
		return false, nil
	}
	r, err := e.c.receiptConfirmed(ctx, p.tx)
	switch {
	case errors.Is(err, ErrTxReplaced):
		return false, nil
	case err != nil:
		return true, fmt.Errorf("bttc: is %s in flight: %w", p.tx.Hash.Hex(), err)
	}
	return r == nil, nil
}
