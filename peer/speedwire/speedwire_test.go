package speedwire

import (
	"fmt"
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

func TestRoundTrip(t *testing.T) {
	msgs := []Message{
		{Type: TypeBid, Price: btt.NewAmount(12)},
		{Type: TypeAward, Price: btt.NewAmount(10), Credit: 262144},
		{Type: TypeReject, Price: btt.NewAmount(11), Reason: "bid below the clearing price"},
		{Type: TypeChannel, Channel: ChannelInfo{ID: paychan.ChannelID{1, 2}, Escrow: escrow, Deposit: btt.BTT(5), Expiry: 1893456000, Proof: [65]byte{1, 2, 3, 64: 1}}},
		{Type: TypeChallenge, Nonce: [32]byte{9, 8, 7, 31: 1}},
		{Type: TypeVoucher, Voucher: signedVoucher(t)},
		{Type: TypeVoucher, Voucher: signedVoucher(t), Pieces: []Run{{0, 4}, {9, 1}, {11, 2}}},
		{Type: TypeVoucher, Voucher: signedVoucher(t), Pieces: RunsOf(manyApart(MaxRuns))},
		{Type: TypeError, Code: 3, Reason: "over credit"},
	}
	for _, m := range msgs {
		t.Run(string(m.Type), func(t *testing.T) {
			b, err := Encode(m)
			require.NoError(t, err)
			got, err := Decode(b)
			require.NoError(t, err)
			assert.Equal(t, m, got)
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
	}
	for name, raw := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Decode([]byte(raw))
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
	_, err := Decode(make([]byte, MaxMessage+1))
	assert.ErrorIs(t, err, ErrMalformed)
	_, err = Encode(Message{Type: "nope"})
	assert.ErrorIs(t, err, ErrMalformed)
}

const maxU256 = "115792089237316195423570985008687907853269984665640564039457584007913129639935"

func TestPriceBound(t *testing.T) {
	ok, err := Decode([]byte("d5:price31:1000000000000000000000000000000" + "1:t3:bide"))
	require.NoError(t, err)
	assert.Equal(t, MaxPrice, ok.Price)
	over, _ := MaxPrice.Add(btt.NewAmount(1))
	_, err = Encode(Message{Type: TypeBid, Price: over})
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

func FuzzDecode(f *testing.F) {
	for _, m := range []Message{
		{Type: TypeBid, Price: btt.NewAmount(12)},
		{Type: TypeAward, Price: btt.NewAmount(10), Credit: 1},
		{Type: TypeChannel, Channel: ChannelInfo{ID: paychan.ChannelID{1}, Escrow: escrow, Deposit: btt.BTT(5), Expiry: 9}},
		{Type: TypeVoucher, Voucher: signedVoucher(f)},
		{Type: TypeVoucher, Voucher: signedVoucher(f), Pieces: []Run{{0, 3}, {7, 1}}},
	} {
		b, err := Encode(m)
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
		enc, err := Encode(m)
		if err != nil {
			t.Fatalf("a decoded message does not encode: %v", err)
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
		assert.Equal(t, []Run{{0, 3}, {5, 1}}, m.Pieces)
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
