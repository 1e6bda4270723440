package peer_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/bttspeed/bttspeed/peer"
)

// wsServer is a web seed on loopback: Go's http.FileServer over root,
// unless fault answers the request first.
type wsServer struct {
	*httptest.Server
	requests atomic.Int64
}

func newWSServer(t testing.TB, root string, fault func(w http.ResponseWriter, r *http.Request) bool) *wsServer {
	t.Helper()
	s := &wsServer{}
	files := http.FileServer(http.Dir(root))
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if fault != nil && fault(w, r) {
			return
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// testWebSeedConfig has short rests, and small requests so that a small
// torrent takes several; its stall timeout is short but leaves room for a
// loaded CI machine (hostile tests shorten it for the hostile server).
// Its servers are on loopback: AllowPrivate.
func testWebSeedConfig() *peer.WebSeedConfig {
	return &peer.WebSeedConfig{
		AllowPrivate: true,
		RequestSize:  64 << 10,
		StallTimeout: 2 * time.Second,
		Timeout:      5 * time.Second,
		MinBackoff:   50 * time.Millisecond,
		MaxBackoff:   200 * time.Millisecond,
	}
}

// leech adds mi to a new client, downloading into a new directory.
func leech(t testing.TB, mi *metainfo.MetaInfo, mod func(*peer.Config)) (*peer.Torrent, string) {
	t.Helper()
	cl := newClient(t, mod)
	dir := t.TempDir()
	tor, err := cl.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: mi, Dir: dir})
	require.NoError(t, err)
	return tor, dir
}

func webSeedInfo(t testing.TB, tor *peer.Torrent, url string) peer.WebSeedInfo {
	t.Helper()
	list, err := tor.WebSeeds(context.Background())
	require.NoError(t, err)
	for _, wi := range list {
		if wi.URL == url {
			return wi
		}
	}
	t.Fatalf("no web seed %s in %+v", url, list)
	return peer.WebSeedInfo{}
}

func TestWebSeedSingleFile(t *testing.T) {
	f := newFixture(t, 1<<20+12345, 32<<10)
	srv := newWSServer(t, f.dir, nil)
	for _, tc := range []struct{ name, url string }{
		{"file URL", srv.URL + "/" + f.name},
		{"directory URL", srv.URL + "/"}, // BEP 19: + the torrent's name
	} {
		t.Run(tc.name, func(t *testing.T) {
			tor, dir := leech(t, f.mi, nil)
			require.NoError(t, tor.AddWebSeeds([]string{tc.url}, testWebSeedConfig()))
			waitDone(t, tor, 20*time.Second)
			requireSameFile(t, f, dir)
			st, err := tor.Stats(context.Background())
			require.NoError(t, err)
			wi := webSeedInfo(t, tor, tc.url)
			assert.Equal(t, f.info.Length, wi.Downloaded, "every byte came from the web seed, once")
			assert.Equal(t, f.info.Length, st.Downloaded, "Stats counts the web seed's bytes")
			assert.Equal(t, f.info.Length, tor.WebSeedDownloaded())
			assert.Zero(t, wi.Failures, "last error: %v", wi.LastErr)
			assert.False(t, wi.Dropped)
			assert.GreaterOrEqual(t, wi.Requests, f.info.Length/(64<<10), "requests are bounded by RequestSize")
		})
	}
}

// webSeedTree writes a torrent of several files (with a subdirectory, an
// empty file, and names that need escaping) under a new directory.
func webSeedTree(t testing.TB, pieceLen int64) (root string, mi *metainfo.MetaInfo, files map[string][]byte) {
	t.Helper()
	root = t.TempDir()
	files = map[string][]byte{
		"a.bin":               make([]byte, 100_000),
		"sub dir/b #1+x.bin":  make([]byte, 250_001),
		"sub dir/empty":       nil,
		"sub dir/deeper/c%20": make([]byte, 77),
		"z":                   make([]byte, 1),
	}
	for p, b := range files {
		_, _ = rand.Read(b)
		full := filepath.Join(root, "tree", filepath.FromSlash(p))
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, b, 0o644))
	}
	info := metainfo.Info{PieceLength: pieceLen}
	require.NoError(t, info.BuildFromFilePath(filepath.Join(root, "tree")))
	ib, err := bencode.Marshal(info)
	require.NoError(t, err)
	return root, &metainfo.MetaInfo{InfoBytes: ib}, files
}

