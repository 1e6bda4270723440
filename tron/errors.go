package tron

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bttspeed/bttspeed/internal/evmescrow"
	"github.com/bttspeed/bttspeed/paychan"
)

// Errors of the TRON client. Check them with errors.Is; the errors that wrap
// them say what went wrong and what to do. Node failures wrap
// paychan.ErrChainUnavailable, and the escrow's revert reasons wrap
// paychan's errors (see RevertError).
var (
	// ErrReceiptTimeout: a broadcast transaction got no receipt in time.
	// It may have been dropped, or be about to be included: look it up
	// again, or rebroadcast the same signed transaction (TxError carries
	// it); never sign a new one before the old one has expired.
	ErrReceiptTimeout = errors.New("tron: no receipt in time")
	// ErrOutOfEnergy: the transaction needs more energy than the fee
	// limit pays for.
	ErrOutOfEnergy = errors.New("tron: out of energy")
	// ErrInsufficientTRX: the account has too little TRX for the
	// transaction's energy and bandwidth.
	ErrInsufficientTRX = errors.New("tron: insufficient TRX for fees")
	// ErrNoSigner: a transaction was to be sent by a client without a
	// Signer.
	ErrNoSigner = errors.New("tron: client has no signer (set Config.Signer to send transactions)")
	// ErrTxFailed: a transaction was included but failed for a reason
	// other than a revert or running out of energy.
	ErrTxFailed = errors.New("tron: transaction failed")
	// ErrRejected: the node refused a transaction (bad signature,
	// expired, malformed ...). TxRejectedError has the code.
	ErrRejected = errors.New("tron: transaction rejected by the node")
	// ErrBadResponse: the node answered something inconsistent (a
	// transaction other than the one asked for, a malformed result).
	ErrBadResponse = errors.New("tron: unexpected answer from the node (check Config.Addr, or use another node)")
	// ErrNotPayer: an escrow call only the channel's payer may make.
	ErrNotPayer = errors.New("tron: only the channel's payer may do this")
	// ErrNotOwner: a token call only its owner (deployer) may make.
	ErrNotOwner = errors.New("tron: only the token's owner may do this")
	// ErrNotExpired: a reclaim before the channel's expiry or the end of
	// its challenge window.
	ErrNotExpired = errors.New("tron: channel not expired yet")
	// ErrExpiryShortened: a top-up with an expiry before the current one.
	ErrExpiryShortened = errors.New("tron: expiry may only be extended")
	// ErrInvalidArgument: a zero deposit, a payee that is zero or the
	// payer, a transfer to the zero address.
	ErrInvalidArgument = errors.New("tron: invalid argument")
	// ErrTokenTransfer: the escrow's token transfer failed. It wraps
	// paychan.ErrTokenRefused.
	ErrTokenTransfer = evmescrow.Sentinel("tron: token transfer failed", paychan.ErrTokenRefused)
	// ErrNothingToWithdraw: a withdraw by an account the escrow holds
	// no refund for.
	ErrNothingToWithdraw = errors.New("tron: no refund held for this account")
	// ErrInsufficientToken: a token transfer beyond the balance or
	// allowance (the token's own revert; the escrow's methods return a
	// *paychan.InsufficientFundsError with the shortfall instead).
	ErrInsufficientToken = errors.New("tron: insufficient token balance or allowance")
)

