package peer_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
)

// Helpers for tests that speak the wire by hand to a client of ours.
// logSink collects a client's log records so that a test can check why a
// connection was dropped.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	s.mu.Lock()
	s.lines = append(s.lines, b.String())
	s.mu.Unlock()
	return nil
}
func (s *logSink) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s *logSink) WithGroup(string) slog.Handler      { return s }

// find returns the first line that mentions every one of subs.
func (s *logSink) find(subs ...string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lines {
		ok := true
		for _, sub := range subs {
			ok = ok && strings.Contains(l, sub)
		}
		if ok {
			return l, true
		}
	}
	return "", false
}

// requireLogged waits for a log line naming the peer at addr and every
// one of subs: why its connection was dropped.
func (s *logSink) requireLogged(t *testing.T, addr string, subs ...string) string {
	t.Helper()
	return s.requireLoggedAny(t, addr, subs)
}

// requireLoggedAny is requireLogged for a line with every one of any of
// alts: a peer dropped for one of several reasons, each right.
func (s *logSink) requireLoggedAny(t *testing.T, addr string, alts ...[]string) string {
	t.Helper()
	find := func() (string, bool) {
		for _, subs := range alts {
			if line, ok := s.find(append([]string{addr}, subs...)...); ok {
				return line, true
			}
		}
		return "", false
	}
	// The condition runs on Eventually's goroutine, which may outlive a
	// timeout: it shares nothing with this one but the sink's lock.
	ok := assert.Eventually(t, func() bool {
		_, ok := find()
		return ok
	}, 5*time.Second, 5*time.Millisecond, "a log line for %s with %q", addr, alts)
	line, _ := find()
	if !ok {
		s.mu.Lock()
		for _, l := range s.lines {
			if strings.Contains(l, addr) {
				t.Logf("log: %s", l)
			}
		}
		s.mu.Unlock()
	}
	return line
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x", b)
}

// dialRawID opens a raw peer with the given peer id and a small receive
// buffer, so that a peer that does not read stops taking our data soon.
func dialRawID(t *testing.T, addr string, ih [20]byte, fast, ltep bool, id string) *rawPeer {
	t.Helper()
	return dialRawFrom(t, netip.Addr{}, addr, ih, fast, ltep, id)
}

// dialRawFrom is dialRawID from a local address of its own (any of
// 127.0.0.0/8 on Linux), if from is valid.
func dialRawFrom(t *testing.T, from netip.Addr, addr string, ih [20]byte, fast, ltep bool, id string) *rawPeer {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	if from.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: from.AsSlice()}
	}
	c, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	var hs [68]byte
	copy(hs[:], pp.Protocol)
	if fast {
		hs[20+7] |= 0x04
	}
	if ltep {
		hs[20+5] |= 0x10
	}
	copy(hs[28:48], ih[:])
	copy(hs[48:], id)
	_, err = c.Write(hs[:])
	require.NoError(t, err)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadFull(c, hs[:])
	require.NoError(t, err, "handshake answered")
	_ = c.SetReadDeadline(time.Time{})
	return &rawPeer{t: t, c: c, w: bufio.NewWriter(c), d: pp.Decoder{R: bufio.NewReader(c), MaxLength: 1 << 20}, ih: ih}
}

// msgOf encodes a message of type typ with integer fields and a tail.
func msgOf(typ pp.MessageType, ints []uint32, tail []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(1+4*len(ints)+len(tail)))
	b = append(b, byte(typ))
	for _, i := range ints {
		b = binary.BigEndian.AppendUint32(b, i)
	}
	return append(b, tail...)
}

func extMsg(id byte, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(2+len(payload)))
	b = append(b, byte(pp.Extended), id)
	return append(b, payload...)
}

func bencoded(t *testing.T, v any) []byte {
	t.Helper()
	b, err := bencode.Marshal(v)
	require.NoError(t, err)
	return b
}

// write sends raw bytes, tolerating a connection the target already
// closed (the write fails then: that is the target's answer).
func (r *rawPeer) write(b []byte) {
	_, _ = r.c.Write(b)
}

// expectClosed waits for the target to close the connection, discarding
// what it sends, and returns how long that took.
func expectClosed(t *testing.T, c net.Conn, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(within))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the target did not close the connection within %v", within)
	}
	// Closed: EOF, or a reset when it left our bytes unread.
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("reading: %v", err)
	}
	return time.Since(start)
}

// expectOpen checks that the connection is still open after a while.
func expectOpen(t *testing.T, c net.Conn, wait time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	defer c.SetReadDeadline(time.Time{})
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "the connection stays open (got %v)", err)
}

// seedCopy seeds a copy of the fixture's data from a directory of its
// own (two clients cannot share a completion database).
func seedCopy(t *testing.T, cl *peer.Client, f *fixture) *peer.Torrent {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(f.dir, f.name))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, f.name), data, 0o644))
	tor, err := cl.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Verify: true})
	require.NoError(t, err)
	select {
	case <-tor.Done():
	default:
		t.Fatal("the copy does not verify")
	}
	return tor
}

// haveAllAndUnchoke makes a raw peer look like a seeder that unchokes.
func haveAllAndUnchoke(r *rawPeer) {
	r.write(msgOf(pp.HaveAll, nil, nil))
	r.write(msgOf(pp.Unchoke, nil, nil))
}

// heapNow returns the bytes of live and not yet collected heap objects.
func heapNow() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// settledHeap collects garbage and returns the heap that is left.
func settledHeap() uint64 {
	runtime.GC()
	runtime.GC()
	return heapNow()
}
