// Package speedwire encodes and decodes the messages of the btt_speed BEP 10
// extension: the keys a peer adds to its extended handshake, and the bid,
// award, reject, channel, voucher and error messages. It is pure: bytes in,
// values out, strictly validated; package speed uses it on the wire (see
// docs/PROTOCOL.md).
//
// Messages are bencoded dictionaries with a type key "t"; amounts are
// decimal strings of base units; addresses are 21-byte TRON addresses; a
// voucher travels in paychan's 159-byte binary encoding.
package speedwire

import (
	"errors"
	"fmt"

	"github.com/anacrolix/torrent/bencode"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// Name is the extension's name in the extended handshake's "m" dictionary.
const Name = "btt_speed"

// Version is the protocol version we speak. Version 2 added channel
// proofs (the challenge message, the channel message's proof); a peer of
// an earlier version is treated as a legacy peer.
const Version = 2

// MaxMessage bounds an encoded message; anything longer is refused. A
// voucher listing MaxRuns runs of pieces fits.
const MaxMessage = 8192

// MaxRuns bounds the runs of pieces a voucher lists.
const MaxRuns = 256

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

// parsePrice parses a price and holds it to MaxPrice.
func parsePrice(s string) (btt.Amount, error) {
	a, err := btt.ParseAmount(s)
	if err != nil {
		return btt.Zero, err
	}
	if a.Gt(MaxPrice) {
		return btt.Zero, fmt.Errorf("%s is above the maximum price %s", a, MaxPrice)
	}
	return a, nil
}

// ErrMalformed reports a message that does not decode or validate.
var ErrMalformed = errors.New("speedwire: malformed btt_speed message")

// Type is a message type.
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

// Handshake is what a btt_speed peer adds to its extended handshake, under
// keys prefixed "bs_".
type Handshake struct {
	Version int
	ChainID uint64
	Token   btt.Address
	Escrow  btt.Address
	// Payee is where a seeder is paid (zero for a peer that only buys).
	Payee btt.Address
	// Ask is the seeder's reserve price per byte (zero if it sells
	// nothing).
	Ask btt.Amount
}

// Keys returns the handshake's keys for the extended handshake dict.
func (h Handshake) Keys() map[string]any {
	m := map[string]any{
		"bs_version": h.Version,
		"bs_chain":   int64(h.ChainID),
		"bs_escrow":  string(h.Escrow[:]),
		"bs_ask":     h.Ask.String(),
	}
	if !h.Token.IsZero() {
		m["bs_token"] = string(h.Token[:])
	}
	if !h.Payee.IsZero() {
		m["bs_payee"] = string(h.Payee[:])
	}
	return m
}

// ParseHandshake reads the btt_speed keys of a peer's extended handshake
// (the whole dict, raw values as the engine hands them over).
func ParseHandshake(raw map[string]bencode.Bytes) (Handshake, error) {
	var h Handshake
	var chain int64
	var token, escrow, payee, ask string
	fields := []struct {
		key      string
		dst      any
		required bool
	}{
		{"bs_version", &h.Version, true}, {"bs_chain", &chain, true}, {"bs_token", &token, false},
		{"bs_escrow", &escrow, true}, {"bs_ask", &ask, true}, {"bs_payee", &payee, false},
	}
	for _, f := range fields {
		b, ok := raw[f.key]
		if !ok {
			if f.required {
				return h, fmt.Errorf("%w: handshake lacks %s", ErrMalformed, f.key)
			}
			continue
		}
		if len(b) > 256 {
			return h, fmt.Errorf("%w: handshake %s too long", ErrMalformed, f.key)
		}
		if err := bencode.Unmarshal(b, f.dst); err != nil {
			return h, fmt.Errorf("%w: handshake %s: %v", ErrMalformed, f.key, err)
		}
	}
	if h.Version < 1 {
		return h, fmt.Errorf("%w: version %d", ErrMalformed, h.Version)
	}
	if chain < 0 {
		return h, fmt.Errorf("%w: chain id %d", ErrMalformed, chain)
	}
	h.ChainID = uint64(chain)
	var err error
	if token != "" {
		if h.Token, err = btt.AddressFromBytes([]byte(token)); err != nil {
			return h, fmt.Errorf("%w: token: %v", ErrMalformed, err)
		}
	}
	if h.Escrow, err = btt.AddressFromBytes([]byte(escrow)); err != nil {
		return h, fmt.Errorf("%w: escrow: %v", ErrMalformed, err)
	}
	if payee != "" {
		if h.Payee, err = btt.AddressFromBytes([]byte(payee)); err != nil {
			return h, fmt.Errorf("%w: payee: %v", ErrMalformed, err)
		}
	}
	if h.Ask, err = parsePrice(ask); err != nil {
		return h, fmt.Errorf("%w: ask: %v", ErrMalformed, err)
	}
	return h, nil
}

// Message is one btt_speed message. Type says which fields are set.
type Message struct {
	Type Type
	// Price: the bid (bid), the clearing price (award), the price to beat
	// (reject).
	Price btt.Amount
	// Credit is the unpaid bytes the seeder allows (award).
	Credit int64
	// Reason says why (reject, error).
	Reason string
	// Code is an error code (error).
	Code int
	// Channel describes a payment channel (channel).
	Channel ChannelInfo
	// Voucher is a signed voucher (voucher).
	Voucher paychan.SignedVoucher
	// Nonce is the seller's challenge (challenge).
	Nonce [32]byte
	// Pieces lists pieces of the connection's torrent that the voucher
	// pays for, each bought whole from the seeder, in increasing order
	// (voucher; optional). The seeder serves them again without charging
	// (docs/PROTOCOL.md).
	Pieces []Run
}

// Run is a run of consecutive pieces: Start, Start+1, …, Start+Count-1.
type Run struct {
	Start, Count int
}

// RunsOf returns the runs of pieces, which must be distinct and in
// increasing order, keeping the first MaxRuns runs: the pieces past them
// are left out. It returns nil if pieces is not in increasing order.
func RunsOf(pieces []int) []Run {
	var runs []Run
	for i, p := range pieces {
		if p < 0 || p > maxPiece || i > 0 && p <= pieces[i-1] {
			return nil
		}
		if n := len(runs); n > 0 && runs[n-1].Start+runs[n-1].Count == p {
			runs[n-1].Count++
			continue
		}
		if len(runs) == MaxRuns {
			break
		}
		runs = append(runs, Run{p, 1})
	}
	return runs
}

// ChannelInfo is what a leecher tells a seeder of the channel it opened.
type ChannelInfo struct {
	ID      paychan.ChannelID
	Escrow  btt.Address
	Deposit btt.Amount
	// Expiry is in Unix seconds.
	Expiry int64
	// Proof is the payer's signature of the connection's channel proof
	// (paychan.Proof, over the seller's last challenge): it shows the
	// connection holds the channel's payer key.
	Proof [65]byte
}

type wireMsg struct {
	T       string  `bencode:"t"`
	Price   string  `bencode:"price,omitempty"`
	Credit  int64   `bencode:"credit,omitempty"`
	Reason  string  `bencode:"reason,omitempty"`
	Code    int     `bencode:"code,omitempty"`
	ID      string  `bencode:"id,omitempty"`
	Escrow  string  `bencode:"escrow,omitempty"`
	Deposit string  `bencode:"deposit,omitempty"`
	Expiry  int64   `bencode:"expiry,omitempty"`
	Proof   string  `bencode:"proof,omitempty"`
	Nonce   string  `bencode:"nonce,omitempty"`
	Voucher string  `bencode:"v,omitempty"`
	Pieces  []int64 `bencode:"p,omitempty"`
}

// Encode encodes a message, validating it as Decode would.
func Encode(m Message) ([]byte, error) {
	w := wireMsg{T: string(m.Type)}
	switch m.Type {
	case TypeBid:
		w.Price = m.Price.String()
	case TypeAward:
		w.Price, w.Credit = m.Price.String(), m.Credit
	case TypeReject:
		w.Price, w.Reason = m.Price.String(), m.Reason
	case TypeChannel:
		w.ID, w.Escrow, w.Deposit, w.Expiry = string(m.Channel.ID[:]), string(m.Channel.Escrow[:]), m.Channel.Deposit.String(), m.Channel.Expiry
		w.Proof = string(m.Channel.Proof[:])
	case TypeChallenge:
		w.Nonce = string(m.Nonce[:])
	case TypeVoucher:
		b, _ := m.Voucher.MarshalBinary()
		w.Voucher = string(b)
		for _, r := range m.Pieces {
			w.Pieces = append(w.Pieces, int64(r.Start), int64(r.Count))
		}
	case TypeError:
		w.Code, w.Reason = m.Code, m.Reason
	default:
		return nil, fmt.Errorf("%w: unknown type %q", ErrMalformed, m.Type)
	}
	b, err := bencode.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("speedwire: encode: %w", err)
	}
	if _, err := Decode(b); err != nil {
		return nil, err
	}
	return b, nil
}

