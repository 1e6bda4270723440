package speedwire

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

var escrow = btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")

func signedVoucher(t testing.TB) paychan.SignedVoucher {
	key, err := crypto.HexToECDSA("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
	require.NoError(t, err)
	s, err := paychan.NewKeySigner(key)
	require.NoError(t, err)
	sv, err := paychan.Sign(s, paychan.Voucher{ChainID: 1, Escrow: escrow, Channel: paychan.ChannelID{7}, Amount: btt.NewAmount(99)})
	require.NoError(t, err)
	return sv
}

// messages is one or more of every message, at their bounds.
func messages(t testing.TB) []Message {
	return []Message{
		Bid{Price: btt.NewAmount(12)},
		Bid{Price: MaxPrice},
		Award{Price: btt.NewAmount(10), Credit: 262144},
		Award{Price: btt.Zero},
		Reject{Price: btt.NewAmount(11), Reason: "bid below the clearing price"},
		Reject{Price: MaxPrice, Reason: strings.Repeat("r", maxReason)},
		Channel{ID: paychan.ChannelID{1, 2}, Escrow: escrow, Deposit: btt.BTT(5), Expiry: 1893456000, Proof: [65]byte{1, 2, 3, 64: 1}},
		Challenge{Nonce: [32]byte{9, 8, 7, 31: 1}},
		Voucher{Signed: signedVoucher(t)},
		Voucher{Signed: signedVoucher(t), Pieces: []Run{{0, 4}, {9, 1}, {11, 2}}},
		Voucher{Signed: signedVoucher(t), Pieces: RunsOf(manyApart(MaxRuns))},
		Error{Code: 3, Reason: "over credit"},
		Error{Code: -1},
		Error{},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, m := range messages(t) {
		t.Run(string(m.Type()), func(t *testing.T) {
			b, err := m.Append(nil)
			require.NoError(t, err)
			got, err := Decode(b)
			require.NoError(t, err)
			assert.Equal(t, m, got)
			assert.Equal(t, m.Type(), got.Type())
			assert.Equal(t, legacy(t, m), b, "the wire format of bencode.Marshal over the keys")
			pre := []byte("prefix")
			out, err := m.Append(pre)
			require.NoError(t, err)
			assert.Equal(t, append([]byte("prefix"), b...), out, "Append appends")
		})
	}
}

// legacy encodes m as the codec did before the message types: bencode's
// own Marshal of the struct of every key, omitting the empty ones.
func legacy(t testing.TB, m Message) []byte {
	w := wireMsg{T: string(m.Type())}
	switch m := m.(type) {
	case Bid:
		w.Price = m.Price.String()
	case Award:
		w.Price, w.Credit = m.Price.String(), m.Credit
	case Reject:
		w.Price, w.Reason = m.Price.String(), m.Reason
	case Channel:
		w.ID, w.Escrow, w.Deposit, w.Expiry = string(m.ID[:]), string(m.Escrow[:]), m.Deposit.String(), m.Expiry
		w.Proof = string(m.Proof[:])
	case Challenge:
		w.Nonce = string(m.Nonce[:])
	case Voucher:
		b, err := m.Signed.MarshalBinary()
		require.NoError(t, err)
		w.Voucher = string(b)
		for _, r := range m.Pieces {
			w.Pieces = append(w.Pieces, int64(r.Start), int64(r.Count))
		}
	case Error:
		w.Code, w.Reason = m.Code, m.Reason
	}
	b, err := bencode.Marshal(w)
	require.NoError(t, err)
	return b
}

// TestWireVectors pins the bytes of each message.
func TestWireVectors(t *testing.T) {
	tests := []struct {
		m    Message
		want string
	}{
		{Bid{Price: btt.NewAmount(12)}, "d5:price2:121:t3:bide"},
		{Award{Price: btt.NewAmount(10), Credit: 1}, "d6:crediti1e5:price2:101:t5:awarde"},
		{Award{Price: btt.NewAmount(10)}, "d5:price2:101:t5:awarde"},
		{Reject{Price: btt.NewAmount(11), Reason: "low"}, "d5:price2:116:reason3:low1:t6:rejecte"},
		{Reject{Price: btt.Zero}, "d5:price1:01:t6:rejecte"},
		{Channel{ID: paychan.ChannelID{1}, Escrow: escrow, Deposit: btt.NewAmount(5), Expiry: 9, Proof: [65]byte{64: 2}},
			"d7:deposit1:56:escrow21:" + string(escrow[:]) + "6:expiryi9e2:id32:\x01" + strings.Repeat("\x00", 31) +
				"5:proof65:" + strings.Repeat("\x00", 64) + "\x021:t7:channele"},
		{Challenge{Nonce: [32]byte{31: 7}}, "d5:nonce32:" + strings.Repeat("\x00", 31) + "\x071:t9:challengee"},
		{Error{Code: 3, Reason: "x"}, "d4:codei3e6:reason1:x1:t5:errore"},
		{Error{}, "d1:t5:errore"},
	}
	for _, tt := range tests {
		t.Run(string(tt.m.Type()), func(t *testing.T) {
			b, err := tt.m.Append(nil)
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(b))
		})
	}
	sv := signedVoucher(t)
	v, err := sv.MarshalBinary()
	require.NoError(t, err)
	b, err := Voucher{Signed: sv, Pieces: []Run{{0, 3}, {7, 1}}}.Append(nil)
	require.NoError(t, err)
	assert.Equal(t, "d1:pli0ei3ei7ei1ee1:t7:voucher1:v159:"+string(v)+"e", string(b))
}

// TestLargestFits: the largest messages Append accepts are within
// MaxMessage, so what we send the peer accepts.
func TestLargestFits(t *testing.T) {
	runs := make([]Run, MaxRuns)
	for i := range runs {
		runs[i] = Run{maxPiece - 2*(MaxRuns-i) + 1, 1}
	}
	runs[MaxRuns-1].Count = 2
	sv := signedVoucher(t)
	sv.Amount = btt.AmountFromBytes32([32]byte{0: 0xff, 31: 0xff})
	deposit := btt.AmountFromBytes32([32]byte{0: 0xff, 31: 0xff})
	for _, m := range []Message{
		Voucher{Signed: sv, Pieces: runs},
		Reject{Price: MaxPrice, Reason: strings.Repeat("r", maxReason)},
		Error{Code: math.MinInt, Reason: strings.Repeat("r", maxReason)},
		Channel{Escrow: escrow, Deposit: deposit, Expiry: math.MaxInt64},
	} {
		b, err := m.Append(nil)
		require.NoError(t, err, m.Type())
		assert.LessOrEqual(t, len(b), MaxMessage, m.Type())
		got, err := Decode(b)
		require.NoError(t, err, m.Type())
		assert.Equal(t, m, got)
	}
}

// TestAppendRefuses: what Decode refuses is never written.
func TestAppendRefuses(t *testing.T) {
	over, err := MaxPrice.Add(btt.NewAmount(1))
	require.NoError(t, err)
	badScheme := signedVoucher(t)
	badScheme.Scheme = 99
	badEscrow := signedVoucher(t)
	badEscrow.Escrow = btt.Address{}
	long := strings.Repeat("r", maxReason+1)
	tests := map[string]Message{
		"bid over max":      Bid{Price: over},
		"award over max":    Award{Price: over},
		"negative credit":   Award{Price: btt.NewAmount(1), Credit: -1},
		"reject over max":   Reject{Price: over},
		"reject reason":     Reject{Reason: long},
		"error reason":      Error{Reason: long},
		"channel escrow":    Channel{Expiry: 1},
		"channel expiry":    Channel{Escrow: escrow},
		"voucher scheme":    Voucher{Signed: badScheme},
		"voucher escrow":    Voucher{Signed: badEscrow},
		"runs unordered":    Voucher{Signed: signedVoucher(t), Pieces: []Run{{5, 1}, {1, 1}}},
		"runs adjacent":     Voucher{Signed: signedVoucher(t), Pieces: []Run{{0, 3}, {3, 1}}},
		"run empty":         Voucher{Signed: signedVoucher(t), Pieces: []Run{{0, 0}}},
		"run negative":      Voucher{Signed: signedVoucher(t), Pieces: []Run{{-1, 2}}},
		"run past 2^31":     Voucher{Signed: signedVoucher(t), Pieces: []Run{{maxPiece, 2}}},
		"more than MaxRuns": Voucher{Signed: signedVoucher(t), Pieces: make([]Run, MaxRuns+1)},
	}
	for name, m := range tests {
		t.Run(name, func(t *testing.T) {
			b, err := m.Append([]byte("x"))
			assert.ErrorIs(t, err, ErrMalformed)
			assert.Equal(t, "x", string(b), "nothing written")
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := map[string]string{
		"not bencode":       "x",
		"unknown type":      "d1:t3:fooe",
		"bid without price": "d1:t3:bide",
		"negative price":    "d5:price2:-11:t3:bide",
		"leading zero":      "d5:price2:011:t3:bide",
		"huge price":        "d5:price80:" + "9999999999999999999999999999999999999999999999999999999999999999999999999999999" + "91:t3:bide",
		// 2^256-1: a winner at this price owed nothing once price ×
		// bytes overflowed (issue 23, case 3).
		"price 2^256-1":    "d5:price78:" + maxU256 + "1:t3:bide",
		"award over max":   "d6:crediti1e5:price31:1000000000000000000000000000001:t5:awarde",
		"reject over max":  "d5:price31:1000000000000000000000000000001:t6:rejecte",
		"negative credit":  "d6:crediti-1e5:price1:11:t5:awarde",
		"short channel id": "d7:deposit1:16:escrow21:" + string(escrow[:]) + "6:expiryi5e2:id3:abc1:t7:channele",
		"bad voucher":      "d1:t7:voucher1:v3:abce",
		"short nonce":      "d5:nonce3:abc1:t9:challengee",
		"long reason":      "d5:price1:16:reason257:" + strings.Repeat("r", 257) + "1:t6:rejecte",
		"long error text":  "d6:reason257:" + strings.Repeat("r", 257) + "1:t5:errore",
		"trailing bytes":   "d1:t5:erroreX",
		"zero expiry": "d7:deposit1:16:escrow21:" + string(escrow[:]) + "6:expiryi0e2:id32:" + strings.Repeat("i", 32) +
			"5:proof65:" + strings.Repeat("p", 65) + "1:t7:channele",
		"short proof": "d7:deposit1:16:escrow21:" + string(escrow[:]) + "6:expiryi9e2:id32:" + strings.Repeat("i", 32) +
			"5:proof64:" + strings.Repeat("p", 64) + "1:t7:channele",
	}
	for name, raw := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Decode([]byte(raw))
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
	_, err := Decode(make([]byte, MaxMessage+1))
	assert.ErrorIs(t, err, ErrMalformed)
}

const maxU256 = "115792089237316195423570985008687907853269984665640564039457584007913129639935"

func TestPriceBound(t *testing.T) {
	ok, err := Decode([]byte("d5:price31:1000000000000000000000000000000" + "1:t3:bide"))
	require.NoError(t, err)
	assert.Equal(t, Bid{Price: MaxPrice}, ok)
	over, _ := MaxPrice.Add(btt.NewAmount(1))
	_, err = Bid{Price: over}.Append(nil)
	assert.ErrorIs(t, err, ErrMalformed, "we never send what we refuse")
	// The bound's promise: MaxPrice × the largest byte count is far from
	// overflowing, and so is a sum of 2^64 of them.
	prod, err := MaxPrice.MulUint64(1<<63 - 1)
	require.NoError(t, err)
	_, err = prod.MulUint64(1 << 63)
	assert.NoError(t, err)
	h := Handshake{Version: Version, Escrow: escrow, Ask: over}
	b, err := bencode.Marshal(h.Keys())
	require.NoError(t, err)
	var raw map[string]bencode.Bytes
	require.NoError(t, bencode.Unmarshal(b, &raw))
	_, err = ParseHandshake(raw)
	assert.ErrorIs(t, err, ErrMalformed, "an ask over MaxPrice")
}

func TestHandshake(t *testing.T) {
	h := Handshake{Version: Version, ChainID: 0x2b6653dc, Token: escrow, Escrow: escrow, Payee: escrow, Ask: btt.NewAmount(3)}
	b, err := bencode.Marshal(h.Keys())
	require.NoError(t, err)
	var raw map[string]bencode.Bytes
	require.NoError(t, bencode.Unmarshal(b, &raw))
	got, err := ParseHandshake(raw)
	require.NoError(t, err)
	assert.Equal(t, h, got)

	delete(raw, "bs_escrow")
	_, err = ParseHandshake(raw)
	assert.ErrorIs(t, err, ErrMalformed)
}

// FuzzDecode feeds arbitrary bytes to Decode: an error, or a message
// that Append encodes in the wire format, to bytes that decode to it
// again.
func FuzzDecode(f *testing.F) {
	for _, m := range messages(f) {
		b, err := m.Append(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		enc, err := m.Append(nil)
		if err != nil {
			t.Fatalf("a decoded message does not encode: %v", err)
		}
		if want := legacy(t, m); !bytes.Equal(enc, want) {
			t.Fatalf("%+v encodes to %q, not %q", m, enc, want)
		}
		back, err := Decode(enc)
		if err != nil || !reflect.DeepEqual(back, m) {
			t.Fatalf("round trip: %+v -> %+v (%v)", m, back, err)
		}
	})
}

// FuzzParseHandshake feeds arbitrary extended handshakes to
// ParseHandshake: an error, or keys that encode back to the same
// handshake.
func FuzzParseHandshake(f *testing.F) {
	for _, h := range []Handshake{
		{Version: 1, ChainID: 1, Token: escrow, Escrow: escrow, Ask: btt.NewAmount(1)},
		{Version: 2, ChainID: 0x2b6653dc, Escrow: escrow, Payee: escrow, Ask: btt.BTT(1)},
	} {
		b, _ := bencode.Marshal(h.Keys())
		f.Add(b)
	}
	f.Add([]byte("d6:bs_ask2:-18:bs_chaini-1e9:bs_escrow5:short10:bs_versioni0ee"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var raw map[string]bencode.Bytes
		if bencode.Unmarshal(b, &raw) != nil {
			return
		}
		h, err := ParseHandshake(raw)
		if err != nil {
			return
		}
		enc, err := bencode.Marshal(h.Keys())
		if err != nil {
			t.Fatalf("a parsed handshake does not encode: %v", err)
		}
		var back map[string]bencode.Bytes
		if err := bencode.Unmarshal(enc, &back); err != nil {
			t.Fatal(err)
		}
		h2, err := ParseHandshake(back)
		if err != nil || h2 != h {
			t.Fatalf("round trip: %+v -> %+v (%v)", h, h2, err)
		}
	})
}

// manyApart returns n pieces, no two adjacent: n runs.
func manyApart(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = 2*i + 1<<30
	}
	return out
}

func TestRunsOf(t *testing.T) {
	tests := []struct {
		name   string
		pieces []int
		want   []Run
	}{
		{"none", nil, nil},
		{"one run", []int{3, 4, 5}, []Run{{3, 3}}},
		{"three", []int{0, 2, 3, 9}, []Run{{0, 1}, {2, 2}, {9, 1}}},
		{"unsorted", []int{2, 1}, nil},
		{"repeated", []int{2, 2}, nil},
		{"negative", []int{-1}, nil},
		{"past MaxRuns the rest is left out", manyApart(MaxRuns + 5), RunsOf(manyApart(MaxRuns))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, RunsOf(tt.pieces))
		})
	}
	assert.Len(t, RunsOf(manyApart(MaxRuns+5)), MaxRuns)
}

func TestDecodeRejectsRuns(t *testing.T) {
	b, err := signedVoucher(t).MarshalBinary()
	require.NoError(t, err)
	v := "1:v159:" + string(b)
	tests := map[string]string{
		"odd":        "li1ee",
		"zero count": "li1ei0ee",
		"negative":   "li-1ei2ee",
		"overlap":    "li0ei3ei2ei1ee",
		"adjacent":   "li0ei3ei3ei1ee",
		"descending": "li5ei1ei0ei1ee",
		"past 2^31":  "li2147483647ei2ee",
		"not ints":   "l1:ae",
		"too many":   "l" + runsList(MaxRuns+1) + "e",
	}
	for name, p := range tests {
		t.Run(name, func(t *testing.T) {
			raw := "d1:p" + p + "1:t7:voucher" + v + "e"
			_, err := Decode([]byte(raw))
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
	t.Run("a good list decodes", func(t *testing.T) {
		m, err := Decode([]byte("d1:pli0ei3ei5ei1ee1:t7:voucher" + v + "e"))
		require.NoError(t, err)
		require.IsType(t, Voucher{}, m)
		assert.Equal(t, []Run{{0, 3}, {5, 1}}, m.(Voucher).Pieces)
	})
}

// runsList returns n runs of one piece each, apart, as bencoded integers.
func runsList(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "i%dei1e", 2*i)
	}
	return b.String()
}
