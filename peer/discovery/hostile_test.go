package discovery_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer/discovery"
	"github.com/bttspeed/bttspeed/peer/discovery/bencheck"
)

// Hostile HTTP trackers: any tr= of a magnet link can point at one.

// serveTracker serves announces on 127.0.0.1 with h; it stops when the
// test ends.
func serveTracker(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h) // 127.0.0.1
	t.Cleanup(srv.Close)
	require.True(t, strings.HasPrefix(srv.URL, "http://127.0.0.1:"), srv.URL)
	return srv.URL + "/announce"
}

// peerBytes is a chunk of compact peers, 127.0.0.1 at ports from 1000.
var peerBytes = func() []byte {
	b := make([]byte, 0, 64<<10-4)
	for port := 1000; len(b) < cap(b); port++ {
		b = append(b, 127, 0, 0, 1, byte(port>>8), byte(port))
	}
	return b
}()

// writeResponse writes an announce response whose compact peers string is
// n bytes long, in chunks (n a multiple of 6); with length it says how long
// the body is first. It stops early if the client goes.
func writeResponse(w http.ResponseWriter, n int, length bool) {
	head := "d8:intervali60e5:peers" + strconv.Itoa(n) + ":"
	if length {
		w.Header().Set("Content-Length", strconv.Itoa(len(head)+n+1))
	}
	if _, err := w.Write([]byte(head)); err != nil {
		return
	}
	for n > 0 {
		k := min(n, len(peerBytes))
		if _, err := w.Write(peerBytes[:k]); err != nil {
			return
		}
		n -= k
	}
	_, _ = w.Write([]byte("e"))
}

// sizedResponse is the peers string length that makes a response of
// exactly size bytes.
func sizedResponse(size int) int {
	for n := size / 6 * 6; n > 0; n -= 6 {
		if len("d8:intervali60e5:peers"+strconv.Itoa(n)+":")+n+1 <= size {
			return n
		}
	}
	return 0
}

// heapDuring runs f and returns how far the heap grew above its level
// before (sampled every millisecond) and the bytes allocated meanwhile.
func heapDuring(f func()) (peak int64, allocated uint64) {
	read := func() (live, allocs uint64) {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/allocs:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64(), s[1].Value.Uint64()
	}
	runtime.GC()
	base, allocs0 := read()
	var top atomic.Uint64
	top.Store(base)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if h, _ := read(); h > top.Load() {
					top.Store(h)
				}
			}
		}
	})
	f()
	close(stop)
	wg.Wait()
	if h, _ := read(); h > top.Load() {
		top.Store(h)
	}
	_, allocs1 := read()
	return int64(top.Load()) - int64(base), allocs1 - allocs0
}

func announceOnce(t *testing.T, url string, timeout time.Duration) ([]netip.AddrPort, error) {
	t.Helper()
	tr, err := discovery.NewTracker(url, discovery.TrackerConfig{Timeout: timeout})
	require.NoError(t, err)
	var a announcer
	a.left.Store(1)
	return tr.AnnounceOnce(context.Background(), a.announce([20]byte{0xba, 0xd}, 'a', 6881))
}

