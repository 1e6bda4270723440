package speedwire

import (
	"fmt"
	"strconv"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// Bid is a leecher's bid for a paid slot, per byte.
type Bid struct {
	Price btt.Amount
}

// Award gives a bidder a paid slot: the clearing price per byte, and the
// unpaid bytes the seeder allows.
type Award struct {
	Price  btt.Amount
	Credit int64 // ≥ 0
}

// Reject tells a bidder it has no paid slot (or no longer has one), and
// the price to beat.
type Reject struct {
	Price  btt.Amount
	Reason string // at most 256 bytes
}

// Channel is what a leecher tells a seeder of the channel it opened.
type Channel struct {
	ID      paychan.ChannelID
	Escrow  btt.Address
	Deposit btt.Amount
	// Expiry is in Unix seconds, > 0.
	Expiry int64
	// Proof is the payer's signature of the connection's channel proof
	// (paychan.Proof, over the seller's last challenge): it shows the
	// connection holds the channel's payer key.
	Proof [65]byte
}

// Challenge is a seller's fresh nonce for the connection, which a buyer
// signs to prove it holds its channel's payer key.
type Challenge struct {
	Nonce [32]byte
}

// Voucher is a signed voucher on the connection's channel.
type Voucher struct {
	Signed paychan.SignedVoucher
	// Pieces lists pieces of the connection's torrent that the voucher
	// pays for, each bought whole from the seeder, in increasing order
	// (optional; at most MaxRuns runs, apart, within 32 bits). The
	// seeder serves them again without charging (docs/PROTOCOL.md).
	Pieces []Run
}

// Error reports a protocol error to the peer. It is a message, not a Go
// error.
type Error struct {
	Code   int
	Reason string // at most 256 bytes
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

// Type implements Message.
func (Bid) Type() Type { return TypeBid }

// Type implements Message.
func (Award) Type() Type { return TypeAward }

// Type implements Message.
func (Reject) Type() Type { return TypeReject }

// Type implements Message.
func (Channel) Type() Type { return TypeChannel }

// Type implements Message.
func (Challenge) Type() Type { return TypeChallenge }

// Type implements Message.
func (Voucher) Type() Type { return TypeVoucher }

// Type implements Message.
func (Error) Type() Type { return TypeError }

// The encodings below write the dictionary's keys in sorted order, as
// bencode requires; a key whose value is the zero a decoder reads when it
// is absent (a zero credit or code, an empty reason or list) is left out.

// Append implements Message.
func (m Bid) Append(b []byte) ([]byte, error) {
	if err := checkPrice(m.Price); err != nil {
		return b, fmt.Errorf("%w: bid price: %v", ErrMalformed, err)
	}
	b = append(b, 'd')
	b = appendAmount(appendString(b, "price"), m.Price)
	return appendEnd(b, TypeBid), nil
}

// Append implements Message.
func (m Award) Append(b []byte) ([]byte, error) {
	if err := checkPrice(m.Price); err != nil {
		return b, fmt.Errorf("%w: award price: %v", ErrMalformed, err)
	}
	if m.Credit < 0 {
		return b, fmt.Errorf("%w: negative credit", ErrMalformed)
	}
	b = append(b, 'd')
	if m.Credit != 0 {
		b = appendInt(appendString(b, "credit"), m.Credit)
	}
	b = appendAmount(appendString(b, "price"), m.Price)
	return appendEnd(b, TypeAward), nil
}

// Append implements Message.
func (m Reject) Append(b []byte) ([]byte, error) {
	if err := checkPrice(m.Price); err != nil {
		return b, fmt.Errorf("%w: reject price: %v", ErrMalformed, err)
	}
	if len(m.Reason) > maxReason {
		return b, fmt.Errorf("%w: reason too long", ErrMalformed)
	}
	b = append(b, 'd')
	b = appendAmount(appendString(b, "price"), m.Price)
	if m.Reason != "" {
		b = appendString(appendString(b, "reason"), m.Reason)
	}
	return appendEnd(b, TypeReject), nil
}

// Append implements Message.
func (m Channel) Append(b []byte) ([]byte, error) {
	if _, err := btt.AddressFromBytes(m.Escrow[:]); err != nil {
		return b, fmt.Errorf("%w: escrow: %v", ErrMalformed, err)
	}
	if m.Expiry <= 0 {
		return b, fmt.Errorf("%w: expiry %d", ErrMalformed, m.Expiry)
	}
	b = append(b, 'd')
	b = appendAmount(appendString(b, "deposit"), m.Deposit)
	b = appendBytes(appendString(b, "escrow"), m.Escrow[:])
	b = appendInt(appendString(b, "expiry"), m.Expiry)
	b = appendBytes(appendString(b, "id"), m.ID[:])
	b = appendBytes(appendString(b, "proof"), m.Proof[:])
	return appendEnd(b, TypeChannel), nil
}

// Append implements Message.
func (m Challenge) Append(b []byte) ([]byte, error) {
	b = append(b, 'd')
	b = appendBytes(appendString(b, "nonce"), m.Nonce[:])
	return appendEnd(b, TypeChallenge), nil
}

// Append implements Message.
func (m Voucher) Append(b []byte) ([]byte, error) {
	if err := checkRuns(m.Pieces); err != nil {
		return b, err
	}
	if _, err := btt.AddressFromBytes(m.Signed.Escrow[:]); err != nil {
		return b, fmt.Errorf("%w: voucher: escrow: %v", ErrMalformed, err)
	}
	v, err := m.Signed.MarshalBinary()
	if err != nil {
		return b, fmt.Errorf("%w: voucher: %v", ErrMalformed, err)
	}
	b = append(b, 'd')
	if len(m.Pieces) > 0 {
		b = append(appendString(b, "p"), 'l')
		for _, r := range m.Pieces {
			b = appendInt(appendInt(b, int64(r.Start)), int64(r.Count))
		}
		b = append(b, 'e')
	}
	b = appendString(b, "t")
	b = appendString(b, string(TypeVoucher))
	b = appendBytes(appendString(b, "v"), v)
	return append(b, 'e'), nil
}

// Append implements Message.
func (m Error) Append(b []byte) ([]byte, error) {
	if len(m.Reason) > maxReason {
		return b, fmt.Errorf("%w: text too long", ErrMalformed)
	}
	b = append(b, 'd')
	if m.Code != 0 {
		b = appendInt(appendString(b, "code"), int64(m.Code))
	}
	if m.Reason != "" {
		b = appendString(appendString(b, "reason"), m.Reason)
	}
	return appendEnd(b, TypeError), nil
}

// checkRuns checks a voucher's runs of pieces as decodeRuns does.
func checkRuns(runs []Run) error {
	if len(runs) > MaxRuns {
		return fmt.Errorf("%w: voucher pieces: %d runs, more than %d", ErrMalformed, len(runs), MaxRuns)
	}
	next := int64(0)
	for _, r := range runs {
		if !validRun(next, int64(r.Start), int64(r.Count)) {
			return fmt.Errorf("%w: voucher pieces: run %d+%d out of order or range", ErrMalformed, r.Start, r.Count)
		}
		next = int64(r.Start) + int64(r.Count) + 1
	}
	return nil
}

// validRun reports whether start+count is a run that may follow runs
// ending before next-1: of one piece or more, apart from the run before
// (adjacent runs are one), within 32 bits.
func validRun(next, start, count int64) bool {
	return start >= next && count >= 1 && count <= maxPiece+1-start
}

// appendEnd appends the type key, which sorts last in every message but
// the voucher, and closes the dictionary.
func appendEnd(b []byte, t Type) []byte {
	b = appendString(b, "t")
	b = appendString(b, string(t))
	return append(b, 'e')
}

func appendString(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	return append(append(b, ':'), s...)
}

func appendBytes(b, s []byte) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	return append(append(b, ':'), s...)
}

func appendInt(b []byte, i int64) []byte {
	b = strconv.AppendInt(append(b, 'i'), i, 10)
	return append(b, 'e')
}

func appendAmount(b []byte, a btt.Amount) []byte {
	return appendString(b, a.String())
}
