package btt

import (
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/holiman/uint256"
)

// Decimals is the number of decimal places of BTT (TRC-20 `decimals()`).
const Decimals = 18

// Errors returned by Amount parsing and arithmetic.
var (
	ErrOverflow  = errors.New("btt: amount overflows 256 bits")
	ErrUnderflow = errors.New("btt: amount would be negative")
	ErrSyntax    = errors.New("btt: invalid amount")
)

// maxDecimalLen bounds the length of a decimal amount string: 2^256-1 has 78
// digits. A longer string is rejected before any parsing work.
const maxDecimalLen = 78

// Amount is a non-negative quantity of BTT base units. The zero value is 0.
// Amount is a small value type (32 bytes) and is safe to copy and compare
// with ==.
type Amount struct {
	u uint256.Int
}

// Zero is the zero Amount.
var Zero Amount

// NewAmount returns an Amount of n base units.
func NewAmount(n uint64) Amount {
	var a Amount
	a.u.SetUint64(n)
	return a
}

// BTT returns an Amount of n whole BTT (n × 10^18 base units).
func BTT(n uint64) Amount {
	a := NewAmount(n)
	var scale uint256.Int
	scale.Exp(uint256.NewInt(10), uint256.NewInt(Decimals))
	a.u.Mul(&a.u, &scale) // n < 2^64, 10^18 < 2^60: cannot overflow
	return a
}

// ParseAmount parses a decimal string of base units, as used on the wire:
// digits only, no sign, no leading zeros (except "0" itself), at most 78
// digits, and at most 2^256-1.
func ParseAmount(s string) (Amount, error) {
	if len(s) == 0 || len(s) > maxDecimalLen {
		return Amount{}, fmt.Errorf("%w: %q: want 1 to %d decimal digits", ErrSyntax, truncate(s), maxDecimalLen)
	}
	if len(s) > 1 && s[0] == '0' {
		return Amount{}, fmt.Errorf("%w: %q: leading zero", ErrSyntax, truncate(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return Amount{}, fmt.Errorf("%w: %q: not a decimal digit at offset %d", ErrSyntax, truncate(s), i)
		}
	}
	var a Amount
	if err := a.u.SetFromDecimal(s); err != nil {
		return Amount{}, fmt.Errorf("%w: %q", ErrOverflow, truncate(s))
	}
	return a, nil
}

// ParseBTT parses a human amount of BTT with up to 18 decimal places, such as
// "1.5" or "0.000001", into base units.
func ParseBTT(s string) (Amount, error) {
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (hasDot && frac == "") {
		return Amount{}, fmt.Errorf("%w: %q: want digits with an optional fraction, like 1.5", ErrSyntax, truncate(s))
	}
	if len(frac) > Decimals {
		return Amount{}, fmt.Errorf("%w: %q: more than %d decimal places", ErrSyntax, truncate(s), Decimals)
	}
	digits := strings.TrimLeft(whole+frac+strings.Repeat("0", Decimals-len(frac)), "0")
	if digits == "" {
		digits = "0"
	}
	for _, part := range []string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return Amount{}, fmt.Errorf("%w: %q: not a decimal digit", ErrSyntax, truncate(s))
			}
		}
	}
	return ParseAmount(digits)
}

// AmountFromBig converts a big.Int, rejecting negative values and values of
// more than 256 bits.
func AmountFromBig(b *big.Int) (Amount, error) {
	if b == nil {
		return Amount{}, fmt.Errorf("%w: nil", ErrSyntax)
	}
	if b.Sign() < 0 {
		return Amount{}, fmt.Errorf("%w: %s", ErrUnderflow, b)
	}
	var a Amount
	if a.u.SetFromBig(b) {
		return Amount{}, fmt.Errorf("%w: %s", ErrOverflow, b)
	}
	return a, nil
}

// AmountFromBytes32 decodes a big-endian 32-byte word (an ABI uint256).
func AmountFromBytes32(b [32]byte) Amount {
	var a Amount
	a.u.SetBytes32(b[:])
	return a
}

// Bytes32 returns the amount as a big-endian 32-byte word (an ABI uint256).
func (a Amount) Bytes32() [32]byte { return a.u.Bytes32() }