// TestHostileHTTPTracker: a tracker's announce response is read up to
// discovery.MaxTrackerResponse (4 MiB) and no further: a larger one, sent
// whole or without end, is refused with ErrResponseTooLarge — not parsed in
// part — and the heap never holds more than a capped response; one that
// says in its header it is larger is refused at once; one that never ends,
// sent slowly, ends at the announce's timeout. A response of exactly the
// cap is taken, and at most discovery.MaxTrackerPeers of its peers.
// (anacrolix's HTTP announce buffered the whole body: 256 MiB of response
// made a heap of 1.5 GiB.)
func TestHostileHTTPTracker(t *testing.T) {
	const limit = discovery.MaxTrackerResponse
	tests := []struct {
		name    string
		timeout time.Duration
		serve   http.HandlerFunc
		check   func(t *testing.T, peers []netip.AddrPort, err error, took time.Duration)
	}{
		{"32 MiB of peers, its length given", 5 * time.Second,
			func(w http.ResponseWriter, _ *http.Request) { writeResponse(w, 32<<20/6*6, true) },
			func(t *testing.T, _ []netip.AddrPort, err error, _ time.Duration) {
				require.ErrorIs(t, err, discovery.ErrResponseTooLarge)
			}},
		{"32 MiB of peers, its length not given", 5 * time.Second,
			func(w http.ResponseWriter, _ *http.Request) { writeResponse(w, 32<<20/6*6, false) },
			func(t *testing.T, _ []netip.AddrPort, err error, _ time.Duration) {
				require.ErrorIs(t, err, discovery.ErrResponseTooLarge)
			}},
		{"a body without end, as fast as it goes", 5 * time.Second,
			func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte("d8:intervali60e5:peers999999996:"))
				for r.Context().Err() == nil {
					if _, err := w.Write(peerBytes); err != nil {
						return
					}
				}
			},
			func(t *testing.T, _ []netip.AddrPort, err error, _ time.Duration) {
				require.ErrorIs(t, err, discovery.ErrResponseTooLarge)
			}},
		{"a length of 1 GiB in the header, then silence", 5 * time.Second,
			func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(1<<30))
				_, _ = w.Write([]byte("d8:interval"))
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			},
			func(t *testing.T, _ []netip.AddrPort, err error, _ time.Duration) {
				require.ErrorIs(t, err, discovery.ErrResponseTooLarge, "refused from the header, not at the timeout")
			}},
		{"a body without end, a byte every 2 ms", 300 * time.Millisecond,
			func(w http.ResponseWriter, r *http.Request) {
				tick := time.NewTicker(2 * time.Millisecond)
				defer tick.Stop()
				b := []byte("d8:intervali60e5:peers999999996:")
				for i := 0; ; i++ {
					select {
					case <-r.Context().Done():
						return
					case <-tick.C:
					}
					if _, err := w.Write(b[i%len(b) : i%len(b)+1]); err != nil {
						return
					}
					w.(http.Flusher).Flush()
				}
			},
			func(t *testing.T, _ []netip.AddrPort, err error, took time.Duration) {
				require.ErrorIs(t, err, context.DeadlineExceeded, "ended by the announce's timeout, not parsed in part")
				assert.Less(t, took, 5*time.Second)
			}},
		{"exactly the cap", 5 * time.Second,
			func(w http.ResponseWriter, _ *http.Request) { writeResponse(w, sizedResponse(limit), true) },
			func(t *testing.T, peers []netip.AddrPort, err error, _ time.Duration) {
				require.NoError(t, err)
				assert.Len(t, peers, discovery.MaxTrackerPeers, "at most MaxTrackerPeers of %d", sizedResponse(limit)/6)
				assert.Equal(t, netip.MustParseAddrPort("127.0.0.1:1000"), peers[0])
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := serveTracker(t, tc.serve)
			var (
				peers []netip.AddrPort
				err   error
				took  time.Duration
			)
			peak, allocated := heapDuring(func() {
				start := time.Now()
				peers, err = announceOnce(t, url, tc.timeout)
				took = time.Since(start)
			})
			t.Logf("%v after %v; %d peers; heap peak +%.1f MiB, %.1f MiB allocated", errText(err), took.Round(time.Millisecond), len(peers), float64(peak)/(1<<20), float64(allocated)/(1<<20))
			tc.check(t, peers, err, took)
			assert.Less(t, peak, int64(2*limit), "the heap holds about one capped response")
			assert.Less(t, allocated, uint64(4*limit), "bytes allocated by the announce")
		})
	}
}

// errText is err's text, cut for the log.
func errText(err error) string {
	if err == nil {
		return "no error"
	}
	s := err.Error()
	if len(s) > 300 {
		return fmt.Sprintf("%s… (%d bytes)", s[:300], len(s))
	}
	return s
}

