package tron

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// TxID is a transaction id: sha256 of its raw_data.
type TxID [32]byte

// String is the id in hex, as explorers show it.
func (id TxID) String() string { return hex.EncodeToString(id[:]) }

// ParseTxID parses 64 hex digits.
func ParseTxID(s string) (TxID, error) {
	var id TxID
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil || len(b) != 32 {
		return id, fmt.Errorf("tron: transaction id %q: want 64 hex digits", s)
	}
	copy(id[:], b)
	return id, nil
}

// Tx is a signed transaction.
type Tx struct {
	ID TxID
	// Expiration is when the chain stops accepting it.
	Expiration time.Time
	// FeeLimit is its fee limit in sun.
	FeeLimit int64
	signed   *core.Transaction
}

// Proto returns a copy of the signed transaction.
func (t *Tx) Proto() *core.Transaction { return proto.Clone(t.signed).(*core.Transaction) }

// Send builds a call of contract with ABI-encoded data from the client's
// address, checks it (a simulation first: a call that would revert is
// refused with its *RevertError and costs nothing; its energy against the
// fee limit and the account's TRX), signs it and broadcasts it. It returns
// the signed transaction once the node has accepted it; Confirm waits for
// its receipt.
//
// A broadcast the node may or may not have received gives a *TxError
// wrapping paychan.ErrChainUnavailable, with the signed transaction to look
// up or rebroadcast.
func (c *Client) Send(ctx context.Context, contract btt.Address, data []byte) (*Tx, error) {
	tx, err := c.SignCall(ctx, contract, data)
	if err != nil {
		return nil, err
	}
	if err := c.broadcast(ctx, tx); err != nil {
		return nil, err
	}
	return tx, nil
}

// SignCall is Send without the broadcast: it builds, checks and signs the
// call and returns it unsent, so that the caller can record the signed
// transaction durably before Rebroadcast sends it. A crash after the
// record then leaves a transaction to look up, never one nobody knows of.
func (c *Client) SignCall(ctx context.Context, contract btt.Address, data []byte) (*Tx, error) {
	if c.signer == nil {
		return nil, ErrNoSigner
	}
	from := c.signer.Address()
	_, energy, err := c.simulate(ctx, from, contract, data)
	if err != nil {
		return nil, err
	}
	var ext *api.TransactionExtention
	err = c.rpc(ctx, "build a call of "+contract.String(), func(ctx context.Context) error {
		var err error
		err = sdkSafe(func() error {
			ext, err = c.sdk.TriggerContractWithDataCtx(ctx, sdkAddr(from), sdkAddr(contract), data, c.cfg.FeeLimit, 0, "", 0)
			return err
		})
		return refused(err)
	})
	if err != nil {
		return nil, err
	}
	if err := checkTrigger(ext, from, contract, data, c.cfg.FeeLimit); err != nil {
		return nil, err
	}
	if err := c.checkBuilt(ctx, ext.GetTransaction()); err != nil {
		return nil, err
	}
	if err := c.checkFees(ctx, from, ext.GetTransaction(), energy); err != nil {
		return nil, err
	}
	return c.sign(ext.GetTransaction())
}

// Transact is Send followed by Confirm: it returns the receipt of a
// successful transaction.
func (c *Client) Transact(ctx context.Context, contract btt.Address, data []byte) (*Receipt, error) {
	tx, err := c.Send(ctx, contract, data)
	if err != nil {
		return nil, err
	}
	return c.Confirm(ctx, tx)
}

// checkTrigger checks that the node built the transaction asked for: one
// call of contract with data by from, no TRX attached, the fee limit set.
// A node that answers otherwise is not signed for.
func checkTrigger(ext *api.TransactionExtention, from, contract btt.Address, data []byte, feeLimit int64) error {
	if ext == nil || ext.GetTransaction().GetRawData() == nil {
		return fmt.Errorf("%w: no transaction built", ErrBadResponse)
	}
	if r := ext.GetResult(); r != nil && (r.GetCode() != api.Return_SUCCESS || !r.GetResult()) {
		return &TxRejectedError{Code: r.GetCode().String(), Message: string(r.GetMessage())}
	}
	raw := ext.GetTransaction().GetRawData()
	if len(raw.GetContract()) != 1 || raw.GetContract()[0].GetType() != core.Transaction_Contract_TriggerSmartContract {
		return fmt.Errorf("%w: the node built something other than one contract call", ErrBadResponse)
	}
	var ct core.TriggerSmartContract
	if err := raw.GetContract()[0].GetParameter().UnmarshalTo(&ct); err != nil {
		return fmt.Errorf("%w: contract call: %v", ErrBadResponse, err)
	}
	switch {
	case !bytes.Equal(ct.GetOwnerAddress(), from[:]),
		!bytes.Equal(ct.GetContractAddress(), contract[:]),
		!bytes.Equal(ct.GetData(), data),
		ct.GetCallValue() != 0, ct.GetCallTokenValue() != 0,
		raw.GetFeeLimit() != feeLimit:
		return fmt.Errorf("%w: the node built a transaction other than the call asked for; not signing it", ErrBadResponse)
	}
	return nil
}

