package evmescrow

import (
	"encoding/binary"
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

func addr(b byte) btt.Address { return btt.AddressFromEVM(common.Address{19: b}) }

func TestCodecChannel(t *testing.T) {
	c := NewCodec(errBad)
	a, b := addr(1), addr(2)
	id := paychan.ChannelID{4}
	good := func() []any {
		return []any{common.Address(a.EVM()), common.Address(b.EVM()), big.NewInt(100), big.NewInt(30), uint64(1_800_000_000), uint64(0), uint8(1)}
	}
	open := paychan.Channel{ID: id, Payer: a, Payee: b, Deposit: btt.NewAmount(100), Paid: btt.NewAmount(30),
		Expiry: time.Unix(1_800_000_000, 0).UTC(), State: paychan.ChannelOpen}
	closing := open
	closing.State, closing.ChallengeEnd = paychan.ChannelClosing, time.Unix(1_800_000_100, 0).UTC()
	far := open
	far.Expiry = MaxChainTime()
	for _, tc := range []struct {
		name   string
		change func(out []any) []any
		want   paychan.Channel
		bad    bool
	}{
		{"open", func(o []any) []any { return o }, open, false},
		{"closing", func(o []any) []any { o[5], o[6] = uint64(1_800_000_100), uint8(2); return o }, closing, false},
		{"unknown", func([]any) []any {
			return []any{common.Address{}, common.Address{}, big.NewInt(0), big.NewInt(0), uint64(0), uint64(0), uint8(0)}
		}, paychan.Channel{ID: id, State: paychan.ChannelUnknown}, false},
		{"expiry 2^64-1 reads as MaxChainTime", func(o []any) []any { o[4] = uint64(math.MaxUint64); return o }, far, false},
		{"no state 4", func(o []any) []any { o[6] = uint8(4); return o }, paychan.Channel{}, true},
		{"negative deposit", func(o []any) []any { o[2] = big.NewInt(-1); return o }, paychan.Channel{}, true},
		{"deposit above 2^256", func(o []any) []any { o[2] = new(big.Int).Lsh(big.NewInt(1), 256); return o }, paychan.Channel{}, true},
		{"negative paid", func(o []any) []any { o[3] = big.NewInt(-1); return o }, paychan.Channel{}, true},
		{"six values", func(o []any) []any { return o[:6] }, paychan.Channel{}, true},
		{"a string for the payer", func(o []any) []any { o[0] = "x"; return o }, paychan.Channel{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := c.Channel(id, tc.change(good()))
			if tc.bad {
				assert.ErrorIs(t, err, errBad)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, ch)
		})
	}
}

func TestCodecOpened(t *testing.T) {
	c := NewCodec(errBad)
	esc, payer, payee := addr(3), addr(1), addr(2)
	ev := c.ABI.Events["ChannelOpened"]
	data, err := ev.Inputs.NonIndexed().Pack(big.NewInt(500), uint64(1_900_000_000))
	require.NoError(t, err)
	id := [32]byte{0xee}
	pad := func(a btt.Address) (w [32]byte) { e := a.EVM(); copy(w[12:], e[:]); return }
	log := Log{Address: esc, Topics: [][32]byte{ev.ID, id, pad(payer), pad(payee)}, Data: data}
	other := log
	other.Address = payer // the same event from another contract is ignored
	short := log
	short.Data = data[:40]
	three := log
	three.Topics = three.Topics[:3]
	want := paychan.Channel{ID: id, Payer: payer, Payee: payee, Deposit: btt.NewAmount(500), Expiry: time.Unix(1_900_000_000, 0).UTC(), State: paychan.ChannelOpen}
	for _, tc := range []struct {
		name string
		logs []Log
		ok   bool
	}{
		{"the escrow's event", []Log{log}, true},
		{"after another contract's", []Log{other, log}, true},
		{"after one with three topics", []Log{three, log}, true},
		{"only another contract's", []Log{other}, false},
		{"none", nil, false},
		{"short data", []Log{short}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := c.Opened(esc, tc.logs)
			if !tc.ok {
				assert.ErrorIs(t, err, errBad)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, want, ch)
		})
	}
}

