package discovery_test

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent/tracker"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/bttspeed/bttspeed/peer/discovery"
	"github.com/bttspeed/bttspeed/peer/discovery/discoverytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// announcer is a fake torrent: settable stats, and the peers it was given.
type announcer struct {
	up, down, left atomic.Int64
	mu             sync.Mutex
	found          []netip.AddrPort
}

func (a *announcer) announce(ih [20]byte, id byte, port int) discovery.Announce {
	var pid [20]byte
	pid[0] = id
	return discovery.Announce{
		InfoHash: ih, PeerID: pid, Port: port,
		Stats: func() discovery.Stats {
			return discovery.Stats{Uploaded: a.up.Load(), Downloaded: a.down.Load(), Left: a.left.Load()}
		},
		Found: func(ps []netip.AddrPort) {
			a.mu.Lock()
			for _, p := range ps {
				if !slices.Contains(a.found, p) {
					a.found = append(a.found, p)
				}
			}
			a.mu.Unlock()
		},
	}
}

func (a *announcer) has(p netip.AddrPort) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Contains(a.found, p)
}

func TestTrackerFindsPeersAndReportsTrueStats(t *testing.T) {
	for _, proto := range []string{"http", "udp"} {
		t.Run(proto, func(t *testing.T) {
			tr := discoverytest.StartTracker(t, time.Second)
			url := tr.HTTPURL
			if proto == "udp" {
				url = tr.UDPURL
			}
			src, err := discovery.NewTracker(url, discovery.TrackerConfig{MinInterval: time.Second})
			require.NoError(t, err)
			ih := [20]byte{1, 2, 3}
			var a, b announcer
			a.left.Store(1000)
			b.left.Store(0)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Go(func() { _ = src.Run(ctx, a.announce(ih, 'a', 6001)) })
			wg.Go(func() { _ = src.Run(ctx, b.announce(ih, 'b', 6002)) })
			require.Eventually(t, func() bool {
				return a.has(netip.MustParseAddrPort("127.0.0.1:6002")) && b.has(netip.MustParseAddrPort("127.0.0.1:6001"))
			}, 20*time.Second, 20*time.Millisecond, "the two announcers find each other")

			// a completes: a "completed" announce with the true figures.
			a.up.Store(4242)
			a.down.Store(1000)
			a.left.Store(0)
			require.Eventually(t, func() bool {
				for _, r := range tr.Announces() {
					if r.Event == tracker.Completed && r.Addr.Port() == 6001 {
						return r.Uploaded == 4242 && r.Downloaded == 1000 && r.Left == 0
					}
				}
				return false
			}, 20*time.Second, 20*time.Millisecond)
			// Re-announces happen at the interval.
			require.Eventually(t, func() bool {
				n := 0
				for _, r := range tr.Announces() {
					if r.Addr.Port() == 6002 && r.Event == tracker.None {
						n++
					}
				}
				return n >= 2
			}, 20*time.Second, 20*time.Millisecond)
			cancel()
			wg.Wait()
			var stopped int
			for _, r := range tr.Announces() {
				if r.Event == tracker.Stopped {
					stopped++
				}
			}
			assert.Equal(t, 2, stopped, "both say stopped on the way out")
			var started int
			for _, r := range tr.Announces() {
				if r.Event == tracker.Started {
					started++
				}
			}
			assert.Equal(t, 2, started)
		})
	}
}

func TestTrackerFailureBacksOff(t *testing.T) {
	tr := discoverytest.StartTracker(t, time.Second)
	tr.SetFailing(true)
	src, err := discovery.NewTracker(tr.HTTPURL, discovery.TrackerConfig{MinInterval: time.Second, Timeout: 2 * time.Second})
	require.NoError(t, err)
	var a announcer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = src.Run(ctx, a.announce([20]byte{9}, 'a', 6003)); close(done) }()
	time.Sleep(500 * time.Millisecond)
	tr.SetFailing(false)
	// The retry comes after the backoff (2.5–5 s) and succeeds.
	require.Eventually(t, func() bool { return len(tr.Announces()) > 0 }, 20*time.Second, 50*time.Millisecond)
	assert.Equal(t, tracker.Started, tr.Announces()[0].Event, "the failed started is retried as started")
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestTrackerUnreachableEndsPromptly(t *testing.T) {
	// Nothing listens on this port: every announce fails.
	src, err := discovery.NewTracker("udp://127.0.0.1:1/announce", discovery.TrackerConfig{Timeout: time.Second})
	require.NoError(t, err)
	var a announcer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, src.Run(ctx, a.announce([20]byte{7}, 'a', 6004)))
	assert.Less(t, time.Since(start), 8*time.Second)
}

func TestNewTrackerRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "ftp://x/announce", "http:///announce", "://", "udp://"} {
		_, err := discovery.NewTracker(u, discovery.TrackerConfig{})
		assert.ErrorIs(t, err, discovery.ErrBadURL, u)
	}
	_, err := discovery.NewTracker("http://127.0.0.1:1/a", discovery.TrackerConfig{MinInterval: time.Hour, MaxInterval: time.Minute})
	assert.ErrorIs(t, err, discovery.ErrBadConfig)
}

