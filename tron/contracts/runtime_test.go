package contracts

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestParseEscrowRuntime: the escrow's runtime code is recognised with any
// token and period in its immutables, and nothing else is: not a byte
// changed, added or cut, not two copies of an immutable that differ, not
// an immutable word with bits beyond its type.
func TestParseEscrowRuntime(t *testing.T) {
	token := [20]byte{1, 2, 3, 19: 20}
	genuine := EscrowRuntime(token, 3600)
	info := escrowRuntime()
	tok1 := info.token.Ranges[1][0]

	tests := []struct {
		name   string
		mutate func(code []byte) []byte
		ok     bool
		period uint64
	}{
		{"genuine", func(c []byte) []byte { return c }, true, 3600},
		{"any period", func([]byte) []byte { return EscrowRuntime(token, math.MaxUint64) }, true, math.MaxUint64},
		{"a byte of code changed", func(c []byte) []byte { c[1]++; return c }, false, 0},
		{"the last byte changed", func(c []byte) []byte { c[len(c)-1] ^= 1; return c }, false, 0},
		{"a byte added", func(c []byte) []byte { return append(c, 0) }, false, 0},
		{"a byte cut", func(c []byte) []byte { return c[:len(c)-1] }, false, 0},
		{"empty", func([]byte) []byte { return nil }, false, 0},
		{"token copies differ", func(c []byte) []byte { c[tok1+31]++; return c }, false, 0},
		{"token word above 160 bits", func(c []byte) []byte {
			for _, r := range info.token.Ranges {
				c[r[0]] = 1
			}
			return c
		}, false, 0},
		{"period word above 64 bits", func(c []byte) []byte {
			for _, r := range info.period.Ranges {
				c[r[0]+23] = 1
			}
			return c
		}, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk, p, ok := ParseEscrowRuntime(tc.mutate(append([]byte(nil), genuine...)))
			require.Equal(t, tc.ok, ok)
			if ok {
				assert.Equal(t, token, tk)
				assert.Equal(t, tc.period, p)
			}
		})
	}
}
