package main

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"1GiB", 1 << 30, false},
		{"256MiB", 256 << 20, false},
		{"16KiB", 16 << 10, false},
		{"12345", 12345, false},
		{"0", 0, true},
		{"-1MiB", 0, true},
		{"1GB", 0, true},
		{"", 0, true},
	} {
		got, err := parseSize(tc.in)
		if tc.err {
			assert.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

func TestMedian(t *testing.T) {
	rs := []result{{secs: 3}, {secs: 1}, {secs: 2}}
	secs := func(r result) float64 { return r.secs }
	assert.Equal(t, 2.0, median(rs, secs))
	assert.Equal(t, 2.5, median(append(rs, result{secs: 4}), secs))
}

// TestProcFigures reads this process's own CPU and peak RSS the way the
// parent reads the seeder's.
func TestProcFigures(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	// Burn some CPU so that the clock ticks.
	buf := make([]byte, 64<<20)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1 // make each page resident
	}
	for range 8 {
		sha256.Sum256(buf)
	}
	user, sys, err := procCPU(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, user+sys)
	assert.Greater(t, procHWM(os.Getpid()), 64.0, "peak RSS in MiB after touching 64 MiB")
	_, _, err = procCPU(-1)
	assert.Error(t, err)
}

func TestBinList(t *testing.T) {
	var b binList
	require.NoError(t, b.Set("old=/tmp/leecher-old"))
	require.NoError(t, b.Set("new=/tmp/leecher=new"))
	assert.Equal(t, binList{{"old", "/tmp/leecher-old"}, {"new", "/tmp/leecher=new"}}, b)
	assert.Equal(t, "old=/tmp/leecher-old,new=/tmp/leecher=new", b.String())
	for _, bad := range []string{"old=/x", "noequals", "=/x", "x=", "ours=/x", "example=/x", "anacrolix=/x"} {
		assert.Error(t, b.Set(bad), bad)
	}
	assert.Len(t, b, 2)
}

func TestSpread(t *testing.T) {
	rs := []result{{secs: 3}, {secs: 1}, {secs: 2}}
	lo, hi := spread(rs, func(r result) float64 { return r.secs })
	assert.Equal(t, 1.0, lo)
	assert.Equal(t, 3.0, hi)
}

func TestRows(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "leecher")
	require.NoError(t, os.WriteFile(bin, nil, 0o755))
	bins := binList{{"old", bin}, {"new", bin}}
	for _, tc := range []struct {
		name string
		p    params
		want []string
		err  bool
	}{
		{"default", params{}, []string{"ours", "anacrolix"}, false},
		{"example and bins", params{example: true, bins: bins}, []string{"ours", "anacrolix", "example", "old", "new"}, false},
		{"only one", params{only: "example", bins: bins}, []string{"example"}, false},
		{"only bins, in that order", params{only: "new,old", bins: bins}, []string{"new", "old"}, false},
		{"only an unknown row", params{only: "ours,nope", bins: bins}, nil, true},
		{"only a row twice", params{only: "old,old", bins: bins}, nil, true},
		{"a missing binary", params{bins: binList{{"gone", filepath.Join(t.TempDir(), "gone")}}}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := tc.p.rows()
			if tc.err {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
