package peer_test

import (
	"context"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
)

// TestWebSeedPrivate: a web seed a stranger names (the .torrent's
// url-list, the magnet's ws=) at a loopback server gets no request through
// by default, and neither does one that redirects there; the embedder's
// own (TorrentSpec.WebSeeds, or AddWebSeeds with AllowPrivate) may.
func TestWebSeedPrivate(t *testing.T) {
	f := newFixture(t, 100_000, 16<<10)
	srv := newWSServer(t, f.dir, nil)
	url := srv.URL + "/" + f.name

	t.Run("torrent", func(t *testing.T) {
		withList := *f.mi
		withList.UrlList = []string{url}
		magnet := "magnet:?xt=urn:btih:" + f.mi.HashInfoBytes().HexString() + "&ws=" + url
		for _, spec := range []peer.TorrentSpec{{MetaInfo: &withList}, {Magnet: magnet}} {
			cl := newClient(t, nil)
			spec.Dir = t.TempDir()
			tor, err := cl.AddTorrent(context.Background(), spec)
			require.NoError(t, err)
			list, err := tor.WebSeeds(context.Background())
			require.NoError(t, err)
			assert.Empty(t, list, "the torrent's web seed at loopback is skipped")
		}
		time.Sleep(200 * time.Millisecond)
		assert.Zero(t, srv.requests.Load())
	})

	t.Run("AddWebSeeds", func(t *testing.T) {
		tor, _ := leech(t, f.mi, nil)
		cfg := testWebSeedConfig()
		cfg.AllowPrivate = false
		require.ErrorIs(t, tor.AddWebSeeds([]string{url}, cfg), peer.ErrWebSeedPrivate)
		require.ErrorIs(t, tor.AddWebSeeds([]string{url}, nil), peer.ErrWebSeedPrivate)
		list, err := tor.WebSeeds(context.Background())
		require.NoError(t, err)
		assert.Empty(t, list)
		assert.Zero(t, srv.requests.Load())
	})

	t.Run("redirect", func(t *testing.T) {
		// front stands for a public server: its port counts as public
		// to the web seed's client. It redirects to srv, on loopback.
		front := newWSServer(t, f.dir, func(w http.ResponseWriter, r *http.Request) bool {
			http.Redirect(w, r, url, http.StatusFound)
			return true
		})
		cfg := testWebSeedConfig()
		cfg.AllowPrivate = false
		cfg.HTTPClient = peer.WebSeedClientCounting(netip.MustParseAddrPort(front.Listener.Addr().String()).Port())
		tor, _ := leech(t, f.mi, nil)
		require.NoError(t, tor.AddWebSeeds([]string{front.URL + "/" + f.name}, cfg))
		require.Eventually(t, func() bool { return webSeedInfo(t, tor, front.URL+"/"+f.name).Dropped }, 10*time.Second, 10*time.Millisecond)
		wi := webSeedInfo(t, tor, front.URL+"/"+f.name)
		require.ErrorIs(t, wi.LastErr, peer.ErrWebSeedPrivate)
		asked := front.requests.Load()
		assert.Positive(t, asked)
		time.Sleep(300 * time.Millisecond)
		assert.Equal(t, asked, front.requests.Load(), "a dropped web seed is asked no more")
		assert.Zero(t, srv.requests.Load(), "no request reached the redirect's target")
		assert.Zero(t, tor.WebSeedDownloaded())
	})

	t.Run("trusted", func(t *testing.T) {
		cl := newClient(t, nil)
		dir := t.TempDir()
		tor, err := cl.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, WebSeeds: []string{url}})
		require.NoError(t, err)
		waitDone(t, tor, 20*time.Second)
		requireSameFile(t, f, dir)
	})
}

// TestWebSeedURLsPrivate: which hosts of a stranger's web seed URLs are
// skipped before any request (names are checked once resolved, when
// dialing).
func TestWebSeedURLsPrivate(t *testing.T) {
	cl := newClient(t, nil)
	for _, tc := range []struct {
		url  string
		kept bool
	}{
		{"http://127.0.0.2/", false},
		{"http://[::ffff:127.0.0.1]/", false},
		{"http://0.0.0.0:80/", false},
		{"http://0.1.2.3/", false},
		{"http://100.64.1.1/", false},
		{"http://172.16.5.4/", false},
		{"http://[fe80::1%25eth0]/", false},
		{"http://[fd00::1]/", false},
		{"http://[::]/", false},
		{"http://224.0.0.1/", false},
		{"http://255.255.255.255/", false},
		{"http://[64:ff9b::a9fe:a9fe]/", false}, // NAT64 of 169.254.169.254
		{"http://[2002:c0a8:101::1]/", false},   // 6to4 of 192.168.1.1
		{"http://LocalHost./", false},
		{"https://api.localhost/", false},
		{"http://93.184.215.14/x", true},
		{"http://[2606:4700::1111]/", true},
		{"https://example.com/files/", true},
	} {
		m, err := peer.ParseMagnet("magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&ws=" + tc.url)
		require.NoError(t, err, tc.url)
		urls, err := cl.WebSeedURLs(nil, &m, nil)
		require.NoError(t, err)
		if tc.kept {
			assert.Equal(t, []string{tc.url}, urls)
		} else {
			assert.Empty(t, urls, tc.url)
		}
		urls, err = cl.WebSeedURLs(nil, nil, []string{tc.url})
		require.NoError(t, err)
		assert.Equal(t, []string{tc.url}, urls, "the embedder's own may name any host")
	}
}
