package piece

import (
	"errors"
	"fmt"
	"math/bits"
)

// Errors from decoding a wire bitfield.
var (
	ErrBitfieldLength = errors.New("piece: bitfield has the wrong length")
	ErrSpareBits      = errors.New("piece: bitfield has spare bits set")
)

// Bitfield is a fixed-length set of piece indices. Its wire form is BEP 3's:
// the first piece is the high bit of the first byte, and spare bits at the
// end are zero. The zero value is an empty bitfield of length 0.
type Bitfield struct {
	n     int
	words []uint64
}

// NewBitfield returns an empty bitfield of n pieces.
func NewBitfield(n int) Bitfield {
	if n < 0 {
		n = 0
	}
	return Bitfield{n: n, words: make([]uint64, (n+63)/64)}
}

// BitfieldFromWire decodes a wire bitfield of n pieces, rejecting one of the
// wrong length or with spare bits set.
func BitfieldFromWire(b []byte, n int) (Bitfield, error) {
	if n < 0 || len(b) != (n+7)/8 {
		return Bitfield{}, fmt.Errorf("%w: %d bytes for %d pieces, want %d", ErrBitfieldLength, len(b), n, (n+7)/8)
	}
	bf := NewBitfield(n)
	for i, c := range b {
		if c == 0 {
			continue
		}
		for j := 0; j < 8; j++ {
			if c&(0x80>>j) == 0 {
				continue
			}
			k := i*8 + j
			if k >= n {
				return Bitfield{}, fmt.Errorf("%w: bit %d of %d", ErrSpareBits, k, n)
			}
			bf.words[k/64] |= 1 << (k % 64)
		}
	}
	return bf, nil
}

// Bytes returns the wire form (a new slice).
func (b Bitfield) Bytes() []byte {
	out := make([]byte, (b.n+7)/8)
	for k := 0; k < b.n; k++ {
		if b.Has(k) {
			out[k/8] |= 0x80 >> (k % 8)
		}
	}
	return out
}

// Len returns the number of pieces the bitfield covers.
func (b Bitfield) Len() int { return b.n }

// Count returns the number of pieces set.
func (b Bitfield) Count() int {
	c := 0
	for _, w := range b.words {
		c += bits.OnesCount64(w)
	}
	return c
}

// Has reports whether piece i is set; out-of-range indices are not.
func (b Bitfield) Has(i int) bool {
	if i < 0 || i >= b.n {
		return false
	}
	return b.words[i/64]&(1<<(i%64)) != 0
}

// All reports whether every piece is set.
func (b Bitfield) All() bool { return b.Count() == b.n }

// None reports whether no piece is set.
func (b Bitfield) None() bool {
	for _, w := range b.words {
		if w != 0 {
			return false
		}
	}
	return true
}

// Clone returns an independent copy.
func (b Bitfield) Clone() Bitfield {
	return Bitfield{n: b.n, words: append([]uint64(nil), b.words...)}
}

// Set sets piece i; out-of-range indices are ignored.
func (b *Bitfield) Set(i int) {
	if i >= 0 && i < b.n {
		b.words[i/64] |= 1 << (i % 64)
	}
}

// Clear clears piece i; out-of-range indices are ignored.
func (b *Bitfield) Clear(i int) {
	if i >= 0 && i < b.n {
		b.words[i/64] &^= 1 << (i % 64)
	}
}

// SetAll sets every piece.
func (b *Bitfield) SetAll() {
	for i := range b.words {
		b.words[i] = ^uint64(0)
	}
	if r := b.n % 64; r != 0 {
		b.words[len(b.words)-1] = 1<<r - 1
	}
}

// Each calls f for every set piece in increasing order.
func (b Bitfield) Each(f func(i int)) {
	for wi, w := range b.words {
		for w != 0 {
			t := bits.TrailingZeros64(w)
			f(wi*64 + t)
			w &= w - 1
		}
	}
}
