package peer_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
)

// Web seeds that lie, fail, stall or flood: see docs/RELIABILITY.md.

// rangeOf parses a request's "Range: bytes=A-B".
func rangeOf(r *http.Request) (a, b int64, ok bool) {
	s, found := strings.CutPrefix(r.Header.Get("Range"), "bytes=")
	if !found {
		return 0, 0, false
	}
	x, y, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	a, err1 := strconv.ParseInt(x, 10, 64)
	b, err2 := strconv.ParseInt(y, 10, 64)
	return a, b, err1 == nil && err2 == nil
}

// TestWebSeedHostile: a web seed that lies about or fails its answers gets
// no data in, rests after each failure, and the download completes from an
// honest one.
func TestWebSeedHostile(t *testing.T) {
	f := newFixture(t, 600_000, 16<<10)
	data, err := os.ReadFile(filepath.Join(f.dir, f.name))
	require.NoError(t, err)
	var endless atomic.Int64 // too-long bodies written to the end
	for _, tc := range []struct {
		name  string
		fault func(w http.ResponseWriter, r *http.Request) bool
		// mayDeliver: the right bytes arrive before the lie shows.
		mayDeliver bool
		cfg        func(*peer.WebSeedConfig)
		check      func(t *testing.T)
	}{
		{name: "404", fault: func(w http.ResponseWriter, r *http.Request) bool {
			http.NotFound(w, r)
			return true
		}},
		{name: "503", fault: func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}},
		{name: "stalls before the headers", fault: func(w http.ResponseWriter, r *http.Request) bool {
			<-r.Context().Done()
			return true
		}},
		{name: "stalls mid-body", fault: func(w http.ResponseWriter, r *http.Request) bool {
			a, b, _ := rangeOf(r)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, b, len(data)))
			w.Header().Set("Content-Length", strconv.FormatInt(b-a+1, 10))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(data[a : a+(b-a+1)/2])
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return true
		}, mayDeliver: true},
		{name: "body too long", fault: func(w http.ResponseWriter, r *http.Request) bool {
			a, b, _ := rangeOf(r)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, b, len(data)))
			w.WriteHeader(http.StatusPartialContent) // chunked: no Content-Length
			_, _ = w.Write(data[a : b+1])
			junk := make([]byte, 64<<10)
			for range 1024 { // up to 64 MiB, unless the client hangs up
				if _, err := w.Write(junk); err != nil {
					return true
				}
			}
			endless.Add(1)
			return true
		}, mayDeliver: true, check: func(t *testing.T) {
			assert.Zero(t, endless.Load(), "the client hung up long before 64 MiB")
		}},
		{name: "slow drip", fault: func(w http.ResponseWriter, r *http.Request) bool {
			a, b, _ := rangeOf(r)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, b, len(data)))
			w.Header().Set("Content-Length", strconv.FormatInt(b-a+1, 10))
			w.WriteHeader(http.StatusPartialContent)
			for i := a; i <= b; i++ { // a byte every 50 ms: never stalled, never done
				if _, err := w.Write(data[i : i+1]); err != nil {
					return true
				}
				w.(http.Flusher).Flush()
				select {
				case <-time.After(50 * time.Millisecond):
				case <-r.Context().Done():
					return true
				}
			}
			return true
		}, cfg: func(c *peer.WebSeedConfig) { c.Timeout = 700 * time.Millisecond }},
		{name: "redirect loop", fault: func(w http.ResponseWriter, r *http.Request) bool {
			http.Redirect(w, r, r.URL.Path, http.StatusFound)
			return true
		}},
		{name: "huge header", fault: func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("X-Junk", strings.Repeat("x", 1<<20))
			w.WriteHeader(http.StatusPartialContent)
			return true
		}},
		{name: "body too short", fault: func(w http.ResponseWriter, r *http.Request) bool {
			a, b, _ := rangeOf(r)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, b, len(data)))
			w.Header().Set("Content-Length", strconv.FormatInt(b-a+1, 10))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(data[a:b]) // one byte short
			return true
		}, mayDeliver: true},
		{name: "wrong Content-Range", fault: func(w http.ResponseWriter, r *http.Request) bool {
			a, b, _ := rangeOf(r)
			a, b = a+1, min(b+1, int64(len(data)-1))
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, b, len(data)))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(data[a : b+1])
			return true
		}},
		{name: "wrong Content-Length", fault: func(w http.ResponseWriter, r *http.Request) bool {
			a, b, _ := rangeOf(r)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, b, len(data)))
			w.Header().Set("Content-Length", strconv.FormatInt(b-a, 10))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(data[a:b])
			return true
		}},
		{name: "whole file for a range", fault: func(w http.ResponseWriter, r *http.Request) bool {
			a, _, _ := rangeOf(r)
			if a == 0 {
				return false // a 200 for a range at 0 is usable: not this case
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			_, _ = w.Write(data)
			return true
		}, mayDeliver: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := newWSServer(t, f.dir, tc.fault)
			good := newWSServer(t, f.dir, nil)
			tor, dir := leech(t, f.mi, nil)
			// The hostile one first and alone for a while, then the
			// honest one.
			badCfg := testWebSeedConfig()
			badCfg.StallTimeout = 300 * time.Millisecond
			if tc.cfg != nil {
				tc.cfg(badCfg)
			}
			require.NoError(t, tor.AddWebSeeds([]string{bad.URL + "/" + f.name}, badCfg))
			require.Eventually(t, func() bool {
				return webSeedInfo(t, tor, bad.URL+"/"+f.name).Failures > 0
			}, 10*time.Second, 10*time.Millisecond)
			if !tc.mayDeliver {
				st, err := tor.Stats(context.Background())
				require.NoError(t, err)
				assert.Zero(t, st.Downloaded, "nothing is taken from a response that fails its checks")
			}
			require.NoError(t, tor.AddWebSeeds([]string{good.URL + "/" + f.name}, testWebSeedConfig()))
			waitDone(t, tor, 20*time.Second)
			requireSameFile(t, f, dir)
			wi := webSeedInfo(t, tor, bad.URL+"/"+f.name)
			assert.NotNil(t, wi.LastErr)
			assert.False(t, wi.Dropped, "HTTP failures rest a web seed, they do not drop it")
			assert.Zero(t, webSeedInfo(t, tor, good.URL+"/"+f.name).Failures)
			if tc.check != nil {
				tc.check(t)
			}
			t.Logf("%s: %d requests, %d failed, last: %v", tc.name, wi.Requests, wi.Failures, wi.LastErr)
		})
	}
}

