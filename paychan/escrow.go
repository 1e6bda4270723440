package paychan

import (
	"context"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/bttspeed/bttspeed/btt"
)

// ChannelID names a channel in the escrow contract.
type ChannelID [32]byte

// LogValue implements slog.LogValuer: a channel id logs as hex.
func (id ChannelID) LogValue() slog.Value { return slog.StringValue(hex.EncodeToString(id[:])) }

// ChannelState is the on-chain state of a channel.
type ChannelState uint8

// The on-chain channel states.
const (
	// ChannelUnknown: the escrow has no such channel.
	ChannelUnknown ChannelState = iota
	// ChannelOpen: funded and redeemable by the payee.
	ChannelOpen
	// ChannelClosing: the payer started an early close; the payee may
	// still redeem until ChallengeEnd.
	ChannelClosing
	// ChannelClosed: settled; nothing more can be paid or reclaimed.
	ChannelClosed
)

func (s ChannelState) String() string {
	switch s {
	case ChannelUnknown:
		return "unknown"
	case ChannelOpen:
		return "open"
	case ChannelClosing:
		return "closing"
	case ChannelClosed:
		return "closed"
	}
	return "invalid"
}

// Channel is what the escrow contract holds for one channel.
type Channel struct {
	ID    ChannelID
	Payer btt.Address
	Payee btt.Address
	// Token is the TRC-20 token the deposit is held in.
	Token btt.Address
	// Deposit is the total deposited, top-ups included.
	Deposit btt.Amount
	// Paid is what the payee has redeemed so far (cumulative).
	Paid btt.Amount
	// Expiry is when the payer may reclaim what was not redeemed.
	Expiry time.Time
	State  ChannelState
	// ChallengeEnd is the end of the payee's redeem window after a payer's
	// early close (zero unless State is ChannelClosing).
	ChallengeEnd time.Time
}

// Domain is what every voucher of an escrow binds: the chain and the escrow
// contract.
type Domain struct {
	// ChainID is the chain id the contract sees as block.chainid (on TRON,
	// the last 4 bytes of the genesis block id; mainnet 0x2b6653dc).
	ChainID uint64
	// Escrow is the escrow contract's address.
	Escrow btt.Address
	// Token is the TRC-20 token the escrow holds deposits in.
	Token btt.Address
	// Scheme is the digest the escrow checks vouchers against (its
	// voucherScheme()): SchemeTIP191, the zero value, on TRON;
	// SchemeEIP712 on EVM chains.
	Scheme DigestScheme
}

// Escrow is what paychan needs from a chain. One Escrow value acts as one
// account: the payer's methods (Open, TopUp, StartClose, Reclaim) and the
// payee's (Claim, Close) are called on the Escrow of that party's key.
//
// Every method blocks until the chain has a receipt for the transaction, or
// ctx ends. Implementations return errors that wrap ErrUnknownChannel,
// ErrChannelClosed, ErrExpired, ErrOverDeposit, ErrBadSignature and
// ErrChainUnavailable where those apply, so callers can tell what to do
// with errors.Is.
//
// The tron package implements it on TRON; paychantest has an in-memory one
// with the same rules.
type Escrow interface {
	// Domain returns the chain id, escrow and token vouchers bind.
	Domain(ctx context.Context) (Domain, error)
	// Now returns the chain's current time (the latest block's time).
	Now(ctx context.Context) (time.Time, error)
	// Open deposits amount for payee, refundable to the caller after
	// expiry, and returns the new channel.
	Open(ctx context.Context, payee btt.Address, deposit btt.Amount, expiry time.Time) (Channel, error)
	// TopUp adds amount to an open channel of the caller's and moves its
	// expiry to expiry, which may not be earlier than the current one.
	TopUp(ctx context.Context, id ChannelID, amount btt.Amount, expiry time.Time) (Channel, error)
	// Channel reads a channel; an unknown id gives ErrUnknownChannel.
	Channel(ctx context.Context, id ChannelID) (Channel, error)
	// Claim pays the caller (the payee) the voucher's amount less what it
	// has already redeemed; the channel stays open.
	Claim(ctx context.Context, v SignedVoucher) (Channel, error)
	// Close pays the caller (the payee) like Claim, refunds the rest of
	// the deposit to the payer and closes the channel. On TRON the payee
	// is paid whatever the refund does: a refund the token refuses is
	// held for the payer (tron.Escrow.Withdraw). An escrow that cannot do
	// that fails with an error wrapping ErrTokenRefused, and
	// Payee.Redeem claims instead.
	Close(ctx context.Context, v SignedVoucher) (Channel, error)
	// StartClose starts the payer's early close: the payee may still
	// redeem until the challenge window ends; then Reclaim settles.
	StartClose(ctx context.Context, id ChannelID) (Channel, error)
	// Reclaim refunds the payer what was not redeemed, after expiry or
	// after the challenge window of an early close, and closes the
	// channel.
	Reclaim(ctx context.Context, id ChannelID) (Channel, error)
}