func requireTree(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for p, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, "tree", filepath.FromSlash(p)))
		if len(want) == 0 && os.IsNotExist(err) {
			continue // an empty file need not be created
		}
		require.NoError(t, err, p)
		require.True(t, bytes.Equal(want, got), "%s differs", p)
	}
}

func TestWebSeedMultiFile(t *testing.T) {
	root, mi, files := webSeedTree(t, 32<<10)
	srv := newWSServer(t, root, nil)
	for _, tc := range []struct{ name, url string }{
		{"directory URL", srv.URL + "/"},
		{"without the slash", srv.URL}, // one is added, as libtorrent does
	} {
		t.Run(tc.name, func(t *testing.T) {
			tor, dir := leech(t, mi, nil)
			require.NoError(t, tor.AddWebSeeds([]string{tc.url}, testWebSeedConfig()))
			waitDone(t, tor, 20*time.Second)
			requireTree(t, dir, files)
			wi := webSeedInfo(t, tor, tc.url)
			assert.Zero(t, wi.Failures)
		})
	}
}

// TestWebSeedFromTorrent: the .torrent's url-list and the magnet's ws= are
// what AddTorrent gives AddWebSeeds. Its server is on loopback, which the
// torrent's web seeds may reach only when allowed.
func TestWebSeedFromTorrent(t *testing.T) {
	peer.AllowPrivateWebSeeds(t)
	f := newFixture(t, 300_000, 16<<10)
	srv := newWSServer(t, f.dir, nil)
	mi := *f.mi
	mi.UrlList = []string{srv.URL + "/" + f.name, "ftp://example.invalid/x"}
	cl := newClient(t, nil)
	urls, err := cl.WebSeedURLs(&mi, nil, []string{srv.URL + "/" + f.name})
	require.NoError(t, err)
	assert.Equal(t, []string{srv.URL + "/" + f.name}, urls, "the ftp URL is skipped, the duplicate dropped")
	_, err = cl.WebSeedURLs(&mi, nil, []string{"ftp://example.invalid/x"})
	require.ErrorIs(t, err, peer.ErrBadWebSeed, "a bad URL of the caller's own is an error")

	m, err := peer.ParseMagnet("magnet:?xt=urn:btih:" + mi.HashInfoBytes().HexString() + "&ws=" + srv.URL + "/" + f.name + "&ws=http://127.0.0.1:1/other")
	require.NoError(t, err)
	urls, err = cl.WebSeedURLs(nil, &m, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{srv.URL + "/" + f.name, "http://127.0.0.1:1/other"}, urls)

	dir := t.TempDir()
	tor, err := cl.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: &mi, Dir: dir})
	require.NoError(t, err)
	urls, err = cl.WebSeedURLs(&mi, nil, nil)
	require.NoError(t, err)
	require.NoError(t, tor.AddWebSeeds(urls, testWebSeedConfig()))
	waitDone(t, tor, 20*time.Second)
	requireSameFile(t, f, dir)
}