func TestDHTFindsPeers(t *testing.T) {
	nodes := discoverytest.StartDHT(t, 4, time.Second)
	ih := [20]byte{0xd, 0x4, 0x7}
	var a, b announcer
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = nodes[0].Source().Run(ctx, a.announce(ih, 'a', 7001)) })
	wg.Go(func() { _ = nodes[3].Source().Run(ctx, b.announce(ih, 'b', 7002)) })
	require.Eventually(t, func() bool {
		return b.has(netip.MustParseAddrPort("127.0.0.1:7001")) || a.has(netip.MustParseAddrPort("127.0.0.1:7002"))
	}, 90*time.Second, 50*time.Millisecond, "one node finds the other's announce")
	cancel()
	wg.Wait()
}

func TestManual(t *testing.T) {
	var a announcer
	ctx, cancel := context.WithCancel(context.Background())
	p := netip.MustParseAddrPort("127.0.0.1:9")
	done := make(chan struct{})
	go func() { _ = discovery.Manual{p}.Run(ctx, a.announce([20]byte{}, 'a', 1)); close(done) }()
	require.Eventually(t, func() bool { return a.has(p) }, 5*time.Second, 10*time.Millisecond)
	cancel()
	<-done
}

// FuzzNewTracker feeds arbitrary tracker URLs (as .torrent files and
// magnet links bring them) to NewTracker: an error, or a tracker of a
// scheme we speak with a host; never a panic. Nothing is dialed.
func FuzzNewTracker(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:1/announce", "udp://127.0.0.1:1", "https://[::1]:443/a?b=c", "gopher://x", "udp://", "http://%zz", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tr, err := discovery.NewTracker(s, discovery.TrackerConfig{})
		if err != nil {
			if !errors.Is(err, discovery.ErrBadURL) {
				t.Fatalf("%q: %v is not ErrBadURL", s, err)
			}
			return
		}
		u, err := url.Parse(tr.URL())
		if err != nil || u.Host == "" || !slices.Contains([]string{"http", "https", "udp", "udp4", "udp6"}, u.Scheme) {
			t.Fatalf("%q taken: %v", s, err)
		}
	})
}

func TestRedactURL(t *testing.T) {
	tests := map[string]string{
		"http://tracker.example:6969/announce":                 "http://tracker.example:6969/announce",
		"udp://127.0.0.1:1":                                    "udp://127.0.0.1:1",
		"https://t.example/a1b2c3d4e5/announce":                "https://t.example/…",
		"https://t.example/announce?passkey=0123456789abcdef":  "https://t.example/announce?…",
		"http://user:hunter22@t.example/announce":              "http://t.example/announce",
		"gopher://t.example/0123456789abcdef":                  "gopher://t.example/…",
		"http://t.example:bad port/0123456789abcdef":           "http://t.example:bad port/…",
		"http://user:hunter22@t.example:x/0123456789abcdef?k=": "http://t.example:x/…",
		"no scheme at all 0123456789abcdef":                    "…",
	}
	for in, want := range tests {
		assert.Equal(t, want, discovery.RedactURL(in), in)
	}
}

// TestTrackerSecretsStayOutOfLogs: a private tracker's passkey, in the
// path or the query, reaches neither the source's logs nor its errors.
func TestTrackerSecretsStayOutOfLogs(t *testing.T) {
	const secret = "S3CR3TPASSKEY0123"
	var logs strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, raw := range []string{
		"http://127.0.0.1:1/" + secret + "/announce",
		"http://127.0.0.1:1/announce?passkey=" + secret,
		"udp://127.0.0.1:1/announce?" + secret,
		"http://" + secret + ":x@127.0.0.1:1/announce",
	} {
		tr, err := discovery.NewTracker(raw, discovery.TrackerConfig{Timeout: 150 * time.Millisecond, Logger: logger})
		require.NoError(t, err)
		assert.NotContains(t, tr.String(), secret)
		var a announcer
		ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
		require.NoError(t, tr.Run(ctx, a.announce([20]byte{1}, 1, 6881)))
		cancel()
	}
	_, err := discovery.NewTracker("gopher://127.0.0.1/"+secret, discovery.TrackerConfig{})
	require.ErrorIs(t, err, discovery.ErrBadURL)
	assert.NotContains(t, err.Error(), secret)
	_, err = discovery.NewTracker("http://127.0.0.1:%zz/"+secret, discovery.TrackerConfig{})
	require.ErrorIs(t, err, discovery.ErrBadURL)
	assert.NotContains(t, err.Error(), secret)
	mu.Lock()
	defer mu.Unlock()
	require.Contains(t, logs.String(), "tracker announce failed", "the failures were logged")
	assert.NotContains(t, logs.String(), secret)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestDHTFindsPeersAnnouncedToItself: in a swarm of two nodes, a peer
// announced through one is stored only by the other; a torrent on that
// other node finds it in its own store (a traversal never asks the node
// it runs on).
func TestDHTFindsPeersAnnouncedToItself(t *testing.T) {
	nodes := discoverytest.StartDHT(t, 2, time.Second)
	ih := [20]byte{0xd, 0x4, 0x8}
	var a, b announcer
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wg.Go(func() { _ = nodes[1].Source().Run(ctx, a.announce(ih, 'a', 7101)) })
	wg.Go(func() { _ = nodes[0].Source().Run(ctx, b.announce(ih, 'b', 7102)) })
	require.Eventually(t, func() bool {
		return b.has(netip.MustParseAddrPort("127.0.0.1:7101")) && a.has(netip.MustParseAddrPort("127.0.0.1:7102"))
	}, 10*time.Second, 10*time.Millisecond, "each node's torrent finds the other's announce, stored only on its own node")
}
