package bttc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/bttspeed/bttspeed/internal/evmescrow"
	"github.com/bttspeed/bttspeed/paychan"
)

// Errors of the BTTC client. Check them with errors.Is. Node failures wrap
// paychan.ErrChainUnavailable, and the escrow's revert reasons wrap
// paychan's errors (see RevertError).
var (
	// ErrReceiptTimeout: a sent transaction got no receipt (with its
	// confirmations) in time. It may still be mined: the Escrow keeps it
	// and settles it before signing anything else.
	ErrReceiptTimeout = errors.New("bttc: no receipt in time")
	// ErrTxReplaced: the account's nonce moved past a transaction that
	// has no receipt: another transaction with its nonce was mined (the
	// key used elsewhere), so this one never will be.
	ErrTxReplaced = errors.New("bttc: transaction's nonce used by another transaction")
	// ErrFeeCap: the chain's base fee and tip need more per gas than
	// Config.MaxFeePerGas allows. Nothing was signed.
	ErrFeeCap = errors.New("bttc: fees above the cap")
	// ErrInsufficientBTT: the account has too little native BTT for the
	// transaction's gas.
	ErrInsufficientBTT = errors.New("bttc: insufficient BTT for gas")
	// ErrOutOfGas: a mined transaction used all its gas and failed.
	ErrOutOfGas = errors.New("bttc: out of gas")
	// ErrTxFailed: a mined transaction failed, and replaying it gives no
	// reason.
	ErrTxFailed = errors.New("bttc: transaction failed")
	// ErrRejected: the node refused a transaction (underpriced, a nonce
	// too high, a malformed one ...): it was not taken.
	ErrRejected = errors.New("bttc: transaction rejected by the node")
	// ErrNoSigner: a transaction was to be sent by a client without a key.
	ErrNoSigner = errors.New("bttc: client has no key (set Config.Key to send transactions)")
	// ErrBadResponse: the node answered something inconsistent.
	ErrBadResponse = errors.New("bttc: unexpected answer from the node (check the RPC URL, or use another node)")
	// ErrNotGenuineEscrow: the code at an escrow's address is not the
	// embedded BttSpeedEscrow's runtime code.
	ErrNotGenuineEscrow = errors.New("bttc: not a genuine BttSpeedEscrow")
	// ErrChallengePeriod: the escrow's challenge period is out of the
	// bounds the client accepts.
	ErrChallengePeriod = errors.New("bttc: escrow's challenge period out of bounds")
	// ErrNotPayer: an escrow call only the channel's payer may make.
	ErrNotPayer = errors.New("bttc: only the channel's payer may do this")
	// ErrNotOwner: a token call only its owner may make.
	ErrNotOwner = errors.New("bttc: only the token's owner may do this")
	// ErrNotExpired: a reclaim before the expiry or the challenge window's
	// end.
	ErrNotExpired = errors.New("bttc: channel not expired yet")
	// ErrExpiryShortened: a top-up with an expiry before the current one.
	ErrExpiryShortened = errors.New("bttc: expiry may only be extended")
	// ErrExpiryTooFar: an expiry more than MaxChannelLifetime ahead.
	ErrExpiryTooFar = errors.New("bttc: expiry too far in the future")
	// ErrInvalidArgument: a zero deposit, a bad payee, a bad expiry.
	ErrInvalidArgument = errors.New("bttc: invalid argument")
	// ErrTokenTransfer: the escrow's token transfer failed; it wraps
	// paychan.ErrTokenRefused.
	ErrTokenTransfer = evmescrow.Sentinel("bttc: token transfer failed", paychan.ErrTokenRefused)
	// ErrNothingToWithdraw: a withdraw with no refund held.
	ErrNothingToWithdraw = errors.New("bttc: no refund held for this account")
	// ErrInsufficientToken: the token's own revert for a transfer beyond
	// the balance or allowance.
	ErrInsufficientToken = errors.New("bttc: insufficient token balance or allowance")
)

// revertKinds maps the escrow's and the test token's revert reasons (the
// same contract as on TRON: the table is evmescrow's) to the errors
// callers test for.
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
}, nil)

// RevertError is a call or transaction the contract reverted. It unwraps
// to the error its reason maps to, so errors.Is works through it.
type RevertError struct {
	// Reason is the decoded revert reason ("" if none).
	Reason string
	// TxHash is the reverted transaction's hash (hex), empty for a call.
	TxHash string
}

func (e *RevertError) Error() string { return revertKinds.Message("bttc", e.TxHash, e.Reason) }

// Unwrap returns the error the reason maps to, or nil.
func (e *RevertError) Unwrap() error { return revertKinds.Kind(e.Reason) }

// TxError is a signed transaction whose outcome is unknown: the node went
// away while it was sent, or no receipt came in time. It matches
// paychan.ErrChainUnavailable. Do not sign another in its place: the
// Escrow settles it (Rebroadcast, Confirm) before anything else.
type TxError struct {
	Tx  *Tx
	Err error
}

func (e *TxError) Error() string {
	return fmt.Sprintf("%v (transaction %s, nonce %d: its outcome is unknown; it is looked up before anything else is signed)", e.Err, e.Tx.Hash, e.Tx.Nonce)
}

func (e *TxError) Unwrap() error { return e.Err }

// Is makes every *TxError match paychan.ErrChainUnavailable.
func (e *TxError) Is(target error) bool { return target == paychan.ErrChainUnavailable }

// TxRejectedError is a transaction the node refused: not taken.
type TxRejectedError struct {
	Hash string
	Msg  string
}

func (e *TxRejectedError) Error() string {
	return fmt.Sprintf("bttc: the node refused transaction %s: %s", e.Hash, e.Msg)
}

// Is matches ErrRejected, and ErrInsufficientBTT when the node says the
// account cannot pay the gas.
func (e *TxRejectedError) Is(target error) bool {
	return target == ErrRejected || (target == ErrInsufficientBTT && insufficientFunds(e.Msg))
}

func insufficientFunds(msg string) bool {
	return strings.Contains(strings.ToLower(msg), "insufficient funds")
}

// unavailable wraps an RPC failure that means the node could not be
// reached (or did not answer in time) in paychan.ErrChainUnavailable;
// other errors are returned as they are, and ctx's own end as ctx.Err().
func unavailable(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("bttc: %s: %w", op, ctx.Err())
	}
	if isTransient(err) {
		return fmt.Errorf("%w: bttc: %s: %v; check that the node is running and reachable, then retry", paychan.ErrChainUnavailable, op, err)
	}
	return fmt.Errorf("bttc: %s: %w", op, err)
}

// isTransient reports whether err is a failure to reach the node, worth
// retrying, as opposed to an answer (a JSON-RPC error, not found).
func isTransient(err error) bool {
	if errors.Is(err, paychan.ErrChainUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	if errors.Is(err, ethereum.NotFound) {
		return false
	}
	var he rpc.HTTPError
	if errors.As(err, &he) {
		return he.StatusCode >= 500 || he.StatusCode == 429
	}
	var phe *rpc.HTTPError
	if errors.As(err, &phe) {
		return phe.StatusCode >= 500 || phe.StatusCode == 429
	}
	var re rpc.Error
	if errors.As(err, &re) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, rpc.ErrClientQuit)
}
