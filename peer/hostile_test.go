package peer_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/peer"
)

// The hostile-peer matrix: raw peers speaking the wire by hand attack a
// running seeder and a running leecher of ours (and a leecher still
// fetching the info of a magnet link), while an honest transfer runs
// alongside. Each case asserts what the attack gets (the connection closed
// with an error saying why, a reject, or nothing), that nothing panics
// (a panic on a loop goroutine would end the test binary), that the heap
// stays bounded during the attack and comes back after it, and that the
// honest transfer completes byte-identical.

// Limits the matrix holds the clients to.
const (
	// hostileHeapPeak bounds the heap's growth during a case over its
	// level before, honest transfer included.
	hostileHeapPeak = 32 << 20
	// hostileHeapAfter bounds the heap's growth once a case is over.
	hostileHeapAfter = 6 << 20
	// hostileHandshakeTimeout is the targets' handshake timeout.
	hostileHandshakeTimeout = 500 * time.Millisecond
)

// hostileBanned is the address the attacks that get their peer banned
// come from: a ban covers the whole address, and the honest peers are on
// 127.0.0.1.
var hostileBanned = netip.MustParseAddr("127.0.0.2")

// memWatch follows the heap during a case.
type memWatch struct {
	base uint64
	peak atomic.Uint64
	stop chan struct{}
	done chan struct{}
}

func watchMem() *memWatch {
	m := &memWatch{base: settledHeap(), stop: make(chan struct{}), done: make(chan struct{})}
	m.peak.Store(m.base)
	go func() {
		defer close(m.done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-tick.C:
				if h := heapNow(); h > m.peak.Load() {
					m.peak.Store(h)
				}
			}
		}
	}()
	return m
}

// finish stops the watch and returns the peak growth over the base; it
// may be called more than once.
func (m *memWatch) finish() int64 {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
	return int64(m.peak.Load()) - int64(m.base)
}

// hostileTarget is a client of ours under attack, with the honest
// transfer that runs alongside.
type hostileTarget struct {
	kind string // "seeder", "leecher" or "magnet"
	f    *fixture
	cl   *peer.Client
	tor  *peer.Torrent
	logs *logSink
	// honestDone waits for the honest transfer and checks its bytes.
	honestDone func(t *testing.T)
}

func (h *hostileTarget) addr() string       { return h.cl.Addr().String() }
func (h *hostileTarget) infoHash() [20]byte { return h.f.mi.HashInfoBytes() }
func (h *hostileTarget) pieces() int        { return h.f.info.NumPieces() }
func (h *hostileTarget) dial(t *testing.T, fast, ltep bool) *rawPeer {
	return dialRawID(t, h.addr(), h.infoHash(), fast, ltep, "-XX0000-"+randomSuffix())
}

// hostileCase is one attack.
type hostileCase struct {
	name string
	// on lists the targets the attack applies to.
	on []string
	// run attacks the target and asserts the outcome.
	run func(t *testing.T, h *hostileTarget)
}

func bothSides() []string { return []string{"seeder", "leecher"} }

