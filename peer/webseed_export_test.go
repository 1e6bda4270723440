package peer

import (
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
)

// WebSeedURLs is the client's webSeedURLs, for tests: what AddTorrent
// gives AddWebSeeds.
func (cl *Client) WebSeedURLs(mi *metainfo.MetaInfo, m *metainfo.MagnetV2, extra []string) ([]string, error) {
	return cl.webSeedURLs(mi, m, extra)
}

// WebSeedDownloaded is webSeedDownloaded, for tests.
func (t *Torrent) WebSeedDownloaded() int64 { return t.webSeedDownloaded() }

// AllowPrivateWebSeeds lets every web seed, those of a .torrent's url-list
// and a magnet's ws= included, reach loopback until tb ends: for the tests
// of those, whose servers are on loopback.
func AllowPrivateWebSeeds(tb testing.TB) {
	allowPrivateWebSeeds.Store(true)
	tb.Cleanup(func() { allowPrivateWebSeeds.Store(false) })
}

// WebSeedClientCounting returns a client made as a web seed's own without
// AllowPrivate, but that counts loopback port port as public: a test's
// stand-in for a public web seed, on loopback.
func WebSeedClientCounting(port uint16) *http.Client {
	tr := webSeedTransport(WebSeedConfig{MaxRequests: 4, StallTimeout: 20 * time.Second}, func(ap netip.AddrPort) bool {
		return publicAddr(ap.Addr()) || ap.Addr().IsLoopback() && ap.Port() == port
	})
	return &http.Client{Transport: tr, CheckRedirect: checkWebSeedRedirect}
}
