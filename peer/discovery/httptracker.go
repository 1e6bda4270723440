package discovery

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/anacrolix/torrent/tracker"
	trHttp "github.com/anacrolix/torrent/tracker/http"

	"github.com/bttspeed/bttspeed/peer/discovery/bencheck"
)

// MaxTrackerResponse bounds an HTTP tracker's announce response. Any tr=
// of a magnet link can name a tracker, and anacrolix's HTTP announce, which
// we used, read the whole body: 256 MiB of response made a heap of 1.5
// GiB. 4 MiB holds 700,000 compact peers, where trackers send 50 or so. A
// longer response is refused with ErrResponseTooLarge, from its
// Content-Length if it gives one, else once the 4 MiB are read; it is
// never parsed in part.
const MaxTrackerResponse = 4 << 20

// MaxTrackerPeers bounds the peers taken from one announce response (a
// torrent keeps at most 2,000 addresses to dial).
const MaxTrackerPeers = 1000

// maxTrackerHeader bounds an HTTP tracker's response headers.
const maxTrackerHeader = 64 << 10

// maxReasonShown bounds what an error repeats of a tracker's failure
// reason or error page.
const maxReasonShown = 200

// announcer is a tracker client: anacrolix's for UDP, httpTracker for HTTP.
type announcer interface {
	Announce(context.Context, tracker.AnnounceRequest, tracker.AnnounceOpt) (tracker.AnnounceResponse, error)
	Close() error
}

// httpTracker announces to an HTTP(S) tracker (BEP 3, BEP 23 compact
// peers, BEP 7 peers6), reading at most MaxTrackerResponse of its answer
// and decoding it only once bencheck has passed it: a hostile tracker's
// nesting never reaches a decoder, and every field's type is checked (a
// list of integers for peers crashed anacrolix's response decoder).
type httpTracker struct {
	url *url.URL
	hc  *http.Client
}

func newHTTPTracker(u *url.URL) *httpTracker {
	return &httpTracker{url: u, hc: &http.Client{Transport: &http.Transport{
		// As anacrolix's client had it: no proxy from the environment,
		// no keep-alive (some trackers hold connections open), and
		// certificates not checked (self-signed ones are common).
		DisableKeepAlives:      true,
		TLSClientConfig:        &tls.Config{InsecureSkipVerify: true},
		MaxResponseHeaderBytes: maxTrackerHeader,
	}}}
}

func (ht *httpTracker) Close() error {
	ht.hc.CloseIdleConnections()
	return nil
}

// Announce announces to the tracker and decodes its answer.
func (ht *httpTracker) Announce(ctx context.Context, ar tracker.AnnounceRequest, opt tracker.AnnounceOpt) (tracker.AnnounceResponse, error) {
	u := *ht.url
	u.RawQuery = announceQuery(ht.url.RawQuery, ar)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return tracker.AnnounceResponse{}, err
	}
	if opt.UserAgent != "" {
		req.Header.Set("User-Agent", opt.UserAgent)
	}
	res, err := ht.hc.Do(req)
	if err != nil {
		return tracker.AnnounceResponse{}, err
	}
	defer res.Body.Close()
	body, err := readCapped(ctx, res.Body, res.ContentLength, MaxTrackerResponse)
	if err != nil {
		return tracker.AnnounceResponse{}, err
	}
	if res.StatusCode != http.StatusOK {
		return tracker.AnnounceResponse{}, fmt.Errorf("%w: HTTP %s: %q", ErrTrackerFailure, res.Status, excerpt(body))
	}
	return parseAnnounce(body)
}

// announceQuery adds an announce's parameters to a tracker URL's query,
// after what it has (some private trackers want their key first).
func announceQuery(query string, ar tracker.AnnounceRequest) string {
	q := url.Values{}
	q.Set("info_hash", string(ar.InfoHash[:]))
	q.Set("peer_id", string(ar.PeerId[:]))
	q.Set("port", strconv.Itoa(int(ar.Port)))
	q.Set("uploaded", strconv.FormatInt(ar.Uploaded, 10))
	q.Set("downloaded", strconv.FormatInt(ar.Downloaded, 10))
	q.Set("left", strconv.FormatInt(max(ar.Left, 0), 10))
	if ar.Event != tracker.None {
		q.Set("event", ar.Event.String())
	}
	q.Set("numwant", strconv.Itoa(int(ar.NumWant)))
	q.Set("key", strconv.FormatInt(int64(ar.Key), 10))
	q.Set("compact", "1")
	// A space is %20 in a query; Encode writes "+", which some trackers
	// take literally (anacrolix/torrent#534).
	enc := strings.ReplaceAll(q.Encode(), "+", "%20")
	if query != "" {
		return query + "&" + enc
	}
	return enc
}

// readCapped reads a body of at most limit bytes: a longer one is refused
// with ErrResponseTooLarge, from length (its Content-Length, -1 if
// unknown) if that says so, else once limit+1 bytes came. The buffer grows
// as the bytes come, so a small answer costs little and a large one at
// most about 1.5 limit (the last buffer and the one before it).
func readCapped(ctx context.Context, r io.Reader, length int64, limit int) ([]byte, error) {
	if length > int64(limit) {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrResponseTooLarge, length, limit)
	}
	size := 16 << 10
	if length >= 0 {
		size = int(length) + 1 // room to read the end without growing
	}
	buf := make([]byte, 0, min(size, limit+1))
	for {
		if len(buf) == cap(buf) {
			// Double, or go to limit+1 at once rather than past limit.
			n := 2 * cap(buf)
			if n >= limit {
				n = limit + 1
			}
			buf = append(make([]byte, 0, n), buf...)
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, limit)
		}
		switch {
		case err == io.EOF:
			return buf, nil
		case err != nil && ctx.Err() != nil:
			return nil, fmt.Errorf("reading the response (%d bytes so far): %w", len(buf), ctx.Err())
		case err != nil:
			return nil, fmt.Errorf("reading the response (%d bytes so far): %w", len(buf), err)
		}
	}
}

