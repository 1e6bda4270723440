package evmescrow

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/paychan"
)

func TestScanBounds(t *testing.T) {
	for _, tc := range []struct {
		mark, last, max uint64
		ok              bool
	}{
		{1, 0, 10, true},  // nothing opened since
		{1, 1, 10, true},  // one
		{1, 10, 10, true}, // ten: the bound
		{1, 11, 10, false},
		{5, 3, 1, true},
		{1, math.MaxUint64, 4096, false},
		{math.MaxUint64, math.MaxUint64, 1, true},
	} {
		err := ScanBounds(tc.mark, tc.last, tc.max)
		if tc.ok {
			assert.NoError(t, err, "%+v", tc)
		} else {
			assert.ErrorIs(t, err, ErrScanBound, "%+v", tc)
		}
	}
}

func TestMatches(t *testing.T) {
	self, payee, other := addr(1), addr(2), addr(3)
	exp := time.Unix(1_900_000_000, 0)
	in := paychan.Intent{Payee: payee, Expiry: exp.Add(400 * time.Millisecond)}
	ch := paychan.Channel{Payer: self, Payee: payee, Expiry: exp.UTC()}
	assert.True(t, Matches(ch, self, in), "the expiry compares in the contract's seconds")
	for name, c := range map[string]paychan.Channel{
		"another payer":  {Payer: other, Payee: payee, Expiry: exp},
		"another payee":  {Payer: self, Payee: other, Expiry: exp},
		"another expiry": {Payer: self, Payee: payee, Expiry: exp.Add(time.Second)},
	} {
		assert.False(t, Matches(c, self, in), name)
	}
}

func TestScanNonces(t *testing.T) {
	ctx := context.Background()
	esc, self, payee := addr(9), addr(1), addr(2)
	exp := time.Unix(1_900_000_000, 0).UTC()
	in := paychan.Intent{Payee: payee, Expiry: exp, Mark: 3}
	ours := func(n uint64, e time.Time) paychan.Channel {
		return paychan.Channel{ID: ChannelID(esc, self, payee, n), Payer: self, Payee: payee, Expiry: e, State: paychan.ChannelOpen}
	}
	errNode := errors.New("node down")
	for _, tc := range []struct {
		name  string
		chain map[uint64]paychan.Channel // by nonce: what the escrow holds at our id
		fail  map[uint64]error
		known []uint64
		last  uint64
		found uint64 // the nonce found, 0 for none
		err   error
		reads int
	}{
		{"nothing opened since the mark", nil, nil, nil, 2, 0, nil, 0},
		{"ours at the mark", map[uint64]paychan.Channel{3: ours(3, exp)}, nil, nil, 5, 3, nil, 1},
		{"others' before ours are passed over", map[uint64]paychan.Channel{6: ours(6, exp)}, nil, nil, 8, 6, nil, 4},
		{"ours with another expiry is not it", map[uint64]paychan.Channel{3: ours(3, exp.Add(time.Hour)), 4: ours(4, exp)}, nil, nil, 4, 4, nil, 2},
		{"a known one is not read", map[uint64]paychan.Channel{3: ours(3, exp), 5: ours(5, exp)}, nil, []uint64{3}, 5, 5, nil, 2},
		{"not there", map[uint64]paychan.Channel{}, nil, nil, 6, 0, nil, 4},
		{"a failed read ends it", map[uint64]paychan.Channel{5: ours(5, exp)}, map[uint64]error{4: errNode}, nil, 6, 0, errNode, 2},
		{"too many to read", nil, nil, nil, 3 + 100, 0, ErrScanBound, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			byID := map[paychan.ChannelID]uint64{}
			for n := in.Mark; n <= tc.last && n < in.Mark+200; n++ {
				byID[ChannelID(esc, self, payee, n)] = n
			}
			reads := 0
			read := func(_ context.Context, id paychan.ChannelID) (paychan.Channel, error) {
				reads++
				n, ok := byID[id]
				require.True(t, ok, "reads only ids of self to the payee from the mark")
				if err := tc.fail[n]; err != nil {
					return paychan.Channel{}, err
				}
				if ch, ok := tc.chain[n]; ok {
					return ch, nil
				}
				return paychan.Channel{ID: id}, paychan.ErrUnknownChannel
			}
			known := func(id paychan.ChannelID) bool {
				for _, n := range tc.known {
					if ChannelID(esc, self, payee, n) == id {
						return true
					}
				}
				return false
			}
			ch, ok, err := ScanNonces(ctx, esc, self, in, tc.last, 100, known, read)
			assert.Equal(t, tc.reads, reads)
			if tc.err != nil {
				assert.ErrorIs(t, err, tc.err)
				assert.False(t, ok)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.found != 0, ok)
			if ok {
				assert.Equal(t, ChannelID(esc, self, payee, tc.found), ch.ID)
			}
		})
	}
}

// TestScanNoncesEndsAtTheTop: a node answering the largest nonce there is
// does not make the scan wrap around and run on.
func TestScanNoncesEndsAtTheTop(t *testing.T) {
	in := paychan.Intent{Payee: addr(2), Expiry: time.Unix(1_900_000_000, 0), Mark: math.MaxUint64 - 2}
	reads := 0
	_, ok, err := ScanNonces(context.Background(), addr(9), addr(1), in, math.MaxUint64, 10, nil,
		func(_ context.Context, id paychan.ChannelID) (paychan.Channel, error) {
			reads++
			require.Less(t, reads, 10, "wrapped around")
			return paychan.Channel{ID: id}, paychan.ErrUnknownChannel
		})
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Equal(t, 3, reads)
}