// TestHTTPTrackerMalformedResponses: what a hostile tracker answers is
// decoded with the depth and framing checked first, every field's type
// checked, and errors that do not repeat what it sent: no panic (a list of
// integers for peers, or dicts without an ip, crashed anacrolix's
// decoder, and the process), no decoder recursing through 4 MiB of
// nesting (it took 9.5 s and half a GiB of stack), no error of a
// megabyte. A dict peer's IPv4 address stays IPv4 (anacrolix's gave it as
// ::ffff:a.b.c.d).
func TestHTTPTrackerMalformedResponses(t *testing.T) {
	deep := strings.Repeat("l", 2<<20-16) + strings.Repeat("e", 2<<20-16)
	tests := []struct {
		name   string
		status int
		body   string
		err    error // nil: a response, giving peers
		peers  []string
	}{
		{"compact peers", 200, "d8:intervali60e5:peers6:\x7f\x00\x00\x02\x1a\xe1e", nil, []string{"127.0.0.2:6881"}},
		{"dict peers", 200, "d8:intervali60e5:peersld2:ip9:127.0.0.27:peer id20:-XX0000-0123456789ab4:porti6881eeee", nil, []string{"127.0.0.2:6881"}},
		{"peers6", 200, "d8:intervali60e6:peers618:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe1e", nil, []string{"[::1]:6881"}},
		{"bytes after the response", 200, "d8:intervali60e5:peers6:\x7f\x00\x00\x02\x1a\xe1e\r\n", nil, []string{"127.0.0.2:6881"}},
		{"an interval of 2^40 s", 200, "d8:intervali1099511627776e5:peers0:e", nil, nil},
		{"peers that are a list of integers", 200, "d8:intervali60e5:peersli1ei2eee", nil, nil},
		{"peers that are dicts without an ip or a port", 200, "d5:peersld4:porti1eed2:ip9:127.0.0.2ed2:ipi5e4:porti1eed2:ip9:127.0.0.24:porti70000eeee", nil, nil},
		{"peers that are an integer", 200, "d5:peersi5ee", discovery.ErrBadResponse, nil},
		{"compact peers of 7 bytes", 200, "d5:peers7:abcdefge", discovery.ErrBadResponse, nil},
		{"not bencode", 200, "<html>hello</html>", bencheck.ErrMalformed, nil},
		{"not a dict", 200, "li1ee", discovery.ErrBadResponse, nil},
		{"4 MiB nested", 200, "d1:x" + deep + "e", bencheck.ErrTooDeep, nil},
		{"a failure reason of 1 MiB", 200, "d14:failure reason1048576:" + strings.Repeat("f", 1<<20) + "e", discovery.ErrTrackerFailure, nil},
		{"a 404 with a page of 1 MiB", 404, strings.Repeat("x", 1<<20), discovery.ErrTrackerFailure, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := serveTracker(t, func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			})
			peers, err := announceOnce(t, url, 5*time.Second)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				assert.Less(t, len(err.Error()), 1024, "the error does not repeat the response")
				t.Logf("%v", err)
				return
			}
			require.NoError(t, err)
			var got []string
			for _, p := range peers {
				got = append(got, p.String())
			}
			assert.Equal(t, tc.peers, got)
		})
	}
}

// TestUDPTrackerRepliesBounded: a UDP tracker's reply is one datagram,
// which anacrolix's client reads into a 2 KiB buffer: a reply of 60 KiB of
// peers gives at most (2048 - 20) / 6 = 338.
func TestUDPTrackerRepliesBounded(t *testing.T) {
	url := serveUDPTracker(t, 10_000)
	peers, err := announceOnce(t, url, 5*time.Second)
	require.NoError(t, err)
	t.Logf("%d peers from a reply of 10,000", len(peers))
	assert.LessOrEqual(t, len(peers), 338)
	assert.NotEmpty(t, peers)
}

// serveUDPTracker is a UDP tracker on 127.0.0.1 that answers every
// announce with n compact peers (BEP 15), whatever was asked.
func serveUDPTracker(t *testing.T, n int) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	wg.Go(func() {
		buf := make([]byte, 2048)
		for {
			k, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if k < 16 {
				continue
			}
			action, tid := binary.BigEndian.Uint32(buf[8:12]), buf[12:16]
			var out []byte
			switch action {
			case 0: // connect
				out = binary.BigEndian.AppendUint32(nil, 0)
				out = append(out, tid...)
				out = binary.BigEndian.AppendUint64(out, 0x1234)
			case 1: // announce
				out = binary.BigEndian.AppendUint32(nil, 1)
				out = append(out, tid...)
				out = binary.BigEndian.AppendUint32(out, 60) // interval
				out = binary.BigEndian.AppendUint64(out, 0)  // leechers, seeders
				for i := 0; i < n; i++ {
					out = append(out, 127, 0, 0, 1, byte((1000+i)>>8), byte(1000+i))
				}
			default:
				continue
			}
			_, _ = pc.WriteTo(out, addr)
		}
	})
	return "udp://" + pc.LocalAddr().String() + "/announce"
}

// FuzzTrackerResponse feeds arbitrary HTTP announce responses to the
// decoder: an error, or a response of at most MaxTrackerPeers valid
// peers; never a panic.
func FuzzTrackerResponse(f *testing.F) {
	for _, s := range []string{
		"d8:intervali60e5:peers6:\x7f\x00\x00\x02\x1a\xe1e",
		"d8:intervali60e5:peersld2:ip9:127.0.0.24:porti6881eeee",
		"d6:peers618:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe1e",
		"d14:failure reason4:nopee",
		"d5:peersli1ei2eee",
		"d5:peersld4:porti1eeee",
		"d5:peersi5ee",
		"d1:x" + strings.Repeat("l", 40) + strings.Repeat("e", 40) + "e",
		"li1ee",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := discovery.ParseAnnounce(body)
		if err != nil {
			return
		}
		if len(resp.Peers) > discovery.MaxTrackerPeers {
			t.Fatalf("%d peers", len(resp.Peers))
		}
		for _, p := range resp.Peers {
			if _, ok := p.ToNetipAddrPort(); !ok || p.Port < 0 || p.Port > 65535 {
				t.Fatalf("peer %v", p)
			}
		}
	})
}