// sign signs a built transaction with the client's signer.
func (c *Client) sign(raw *core.Transaction) (*Tx, error) {
	tx := proto.Clone(raw).(*core.Transaction)
	tx.Signature = nil
	id, err := SignTx(c.signer, tx)
	if err != nil {
		return nil, err
	}
	return &Tx{ID: id, Expiration: time.UnixMilli(tx.GetRawData().GetExpiration()).UTC(), FeeLimit: tx.GetRawData().GetFeeLimit(), signed: tx}, nil
}

// Rebroadcast sends an already-signed transaction again: safe to repeat
// (the node answers that it has it). An expired transaction gives an error
// wrapping ErrTxExpired: it can never be included, and only then may a
// replacement be signed.
func (c *Client) Rebroadcast(ctx context.Context, tx *Tx) error { return c.broadcast(ctx, tx) }

// ErrTxExpired: a transaction passed its expiration without being
// included; it never will be, so it is safe to sign a new one.
var ErrTxExpired = errors.New("tron: transaction expired without being included")

// broadcast sends a signed transaction, retrying while the node is
// unreachable; a DUP_TRANSACTION answer means the node has it.
func (c *Client) broadcast(ctx context.Context, tx *Tx) error {
	err := c.retry(ctx, "broadcast", func() error {
		rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
		ret, err := c.sdk.BroadcastCtx(rctx, tx.signed)
		if ret == nil && err != nil {
			return unavailable(ctx, "broadcast "+tx.ID.String(), err)
		}
		return c.broadcastResult(tx, ret)
	})
	return afterSend(tx, err)
}

func (c *Client) broadcastResult(tx *Tx, ret *api.Return) error {
	if ret == nil {
		return fmt.Errorf("%w: no answer to a broadcast", ErrBadResponse)
	}
	msg := string(ret.GetMessage())
	switch ret.GetCode() {
	case api.Return_SUCCESS:
		if ret.GetResult() {
			return nil
		}
	case api.Return_DUP_TRANSACTION_ERROR:
		return nil
	case api.Return_SERVER_BUSY, api.Return_NO_CONNECTION, api.Return_NOT_ENOUGH_EFFECTIVE_CONNECTION:
		return fmt.Errorf("%w: tron: broadcast %s: node busy: %s: %s", paychan.ErrChainUnavailable, tx.ID, ret.GetCode(), msg)
	case api.Return_BANDWITH_ERROR:
		return &InsufficientTRXError{Account: c.Address().String(), Detail: "no bandwidth left: " + msg}
	case api.Return_TRANSACTION_EXPIRATION_ERROR:
		return fmt.Errorf("%w: %s expired %s: %s; send it again", ErrTxExpired, tx.ID, tx.Expiration.Format(time.RFC3339), msg)
	case api.Return_CONTRACT_VALIDATE_ERROR:
		low := strings.ToLower(msg)
		if strings.Contains(low, "balance is not sufficient") || strings.Contains(low, "not enough") || strings.Contains(low, "insufficient") {
			return &InsufficientTRXError{Account: c.Address().String(), Detail: msg}
		}
	}
	return &TxRejectedError{TxID: tx.ID.String(), Code: ret.GetCode().String(), Message: msg}
}

// sdkSafe runs a gotron-sdk call that dereferences parts of the node's
// answer without checking them (TriggerContract's Result, DeployContract's
// Transaction): a node answering without them gets an error, not a crash.
func sdkSafe(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: an answer gotron-sdk could not handle (%v)", ErrBadResponse, r)
		}
	}()
	return f()
}

// refused turns gotron-sdk's error for a node's refusal to build a
// transaction (it keeps only the message) into a *TxRejectedError; RPC
// failures stay as they are.
func refused(err error) error {
	if err == nil || errors.Is(err, ErrBadResponse) {
		return err
	}
	if _, isRPC := status.FromError(err); isRPC {
		return err
	}
	return &TxRejectedError{Message: err.Error()}
}
