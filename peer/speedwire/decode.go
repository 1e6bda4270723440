package speedwire

import (
	"fmt"

	"github.com/anacrolix/torrent/bencode"

	"github.com/bttspeed/bttspeed/btt"
)

// wireMsg is every key any message has; Decode reads a message into it,
// then keeps the keys of the message's type. Keys of other types, and
// unknown keys, are ignored.
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

// Decode decodes and validates a message of at most MaxMessage bytes. It
// returns one of the message types by value (Bid, Award, Reject, Channel,
// Challenge, Voucher, Error), or an error wrapping ErrMalformed.
func Decode(b []byte) (Message, error) {
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(b), MaxMessage)
	}
	var w wireMsg
	if err := bencode.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	price := func() (btt.Amount, error) {
		p, err := parsePrice(w.Price)
		if err != nil {
			return p, fmt.Errorf("%w: %s price: %v", ErrMalformed, w.T, err)
		}
		return p, nil
	}
	switch Type(w.T) {
	case TypeBid:
		p, err := price()
		if err != nil {
			return nil, err
		}
		return Bid{Price: p}, nil
	case TypeAward:
		if w.Credit < 0 {
			return nil, fmt.Errorf("%w: negative credit", ErrMalformed)
		}
		p, err := price()
		if err != nil {
			return nil, err
		}
		return Award{Price: p, Credit: w.Credit}, nil
	case TypeReject:
		if len(w.Reason) > maxReason {
			return nil, fmt.Errorf("%w: reason too long", ErrMalformed)
		}
		p, err := price()
		if err != nil {
			return nil, err
		}
		return Reject{Price: p, Reason: w.Reason}, nil
	case TypeChannel:
		return decodeChannel(&w)
	case TypeChallenge:
		if len(w.Nonce) != 32 {
			return nil, fmt.Errorf("%w: challenge nonce of %d bytes, want 32", ErrMalformed, len(w.Nonce))
		}
		var m Challenge
		copy(m.Nonce[:], w.Nonce)
		return m, nil
	case TypeVoucher:
		runs, err := decodeRuns(w.Pieces)
		if err != nil {
			return nil, err
		}
		m := Voucher{Pieces: runs}
		if err := m.Signed.UnmarshalBinary([]byte(w.Voucher)); err != nil {
			return nil, fmt.Errorf("%w: voucher: %v", ErrMalformed, err)
		}
		return m, nil
	case TypeError:
		if len(w.Reason) > maxReason {
			return nil, fmt.Errorf("%w: text too long", ErrMalformed)
		}
		return Error{Code: w.Code, Reason: w.Reason}, nil
	}
	return nil, fmt.Errorf("%w: unknown type %q", ErrMalformed, w.T)
}

func decodeChannel(w *wireMsg) (Message, error) {
	var m Channel
	if len(w.ID) != len(m.ID) {
		return nil, fmt.Errorf("%w: channel id of %d bytes", ErrMalformed, len(w.ID))
	}
	copy(m.ID[:], w.ID)
	var err error
	if m.Escrow, err = btt.AddressFromBytes([]byte(w.Escrow)); err != nil {
		return nil, fmt.Errorf("%w: escrow: %v", ErrMalformed, err)
	}
	if m.Deposit, err = btt.ParseAmount(w.Deposit); err != nil {
		return nil, fmt.Errorf("%w: deposit: %v", ErrMalformed, err)
	}
	if w.Expiry <= 0 {
		return nil, fmt.Errorf("%w: expiry %d", ErrMalformed, w.Expiry)
	}
	m.Expiry = w.Expiry
	if len(w.Proof) != len(m.Proof) {
		return nil, fmt.Errorf("%w: channel proof of %d bytes, want 65", ErrMalformed, len(w.Proof))
	}
	copy(m.Proof[:], w.Proof)
	return m, nil
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
		if !validRun(next, start, count) {
			return nil, fmt.Errorf("%w: voucher pieces: run %d+%d out of order or range", ErrMalformed, start, count)
		}
		runs = append(runs, Run{int(start), int(count)})
		next = start + count + 1
	}
	return runs, nil
}