// excerpt is what an error repeats of a tracker's text.
func excerpt(b []byte) []byte {
	if len(b) > maxReasonShown {
		return b[:maxReasonShown]
	}
	return b
}

// parseAnnounce decodes an announce response. Bytes after it are ignored,
// as anacrolix's client ignored them.
func parseAnnounce(body []byte) (tracker.AnnounceResponse, error) {
	var resp tracker.AnnounceResponse
	n, err := bencheck.Value(body)
	if err != nil {
		return resp, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	d := body[:n]
	if d[0] != 'd' {
		return resp, fmt.Errorf("%w: not a dict", ErrBadResponse)
	}
	var failure, peers, peers6 []byte
	dictItems(d, func(key string, v []byte) {
		switch key {
		case "failure reason":
			failure, _ = stringValue(v)
		case "interval":
			resp.Interval = int32Value(v)
		case "complete":
			resp.Seeders = int32Value(v)
		case "incomplete":
			resp.Leechers = int32Value(v)
		case "peers":
			peers = v
		case "peers6":
			peers6 = v
		}
	})
	if len(failure) > 0 {
		return resp, fmt.Errorf("%w: %q", ErrTrackerFailure, excerpt(failure))
	}
	if peers != nil {
		if resp.Peers, err = appendPeers(resp.Peers, peers, net.IPv4len); err != nil {
			return resp, err
		}
	}
	if peers6 != nil {
		if resp.Peers, err = appendPeers(resp.Peers, peers6, net.IPv6len); err != nil {
			return resp, err
		}
	}
	return resp, nil
}

// appendPeers appends, up to MaxTrackerPeers in all, the peers of a
// response's peers (ipLen 4) or peers6 (16) value: compact, a string of
// address and port; or, for peers, a list of dicts with "ip" and "port",
// of which those we cannot read are skipped.
func appendPeers(out []trHttp.Peer, v []byte, ipLen int) ([]trHttp.Peer, error) {
	if s, ok := stringValue(v); ok {
		if len(s)%(ipLen+2) != 0 {
			return out, fmt.Errorf("%w: compact peers of %d bytes, not a multiple of %d", ErrBadResponse, len(s), ipLen+2)
		}
		for ; len(s) > 0 && len(out) < MaxTrackerPeers; s = s[ipLen+2:] {
			ip := net.IP(bytes.Clone(s[:ipLen]))
			out = append(out, trHttp.Peer{IP: ip, Port: int(s[ipLen])<<8 | int(s[ipLen+1])})
		}
		return out, nil
	}
	if v[0] != 'l' || ipLen != net.IPv4len {
		return out, fmt.Errorf("%w: peers of the wrong type", ErrBadResponse)
	}
	listItems(v, func(p []byte) bool {
		if p[0] != 'd' {
			return true
		}
		var addr netip.Addr
		port := int64(-1)
		dictItems(p, func(key string, v []byte) {
			switch key {
			case "ip":
				if s, ok := stringValue(v); ok {
					addr, _ = netip.ParseAddr(string(s))
				}
			case "port":
				port, _ = intValue(v)
			}
		})
		if addr.IsValid() && port > 0 && port <= math.MaxUint16 {
			out = append(out, trHttp.Peer{IP: addr.AsSlice(), Port: int(port)})
		}
		return len(out) < MaxTrackerPeers
	})
	return out, nil
}

// dictItems calls f with each key and raw value of d, a dict bencheck has
// passed.
func dictItems(d []byte, f func(key string, v []byte)) {
	for i := 1; i < len(d) && d[i] != 'e'; {
		kn, err := bencheck.Value(d[i:])
		if err != nil {
			return
		}
		key, _ := stringValue(d[i : i+kn])
		i += kn
		vn, err := bencheck.Value(d[i:])
		if err != nil {
			return
		}
		f(string(key), d[i:i+vn])
		i += vn
	}
}

// listItems calls f with each raw item of l, a list bencheck has passed,
// while f returns true.
func listItems(l []byte, f func(v []byte) bool) {
	for i := 1; i < len(l) && l[i] != 'e'; {
		n, err := bencheck.Value(l[i:])
		if err != nil || !f(l[i:i+n]) {
			return
		}
		i += n
	}
}

// stringValue returns the bytes of v, a bencoded string bencheck has
// passed.
func stringValue(v []byte) ([]byte, bool) {
	if len(v) == 0 || v[0] < '0' || v[0] > '9' {
		return nil, false
	}
	i := bytes.IndexByte(v, ':')
	if i < 0 {
		return nil, false
	}
	return v[i+1:], true
}

// intValue returns the value of v, a bencoded integer.
func intValue(v []byte) (int64, bool) {
	if len(v) < 3 || v[0] != 'i' {
		return 0, false
	}
	n, err := strconv.ParseInt(string(v[1:len(v)-1]), 10, 64)
	return n, err == nil
}

// int32Value returns v, a bencoded integer, within int32 (0 if it is none).
func int32Value(v []byte) int32 {
	n, _ := intValue(v)
	return int32(min(max(n, 0), math.MaxInt32))
}