// Decode decodes and validates a message.
func Decode(b []byte) (Message, error) {
	if len(b) > MaxMessage {
		return Message{}, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(b), MaxMessage)
	}
	var w wireMsg
	if err := bencode.Unmarshal(b, &w); err != nil {
		return Message{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	m := Message{Type: Type(w.T)}
	price := func() (err error) {
		m.Price, err = parsePrice(w.Price)
		if err != nil {
			err = fmt.Errorf("%w: %s price: %v", ErrMalformed, w.T, err)
		}
		return err
	}
	switch m.Type {
	case TypeBid:
		return m, price()
	case TypeAward:
		if w.Credit < 0 {
			return m, fmt.Errorf("%w: negative credit", ErrMalformed)
		}
		m.Credit = w.Credit
		return m, price()
	case TypeReject:
		if len(w.Reason) > 256 {
			return m, fmt.Errorf("%w: reason too long", ErrMalformed)
		}
		m.Reason = w.Reason
		return m, price()
	case TypeChannel:
		if len(w.ID) != 32 {
			return m, fmt.Errorf("%w: channel id of %d bytes", ErrMalformed, len(w.ID))
		}
		copy(m.Channel.ID[:], w.ID)
		esc, err := btt.AddressFromBytes([]byte(w.Escrow))
		if err != nil {
			return m, fmt.Errorf("%w: escrow: %v", ErrMalformed, err)
		}
		m.Channel.Escrow = esc
		if m.Channel.Deposit, err = btt.ParseAmount(w.Deposit); err != nil {
			return m, fmt.Errorf("%w: deposit: %v", ErrMalformed, err)
		}
		if w.Expiry <= 0 {
			return m, fmt.Errorf("%w: expiry %d", ErrMalformed, w.Expiry)
		}
		m.Channel.Expiry = w.Expiry
		if len(w.Proof) != 65 {
			return m, fmt.Errorf("%w: channel proof of %d bytes, want 65", ErrMalformed, len(w.Proof))
		}
		copy(m.Channel.Proof[:], w.Proof)
		return m, nil
	case TypeChallenge:
		if len(w.Nonce) != 32 {
			return m, fmt.Errorf("%w: challenge nonce of %d bytes, want 32", ErrMalformed, len(w.Nonce))
		}
		copy(m.Nonce[:], w.Nonce)
		return m, nil
	case TypeVoucher:
		runs, err := decodeRuns(w.Pieces)
		if err != nil {
			return m, err
		}
		m.Pieces = runs
		if err := m.Voucher.UnmarshalBinary([]byte(w.Voucher)); err != nil {
			return m, fmt.Errorf("%w: voucher: %v", ErrMalformed, err)
		}
		return m, nil
	case TypeError:
		if len(w.Reason) > 256 {
			return m, fmt.Errorf("%w: text too long", ErrMalformed)
		}
		m.Code, m.Reason = w.Code, w.Reason
		return m, nil
	}
	return m, fmt.Errorf("%w: unknown type %q", ErrMalformed, w.T)
}

// decodeRuns decodes a voucher's piece runs, flattened as start, count,
// start, count, …: at most MaxRuns, each of one piece or more, in
// increasing order, apart (adjacent runs are one), within 32 bits.
func decodeRuns(flat []int64) ([]Run, error) {
	if len(flat) == 0 {
		return nil, nil
	}
	if len(flat)%2 != 0 {
		return nil, fmt.Errorf("%w: voucher pieces: %d numbers, not pairs", ErrMalformed, len(flat))
	}
	if len(flat)/2 > MaxRuns {
		return nil, fmt.Errorf("%w: voucher pieces: %d runs, more than %d", ErrMalformed, len(flat)/2, MaxRuns)
	}
	runs := make([]Run, 0, len(flat)/2)
	next := int64(0) // the least start the next run may have
	for i := 0; i < len(flat); i += 2 {
		start, count := flat[i], flat[i+1]
		if start < next || count < 1 || count > maxPiece+1-start {
			return nil, fmt.Errorf("%w: voucher pieces: run %d+%d out of order or range", ErrMalformed, start, count)
		}
		runs = append(runs, Run{int(start), int(count)})
		next = start + count + 1
	}
	return runs, nil
}