// revertKinds maps the escrow's and the test token's revert reasons to the
// errors callers test for, and says what to do about each (the table is
// evmescrow's, shared with bttc; the hints here name this package's API).
var revertKinds = evmescrow.NewReverts(evmescrow.Kinds{
	NotPayer:          ErrNotPayer,
	NotOwner:          ErrNotOwner,
	NotExpired:        ErrNotExpired,
	ExpiryShortened:   ErrExpiryShortened,
	ExpiryTooFar:      ErrExpiryTooFar,
	ChallengePeriod:   ErrChallengePeriod,
	InvalidArgument:   ErrInvalidArgument,
	TokenTransfer:     ErrTokenTransfer,
	NothingToWithdraw: ErrNothingToWithdraw,
	InsufficientToken: ErrInsufficientToken,
}, map[string]string{
	"escrow: bad challenge period": "deploy with a challenge period from 1 minute to 30 days (tron.MinChallengePeriod, tron.MaxChallengePeriod)",
	"escrow: expiry too far":       "pass an expiry at most 365 days after the chain's time (tron.MaxChannelLifetime)",
	"escrow: nothing to withdraw":  "the escrow holds no refund for this account (Escrow.Refund)",
})

// RevertError is a contract call or transaction the contract reverted.
// It unwraps to the error its reason maps to (paychan.ErrOverDeposit for
// "escrow: over deposit", ...), so errors.Is works through it.
type RevertError struct {
	// Reason is the decoded revert reason ("" if the contract gave none).
	Reason string
	// TxID is the reverted transaction's id (hex), empty for a constant
	// call.
	TxID string
}

func (e *RevertError) Error() string { return revertKinds.Message("tron", e.TxID, e.Reason) }

// Unwrap returns the error the reason maps to, or nil.
func (e *RevertError) Unwrap() error { return revertKinds.Kind(e.Reason) }

// OutOfEnergyError is a transaction that ran out of energy: its fee limit,
// or the account's TRX (the energy limit is the smaller of the two), does
// not pay for what it needs.
type OutOfEnergyError struct {
	TxID string
	// FeeLimit is the fee limit the transaction carried, in sun.
	FeeLimit int64
	// EnergyUsed is what it used before running out (0 if unknown), and
	// Fee what it cost, in sun.
	EnergyUsed, Fee int64
	// Need is an estimate of the fee it needs, in sun (0 if unknown).
	Need int64
}

// balanceLimited reports whether the account's TRX, not the fee limit,
// bounded the energy: the transaction burnt less than its fee limit.
func (e *OutOfEnergyError) balanceLimited() bool {
	return e.TxID != "" && e.Fee > 0 && e.Fee < e.FeeLimit
}

func (e *OutOfEnergyError) Error() string {
	s := "tron: out of energy"
	if e.TxID != "" {
		s += " in transaction " + e.TxID
	}
	s += fmt.Sprintf(" with a fee limit of %s", formatSun(e.FeeLimit))
	if e.EnergyUsed > 0 {
		s += fmt.Sprintf(" (%d energy used, %s burnt)", e.EnergyUsed, formatSun(e.Fee))
	}
	switch {
	case e.balanceLimited():
		s += "; the account's TRX ran out before the fee limit: send TRX to it"
	case e.Need > 0:
		s += fmt.Sprintf("; it needs about %s: raise Config.FeeLimit", formatSun(e.Need))
	default:
		s += "; raise Config.FeeLimit"
	}
	return s
}

// Is makes errors.Is(err, ErrOutOfEnergy) true, and ErrInsufficientTRX
// too when the account's TRX was what ran out.
func (e *OutOfEnergyError) Is(target error) bool {
	return target == ErrOutOfEnergy || (target == ErrInsufficientTRX && e.balanceLimited())
}

// InsufficientTRXError is an account without the TRX its transaction's
// energy and bandwidth cost.
type InsufficientTRXError struct {
	// Account is the TRON address (base58) short of TRX.
	Account string
	// Need and Have are the estimated fee and the balance, in sun; Need
	// is 0 when the node did not say.
	Need, Have int64
	// Detail is the node's message, if any.
	Detail string
}

// Shortfall is Need - Have in sun, or 0 if unknown.
func (e *InsufficientTRXError) Shortfall() int64 {
	if e.Need <= e.Have {
		return 0
	}
	return e.Need - e.Have
}

