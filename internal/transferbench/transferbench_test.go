package transferbench_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/internal/transferbench"
)

func TestMedianCI(t *testing.T) {
	seq := func(n int) []float64 {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = float64(n - i) // descending: MedianCI must sort
		}
		return xs
	}
	for _, tc := range []struct {
		n           int
		med, lo, hi float64
	}{
		{n: 0},
		{n: 1, med: 1, lo: 1, hi: 1},
		{n: 5, med: 3, lo: 1, hi: 5},   // too few for 95%: the extremes
		{n: 6, med: 3.5, lo: 1, hi: 6}, // P(X=0) = 1/64
		{n: 12, med: 6.5, lo: 3, hi: 10},
		{n: 40, med: 20.5, lo: 14, hi: 27},
	} {
		med, lo, hi := transferbench.MedianCI(seq(tc.n))
		assert.Equal(t, [3]float64{tc.med, tc.lo, tc.hi}, [3]float64{med, lo, hi}, "n=%d", tc.n)
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  bool
	}{
		{in: "1GiB", want: 1 << 30},
		{in: "256MiB", want: 256 << 20},
		{in: "64KiB", want: 64 << 10},
		{in: "1000", want: 1000},
		{in: "0", want: 0},
		{in: "-1MiB", err: true},
		{in: "1GB", err: true},
		{in: "", err: true},
		{in: "99999999999GiB", err: true}, // overflows int64
	} {
		got, err := transferbench.ParseSize(tc.in)
		if tc.err {
			assert.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}