func TestCodecCalls(t *testing.T) {
	c := NewCodec(errBad)
	sv := paychan.SignedVoucher{Voucher: paychan.Voucher{Channel: paychan.ChannelID{7}, Amount: btt.NewAmount(9)}}
	for _, tc := range []struct {
		name   string
		encode func() ([]byte, error)
		method string
		isOpen bool
	}{
		{"open", func() ([]byte, error) { return c.Open(addr(2), btt.NewAmount(5), 1_900_000_000) }, "open", true},
		{"topUp", func() ([]byte, error) { return c.TopUp(paychan.ChannelID{7}, btt.NewAmount(5), 1_900_000_000) }, "topUp", false},
		{"claim", func() ([]byte, error) { return c.Redeem("claim", sv) }, "claim", false},
		{"close", func() ([]byte, error) { return c.Redeem("close", sv) }, "close", false},
		{"startClose", func() ([]byte, error) { return c.OfChannel("startClose", paychan.ChannelID{7}) }, "startClose", false},
		{"reclaim", func() ([]byte, error) { return c.OfChannel("reclaim", paychan.ChannelID{7}) }, "reclaim", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := tc.encode()
			require.NoError(t, err)
			assert.Equal(t, c.ABI.Methods[tc.method].ID, data[:4])
			assert.Equal(t, tc.isOpen, c.IsOpen(data))
			_, err = c.ABI.Methods[tc.method].Inputs.Unpack(data[4:])
			assert.NoError(t, err, "decodes as its method's arguments")
		})
	}
	_, err := c.Redeem("startClose", sv)
	assert.Error(t, err, "not a redeem")
	_, err = c.OfChannel("claim", paychan.ChannelID{7})
	assert.Error(t, err, "not a call of one channel")
	assert.False(t, c.IsOpen([]byte{1, 2}))
}

func TestCodecViews(t *testing.T) {
	c := NewCodec(errBad)
	n, err := c.Uint64("nonce", []any{uint64(7)})
	require.NoError(t, err)
	assert.Equal(t, uint64(7), n)
	d, err := c.Bytes32("voucherDigest", []any{[32]byte{1}})
	require.NoError(t, err)
	assert.Equal(t, [32]byte{1}, d)
	a, err := c.Address("token", []any{common.Address{19: 5}})
	require.NoError(t, err)
	assert.Equal(t, addr(5), a)
	v, err := c.Amount("balanceOf", []any{big.NewInt(12)})
	require.NoError(t, err)
	assert.Equal(t, amt(12), v)
	_, err = c.Amount("balanceOf", []any{big.NewInt(-1)})
	assert.Error(t, err, "no negative amount")
	for name, f := range map[string]func(out []any) error{
		"Amount":  func(out []any) error { _, err := c.Amount("balanceOf", out); return err },
		"Uint64":  func(out []any) error { _, err := c.Uint64("nonce", out); return err },
		"Bytes32": func(out []any) error { _, err := c.Bytes32("voucherDigest", out); return err },
		"Address": func(out []any) error { _, err := c.Address("token", out); return err },
	} {
		assert.ErrorIs(t, f(nil), errBad, name)
		assert.ErrorIs(t, f([]any{"x"}), errBad, name)
		if name != "Amount" {
			assert.ErrorIs(t, f([]any{uint64(1), uint64(2)}), errBad, name)
		}
	}
}

