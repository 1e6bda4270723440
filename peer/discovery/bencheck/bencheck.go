// Package bencheck checks the framing and nesting of bencoded bytes
// before a decoder sees them.
//
// anacrolix's bencode decoder recurses once per level of nesting: 128 KiB
// of nested lists cost it about 16 MiB of stack and 10–20 ms, 4 MiB half a
// GiB of stack and seconds (and a goroutine past 1 GB of stack is a fatal
// error, not a panic). A hostile peer or tracker chooses the nesting, so
// every bencoded input from one is scanned here first: in
// one pass, without recursion or allocation, refusing values nested more
// than MaxDepth deep and malformed framing (a bad integer or string
// length, a string running past the end, a dict key that is not a
// string, a missing value or end). Integers and string lengths must be
// canonical, as BEP 3 and anacrolix's decoder have them; dict keys need
// not be sorted (the decoder takes them unsorted into structs).
//
// It lives under discovery because both that package (tracker responses)
// and the peer engine (BEP 10 messages) need it, and the engine imports
// discovery.
package bencheck

import (
	"errors"
	"fmt"
)

// MaxDepth is how deeply lists and dicts may nest: a top-level dict is at
// depth 1. BEP 10 handshakes, BEP 9 and btt_speed messages and tracker
// responses nest 3 deep at most.
const MaxDepth = 32

// Errors, wrapped with where the scan stopped.
var (
	// ErrMalformed is bencode whose framing is wrong.
	ErrMalformed = errors.New("malformed bencode")
	// ErrTooDeep is bencode nested more than MaxDepth deep.
	ErrTooDeep = errors.New("bencode nested too deep")
)

// maxLengthDigits bounds a string length's digits: no input is near 10^10
// bytes, and the length cannot overflow.
const maxLengthDigits = 10

// Value scans the one bencoded value at the start of b and returns its
// length in bytes (what follows it is not looked at), or an error wrapping
// ErrMalformed or ErrTooDeep.
func Value(b []byte) (int, error) {
	var (
		depth   int
		dicts   uint64 // bit d-1: the container at depth d is a dict
		wantKey bool   // in the innermost dict, the next item is a key
	)
	inDict := func() bool { return depth > 0 && dicts>>(depth-1)&1 == 1 }
	i := 0
	for i < len(b) {
		c := b[i]
		if c != 'e' && inDict() && wantKey && (c < '0' || c > '9') {
			return 0, malformed("a dict key that is not a string", i)
		}
		switch {
		case c == 'e':
			if depth == 0 {
				return 0, malformed("'e' outside a list or dict", i)
			}
			if inDict() && !wantKey {
				return 0, malformed("a dict key without a value", i)
			}
			depth--
			i++
			if depth == 0 {
				return i, nil
			}
			wantKey = true // the list or dict was a value
			continue
		case c == 'l' || c == 'd':
			if depth == MaxDepth {
				return 0, fmt.Errorf("%w: more than %d levels at byte %d", ErrTooDeep, MaxDepth, i)
			}
			depth++
			dicts &^= 1 << (depth - 1)
			if c == 'd' {
				dicts |= 1 << (depth - 1)
			}
			wantKey = c == 'd'
			i++
			continue
		case c == 'i':
			end, err := scanInt(b, i)
			if err != nil {
				return 0, err
			}
			i = end
		case c >= '0' && c <= '9':
			end, err := scanString(b, i)
			if err != nil {
				return 0, err
			}
			i = end
		default:
			return 0, malformed(fmt.Sprintf("unexpected byte %q", c), i)
		}
		if depth == 0 {
			return i, nil
		}
		if inDict() {
			wantKey = !wantKey
		}
	}
	return 0, malformed("unexpected end", len(b))
}

// Check reports whether b is exactly one bencoded value, framed right and
// nested at most MaxDepth deep.
func Check(b []byte) error {
	n, err := Value(b)
	if err != nil {
		return err
	}
	if n != len(b) {
		return malformed(fmt.Sprintf("%d bytes after the value", len(b)-n), n)
	}
	return nil
}

// scanInt scans the integer at b[i] ('i'), returning the index after its
// 'e'.
func scanInt(b []byte, i int) (int, error) {
	j := i + 1
	neg := j < len(b) && b[j] == '-'
	if neg {
		j++
	}
	start := j
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	switch {
	case j == len(b):
		return 0, malformed("unexpected end in an integer", j)
	case j == start:
		return 0, malformed("an integer without digits", i)
	case b[start] == '0' && (j-start > 1 || neg):
		return 0, malformed("an integer with a leading zero", i)
	case b[j] != 'e':
		return 0, malformed(fmt.Sprintf("unexpected byte %q in an integer", b[j]), j)
	}
	return j + 1, nil
}

// scanString scans the string at b[i] (its first length digit), returning
// the index after its last byte.
func scanString(b []byte, i int) (int, error) {
	j, n := i, 0
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		if j-i == maxLengthDigits {
			return 0, malformed("a string length of more than 10 digits", i)
		}
		n = n*10 + int(b[j]-'0')
		j++
	}
	switch {
	case j == len(b):
		return 0, malformed("unexpected end in a string length", j)
	case b[i] == '0' && j-i > 1:
		return 0, malformed("a string length with a leading zero", i)
	case b[j] != ':':
		return 0, malformed(fmt.Sprintf("unexpected byte %q in a string length", b[j]), j)
	case n > len(b)-j-1:
		return 0, malformed(fmt.Sprintf("a string of %d bytes runs past the end", n), i)
	}
	return j + 1 + n, nil
}

func malformed(what string, at int) error {
	return fmt.Errorf("%w: %s at byte %d", ErrMalformed, what, at)
}