func TestHostilePeers(t *testing.T) {
	const size = 2<<20 + 1 // 65 pieces: the last byte of the bitfield has spare bits
	f := newFixture(t, size, 32<<10)

	// The seeder under attack carries an extension, as a btt_speed
	// seller would (btt_speed's own defences are peer/speed's
	// TestMalformedSpeedwire); the honest leechers that download from it
	// alongside the attacks have none.
	seedLogs := &logSink{}
	seeder := newClient(t, func(c *peer.Config) {
		hostileConfig(c, seedLogs)
		c.Extensions = []peer.Extension{quietExt{}}
		c.UploadRate = 16 << 20 // an honest download lasts long enough to overlap the attack
	})
	seedTor := seed(t, seeder, f)

	// The honest seeder our leechers under attack download from.
	honestSeeder := newClient(t, func(c *peer.Config) { c.UploadRate = 16 << 20 })
	seedCopy(t, honestSeeder, f)

	targets := map[string]func(t *testing.T) *hostileTarget{
		"seeder": func(t *testing.T) *hostileTarget {
			l := newClient(t, nil)
			dir := t.TempDir()
			tor, err := l.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{seeder.Addr()}})
			require.NoError(t, err)
			return &hostileTarget{kind: "seeder", f: f, cl: seeder, tor: seedTor, logs: seedLogs,
				honestDone: func(t *testing.T) {
					waitDone(t, tor, 60*time.Second)
					requireSameFile(t, f, dir)
					require.NoError(t, l.Close())
				}}
		},
		"leecher": func(t *testing.T) *hostileTarget {
			logs := &logSink{}
			l := newClient(t, func(c *peer.Config) {
				hostileConfig(c, logs)
				c.Extensions = []peer.Extension{quietExt{}}
			})
			dir := t.TempDir()
			tor, err := l.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{honestSeeder.Addr()}})
			require.NoError(t, err)
			return &hostileTarget{kind: "leecher", f: f, cl: l, tor: tor, logs: logs,
				honestDone: func(t *testing.T) {
					waitDone(t, tor, 60*time.Second)
					requireSameFile(t, f, dir)
					require.NoError(t, l.Close())
				}}
		},
		"magnet": func(t *testing.T) *hostileTarget {
			// A leecher from a magnet link, attacked before it has the
			// info; the honest seeder joins after the attack began.
			logs := &logSink{}
			l := newClient(t, func(c *peer.Config) { hostileConfig(c, logs) })
			dir := t.TempDir()
			magnet := fmt.Sprintf("magnet:?xt=urn:btih:%s", f.mi.HashInfoBytes().HexString())
			tor, err := l.AddTorrent(t.Context(), peer.TorrentSpec{Magnet: magnet, Dir: dir})
			require.NoError(t, err)
			return &hostileTarget{kind: "magnet", f: f, cl: l, tor: tor, logs: logs,
				honestDone: func(t *testing.T) {
					tor.AddPeers(honestSeeder.Addr())
					waitDone(t, tor, 60*time.Second)
					requireSameFile(t, f, dir)
					require.NoError(t, l.Close())
				}}
		},
	}

	for _, tc := range hostileCases() {
		for _, kind := range tc.on {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				mem := watchMem()
				t.Cleanup(func() { mem.finish() })
				h := targets[kind](t)
				start := time.Now()
				tc.run(t, h)
				h.honestDone(t)
				peak := mem.finish()
				// Let the connections the attack left wind down.
				var after int64
				require.Eventually(t, func() bool {
					after = int64(settledHeap()) - int64(mem.base)
					return after < hostileHeapAfter
				}, 5*time.Second, 50*time.Millisecond, "the heap comes back after the case")
				t.Logf("%s: %v, heap peak +%.1f MiB, after %+.1f MiB", kind+"/"+tc.name, time.Since(start).Round(time.Millisecond), float64(peak)/(1<<20), float64(after)/(1<<20))
				assert.Less(t, peak, int64(hostileHeapPeak), "heap growth during the case")
			})
		}
	}
}

// hostileConfig is the configuration of a client under attack: short
// timeouts so that the cases run fast, and a log to check against.
func hostileConfig(c *peer.Config, logs *logSink) {
	c.Logger = slog.New(logs)
	c.HandshakeTimeout = hostileHandshakeTimeout
	c.RechokeInterval = 100 * time.Millisecond
	c.RequestTimeout = time.Second
	c.Policy = func() (choker.Policy, error) { return fixedPolicy{unchoke: true}, nil }
	peer.SetMinEvictAge(c, 300*time.Millisecond)
}

// quietExt is an extension whose handlers take every message and say
// nothing: the targets carry one, so that attacks meet an attached
// handler as they would a btt_speed one.
type quietExt struct{}

func (quietExt) Name() string                               { return "test_quiet" }
func (quietExt) HandshakeKeys(*peer.Torrent) map[string]any { return nil }
func (quietExt) Attach(peer.ExtPeer, map[string]bencode.Bytes) (peer.ExtHandler, error) {
	return quietExt{}, nil
}
func (quietExt) Message([]byte) error { return nil }
func (quietExt) Closed()              {}