// TestWebSeedPause: a paused torrent asks its web seeds nothing, and after
// Resume the download completes.
func TestWebSeedPause(t *testing.T) {
	f := newFixture(t, 1<<20, 16<<10)
	srv := newWSServer(t, f.dir, nil)
	tor, dir := leech(t, f.mi, nil)
	lim := rate.NewLimiter(rate.Limit(256<<10), 16<<10)
	tor.SetRateLimits(nil, lim) // about 4 s for the whole
	require.NoError(t, tor.AddWebSeeds([]string{srv.URL + "/" + f.name}, testWebSeedConfig()))
	require.Eventually(t, func() bool {
		st, err := tor.Stats(context.Background())
		return err == nil && st.Downloaded > 64<<10
	}, 10*time.Second, 5*time.Millisecond)
	tor.Pause()
	time.Sleep(200 * time.Millisecond) // requests under way end
	st1, err := tor.Stats(context.Background())
	require.NoError(t, err)
	n := srv.requests.Load()
	time.Sleep(600 * time.Millisecond)
	st2, err := tor.Stats(context.Background())
	require.NoError(t, err)
	assert.Equal(t, n, srv.requests.Load(), "no request while paused")
	assert.Equal(t, st1.Downloaded, st2.Downloaded, "nothing arrives while paused")
	assert.False(t, st2.Complete)
	lim.SetLimit(rate.Inf)
	tor.Resume()
	waitDone(t, tor, 20*time.Second)
	requireSameFile(t, f, dir)
	assert.Zero(t, webSeedInfo(t, tor, srv.URL+"/"+f.name).Failures, "a request cut by the pause is no failure")
}

// TestWebSeedRateLimit: Config.DownloadRate holds web seeds back too. Only
// a lower bound is asserted: a limiter cannot be beaten, however loaded the
// machine.
func TestWebSeedRateLimit(t *testing.T) {
	const size, limit = 1 << 20, 512 << 10
	f := newFixture(t, size, 16<<10)
	srv := newWSServer(t, f.dir, nil)
	tor, dir := leech(t, f.mi, func(c *peer.Config) { c.DownloadRate = limit })
	start := time.Now()
	require.NoError(t, tor.AddWebSeeds([]string{srv.URL + "/" + f.name}, testWebSeedConfig()))
	waitDone(t, tor, 30*time.Second)
	elapsed := time.Since(start)
	requireSameFile(t, f, dir)
	// The limiter's burst is a tenth of a second's worth.
	assert.GreaterOrEqual(t, elapsed, time.Duration(size-limit/10)*time.Second/limit)
}

// TestWebSeedBesidePeers: a web seed and a seeding peer share a download;
// Stats.Downloaded counts both, and the web seed's share is its own. A
// PieceObserver (what btt_speed pays by) hears of the peer's bytes only:
// the web seed's are never credited, so never paid for.
func TestWebSeedBesidePeers(t *testing.T) {
	f := newFixture(t, 2<<20, 32<<10)
	// A slow web seed (about 512 KiB/s a request), that has sent some
	// before the peer comes, so that both have a share.
	srv := newWSServer(t, f.dir, func(w http.ResponseWriter, r *http.Request) bool {
		http.FileServer(http.Dir(f.dir)).ServeHTTP(slowWriter{w}, r)
		return true
	})
	obs := &creditExt{}
	withObs := func(c *peer.Config) { c.Extensions = []peer.Extension{obs} }
	seeder := newClient(t, withObs)
	seed(t, seeder, f)
	tor, dir := leech(t, f.mi, withObs)
	require.NoError(t, tor.AddWebSeeds([]string{srv.URL + "/" + f.name}, testWebSeedConfig()))
	require.Eventually(t, func() bool { return tor.WebSeedDownloaded() > 0 }, 10*time.Second, time.Millisecond)
	tor.AddPeers(seeder.Addr())
	waitDone(t, tor, 30*time.Second)
	requireSameFile(t, f, dir)
	st, err := tor.Stats(context.Background())
	require.NoError(t, err)
	web := webSeedInfo(t, tor, srv.URL+"/"+f.name).Downloaded
	assert.Positive(t, web)
	assert.Equal(t, f.info.Length, st.Downloaded, "each wanted byte counted once")
	assert.Less(t, web, f.info.Length)
	assert.Equal(t, f.info.Length-web, obs.credited.Load(), "the peer is credited with its bytes, and nobody with the web seed's")
	t.Logf("web seed %d bytes, peers %d; %+v", web, st.Downloaded-web, webSeedInfo(t, tor, srv.URL+"/"+f.name))
}

