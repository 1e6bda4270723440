package paychan

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/bttspeed/bttspeed/btt"
)

// Check is what a payee knows when a voucher arrives: its own domain and
// address, the channel as last read from the chain, the best amount it has
// accepted on it, and the time.
type Check struct {
	Domain  Domain
	Payee   btt.Address
	Channel Channel
	// Prev is the amount of the best voucher accepted so far (zero if
	// none).
	Prev btt.Amount
	Now  time.Time
	// ExpiryMargin refuses vouchers on a channel that expires within it:
	// the payee needs that long to redeem on chain.
	ExpiryMargin time.Duration
}

// Verify checks a voucher against what the payee knows, cheapest checks
// first and the signature last, and returns what it adds over Prev. It is
// pure: no I/O, no clock.
func Verify(c Check, sv SignedVoucher) (delta btt.Amount, err error) {
	switch {
	case sv.Scheme != c.Domain.Scheme:
		return btt.Zero, fmt.Errorf("%w: a %s voucher, the escrow checks %s", ErrWrongChain, sv.Scheme, c.Domain.Scheme)
	case sv.ChainID != c.Domain.ChainID:
		return btt.Zero, fmt.Errorf("%w: chain %d, want %d", ErrWrongChain, sv.ChainID, c.Domain.ChainID)
	case sv.Escrow != c.Domain.Escrow:
		return btt.Zero, fmt.Errorf("%w: %s, want %s", ErrWrongEscrow, sv.Escrow, c.Domain.Escrow)
	case sv.Channel != c.Channel.ID:
		return btt.Zero, fmt.Errorf("%w: %x, want %x", ErrWrongChannel, sv.Channel[:8], c.Channel.ID[:8])
	case c.Channel.State == ChannelUnknown:
		return btt.Zero, fmt.Errorf("%w: %x", ErrUnknownChannel, sv.Channel[:8])
	case c.Channel.State != ChannelOpen:
		return btt.Zero, fmt.Errorf("%w: %x is %s", ErrChannelClosed, sv.Channel[:8], c.Channel.State)
	case c.Channel.Payee != c.Payee:
		return btt.Zero, fmt.Errorf("%w: %s, not us (%s)", ErrWrongPayee, c.Channel.Payee, c.Payee)
	case !c.Now.Add(c.ExpiryMargin).Before(Deadline(c.Channel)):
		return btt.Zero, fmt.Errorf("%w: expires %s, within %s of now", ErrExpired, c.Channel.Expiry.UTC().Format(time.RFC3339), c.ExpiryMargin)
	case sv.Amount.Gt(c.Channel.Deposit):
		return btt.Zero, fmt.Errorf("%w: %s > deposit %s", ErrOverDeposit, sv.Amount, c.Channel.Deposit)
	case !sv.Amount.Gt(c.Prev):
		return btt.Zero, fmt.Errorf("%w: %s after %s", ErrNotIncreasing, sv.Amount, c.Prev)
	}
	signer, err := Recover(sv)
	if err != nil {
		return btt.Zero, err
	}
	if signer != c.Channel.Payer {
		return btt.Zero, fmt.Errorf("%w: signed by %s, not the payer %s", ErrBadSignature, signer, c.Channel.Payer)
	}
	return sv.Amount.SubFloor(c.Prev), nil
}

// The first byte of a voucher's binary encoding, its version, names its
// digest scheme: 1 SchemeTIP191 (the only version before EVM chains), 2
// SchemeEIP712. The rest is the same in both.
const (
	encodingTIP191 = 1
	encodingEIP712 = 2
)

// EncodedLen is the length of a SignedVoucher's binary encoding: version,
// chain id (8), escrow (21), channel (32), amount (32), signature (65).
const EncodedLen = 1 + 8 + btt.AddressLen + 32 + 32 + 65

// MarshalBinary encodes the voucher in EncodedLen bytes. A voucher of an
// unknown scheme has no encoding.
func (sv SignedVoucher) MarshalBinary() ([]byte, error) {
	var version byte
	switch sv.Scheme {
	case SchemeTIP191:
		version = encodingTIP191
	case SchemeEIP712:
		version = encodingEIP712
	default:
		return nil, fmt.Errorf("paychan: encode voucher: unknown digest %s", sv.Scheme)
	}
	b := make([]byte, 0, EncodedLen)
	b = append(b, version)
	b = binary.BigEndian.AppendUint64(b, sv.ChainID)
	b = append(b, sv.Escrow[:]...)
	b = append(b, sv.Channel[:]...)
	amt := sv.Amount.Bytes32()
	b = append(b, amt[:]...)
	return append(b, sv.Sig[:]...), nil
}

// UnmarshalBinary decodes MarshalBinary's encoding, strictly.
func (sv *SignedVoucher) UnmarshalBinary(b []byte) error {
	if len(b) != EncodedLen {
		return fmt.Errorf("%w: %d bytes, want %d", ErrMalformed, len(b), EncodedLen)
	}
	var v SignedVoucher
	switch b[0] {
	case encodingTIP191:
		v.Scheme = SchemeTIP191
	case encodingEIP712:
		v.Scheme = SchemeEIP712
	default:
		return fmt.Errorf("%w: version %d", ErrMalformed, b[0])
	}
	v.ChainID = binary.BigEndian.Uint64(b[1:9])
	esc, err := btt.AddressFromBytes(b[9 : 9+btt.AddressLen])
	if err != nil {
		return fmt.Errorf("%w: escrow: %v", ErrMalformed, err)
	}
	v.Escrow = esc
	o := 9 + btt.AddressLen
	copy(v.Channel[:], b[o:o+32])
	v.Amount = btt.AmountFromBytes32([32]byte(b[o+32 : o+64]))
	copy(v.Sig[:], b[o+64:])
	*sv = v
	return nil
}
