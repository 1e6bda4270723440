package tron

import (
	"errors"
)

// afterSend is the error of a broadcast of tx: nil, an answer of the node
// that proves tx was not taken (a refusal, an expiration, too little
// TRX for its bandwidth), or else a *TxError — the outcome unknown.
// Whatever ended the broadcast — the node unreachable, ctx cancelled or
// past its deadline while the request was in flight, an answer that did
// not parse — the node may have tx, and it may be included: it must be
// looked up before anything is signed in its place (issue 30 item 2).
func afterSend(tx *Tx, err error) error {
	if err == nil {
		return nil
	}
	var te *TxError
	if errors.As(err, &te) {
		return err
	}
	var rej *TxRejectedError
	var poor *InsufficientTRXError
	if errors.Is(err, ErrTxExpired) || errors.As(err, &rej) || errors.As(err, &poor) {
		return err
	}
	return &TxError{Tx: tx, Err: err}
}