// TestChannelID pins the id to keccak256(abi.encodePacked(escrow, payer,
// payee, uint64 nonce)), what the contract computes.
func TestChannelID(t *testing.T) {
	e, p, q := addr(3), addr(1), addr(2)
	ee, pe, qe := e.EVM(), p.EVM(), q.EVM()
	packed := append(append(append(append([]byte{}, ee[:]...), pe[:]...), qe[:]...), binary.BigEndian.AppendUint64(nil, 42)...)
	assert.Len(t, packed, 68)
	assert.Equal(t, paychan.ChannelID(crypto.Keccak256Hash(packed)), ChannelID(e, p, q, 42))
	assert.NotEqual(t, ChannelID(e, p, q, 42), ChannelID(e, q, p, 42), "payer and payee are ordered")
	assert.NotEqual(t, ChannelID(e, p, q, 42), ChannelID(e, p, q, 43))
}

func TestChainTimes(t *testing.T) {
	for _, tc := range []struct {
		secs uint64
		want time.Time
	}{
		{0, time.Unix(0, 0).UTC()},
		{1_800_000_000, time.Unix(1_800_000_000, 0).UTC()},
		{maxChainSecs, MaxChainTime()},
		{maxChainSecs + 1, MaxChainTime()},
		{math.MaxInt64, MaxChainTime()},
		{math.MaxUint64, MaxChainTime()},
	} {
		assert.Equal(t, tc.want, ChainTime(tc.secs), "%d", tc.secs)
	}
	assert.Equal(t, "9999-12-31T23:59:59Z", MaxChainTime().Format(time.RFC3339))

	now := time.Unix(1_800_000_000, 0)
	tooFar := errExpiryTooFar
	assert.NoError(t, CheckLifetime(now.Add(MaxChannelLifetime), now, tooFar), "at the cap")
	assert.ErrorIs(t, CheckLifetime(now.Add(MaxChannelLifetime+time.Second), now, tooFar), tooFar)

	s, err := UnixSeconds(now, errInvalidArgument)
	require.NoError(t, err)
	assert.Equal(t, uint64(1_800_000_000), s)
	for _, bad := range []time.Time{{}, time.Unix(0, 0), time.Unix(-5, 0)} {
		_, err := UnixSeconds(bad, errInvalidArgument)
		assert.ErrorIs(t, err, errInvalidArgument, "%s", bad)
	}
}

// FuzzOpened: a receipt's log data is the node's bytes; decoding never
// panics, and a channel comes back only with no error.
func FuzzOpened(f *testing.F) {
	c := NewCodec(errBad)
	ev := c.ABI.Events["ChannelOpened"]
	good, err := ev.Inputs.NonIndexed().Pack(big.NewInt(500), uint64(1_900_000_000))
	require.NoError(f, err)
	f.Add(good)
	f.Add(good[:40])
	f.Add([]byte{})
	esc := addr(3)
	f.Fuzz(func(t *testing.T, data []byte) {
		ch, err := c.Opened(esc, []Log{{Address: esc, Topics: [][32]byte{ev.ID, {1}, {2}, {3}}, Data: data}})
		if err != nil {
			require.ErrorIs(t, err, errBad)
			return
		}
		require.Equal(t, paychan.ChannelOpen, ch.State)
	})
}

// FuzzChannel: channels()'s answer is the node's bytes; what the ABI
// decodes, Channel reads or refuses with Bad, never a panic.
func FuzzChannel(f *testing.F) {
	c := NewCodec(errBad)
	m := c.ABI.Methods["channels"]
	good, err := m.Outputs.Pack(common.Address{1}, common.Address{2}, big.NewInt(100), big.NewInt(30), uint64(1_800_000_000), uint64(0), uint8(1))
	require.NoError(f, err)
	f.Add(good)
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] = 9
	f.Add(bad)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := m.Outputs.Unpack(b)
		if err != nil {
			return
		}
		ch, err := c.Channel(paychan.ChannelID{1}, out)
		if err != nil {
			require.ErrorIs(t, err, errBad)
			return
		}
		require.LessOrEqual(t, ch.State, paychan.ChannelClosed)
	})
}
