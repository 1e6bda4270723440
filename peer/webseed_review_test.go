package peer_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
)

// TestReviewWebSeedInternalHosts: web seeds a stranger names (a .torrent's
// url-list, a magnet's ws=) must not point the client at hosts on its own
// side of the network: loopback, link-local (cloud metadata), private
// ranges. Every such URL gets MaxRequests GETs of attacker-chosen paths
// from inside, again after every backoff, for as long as the torrent runs.
func TestReviewWebSeedInternalHosts(t *testing.T) {
	cl := newClient(t, nil)
	for _, u := range []string{
		"http://169.254.169.254/latest/meta-data/",
		"http://127.0.0.1:8080/admin/",
		"http://[::1]:9090/",
		"http://10.0.0.1/cgi-bin/",
		"http://192.168.1.1/",
		"http://localhost:2375/containers/",
	} {
		m, err := peer.ParseMagnet("magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&ws=" + u)
		require.NoError(t, err)
		urls, err := cl.WebSeedURLs(nil, &m, nil)
		require.NoError(t, err)
		assert.Empty(t, urls, "a magnet's web seed at %s", u)
	}
}