func (e *InsufficientTRXError) Error() string {
	s := "tron: insufficient TRX for fees"
	if e.Account != "" {
		s += " in " + e.Account
	}
	if e.Need > 0 {
		s += fmt.Sprintf(": need about %s, have %s (%s short)", formatSun(e.Need), formatSun(e.Have), formatSun(e.Shortfall()))
	} else if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s + "; send TRX to the account or stake TRX for energy and bandwidth"
}

// Is makes errors.Is(err, ErrInsufficientTRX) true.
func (e *InsufficientTRXError) Is(target error) bool { return target == ErrInsufficientTRX }

// TxRejectedError is a broadcast the node refused, with its return code.
type TxRejectedError struct {
	TxID    string
	Code    string
	Message string
}

func (e *TxRejectedError) Error() string {
	what := "the call"
	if e.TxID != "" {
		what = "transaction " + e.TxID
	}
	if e.Code == "" {
		return fmt.Sprintf("tron: node refused %s: %s", what, e.Message)
	}
	return fmt.Sprintf("tron: node refused %s: %s: %s", what, e.Code, e.Message)
}

// Is makes errors.Is(err, ErrRejected) true.
func (e *TxRejectedError) Is(target error) bool { return target == ErrRejected }

// TxError is a signed transaction whose outcome is not known: the node
// was unreachable while it was broadcast, or it got no receipt in time.
// Tx is the signed transaction: look it up (Client.WaitReceipt) or
// rebroadcast it (Client.Rebroadcast) — both are safe to repeat — and do
// not sign another in its place before it has expired.
type TxError struct {
	Tx  *Tx
	Err error
}

func (e *TxError) Error() string {
	return fmt.Sprintf("%v (transaction %s, expires %s: wait for its receipt or rebroadcast it; do not sign a replacement before it expires)",
		e.Err, e.Tx.ID, e.Tx.Expiration.UTC().Format(time.RFC3339))
}

func (e *TxError) Unwrap() error { return e.Err }

// Is makes every *TxError match paychan.ErrChainUnavailable, whatever
// ended the wait (a context, a node's failure): its outcome is unknown,
// as after any failure to reach the chain, and paychan keeps the intent
// of an open that fails so.
func (e *TxError) Is(target error) bool { return target == paychan.ErrChainUnavailable }

// unavailable wraps an RPC failure that means the node cannot be reached
// (or did not answer in time) in paychan.ErrChainUnavailable. Other errors
// are returned as they are. ctx's own end is returned as ctx.Err().
func unavailable(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("tron: %s: %w", op, ctx.Err())
	}
	if isTransient(err) {
		return fmt.Errorf("%w: tron: %s: %v; check that the node is running and reachable, then retry", paychan.ErrChainUnavailable, op, rpcMessage(err))
	}
	return fmt.Errorf("tron: %s: %w", op, err)
}

// isTransient reports whether err is a failure worth retrying: the node was
// not reachable or too slow, as opposed to an answer.
func isTransient(err error) bool {
	if errors.Is(err, paychan.ErrChainUnavailable) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
		return true
	}
	return false
}

// rpcMessage shortens a gRPC error to its code and message.
func rpcMessage(err error) string {
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		st := se.GRPCStatus()
		return fmt.Sprintf("%s: %s", st.Code(), st.Message())
	}
	return err.Error()
}

// formatSun writes an amount of sun as TRX.
func formatSun(sun int64) string {
	neg := sun < 0
	if neg {
		sun = -sun
	}
	s := fmt.Sprintf("%d.%06d", sun/1_000_000, sun%1_000_000)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if neg {
		s = "-" + s
	}
	return s + " TRX"
}

// ErrDropped: a transaction seen in a block left the node's chain before
// the block was solidified (a fork dropped it). It is not in a block now;
// Confirm rebroadcasts it while it has not expired, and an expired one
// may be signed anew.
var ErrDropped = errors.New("tron: transaction dropped from the chain before its block solidified")
