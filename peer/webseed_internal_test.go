package peer

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWebSeedContentRange(t *testing.T) {
	for _, tc := range []struct {
		h           string
		first, last int64
		ok          bool
	}{
		{"bytes 0-99/100", 0, 99, true},
		{"bytes 5-5/*", 5, 5, true},
		{" bytes 16384-32767/1000000 ", 16384, 32767, true},
		{"bytes 0-100/100", 0, 0, false}, // past the size
		{"bytes 9-8/100", 0, 0, false},
		{"bytes -1-8/100", 0, 0, false},
		{"bytes 0-99", 0, 0, false},
		{"bytes */100", 0, 0, false},
		{"items 0-99/100", 0, 0, false},
		{"bytes 0-99/x", 0, 0, false},
		{"bytes 0-99999999999999999999/100", 0, 0, false},
		{"", 0, 0, false},
	} {
		first, last, ok := parseContentRange(tc.h)
		assert.Equal(t, tc.ok, ok, tc.h)
		if tc.ok {
			assert.Equal(t, tc.first, first, tc.h)
			assert.Equal(t, tc.last, last, tc.h)
		}
	}
}

func FuzzWebSeedContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-99/100", "bytes 5-5/*", "bytes 9-8/100", "", "bytes -/", "bytes 1-2/3/4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		first, last, ok := parseContentRange(h)
		if ok {
			require.GreaterOrEqual(t, first, int64(0))
			require.GreaterOrEqual(t, last, first)
		}
	})
}

func TestWebSeedRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		h    string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"-3", 0},
		{"99999999999999", 24 * time.Hour},
		{"Mon, 07 Dec 2026 12:00:30 GMT", 30 * time.Second},
		{"Mon, 07 Dec 2026 11:00:00 GMT", 0},
		{"Mon, 07 Dec 2036 11:00:00 GMT", 24 * time.Hour},
		{"soon", 0},
	} {
		assert.Equal(t, tc.want, parseRetryAfter(tc.h, now), tc.h)
	}
}

func FuzzWebSeedRetryAfter(f *testing.F) {
	for _, s := range []string{"", "7", "-3", "Mon, 07 Dec 2026 12:00:30 GMT", "soon"} {
		f.Add(s)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, h string) {
		d := parseRetryAfter(h, now)
		require.GreaterOrEqual(t, d, time.Duration(0))
		require.LessOrEqual(t, d, 24*time.Hour)
	})
}

func TestWebSeedConfigDefaults(t *testing.T) {
	var c WebSeedConfig
	require.NoError(t, c.setDefaults())
	assert.Equal(t, WebSeedConfig{
		MaxRequests: 4, RequestSize: 1 << 20, StallTimeout: 20 * time.Second, Timeout: 2 * time.Minute,
		MinBackoff: time.Second, MaxBackoff: 5 * time.Minute,
	}, c)
	c = WebSeedConfig{RequestSize: 1, MinBackoff: time.Hour}
	require.NoError(t, c.setDefaults())
	assert.EqualValues(t, 16<<10, c.RequestSize, "at least a block")
	assert.Equal(t, time.Hour, c.MaxBackoff, "at least MinBackoff")
	for _, bad := range []WebSeedConfig{{MaxRequests: -1}, {RequestSize: -1}, {StallTimeout: -1}, {Timeout: -1}, {MinBackoff: -1}, {MaxBackoff: -1}} {
		require.ErrorIs(t, bad.setDefaults(), ErrConfig)
	}
}