// slowWriter sends a response body 16 KiB at a time, 30 ms apart.
type slowWriter struct{ http.ResponseWriter }

func (w slowWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), 16<<10)
		m, err := w.ResponseWriter.Write(p[:k])
		n += m
		if err != nil {
			return n, err
		}
		w.ResponseWriter.(http.Flusher).Flush()
		p = p[k:]
		time.Sleep(30 * time.Millisecond)
	}
	return n, nil
}

// creditExt sums the bytes PieceVerified credits to peers.
type creditExt struct{ credited atomic.Int64 }

func (e *creditExt) Name() string                               { return "x_credit" }
func (e *creditExt) HandshakeKeys(*peer.Torrent) map[string]any { return nil }
func (e *creditExt) Attach(peer.ExtPeer, map[string]bencode.Bytes) (peer.ExtHandler, error) {
	return creditHandler{e}, nil
}

type creditHandler struct{ e *creditExt }

func (h creditHandler) Message([]byte) error             { return nil }
func (h creditHandler) Closed()                          {}
func (h creditHandler) PieceVerified(_ int, bytes int64) { h.e.credited.Add(bytes) }

// TestWebSeedBeforeInfo: web seeds added to a magnet link wait for its
// info, then fetch.
func TestWebSeedBeforeInfo(t *testing.T) {
	f := newFixture(t, 300_000, 16<<10)
	srv := newWSServer(t, f.dir, nil)
	seeder := newClient(t, nil)
	seed(t, seeder, f)
	cl := newClient(t, nil)
	dir := t.TempDir()
	tor, err := cl.AddTorrent(context.Background(), peer.TorrentSpec{
		Magnet: "magnet:?xt=urn:btih:" + f.mi.HashInfoBytes().HexString(),
		Dir:    dir,
	})
	require.NoError(t, err)
	require.NoError(t, tor.AddWebSeeds([]string{srv.URL + "/" + f.name}, testWebSeedConfig()))
	time.Sleep(100 * time.Millisecond)
	assert.Zero(t, srv.requests.Load(), "nothing to ask before the info")
	tor.AddPeers(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), seeder.Addr().Port()))
	waitDone(t, tor, 30*time.Second)
	requireSameFile(t, f, dir)
	assert.Positive(t, srv.requests.Load())
}

func TestWebSeedBadConfig(t *testing.T) {
	f := newFixture(t, 1000, 16<<10)
	tor, _ := leech(t, f.mi, nil)
	for _, u := range []string{"ftp://x/y", "/relative", "http://", "::bad"} {
		require.ErrorIs(t, tor.AddWebSeeds([]string{u}, nil), peer.ErrBadWebSeed, u)
	}
	require.ErrorIs(t, tor.AddWebSeeds([]string{"http://127.0.0.1:1/"}, &peer.WebSeedConfig{MaxRequests: -1}), peer.ErrConfig)
	list, err := tor.WebSeeds(context.Background())
	require.NoError(t, err)
	assert.Empty(t, list, "nothing added from a refused call")
	urls := make([]string, 40)
	for i := range urls {
		urls[i] = fmt.Sprintf("http://127.0.0.1:1/%d", i)
	}
	require.NoError(t, tor.AddWebSeeds(append(urls, urls[0]), &peer.WebSeedConfig{MinBackoff: time.Hour, AllowPrivate: true}))
	list, err = tor.WebSeeds(context.Background())
	require.NoError(t, err)
	assert.Len(t, list, 16, "at most 16 web seeds")
}

