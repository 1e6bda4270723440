package paychan

import (
	"bytes"
	"log/slog"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func testSigner(t testing.TB, seed byte) *KeySigner {
	t.Helper()
	d := make([]byte, 32)
	d[31] = seed
	d[0] = 0x42
	key, err := crypto.ToECDSA(d)
	require.NoError(t, err)
	s, err := NewKeySigner(key)
	require.NoError(t, err)
	return s
}

func TestRecoverSignatureRules(t *testing.T) {
	v, s := vectorVoucher(t)
	sv, err := Sign(s, v)
	require.NoError(t, err)

	v27 := sv
	v27.Sig[64] += 27
	got, err := Recover(v27)
	require.NoError(t, err, "v as 27/28 is accepted")
	assert.Equal(t, s.Address(), got)

	bad := sv
	bad.Sig[64] = 5
	_, err = Recover(bad)
	assert.ErrorIs(t, err, ErrBadSignature)

	// The malleable twin: s' = n - s, v flipped. Same signer, refused.
	high := sv
	n := crypto.S256().Params().N
	sHigh := new(big.Int).Sub(n, new(big.Int).SetBytes(sv.Sig[32:64]))
	sHigh.FillBytes(high.Sig[32:64])
	high.Sig[64] ^= 1
	_, err = Recover(high)
	assert.ErrorIs(t, err, ErrBadSignature)

	zero := sv
	clear(zero.Sig[:32])
	_, err = Recover(zero)
	assert.ErrorIs(t, err, ErrBadSignature)

	// Any change to the voucher changes the signer.
	other := sv
	other.Amount = btt.NewAmount(2)
	got, err = Recover(other)
	if err == nil {
		assert.NotEqual(t, s.Address(), got)
	}
}

func TestVerify(t *testing.T) {
	payer, payee, stranger := testSigner(t, 1), testSigner(t, 2), testSigner(t, 3)
	escrow := btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")
	dom := Domain{ChainID: 7, Escrow: escrow}
	ch := Channel{ID: ChannelID{9}, Payer: payer.Address(), Payee: payee.Address(), Deposit: btt.NewAmount(1000), Expiry: t0.Add(24 * time.Hour), State: ChannelOpen}
	check := Check{Domain: dom, Payee: payee.Address(), Channel: ch, Prev: btt.NewAmount(100), Now: t0, ExpiryMargin: time.Hour}
	voucher := func(mod func(*Voucher)) Voucher {
		v := Voucher{ChainID: 7, Escrow: escrow, Channel: ch.ID, Amount: btt.NewAmount(300)}
		if mod != nil {
			mod(&v)
		}
		return v
	}
	sign := func(s Signer, v Voucher) SignedVoucher {
		sv, err := Sign(s, v)
		require.NoError(t, err)
		return sv
	}
	tests := []struct {
		name    string
		sv      SignedVoucher
		check   func(*Check)
		wantErr error
		delta   uint64
	}{
		{name: "good", sv: sign(payer, voucher(nil)), delta: 200},
		{name: "the whole deposit", sv: sign(payer, voucher(func(v *Voucher) { v.Amount = btt.NewAmount(1000) })), delta: 900},
		{name: "forged: signed by a stranger", sv: sign(stranger, voucher(nil)), wantErr: ErrBadSignature},
		{name: "signed by the payee", sv: sign(payee, voucher(nil)), wantErr: ErrBadSignature},
		{name: "another chain", sv: sign(payer, voucher(func(v *Voucher) { v.ChainID = 8 })), wantErr: ErrWrongChain},
		{name: "another escrow", sv: sign(payer, voucher(func(v *Voucher) { v.Escrow = payer.Address() })), wantErr: ErrWrongEscrow},
		{name: "another channel", sv: sign(payer, voucher(func(v *Voucher) { v.Channel = ChannelID{8} })), wantErr: ErrWrongChannel},
		{name: "not increasing", sv: sign(payer, voucher(func(v *Voucher) { v.Amount = btt.NewAmount(100) })), wantErr: ErrNotIncreasing},
		{name: "decreasing", sv: sign(payer, voucher(func(v *Voucher) { v.Amount = btt.NewAmount(50) })), wantErr: ErrNotIncreasing},
		{name: "over the deposit", sv: sign(payer, voucher(func(v *Voucher) { v.Amount = btt.NewAmount(1001) })), wantErr: ErrOverDeposit},
		{name: "near expiry", sv: sign(payer, voucher(nil)), check: func(c *Check) { c.Now = t0.Add(23*time.Hour + time.Minute) }, wantErr: ErrExpired},
		{name: "closed channel", sv: sign(payer, voucher(nil)), check: func(c *Check) { c.Channel.State = ChannelClosed }, wantErr: ErrChannelClosed},
		{name: "closing channel", sv: sign(payer, voucher(nil)), check: func(c *Check) { c.Channel.State = ChannelClosing }, wantErr: ErrChannelClosed},
		{name: "unknown channel", sv: sign(payer, voucher(nil)), check: func(c *Check) { c.Channel.State = ChannelUnknown }, wantErr: ErrUnknownChannel},
		{name: "channel pays someone else", sv: sign(payer, voucher(nil)), check: func(c *Check) { c.Payee = stranger.Address() }, wantErr: ErrWrongPayee},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := check
			if tc.check != nil {
				tc.check(&c)
			}
			delta, err := Verify(c, tc.sv)
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
				assert.True(t, delta.IsZero())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, btt.NewAmount(tc.delta), delta)
		})
	}
}