// unreadable pins r's receive buffer small, for a peer that never reads:
// left to itself the kernel may grow it to tcp_rmem's maximum (32 MB here)
// and take in what the target should find it cannot send.
func unreadable(r *rawPeer) {
	if tc, ok := r.c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4 << 10)
	}
}

func hostileCases() []hostileCase {
	// closedWithAny expects r closed for one of alts' reasons (each a
	// set of substrings of one log line), closedWith for one reason.
	closedWithAny := func(t *testing.T, h *hostileTarget, r *rawPeer, alts ...[]string) {
		t.Helper()
		took := expectClosed(t, r.c, 10*time.Second)
		line := h.logs.requireLoggedAny(t, r.c.LocalAddr().String(), alts...)
		t.Logf("closed after %v: %s", took.Round(time.Millisecond), line)
	}
	closedWith := func(t *testing.T, h *hostileTarget, r *rawPeer, subs ...string) {
		t.Helper()
		closedWithAny(t, h, r, subs)
	}
	var cases []hostileCase
	all := []string{"seeder", "leecher", "magnet"}
	withInfo := bothSides()
	// Messages that end the connection.
	for _, m := range []struct {
		name string
		on   []string
		raw  func(h *hostileTarget) []byte
		why  string
	}{
		{"oversized length prefix", all, func(*hostileTarget) []byte { return []byte{0x7f, 0xff, 0xff, 0xff, 7} }, "too long"},
		{"unknown message type", all, func(*hostileTarget) []byte { return []byte{0, 0, 0, 1, 99} }, "unhandled message type"},
		{"have with a 2-byte index", all, func(*hostileTarget) []byte { return []byte{0, 0, 0, 3, 4, 0, 1} }, "EOF"},
		{"request with a trailing byte", all, func(*hostileTarget) []byte { return msgOf(pp.Request, []uint32{0, 0, 16 << 10}, []byte{9}) }, "unused bytes"},
		{"bitfield of the wrong size", withInfo, func(*hostileTarget) []byte { return msgOf(pp.Bitfield, nil, []byte{0xff, 0xff}) }, "wrong length"},
		{"bitfield with spare bits set", withInfo, func(h *hostileTarget) []byte {
			return msgOf(pp.Bitfield, nil, bytes.Repeat([]byte{0xff}, (h.pieces()+7)/8))
		}, "spare bits"},
		{"have past the last piece", withInfo, func(h *hostileTarget) []byte { return msgOf(pp.Have, []uint32{uint32(h.pieces())}, nil) }, "have 65"},
		{"request for a piece past the last", withInfo, func(h *hostileTarget) []byte {
			return msgOf(pp.Request, []uint32{uint32(h.pieces()), 0, 16 << 10}, nil)
		}, "out of range"},
		{"request past the end of a piece", withInfo, func(h *hostileTarget) []byte {
			return msgOf(pp.Request, []uint32{uint32(h.pieces() - 1), 0, 16 << 10}, nil) // the last piece is 1 byte
		}, "out of range"},
		{"request of 0 bytes", withInfo, func(*hostileTarget) []byte { return msgOf(pp.Request, []uint32{0, 0, 0}, nil) }, "out of range"},
		{"request of 256 KiB", withInfo, func(*hostileTarget) []byte { return msgOf(pp.Request, []uint32{0, 0, 256 << 10}, nil) }, "out of range"},
		{"request at a begin that overflows", withInfo, func(*hostileTarget) []byte {
			return msgOf(pp.Request, []uint32{0, 0xffffc000, 16 << 10}, nil)
		}, "out of range"},
		{"piece data larger than a block", all, func(*hostileTarget) []byte {
			return msgOf(pp.Piece, []uint32{0, 0}, make([]byte, 32<<10))
		}, "piece data longer"},
		{"extended message without BEP 10", all, func(*hostileTarget) []byte { return extMsg(0, []byte("de")) }, "without BEP 10"},
		{"have-all without BEP 6", all, func(*hostileTarget) []byte { return msgOf(pp.HaveAll, nil, nil) }, "without the fast extension"},
	} {
		cases = append(cases, hostileCase{name: m.name, on: m.on, run: func(t *testing.T, h *hostileTarget) {
			r := h.dial(t, !strings.Contains(m.name, "without BEP 6"), false)
			r.write(m.raw(h))
			closedWith(t, h, r, m.why)
		}})
	}

	// Requests.
	manyRequests := func(n int) []byte {
		var b []byte
		for i := 0; i < n; i++ {
			b = append(b, msgOf(pp.Request, []uint32{uint32(i % 64), uint32(i / 64 % 2 * (16 << 10)), 16 << 10}, nil)...)
		}
		return b
	}
	unchoked := func(t *testing.T, r *rawPeer) {
		r.write(msgOf(pp.Interested, nil, nil))
		_, ok := r.recv(5*time.Second, pp.Unchoke)
		require.True(t, ok, "unchoked")
	}
	cases = append(cases,
		hostileCase{"too many requests, no BEP 6", []string{"seeder"}, func(t *testing.T, h *hostileTarget) {
			r := h.dial(t, false, false)
			unchoked(t, r)
			r.write(manyRequests(4000)) // and never read the blocks
			closedWith(t, h, r, "too many queued requests")
		}},
		hostileCase{"too many requests, BEP 6: rejects past the queue", []string{"seeder"}, func(t *testing.T, h *hostileTarget) {
			r := h.dial(t, true, false)
			unchoked(t, r)
			r.write(manyRequests(4000))
			_, ok := r.recv(5*time.Second, pp.Reject)
			require.True(t, ok, "a reject (messages go ahead of the blocks queued)")
			expectOpen(t, r.c, 200*time.Millisecond)
		}},
		hostileCase{"requests while choked, no BEP 6: dropped", withInfo, func(t *testing.T, h *hostileTarget) {
			r := h.dial(t, false, false)
			r.write(manyRequests(1000))
			m, ok := r.recv(300*time.Millisecond, pp.Piece, pp.Reject)
			require.False(t, ok, "no answer to a choked peer's request, got %v", m.Type)
			expectOpen(t, r.c, 100*time.Millisecond)
		}},
		hostileCase{"requests while choked, BEP 6, never reading the rejects", withInfo, func(t *testing.T, h *hostileTarget) {
			r := h.dial(t, true, false)
			unreadable(r)
			// 17 MB of requests, a reject each: more than any socket
			// buffers between us hold (5 MB was not, once in CI, with the
			// receive buffer left to grow).
			chunk := manyRequests(10_000)
			for i := 0; i < 100; i++ {
				if _, err := r.c.Write(chunk); err != nil {
					break // closed, as it should be
				}
			}
			closedWith(t, h, r, "does not read")
		}},
		hostileCase{"unrequested blocks", all, func(t *testing.T, h *hostileTarget) {
			r := h.dial(t, true, false)
			blk := msgOf(pp.Piece, []uint32{0, 0}, make([]byte, 16<<10))
			for i := 0; i < 300; i++ {
				r.write(blk)
			}
			closedWith(t, h, r, "unrequested blocks")
		}},
		hostileCase{"duplicate haves count once", withInfo, func(t *testing.T, h *hostileTarget) {
			r := h.dial(t, true, false)
			r.write(msgOf(pp.HaveNone, nil, nil))
			for i := 0; i < 100; i++ {
				r.write(msgOf(pp.Have, []uint32{0}, nil))
			}
			r.write(msgOf(pp.Have, []uint32{1}, nil))
			require.Eventually(t, func() bool {
				ps, err := h.tor.Peers(t.Context())
				require.NoError(t, err)
				for _, p := range ps {
					if p.Addr.String() == r.c.LocalAddr().String() {
						return p.Have == 2
					}
				}
				return false
			}, 5*time.Second, 5*time.Millisecond, "the peer has 2 pieces, however often it says so")
		}},
		hostileCase{"blocks of wrong data: banned", []string{"leecher"}, func(t *testing.T, h *hostileTarget) {
			id := "-XX0000-" + randomSuffix()
			r := dialRawFrom(t, hostileBanned, h.addr(), h.infoHash(), true, false, id)
			haveAllAndUnchoke(r)
			junk := make([]byte, 16<<10)
			for {
				m, ok := r.recv(10*time.Second, pp.Request)
				if !ok {
					break // closed
				}
				_, _ = rand.Read(junk)
				r.write(msgOf(pp.Piece, []uint32{uint32(m.Index), uint32(m.Begin)}, junk[:m.Length]))
			}
			line := h.logs.requireLogged(t, r.c.LocalAddr().String(), "failed its hash")
			t.Logf("dropped: %s", line)
			// It comes back from another port, with the same peer id and
			// with another: refused.
			again := dialRawFrom(t, hostileBanned, h.addr(), h.infoHash(), true, false, id)
			expectClosed(t, again.c, 5*time.Second)
			h.logs.requireLogged(t, again.c.LocalAddr().String(), "banned")
			again = dialRawFrom(t, hostileBanned, h.addr(), h.infoHash(), true, false, "-XX0000-"+randomSuffix())
			expectClosed(t, again.c, 5*time.Second)
			h.logs.requireLogged(t, again.c.LocalAddr().String(), "banned")
		}},
	)

	// Connections that never finish their handshake.
	slowloris := func(dribble bool) func(t *testing.T, h *hostileTarget) {
		return func(t *testing.T, h *hostileTarget) {
			c, err := net.Dial("tcp", h.addr())
			require.NoError(t, err)
			defer c.Close()
			hs := append([]byte{19}, pp.Protocol[1:]...)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			if dribble {
				wg.Go(func() {
					for _, b := range hs {
						if _, err := c.Write([]byte{b}); err != nil {
							return
						}
						select {
						case <-stop:
							return
						case <-time.After(50 * time.Millisecond):
						}
					}
				})
			}
			took := expectClosed(t, c, 5*time.Second)
			close(stop)
			wg.Wait()
			assert.Less(t, took, hostileHandshakeTimeout+time.Second, "closed by the handshake timeout")
			t.Logf("closed after %v", took.Round(time.Millisecond))
		}
	}
	cases = append(cases,
		hostileCase{"slowloris: silent after connecting", all, slowloris(false)},
		hostileCase{"slowloris: a handshake a byte at a time", all, slowloris(true)},
		hostileCase{"a thousand connections at once", withInfo, thousandConnections},
	)

	// BEP 10 extended handshakes.
	ext := func(name string, payload func(t *testing.T) []byte, why string) hostileCase {
		return hostileCase{name, all, func(t *testing.T, h *hostileTarget) {
			r := h.dial(t, true, true)
			r.write(payload(t))
			if why == "" {
				expectOpen(t, r.c, 300*time.Millisecond)
				return
			}
			closedWith(t, h, r, why)
		}}
	}
	raw := func(s string) func(*testing.T) []byte { return func(*testing.T) []byte { return extMsg(0, []byte(s)) } }
	names := func(n int) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			m := map[string]int{}
			for i := 0; i < n; i++ {
				m[fmt.Sprintf("bogus_extension_%06d", i)] = 1 + i%250
			}
			return extMsg(0, bencoded(t, map[string]any{"m": m, "v": strings.Repeat("v", 1000)}))
		}
	}
	cases = append(cases,
		ext("extended handshake that is not a dict", raw("i5e"), "extended handshake"),
		ext("extended handshake that is not bencode", raw("d1:m"), "extended handshake"),
		ext("extended handshake whose m is a list", raw("d1:mli1eee"), "extended handshake m"),
		ext("extended handshake with a string extension number", raw("d1:md1:a1:xee"), "extended handshake m"),
		ext("second extended handshake", func(*testing.T) []byte {
			return append(extMsg(0, []byte("d1:mdee")), extMsg(0, []byte("d1:mdee"))...)
		}, "second extended handshake"),
		ext("extended handshake with numbers out of range and a bogus metadata_size", raw("d1:md11:ut_metadatai300e1:xi-1ee13:metadata_sizei-5ee"), ""),
		hostileCase{"extended handshake with 3,000 extension names", all, func(t *testing.T, h *hostileTarget) {
			r := h.dial(t, true, true)
			r.write(names(3000)(t))
			expectOpen(t, r.c, 100*time.Millisecond)
			ps, err := h.tor.Peers(t.Context())
			require.NoError(t, err)
			found := false
			for _, p := range ps {
				if p.Addr.String() == r.c.LocalAddr().String() {
					found = true
					assert.LessOrEqual(t, len(p.Extensions), 34, "a few names kept of 3,000")
				}
			}
			require.True(t, found, "still connected")
		}},
		ext("extended handshake of 900 KiB", names(40_000), "too long"),
	)

	// BEP 9.
	cases = append(cases,
		hostileCase{"ut_metadata requests, never reading the answers", []string{"seeder"}, func(t *testing.T, h *hostileTarget) {
			r := h.dial(t, true, true)
			unreadable(r)
			r.write(extMsg(0, []byte("d1:md11:ut_metadatai3eee")))
			// 200,000 requests (7 MiB): the first ones are answered with
			// the info's 1.3 KiB piece, the rest with rejects once 1 MiB
			// of answers waits, until the queue's bound drops the peer.
			chunk := bytes.Repeat(extMsg(1, []byte("d8:msg_typei0e5:piecei0ee")), 10_000)
			for i := 0; i < 20; i++ {
				if _, err := r.c.Write(chunk); err != nil {
					break
				}
			}
			closedWith(t, h, r, "does not read")
		}},
		hostileCase{"have flood before the info", []string{"magnet"}, func(t *testing.T, h *hostileTarget) {
			// Before the info the number of pieces is unknown, but no
			// info of 16 MiB holds more than 838,860.
			r := h.dial(t, true, false)
			r.write(msgOf(pp.Bitfield, nil, bytes.Repeat([]byte{0xff}, 1<<20-100)))
			closedWith(t, h, r, "Bitfield message too long")
			r = h.dial(t, true, false)
			r.write(msgOf(pp.Have, []uint32{1<<24 - 1}, nil))
			closedWith(t, h, r, "have 16777215")
			// The most a peer may claim, from several connections: kept
			// until the info arrives, then found out. (On a loaded machine
			// a connection's bitfield may be read, or handled, only after
			// the info came: then it is dropped for a bitfield too long
			// for the info, or of the wrong length — the same lie.)
			for i := 0; i < 8; i++ {
				r := h.dial(t, true, false)
				r.write(msgOf(pp.Bitfield, nil, bytes.Repeat([]byte{0xff}, 838_860/8)))
				r.write(msgOf(pp.Have, []uint32{838_859}, nil))
				expectOpen(t, r.c, 10*time.Millisecond)
				t.Cleanup(func() {
					closedWithAny(t, h, r, []string{"it said it has piece"}, []string{"Bitfield message too long"}, []string{"bitfield has the wrong length"})
				})
			}
		}},
		hostileCase{"lying metadata: junk of the size it claims", []string{"magnet"}, func(t *testing.T, h *hostileTarget) {
			lyingMetadata(t, h, "junk")
		}},
		hostileCase{"lying metadata: a size it never sends", []string{"magnet"}, func(t *testing.T, h *hostileTarget) {
			lyingMetadata(t, h, "silent")
		}},
		hostileCase{"lying metadata: rejects every request", []string{"magnet"}, func(t *testing.T, h *hostileTarget) {
			lyingMetadata(t, h, "reject")
		}},
	)
	return cases
}

