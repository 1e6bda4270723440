package bencheck_test

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer/discovery/bencheck"
)

// nested is s inside n lists.
func nested(n int, s string) string {
	return strings.Repeat("l", n) + s + strings.Repeat("e", n)
}

func TestValue(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int   // the value's length, if accepted
		err  error // ErrMalformed, ErrTooDeep or nil
	}{
		{"integer", "i42e", 4, nil},
		{"zero", "i0e", 3, nil},
		{"negative", "i-7e", 4, nil},
		{"a 40-digit integer", "i1234567890123456789012345678901234567890e", 42, nil},
		{"string", "4:spam", 6, nil},
		{"empty string", "0:", 2, nil},
		{"empty list", "le", 2, nil},
		{"empty dict", "de", 2, nil},
		{"extended handshake", "d1:md11:ut_metadatai1e9:btt_speedi2ee4:reqqi250e1:v12:bttspeed 0.1e", 67, nil},
		{"dict with unsorted keys", "d1:bi1e1:ai2ee", 14, nil},
		{"ut_metadata data: the dict, then the piece", "d8:msg_typei1e5:piecei0e10:total_sizei3ee" + "abc", 41, nil},
		{"a string holding brackets", "5:lllll", 7, nil},
		{"32 levels", nested(32, "i1e"), 67, nil},
		{"32 levels of dicts", strings.Repeat("d1:a", 31) + "de" + strings.Repeat("e", 31), 4*31 + 2 + 31, nil},

		{"33 levels", nested(33, "i1e"), 0, bencheck.ErrTooDeep},
		{"64 Ki levels", nested(64<<10, ""), 0, bencheck.ErrTooDeep},
		{"33 levels of dicts", strings.Repeat("d1:a", 32) + "de" + strings.Repeat("e", 32), 0, bencheck.ErrTooDeep},
		{"deep, then cut short", strings.Repeat("l", 100), 0, bencheck.ErrTooDeep},

		{"empty", "", 0, bencheck.ErrMalformed},
		{"unknown type", "x", 0, bencheck.ErrMalformed},
		{"stray e", "e", 0, bencheck.ErrMalformed},
		{"list without its end", "li1e", 0, bencheck.ErrMalformed},
		{"dict without its end", "d1:ai1e", 0, bencheck.ErrMalformed},
		{"integer without an end", "i12", 0, bencheck.ErrMalformed},
		{"integer without digits", "ie", 0, bencheck.ErrMalformed},
		{"integer of a minus", "i-e", 0, bencheck.ErrMalformed},
		{"negative zero", "i-0e", 0, bencheck.ErrMalformed},
		{"integer with a leading zero", "i03e", 0, bencheck.ErrMalformed},
		{"integer with a plus", "i+1e", 0, bencheck.ErrMalformed},
		{"integer with a space", "i1 e", 0, bencheck.ErrMalformed},
		{"string past the end", "5:abc", 0, bencheck.ErrMalformed},
		{"string length with a leading zero", "01:a", 0, bencheck.ErrMalformed},
		{"string length without a colon", "3abc", 0, bencheck.ErrMalformed},
		{"string length cut short", "12", 0, bencheck.ErrMalformed},
		{"string length of 11 digits", "12345678901:a", 0, bencheck.ErrMalformed},
		{"string length overflowing int64", "99999999999999999999:a", 0, bencheck.ErrMalformed},
		{"dict key that is an integer", "di1ei2ee", 0, bencheck.ErrMalformed},
		{"dict key that is a list", "dlei2ee", 0, bencheck.ErrMalformed},
		{"dict key without a value", "d1:ae", 0, bencheck.ErrMalformed},
		{"list of a stray byte", "l:e", 0, bencheck.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := bencheck.Value([]byte(tc.in))
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				t.Logf("%v", err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.n, n)
			// anacrolix's decoder agrees on where the value ends.
			d := bencode.NewDecoder(bytes.NewReader([]byte(tc.in)))
			var v any
			if err := d.Decode(&v); err == nil {
				assert.EqualValues(t, tc.n, d.Offset)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		in  string
		err error
	}{
		{"d1:ai1ee", nil},
		{"i1e", nil},
		{"d1:ai1eex", bencheck.ErrMalformed},
		{"i1ei2e", bencheck.ErrMalformed},
		{nested(40, ""), bencheck.ErrTooDeep},
		{"", bencheck.ErrMalformed},
	}
	for _, tc := range tests {
		err := bencheck.Check([]byte(tc.in))
		if tc.err == nil {
			assert.NoError(t, err, tc.in)
		} else {
			assert.ErrorIs(t, err, tc.err, tc.in)
		}
	}
}

// TestValueAllocatesNothing: a scan, accepted or refused for its depth,
// allocates nothing (only a malformed input's error text does).
func TestValueAllocatesNothing(t *testing.T) {
	ok := []byte("d1:md11:ut_metadatai1e9:btt_speedi2ee4:reqqi250e" + "1:x" + nested(31, "4:spam") + "e")
	deep := []byte(nested(64<<10, ""))
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := bencheck.Value(ok); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs, "an accepted value")
	allocs = testing.AllocsPerRun(100, func() { _, _ = bencheck.Value(deep[:40]) })
	assert.LessOrEqual(t, allocs, 3.0, "a refused one: its error only")
}

