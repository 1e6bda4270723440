package peer

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWebSeedPublicAddr(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		public bool
	}{
		{"8.8.8.8", true},
		{"93.184.215.14", true},
		{"100.63.255.255", true},
		{"100.128.0.0", true},
		{"2606:4700::1111", true},
		{"64:ff9b::808:808", true},
		{"2002:808:808::1", true},
		{"127.0.0.1", false},
		{"127.255.0.9", false},
		{"::1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.1.2.3", false},
		{"169.254.169.254", false},
		{"fe80::1", false},
		{"10.0.0.1", false},
		{"172.31.255.255", false},
		{"192.168.1.1", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"100.64.0.1", false},
		{"100.127.255.255", false},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"::", false},
		{"224.0.0.251", false},
		{"ff02::1", false},
		{"255.255.255.255", false},
		{"240.0.0.1", false},
		{"192.0.0.8", false},
		{"198.18.0.1", false},
		{"64:ff9b::7f00:1", false},
		{"2002:a9fe:a9fe::1", false},
	} {
		assert.Equal(t, tc.public, publicAddr(netip.MustParseAddr(tc.addr)), tc.addr)
	}
	assert.False(t, publicAddr(netip.Addr{}))
}

// TestWebSeedDialPrivate: a web seed's own client without AllowPrivate
// refuses a name that resolves to loopback, at the dialer; with it, the
// request goes through.
func TestWebSeedDialPrivate(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	byName := "http://localhost:" + srv.URL[strings.LastIndex(srv.URL, ":")+1:] + "/"
	for _, allow := range []bool{false, true} {
		cfg := WebSeedConfig{AllowPrivate: allow}
		require.NoError(t, cfg.setDefaults())
		tr := newWebSeedTransport(cfg)
		c := &http.Client{Transport: tr, CheckRedirect: checkWebSeedRedirect}
		for _, u := range []string{srv.URL, byName} {
			resp, err := c.Get(u)
			if allow {
				require.NoError(t, err, u)
				resp.Body.Close()
				continue
			}
			require.ErrorIs(t, err, ErrWebSeedPrivate, u)
		}
		tr.CloseIdleConnections()
	}
	assert.Equal(t, int64(2), hits.Load(), "only the allowed client's requests")
}
