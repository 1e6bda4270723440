package btt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/mr-tron/base58"
)

// AddressPrefix is the first byte of every TRON mainnet/testnet address.
const AddressPrefix = 0x41

// AddressLen is the length of a TRON address in bytes: the prefix and the
// 20-byte account hash an EVM sees.
const AddressLen = 21

// ErrBadAddress reports an address that does not decode.
var ErrBadAddress = errors.New("btt: invalid TRON address")

// Address is a TRON address: 0x41 followed by the 20 bytes the EVM uses.
// The zero value is the invalid empty address; IsZero reports it.
type Address [AddressLen]byte

// AddressFromEVM returns the TRON address of a 20-byte EVM address.
func AddressFromEVM(evm [20]byte) Address {
	var a Address
	a[0] = AddressPrefix
	copy(a[1:], evm[:])
	return a
}

// AddressFromBytes checks and copies a 21-byte address.
func AddressFromBytes(b []byte) (Address, error) {
	var a Address
	if len(b) != AddressLen {
		return a, fmt.Errorf("%w: %d bytes, want %d", ErrBadAddress, len(b), AddressLen)
	}
	if b[0] != AddressPrefix {
		return a, fmt.Errorf("%w: prefix 0x%02x, want 0x41", ErrBadAddress, b[0])
	}
	copy(a[:], b)
	return a, nil
}

// ParseAddress parses a base58check address ("T…") or a hex one ("41…",
// optionally "0x41…").
func ParseAddress(s string) (Address, error) {
	if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
		s = s[2:]
	}
	if len(s) == 2*AddressLen {
		b, err := hex.DecodeString(s)
		if err != nil {
			return Address{}, fmt.Errorf("%w: %q: %v", ErrBadAddress, truncate(s), err)
		}
		return AddressFromBytes(b)
	}
	if len(s) < 25 || len(s) > 40 {
		return Address{}, fmt.Errorf("%w: %q: wrong length", ErrBadAddress, truncate(s))
	}
	raw, err := base58.Decode(s)
	if err != nil {
		return Address{}, fmt.Errorf("%w: %q: %v", ErrBadAddress, truncate(s), err)
	}
	if len(raw) != AddressLen+4 {
		return Address{}, fmt.Errorf("%w: %q: decodes to %d bytes, want %d", ErrBadAddress, truncate(s), len(raw), AddressLen+4)
	}
	sum := checksum(raw[:AddressLen])
	if !bytes.Equal(sum[:], raw[AddressLen:]) {
		return Address{}, fmt.Errorf("%w: %q: bad checksum", ErrBadAddress, truncate(s))
	}
	return AddressFromBytes(raw[:AddressLen])
}

// MustParseAddress is ParseAddress for constants in tests and examples; it
// panics on a bad address.
func MustParseAddress(s string) Address {
	a, err := ParseAddress(s)
	if err != nil {
		panic(err)
	}
	return a
}

func checksum(b []byte) [4]byte {
	h1 := sha256.Sum256(b)
	h2 := sha256.Sum256(h1[:])
	var c [4]byte
	copy(c[:], h2[:4])
	return c
}

// IsZero reports whether a is the zero (unset) address.
func (a Address) IsZero() bool { return a == Address{} }

// EVM returns the 20-byte address the EVM sees.
func (a Address) EVM() [20]byte {
	var e [20]byte
	copy(e[:], a[1:])
	return e
}

// Hex returns the address as 42 hex digits starting with "41".
func (a Address) Hex() string { return hex.EncodeToString(a[:]) }

// String returns the base58check form ("T…"), or "" for the zero address.
func (a Address) String() string {
	if a.IsZero() {
		return ""
	}
	sum := checksum(a[:])
	return base58.Encode(append(a[:], sum[:]...))
}

// MarshalText implements encoding.TextMarshaler (base58check).
func (a Address) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (base58check or hex).
func (a *Address) UnmarshalText(b []byte) error {
	v, err := ParseAddress(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}