// lyingMetadata: a peer claims the info is 40,000 bytes (it is not) and
// answers requests for it with junk, with nothing, or with rejects. It
// must not hold the magnet link's download up: the honest seeder that
// joins later is asked instead.
func lyingMetadata(t *testing.T, h *hostileTarget, how string) {
	r := dialRawFrom(t, hostileBanned, h.addr(), h.infoHash(), true, true, "-XX0000-"+randomSuffix())
	const size = 40_000
	r.write(extMsg(0, []byte(fmt.Sprintf("d1:md11:ut_metadatai3ee13:metadata_sizei%dee", size))))
	// The first request shows the target is fetching from us.
	m, ok := r.recv(5*time.Second, pp.Extended)
	for ok && m.ExtendedID != 3 {
		m, ok = r.recv(5*time.Second, pp.Extended)
	}
	require.True(t, ok, "asked for the metadata")
	go func() {
		for {
			var req struct {
				Type  int `bencode:"msg_type"`
				Piece int `bencode:"piece"`
			}
			if m.ExtendedID == 3 && bencode.Unmarshal(m.ExtendedPayload, &req) == nil && req.Type == 0 {
				switch how {
				case "junk":
					n := min(16<<10, size-req.Piece*(16<<10))
					junk := make([]byte, n)
					_, _ = rand.Read(junk)
					hdr := fmt.Sprintf("d8:msg_typei1e5:piecei%de10:total_sizei%dee", req.Piece, size)
					r.write(extMsg(1, append([]byte(hdr), junk...))) // 1: the target's number for ut_metadata
				case "reject":
					r.write(extMsg(1, []byte(fmt.Sprintf("d8:msg_typei2e5:piecei%dee", req.Piece))))
				}
			}
			var ok bool
			if m, ok = r.recv(30*time.Second, pp.Extended); !ok {
				return
			}
		}
	}()
	want := map[string]string{"junk": "does not match the info hash", "silent": "no answer", "reject": "rejected"}[how]
	line := h.logs.requireLogged(t, r.c.LocalAddr().String(), want)
	t.Logf("passed over: %s", line)
}