func BenchmarkValue(b *testing.B) {
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"handshake", []byte("d1:md11:ut_metadatai1e9:btt_speedi2ee4:reqqi250e1:v12:bttspeed 0.1e")},
		{"128KiB flat list", []byte("l" + strings.Repeat("i1e", 128<<10/3-1) + "e")},
		{"128KiB nested, refused", []byte(nested(64<<10, ""))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.in)))
			for b.Loop() {
				_, _ = bencheck.Value(tc.in)
			}
		})
	}
}

// depthOf returns how deeply the decoded value v nests.
func depthOf(v any) int {
	d := 0
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			d = max(d, depthOf(e))
		}
		return d + 1
	case map[string]any:
		for _, e := range v {
			d = max(d, depthOf(e))
		}
		return d + 1
	}
	return 0
}

// FuzzBencodeDepth checks the scanner against anacrolix's decoder: what
// the decoder takes, nested at most MaxDepth deep, the scanner takes, to
// the same byte; what the scanner takes the decoder takes (or refuses for
// unsorted or repeated dict keys only, which its struct decoding allows);
// and a refusal for depth only comes past MaxDepth.
func FuzzBencodeDepth(f *testing.F) {
	for _, s := range []string{
		"i42e", "i-1e", "i0e", "i03e", "i-0e", "4:spam", "0:", "01:a", "le", "de",
		"d1:md11:ut_metadatai1e9:btt_speedi2ee4:reqqi250ee",
		"d8:msg_typei1e5:piecei0e10:total_sizei3eeabc",
		"d1:bi1e1:ai2ee", "di1ei2ee", "d1:ae", "li1e", "5:abc", "12345678901:a",
		nested(32, "i1e"), nested(33, "i1e"), nested(200, ""),
		strings.Repeat("d1:a", 33) + "de" + strings.Repeat("e", 33),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		n, err := bencheck.Value(in)
		if err != nil && !errors.Is(err, bencheck.ErrMalformed) && !errors.Is(err, bencheck.ErrTooDeep) {
			t.Fatalf("%q: an error of neither kind: %v", in, err)
		}
		if err == nil && (n <= 0 || n > len(in)) {
			t.Fatalf("%q: length %d", in, n)
		}
		if len(in) > 1<<16 {
			return // the decoder's stack: what the scanner is for
		}
		d := bencode.NewDecoder(bytes.NewReader(in))
		var v any
		derr := d.Decode(&v)
		switch {
		case derr == nil && depthOf(v) <= bencheck.MaxDepth:
			if err != nil || int64(n) != d.Offset {
				t.Fatalf("%q: the decoder takes %d bytes, the scanner %d, %v", in, d.Offset, n, err)
			}
		case derr == nil:
			if !errors.Is(err, bencheck.ErrTooDeep) {
				t.Fatalf("%q: %d deep, the scanner says %d, %v", in, depthOf(v), n, err)
			}
		case err == nil:
			msg := derr.Error()
			if !strings.Contains(msg, "unsorted") {
				t.Fatalf("%q: the scanner takes %d bytes, the decoder refuses: %v", in, n, derr)
			}
		}
		if errors.Is(err, bencheck.ErrTooDeep) && !strings.Contains(err.Error(), "more than "+strconv.Itoa(bencheck.MaxDepth)) {
			t.Fatalf("%q: %v", in, err)
		}
	})
}