// Big returns the amount as a new big.Int.
func (a Amount) Big() *big.Int { return a.u.ToBig() }

// Uint64 returns the amount and true if it fits in a uint64.
func (a Amount) Uint64() (uint64, bool) { return a.u.Uint64(), a.u.IsUint64() }

// IsZero reports whether a is 0.
func (a Amount) IsZero() bool { return a.u.IsZero() }

// Cmp compares a and b: -1 if a < b, 0 if equal, +1 if a > b.
func (a Amount) Cmp(b Amount) int { return a.u.Cmp(&b.u) }

// Lt reports whether a < b.
func (a Amount) Lt(b Amount) bool { return a.u.Lt(&b.u) }

// Gt reports whether a > b.
func (a Amount) Gt(b Amount) bool { return a.u.Gt(&b.u) }

// Add returns a + b, or ErrOverflow.
func (a Amount) Add(b Amount) (Amount, error) {
	var r Amount
	if _, of := r.u.AddOverflow(&a.u, &b.u); of {
		return Amount{}, ErrOverflow
	}
	return r, nil
}

// Sub returns a - b, or ErrUnderflow if b > a.
func (a Amount) Sub(b Amount) (Amount, error) {
	var r Amount
	if _, uf := r.u.SubOverflow(&a.u, &b.u); uf {
		return Amount{}, ErrUnderflow
	}
	return r, nil
}

// SubFloor returns a - b, or 0 if b > a.
func (a Amount) SubFloor(b Amount) Amount {
	if b.u.Gt(&a.u) {
		return Amount{}
	}
	var r Amount
	r.u.Sub(&a.u, &b.u)
	return r
}

// Mul returns a × b, or ErrOverflow.
func (a Amount) Mul(b Amount) (Amount, error) {
	var r Amount
	if _, of := r.u.MulOverflow(&a.u, &b.u); of {
		return Amount{}, ErrOverflow
	}
	return r, nil
}

// MulUint64 returns a × n, or ErrOverflow. It is the price-per-byte × bytes
// product used throughout the payment code.
func (a Amount) MulUint64(n uint64) (Amount, error) {
	var r, m Amount
	m.u.SetUint64(n)
	if _, of := r.u.MulOverflow(&a.u, &m.u); of {
		return Amount{}, ErrOverflow
	}
	return r, nil
}

// DivUint64 returns a / n rounded down; it panics only if n is 0, like
// integer division.
func (a Amount) DivUint64(n uint64) Amount {
	if n == 0 {
		panic("btt: division by zero")
	}
	var r, d Amount
	d.u.SetUint64(n)
	r.u.Div(&a.u, &d.u)
	return r
}

// Div returns a / b rounded down, and false if b is 0.
func (a Amount) Div(b Amount) (Amount, bool) {
	if b.u.IsZero() {
		return Amount{}, false
	}
	var r Amount
	r.u.Div(&a.u, &b.u)
	return r, true
}

// Min returns the smaller of a and b.
func Min(a, b Amount) Amount {
	if a.Lt(b) {
		return a
	}
	return b
}

// Max returns the larger of a and b.
func Max(a, b Amount) Amount {
	if a.Gt(b) {
		return a
	}
	return b
}

// String returns the amount in base units as a decimal string: the wire
// format.
func (a Amount) String() string { return a.u.Dec() }

// FormatBTT returns the amount in whole BTT with the fraction trimmed of
// trailing zeros, such as "1.5" or "0".
func (a Amount) FormatBTT() string {
	s := a.u.Dec()
	if len(s) <= Decimals {
		s = strings.Repeat("0", Decimals-len(s)+1) + s
	}
	whole, frac := s[:len(s)-Decimals], strings.TrimRight(s[len(s)-Decimals:], "0")
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}

// MarshalText implements encoding.TextMarshaler (decimal base units).
func (a Amount) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (decimal base units).
func (a *Amount) UnmarshalText(b []byte) error {
	v, err := ParseAmount(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

func truncate(s string) string {
	if len(s) > 90 {
		return s[:87] + "..."
	}
	return s
}