// TestWebSeedPadding: BEP 47 padding files are zeros nobody is asked for:
// the web seed's server has none, and the download completes.
func TestWebSeedPadding(t *testing.T) {
	f := newPaddedFixture(t)
	var padAsked atomic.Int64
	srv := newWSServer(t, f.dir, func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/.pad/") {
			padAsked.Add(1)
		}
		return false
	})
	tor, dir := leech(t, f.mi, nil)
	require.NoError(t, tor.AddWebSeeds([]string{srv.URL + "/"}, testWebSeedConfig()))
	waitDone(t, tor, 20*time.Second)
	f.requireFiles(t, dir)
	assert.Zero(t, padAsked.Load(), "a padding file is never fetched")
	wi := webSeedInfo(t, tor, srv.URL+"/")
	assert.Zero(t, wi.Failures, "last error: %v", wi.LastErr)
}

// TestWebSeedSeeding: a torrent that is complete asks its web seeds
// nothing (a seeder's own .torrent names them for others).
func TestWebSeedSeeding(t *testing.T) {
	f := newFixture(t, 100_000, 16<<10)
	srv := newWSServer(t, f.dir, nil)
	tor := seed(t, newClient(t, nil), f)
	require.NoError(t, tor.AddWebSeeds([]string{srv.URL + "/" + f.name}, testWebSeedConfig()))
	time.Sleep(200 * time.Millisecond)
	assert.Zero(t, srv.requests.Load())
}

// TestWebSeedURLList: AddTorrent fetches from the .torrent's url-list, a
// magnet link's ws= and TorrentSpec.WebSeeds, and refuses a bad URL of the
// caller's own; Stats tells the web seeds' share. The server is on
// loopback: TorrentSpec.WebSeeds may name it, the others only when allowed
// (TestWebSeedPrivate has them refused).
func TestWebSeedURLList(t *testing.T) {
	f := newFixture(t, 300_000, 16<<10)
	srv := newWSServer(t, f.dir, nil)
	url := srv.URL + "/" + f.name
	withList := *f.mi
	withList.UrlList = []string{url, "ftp://example.invalid/skipped"}
	seeder := newClient(t, nil)
	seed(t, seeder, f)
	magnet := "magnet:?xt=urn:btih:" + f.mi.HashInfoBytes().HexString() + "&ws=" + url
	for _, tc := range []struct {
		name string
		spec peer.TorrentSpec
	}{
		{"url-list", peer.TorrentSpec{MetaInfo: &withList}},
		{"ws=", peer.TorrentSpec{Magnet: magnet, Peers: []netip.AddrPort{seeder.Addr()}}},
		{"TorrentSpec.WebSeeds", peer.TorrentSpec{MetaInfo: f.mi, WebSeeds: []string{url}}},
		{"url-list, Config.AllowPrivateWebSeeds", peer.TorrentSpec{MetaInfo: &withList}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mod func(*peer.Config)
			switch {
			case strings.Contains(tc.name, "Config."):
				mod = func(c *peer.Config) { c.AllowPrivateWebSeeds = true }
			case tc.spec.WebSeeds == nil:
				peer.AllowPrivateWebSeeds(t)
			}
			cl := newClient(t, mod)
			dir := t.TempDir()
			tc.spec.Dir = dir
			tor, err := cl.AddTorrent(context.Background(), tc.spec)
			require.NoError(t, err)
			waitDone(t, tor, 20*time.Second)
			requireSameFile(t, f, dir)
			list, err := tor.WebSeeds(context.Background())
			require.NoError(t, err)
			require.Len(t, list, 1)
			assert.Equal(t, url, list[0].URL)
			st, err := tor.Stats(context.Background())
			require.NoError(t, err)
			assert.Equal(t, list[0].Downloaded, st.WebSeedDownloaded)
			if tc.spec.Magnet == "" {
				assert.Equal(t, f.info.Length, st.WebSeedDownloaded, "no peer: all from the web seed")
			}
		})
	}
	cl := newClient(t, nil)
	_, err := cl.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: t.TempDir(), WebSeeds: []string{"ftp://x/y"}})
	require.ErrorIs(t, err, peer.ErrBadWebSeed)
}
