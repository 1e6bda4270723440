package btt

import (
	"errors"
	"math/big"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseAmount(t *testing.T) {
	max := "115792089237316195423570985008687907853269984665640564039457584007913129639935"
	tests := []struct {
		in      string
		want    string
		wantErr error
	}{
		{"0", "0", nil},
		{"1", "1", nil},
		{"1000000000000000000", "1000000000000000000", nil},
		{max, max, nil},
		{"115792089237316195423570985008687907853269984665640564039457584007913129639936", "", ErrOverflow},
		{"", "", ErrSyntax},
		{"01", "", ErrSyntax},
		{"-1", "", ErrSyntax},
		{"+1", "", ErrSyntax},
		{"1.5", "", ErrSyntax},
		{" 1", "", ErrSyntax},
		{"0x10", "", ErrSyntax},
		{string(make([]byte, 1000)), "", ErrSyntax},
	}
	for _, tc := range tests {
		t.Run(truncate(tc.in), func(t *testing.T) {
			a, err := ParseAmount(tc.in)
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, a.String())
		})
	}
}

func TestParseBTT(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  error
	}{
		{"1", "1000000000000000000", nil},
		{"1.5", "1500000000000000000", nil},
		{"0.000000000000000001", "1", nil},
		{"0", "0", nil},
		{"0.0000000000000000001", "", ErrSyntax},
		{"1.", "", ErrSyntax},
		{".5", "", ErrSyntax},
		{"1.a", "", ErrSyntax},
		{"-1", "", ErrSyntax},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			a, err := ParseBTT(tc.in)
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, a.String())
			assert.Equal(t, tc.in, a.FormatBTT())
		})
	}
}

func TestArithmetic(t *testing.T) {
	one := NewAmount(1)
	max, err := ParseAmount("115792089237316195423570985008687907853269984665640564039457584007913129639935")
	require.NoError(t, err)

	_, err = max.Add(one)
	assert.ErrorIs(t, err, ErrOverflow)
	_, err = Zero.Sub(one)
	assert.ErrorIs(t, err, ErrUnderflow)
	_, err = max.MulUint64(2)
	assert.ErrorIs(t, err, ErrOverflow)
	assert.Equal(t, Zero, one.SubFloor(NewAmount(5)))

	p := NewAmount(3)
	got, err := p.MulUint64(16384)
	require.NoError(t, err)
	assert.Equal(t, "49152", got.String())
	assert.Equal(t, NewAmount(16384), got.DivUint64(3))
	q, ok := got.Div(p)
	assert.True(t, ok)
	assert.Equal(t, NewAmount(16384), q)
	_, ok = got.Div(Zero)
	assert.False(t, ok)
	assert.Equal(t, "1.5", mustMul(t, NewAmount(15), BTT(1)).DivUint64(10).FormatBTT())

	assert.True(t, one.Lt(p))
	assert.True(t, p.Gt(one))
	assert.Equal(t, p, Max(one, p))
	assert.Equal(t, one, Min(one, p))

	_, err = AmountFromBig(big.NewInt(-1))
	assert.True(t, errors.Is(err, ErrUnderflow))
	b, err := AmountFromBig(new(big.Int).Lsh(big.NewInt(1), 255))
	require.NoError(t, err)
	assert.Equal(t, b, AmountFromBytes32(b.Bytes32()))
	_, err = AmountFromBig(new(big.Int).Lsh(big.NewInt(1), 256))
	assert.ErrorIs(t, err, ErrOverflow)
}

func TestAmountText(t *testing.T) {
	var a Amount
	require.NoError(t, a.UnmarshalText([]byte("12345")))
	out, err := a.MarshalText()
	require.NoError(t, err)
	assert.Equal(t, "12345", string(out))
	assert.Error(t, a.UnmarshalText([]byte("x")))
}

func TestAddress(t *testing.T) {
	// The mainnet BTT token contract.
	const s = "TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4"
	a, err := ParseAddress(s)
	require.NoError(t, err)
	assert.Equal(t, s, a.String())
	assert.Equal(t, byte(AddressPrefix), a[0])
	b, err := ParseAddress(a.Hex())
	require.NoError(t, err)
	assert.Equal(t, a, b)
	c, err := ParseAddress("0x" + a.Hex())
	require.NoError(t, err)
	assert.Equal(t, a, c)
	assert.Equal(t, a, AddressFromEVM(a.EVM()))

	for _, bad := range []string{"", "T", s[:len(s)-1] + "5", "42" + a.Hex()[2:], "zz" + a.Hex()[2:], "0OIl" + s[4:]} {
		_, err := ParseAddress(bad)
		assert.ErrorIs(t, err, ErrBadAddress, bad)
	}
	_, err = AddressFromBytes(make([]byte, 20))
	assert.ErrorIs(t, err, ErrBadAddress)
	assert.True(t, Address{}.IsZero())
	assert.Equal(t, "", Address{}.String())
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"0", "1", "18446744073709551616", "01", "-1", "1e18"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAmount(s)
		if err != nil {
			return
		}
		if a.String() != s {
			t.Fatalf("round trip %q -> %q", s, a.String())
		}
	})
}

func FuzzParseAddress(f *testing.F) {
	f.Add("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")
	f.Add("41" + "00112233445566778899aabbccddeeff00112233")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			return
		}
		b, err := ParseAddress(a.String())
		if err != nil || a != b {
			t.Fatalf("round trip %q: %v", s, err)
		}
	})
}

func mustMul(t *testing.T, a, b Amount) Amount {
	t.Helper()
	r, err := a.Mul(b)
	require.NoError(t, err)
	return r
}
