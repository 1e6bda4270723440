// Package speedwire encodes and decodes the messages of the btt_speed BEP 10
// extension: the keys a peer adds to its extended handshake, and the bid,
// award, reject, channel, challenge, voucher and error messages. It is
// pure: bytes in, values out, strictly validated; package speed uses it on
// the wire (see docs/PROTOCOL.md).
//
// Each message is its own type (Bid, Award, Reject, Channel, Challenge,
// Voucher, Error) behind the Message interface. Append checks a message's
// fields as Decode would and appends its encoding, so what we send is
// what we accept; Decode returns the concrete type, by value, for a type
// switch.
//
// Messages are bencoded dictionaries with a type key "t", keys sorted;
// amounts are decimal strings of base units; addresses are 21-byte TRON
// addresses; a voucher travels in paychan's 159-byte binary encoding.
package speedwire

import (
	"errors"
	"fmt"

	"github.com/bttspeed/bttspeed/btt"
)

// Name is the extension's name in the extended handshake's "m" dictionary.
const Name = "btt_speed"

// Version is the protocol version we speak. Version 2 added channel
// proofs (the challenge message, the channel message's proof); a peer of
// an earlier version is treated as a legacy peer.
const Version = 2

// MaxMessage bounds an encoded message; anything longer is refused. Every
// message Append accepts fits, a voucher listing MaxRuns runs of pieces
// included.
const MaxMessage = 8192

// MaxRuns bounds the runs of pieces a voucher lists.
const MaxRuns = 256

// maxReason bounds the text of a reject or an error.
const maxReason = 256

// maxPiece bounds a piece index on the wire (BEP 3 indexes are 32-bit).
const maxPiece = 1<<31 - 1

// MaxPrice bounds every price per byte on the wire (bid, award, reject, the
// handshake's ask): 10^30 base units, a trillion BTT a byte, above any
// price that means anything (BTT's whole supply is under 10^33 base
// units). A price at most MaxPrice (< 2^100) times any byte count that
// fits an int64 (< 2^63) is below 2^163, and a sum of 2^64 such products
// is below 2^227: no product or sum of prices and bytes the accounting
// forms can overflow 256 bits. A larger price is malformed.
var MaxPrice = mustAmount("1000000000000000000000000000000")

func mustAmount(s string) btt.Amount {
	a, err := btt.ParseAmount(s)
	if err != nil {
		panic(err)
	}
	return a
}

// checkPrice holds a price to MaxPrice.
func checkPrice(a btt.Amount) error {
	if a.Gt(MaxPrice) {
		return fmt.Errorf("%s is above the maximum price %s", a, MaxPrice)
	}
	return nil
}

// parsePrice parses a price and holds it to MaxPrice.
func parsePrice(s string) (btt.Amount, error) {
	a, err := btt.ParseAmount(s)
	if err != nil {
		return btt.Zero, err
	}
	return a, checkPrice(a)
}

// ErrMalformed reports a message that does not decode or validate, or
// one that Append refuses to encode.
var ErrMalformed = errors.New("speedwire: malformed btt_speed message")

// Type is a message type: the value of its "t" key.
type Type string

// The message types.
const (
	TypeBid     Type = "bid"
	TypeAward   Type = "award"
	TypeReject  Type = "reject"
	TypeChannel Type = "channel"
	TypeVoucher Type = "voucher"
	TypeError   Type = "error"
	// TypeChallenge is a seller's fresh nonce for this connection, which
	// a buyer signs to prove it holds its channel's payer key.
	TypeChallenge Type = "challenge"
)

// Message is one btt_speed message: a Bid, Award, Reject, Channel,
// Challenge, Voucher or Error.
type Message interface {
	// Type is the message's type.
	Type() Type
	// Append appends the message's encoding to b. It first checks the
	// fields as Decode would; a message Decode would refuse is not
	// written, and b comes back unchanged with an error wrapping
	// ErrMalformed.
	Append(b []byte) ([]byte, error)
}