// TestWebSeedBackoff: a web seed that always fails is asked less and less
// often: a few requests a second at first, then one per MaxBackoff.
func TestWebSeedBackoff(t *testing.T) {
	f := newFixture(t, 100_000, 16<<10)
	bad := newWSServer(t, f.dir, func(w http.ResponseWriter, r *http.Request) bool {
		http.NotFound(w, r)
		return true
	})
	tor, _ := leech(t, f.mi, nil)
	cfg := testWebSeedConfig()
	cfg.MinBackoff, cfg.MaxBackoff = 100*time.Millisecond, 400*time.Millisecond
	require.NoError(t, tor.AddWebSeeds([]string{bad.URL + "/" + f.name}, cfg))
	time.Sleep(1500 * time.Millisecond)
	wi := webSeedInfo(t, tor, bad.URL+"/"+f.name)
	// MaxRequests at first, then one probe after each rest: 100, 200,
	// 400, 400 ms: 4+5 in 1.5 s.
	assert.LessOrEqual(t, wi.Requests, int64(4+6))
	assert.GreaterOrEqual(t, wi.Requests, int64(3))
	assert.Equal(t, wi.Requests, bad.requests.Load())
	assert.ErrorContains(t, wi.LastErr, "404")
	assert.False(t, wi.RetryAt.IsZero())
	st, err := tor.Stats(context.Background())
	require.NoError(t, err)
	assert.Zero(t, st.Downloaded)
}

// TestWebSeedLiar: a web seed whose data fails its hash is dropped (the
// peers' ban rule), and the honest one added after finishes the download.
func TestWebSeedLiar(t *testing.T) {
	f := newFixture(t, 400_000, 16<<10)
	liar := newWSServer(t, f.dir, func(w http.ResponseWriter, r *http.Request) bool {
		http.FileServer(http.Dir(f.dir)).ServeHTTP(flipWriter{w}, r)
		return true
	})
	good := newWSServer(t, f.dir, nil)
	tor, dir := leech(t, f.mi, nil)
	require.NoError(t, tor.AddWebSeeds([]string{liar.URL + "/" + f.name}, testWebSeedConfig()))
	require.Eventually(t, func() bool {
		return webSeedInfo(t, tor, liar.URL+"/"+f.name).Dropped
	}, 10*time.Second, 10*time.Millisecond)
	n := liar.requests.Load()
	require.NoError(t, tor.AddWebSeeds([]string{good.URL + "/" + f.name}, testWebSeedConfig()))
	waitDone(t, tor, 20*time.Second)
	requireSameFile(t, f, dir)
	assert.LessOrEqual(t, liar.requests.Load(), n+4, "a dropped web seed is asked no more (but for requests already under way)")
	assert.Equal(t, f.info.Length, webSeedInfo(t, tor, good.URL+"/"+f.name).Downloaded)
}

// flipWriter corrupts every byte of a response body.
type flipWriter struct{ http.ResponseWriter }

func (w flipWriter) Write(p []byte) (int, error) {
	q := make([]byte, len(p))
	for i, b := range p {
		q[i] = ^b
	}
	return w.ResponseWriter.Write(q)
}

// TestWebSeedClose: Close does not wait for a stalled web seed.
func TestWebSeedClose(t *testing.T) {
	f := newFixture(t, 100_000, 16<<10)
	srv := newWSServer(t, f.dir, func(w http.ResponseWriter, r *http.Request) bool {
		<-r.Context().Done()
		return true
	})
	tor, _ := leech(t, f.mi, nil)
	cfg := testWebSeedConfig()
	cfg.StallTimeout = time.Minute
	require.NoError(t, tor.AddWebSeeds([]string{srv.URL + "/" + f.name}, cfg))
	require.Eventually(t, func() bool { return srv.requests.Load() > 0 }, 5*time.Second, 5*time.Millisecond)
	start := time.Now()
	require.NoError(t, tor.Close())
	assert.Less(t, time.Since(start), 10*time.Second)
	_, err := tor.WebSeeds(context.Background())
	require.ErrorIs(t, err, peer.ErrClosed)
	require.ErrorIs(t, tor.AddWebSeeds([]string{srv.URL}, testWebSeedConfig()), peer.ErrClosed)
}