func TestEncoding(t *testing.T) {
	v, s := vectorVoucher(t)
	sv, err := Sign(s, v)
	require.NoError(t, err)
	b, err := sv.MarshalBinary()
	require.NoError(t, err)
	assert.Len(t, b, EncodedLen)
	var back SignedVoucher
	require.NoError(t, back.UnmarshalBinary(b))
	assert.Equal(t, sv, back)
	for _, bad := range [][]byte{nil, b[:10], append(append([]byte(nil), b...), 0)} {
		assert.ErrorIs(t, back.UnmarshalBinary(bad), ErrMalformed)
	}
	wrongVersion := append([]byte(nil), b...)
	wrongVersion[0] = 9
	assert.ErrorIs(t, back.UnmarshalBinary(wrongVersion), ErrMalformed)
	wrongPrefix := append([]byte(nil), b...)
	wrongPrefix[9] = 0x42
	assert.ErrorIs(t, back.UnmarshalBinary(wrongPrefix), ErrMalformed)
}

func TestInsufficientFundsError(t *testing.T) {
	var err error = &InsufficientFundsError{Shortfall: btt.NewAmount(5)}
	assert.ErrorIs(t, err, ErrOverDeposit)
	var ife *InsufficientFundsError
	require.ErrorAs(t, err, &ife)
	assert.Equal(t, btt.NewAmount(5), ife.Shortfall)
}

func FuzzVoucherDecode(f *testing.F) {
	v, s := vectorVoucher(f)
	sv, _ := Sign(s, v)
	b, _ := sv.MarshalBinary()
	f.Add(b)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var sv SignedVoucher
		if err := sv.UnmarshalBinary(b); err != nil {
			return
		}
		out, err := sv.MarshalBinary()
		if err != nil || string(out) != string(b) {
			t.Fatalf("round trip: %x -> %x (%v)", b, out, err)
		}
		_, _ = Recover(sv) // must not panic on any signature bytes
	})
}

func BenchmarkSign(b *testing.B) {
	v, s := vectorVoucher(b)
	b.ReportAllocs()
	for b.Loop() {
		v.Amount = btt.NewAmount(uint64(b.N))
		if _, err := Sign(s, v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	v, s := vectorVoucher(b)
	sv, _ := Sign(s, v)
	c := Check{Domain: Domain{ChainID: v.ChainID, Escrow: v.Escrow}, Payee: btt.MustParseAddress(vectorEscrow),
		Channel: Channel{ID: v.Channel, Payer: s.Address(), Payee: btt.MustParseAddress(vectorEscrow), Deposit: btt.BTT(10), Expiry: t0.Add(time.Hour), State: ChannelOpen},
		Now:     t0}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(c, sv); err != nil {
			b.Fatal(err)
		}
	}
}

func TestChannelIDLogsAsHex(t *testing.T) {
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "channel", ChannelID{0xab, 0x01})
	assert.Contains(t, buf.String(), "channel=ab01000000")
}