// thousandConnections opens a thousand connections at once: half never
// send a byte, half complete the handshake and then say nothing. The
// connection limits hold, the honest transfer completes, and a new honest
// peer still gets in (it replaces one of the idle ones).
func thousandConnections(t *testing.T, h *hostileTarget) {
	const n = 1000
	// The honest transfer is under way before the flood (a peer that
	// arrives while the torrent is full of fresh connections is refused,
	// and redials 30 s later).
	require.Eventually(t, func() bool {
		ps, err := h.tor.Peers(t.Context())
		return err == nil && len(ps) > 0
	}, 5*time.Second, time.Millisecond)
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
		fails atomic.Int64
	)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	ih := h.infoHash()
	open := func(i int, handshake bool) {
		c, err := net.DialTimeout("tcp", h.addr(), 5*time.Second)
		if err != nil {
			fails.Add(1)
			return
		}
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		if !handshake {
			return
		}
		var hs [68]byte
		copy(hs[:], pp.Protocol)
		copy(hs[28:48], ih[:])
		copy(hs[48:], fmt.Sprintf("-XX0000-%012d", i))
		if _, err := c.Write(hs[:]); err != nil {
			fails.Add(1)
		}
	}
	for i := 0; i < n; i++ {
		wg.Go(func() { open(i, i%2 == 1) })
	}
	wg.Wait()
	t.Logf("%d connections opened, %d failed", len(conns), fails.Load())
	maxPeers := 0
	for i := 0; i < 10; i++ {
		ps, err := h.tor.Peers(t.Context())
		require.NoError(t, err)
		maxPeers = max(maxPeers, len(ps))
		time.Sleep(20 * time.Millisecond)
	}
	assert.LessOrEqual(t, maxPeers, 80, "MaxConnsPerTorrent holds")
	t.Logf("at most %d peers connected, %d goroutines", maxPeers, runtime.NumGoroutine())
	if h.kind != "seeder" {
		return
	}
	// Fill whatever slots the honest transfer left, then wait until the
	// idle connections have been idle long enough to give way: a new
	// honest leecher must still get in.
	for i := 0; i < 20; i++ {
		open(n+i, true)
	}
	require.Eventually(t, func() bool {
		ps, err := h.tor.Peers(t.Context())
		return err == nil && len(ps) == 80
	}, 5*time.Second, 10*time.Millisecond, "the torrent is full")
	time.Sleep(400 * time.Millisecond)
	l := newClient(t, nil)
	dir := t.TempDir()
	start := time.Now()
	tor, err := l.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: h.f.mi, Dir: dir, Peers: []netip.AddrPort{h.cl.Addr()}})
	require.NoError(t, err)
	waitDone(t, tor, 10*time.Second)
	requireSameFile(t, h.f, dir)
	t.Logf("a new leecher completed in %v", time.Since(start).Round(time.Millisecond))
	require.NoError(t, l.Close())
}
