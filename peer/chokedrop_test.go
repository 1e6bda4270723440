package peer_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/piece"
)

// chokeSwitch is a choking policy the test drives: it unchokes every
// interested peer until the test throws the switch, then chokes them all,
// and records what the peer had been sent when that choke was decided.
type chokeSwitch struct {
	choke atomic.Bool

	mu       sync.Mutex
	unchoked bool  // an unchoke was decided
	decided  bool  // the choke was decided
	uploaded int64 // payload uploaded to the peer at that moment
}

func (p *chokeSwitch) Rechoke(_ time.Time, s choker.Snapshot) choker.Decision {
	choke := p.choke.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	var d choker.Decision
	for _, ps := range s.Peers {
		unchoke := ps.Interested && !choke
		p.unchoked = p.unchoked || unchoke
		if choke && !ps.Choked && !p.decided {
			p.decided, p.uploaded = true, ps.Uploaded
		}
		d.Outcomes = append(d.Outcomes, choker.Outcome{ID: ps.ID, Unchoke: unchoke, Slot: choker.Regular})
	}
	return d
}

func (p *chokeSwitch) state() (unchoked, decided bool, uploaded int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.unchoked, p.decided, p.uploaded
}

// pipeListener hands the client connections made of net.Pipe: a write
// returns only once the other end has read it all, so a peer that stops
// reading stops the writer at once, with nothing buffered in between
// (peertest's pipes buffer 256 KiB, as a socket does).
type pipeListener struct {
	addr  netip.AddrPort
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener(addr netip.AddrPort) *pipeListener {
	return &pipeListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return net.TCPAddrFromAddrPort(l.addr) }

// dial returns the dialer's end of a new connection from address from.
func (l *pipeListener) dial(t *testing.T, from netip.AddrPort) net.Conn {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	select {
	case l.conns <- addrConn{Conn: a, local: l.addr, remote: from}:
	case <-l.done:
		t.Fatal("the listener is closed")
	}
	return addrConn{Conn: b, local: from, remote: l.addr}
}

// addrConn is a net.Pipe end with TCP addresses, as the client expects.
type addrConn struct {
	net.Conn
	local, remote netip.AddrPort
}

func (c addrConn) LocalAddr() net.Addr  { return net.TCPAddrFromAddrPort(c.local) }
func (c addrConn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.remote) }

// pipePeer is a peer speaking the wire by hand over a pipeListener's
// connection; it reads only when the test says so.
type pipePeer struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
	d pp.Decoder
}

func dialPipe(t *testing.T, l *pipeListener, from netip.AddrPort, ih [20]byte, fast bool) *pipePeer {
	t.Helper()
	c := l.dial(t, from)
	var hs [68]byte
	copy(hs[:], pp.Protocol)
	if fast {
		hs[20+7] |= 0x04
	}
	copy(hs[28:48], ih[:])
	copy(hs[48:], "-CD0001-chokedrop000")
	// The client answers after reading the first 48 bytes: write ours
	// while reading its.
	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write(hs[:])
		wrote <- err
	}()
	var ans [68]byte
	_, err := io.ReadFull(c, ans[:])
	require.NoError(t, err, "handshake answered")
	require.NoError(t, <-wrote)
	r := bufio.NewReader(c)
	return &pipePeer{t: t, c: c, r: r, d: pp.Decoder{R: r, MaxLength: 1 << 20}}
}

func (p *pipePeer) write(b []byte) {
	p.t.Helper()
	_, err := p.c.Write(b)
	require.NoError(p.t, err)
}

// next decodes one message, waiting at most wait (of the bubble's clock:
// it passes only once the client is idle); ok is false if none came, or
// the client closed the connection.
func (p *pipePeer) next(wait time.Duration) (m pp.Message, ok bool) {
	p.t.Helper()
	_ = p.c.SetReadDeadline(time.Now().Add(wait))
	defer p.c.SetReadDeadline(time.Time{})
	err := p.d.Decode(&m)
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, io.EOF) {
		require.Zero(p.t, p.r.Buffered(), "stopped between messages")
		return m, false
	}
	require.NoError(p.t, err)
	return m, true
}

// readUntilIdle returns the messages the client sends until it has been
// silent for idle, skipping keep-alives.
func (p *pipePeer) readUntilIdle(idle time.Duration) []pp.Message {
	p.t.Helper()
	var out []pp.Message
	for {
		m, ok := p.next(idle)
		if !ok {
			return out
		}
		if !m.Keepalive {
			out = append(out, m)
		}
	}
}

// dropRequests is how many blocks the peer asks for: more than the
// writer takes at once (32), so that it takes a full batch.
const dropRequests = 40

// TestChokeDropsTakenBlocks: once a choke is decided, no block starts
// going to the peer, not even one the writer had already taken from the
// queue (the loop takes back only what is still queued): a payer that
// stops paying gets no more than what was on its way when its slot was
// lost. Taken blocks are dropped, with a reject to a BEP 6 peer. The
// policy is the test's, so that it knows the moment of the decision and
// what had been uploaded to the peer then (a block counts as uploaded
// once it is in the writer's buffer); blocks on the wire before the choke
// message are counted against that.
//
// "blocked in a write": the peer stops reading while 40 blocks are queued;
// the writer takes 32, fills its 256 KiB buffer with 15 and blocks in
// the write of the 16th; the choke is decided. The 16 go, the other 16
// it took must not. "waiting for the upload cap": a rate cap makes the
// writer wait 30 s for the second block's tokens; the choke is decided
// during the wait, and the block must not go when the wait ends.
func TestChokeDropsTakenBlocks(t *testing.T) {
	f := newFixture(t, 4<<20, 64<<10)
	ih := f.mi.HashInfoBytes()
	for _, tc := range []struct {
		name string
		// uploadRate is the client's Config.UploadRate (zero: none).
		uploadRate int64
		// stall: the peer reads nothing from its unchoke until the
		// choke is decided, so that the writer blocks in a write.
		stall bool
		// inProgress is how many blocks the writer had begun to write
		// and not finished at the decision: they still go.
		inProgress int64
	}{
		{name: "blocked in a write", stall: true, inProgress: 1},
		{name: "waiting for the upload cap", uploadRate: piece.BlockSize / 30},
	} {
		for _, fast := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/fast=%v", tc.name, fast), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					pol := &chokeSwitch{}
					ln := newPipeListener(netip.MustParseAddrPort("127.0.0.2:6881"))
					const rechokeEvery = 10 * time.Second
					cl := newClient(t, func(c *peer.Config) {
						c.ListenAddr, c.Listener = "", ln
						c.DisablePEX = true
						c.UploadRate = tc.uploadRate
						c.RechokeInterval = rechokeEvery
					})
					_, err := cl.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: f.dir, Verify: true, Policy: pol})
					require.NoError(t, err)

					p := dialPipe(t, ln, netip.MustParseAddrPort("127.0.0.5:40000"), ih, fast)
					allowed := map[int]bool{}
					for _, m := range p.readUntilIdle(time.Second) {
						if m.Type == pp.AllowedFast {
							allowed[int(m.Index)] = true
						}
					}
					if fast {
						require.NotEmpty(t, allowed, "a BEP 6 peer is granted allowed-fast pieces")
					}

					// Interested, and unchoked: the writer blocks in
					// the write of the unchoke, which the peer does not
					// read yet, while the requests are queued behind it.
					p.write(msgOf(pp.Interested, nil, nil))
					time.Sleep(time.Second)
					synctest.Wait()
					unchoked, _, _ := pol.state()
					require.True(t, unchoked, "the policy unchoked the peer")
					asked := map[piece.Block]bool{}
					var reqs []byte
					for i := 0; len(asked) < dropRequests; i++ {
						pc := i / int(f.info.PieceLength/piece.BlockSize)
						if allowed[pc] {
							continue // an allowed-fast block may go while choked
						}
						b := piece.Block{Piece: pc, Begin: uint32(i%int(f.info.PieceLength/piece.BlockSize)) * piece.BlockSize, Length: piece.BlockSize}
						asked[b] = true
						reqs = append(reqs, msgOf(pp.Request, []uint32{uint32(b.Piece), b.Begin, b.Length}, nil)...)
					}
					p.write(reqs)
					synctest.Wait()
					m, ok := p.next(time.Second)
					require.True(t, ok)
					require.Equal(t, pp.Unchoke, m.Type)
					var early []pp.Message
					if !tc.stall {
						// The first block goes; the writer waits for
						// the cap to send the second.
						early = p.readUntilIdle(time.Second)
						require.Len(t, early, 1)
						require.Equal(t, pp.Piece, early[0].Type)
					}
					synctest.Wait()

					pol.choke.Store(true)
					time.Sleep(rechokeEvery)
					synctest.Wait()
					_, decided, uploaded := pol.state()
					require.True(t, decided, "the policy choked the peer")
					// Blocks begun before the decision may go; no other.
					bound := int(uploaded/piece.BlockSize + tc.inProgress)
					require.Less(t, bound, peer.MaxServeBatch, "the choke came while the writer held blocks it had not begun")

					var before, after, rejects int
					choked := false
					answered := map[piece.Block]int{}
					for {
						var m pp.Message
						if len(early) > 0 {
							m, early = early[0], early[1:]
						} else {
							wait := time.Minute // the cap's wait
							if choked {
								wait = time.Second
							}
							var ok bool
							if m, ok = p.next(wait); !ok {
								break
							}
						}
						switch m.Type {
						case pp.Choke:
							choked = true
						case pp.Piece:
							if choked {
								after++
							} else {
								before++
							}
							answered[piece.Block{Piece: int(m.Index), Begin: uint32(m.Begin), Length: uint32(len(m.Piece))}]++
						case pp.Reject:
							rejects++
							answered[piece.Block{Piece: int(m.Index), Begin: uint32(m.Begin), Length: uint32(m.Length)}]++
						}
					}
					assert.LessOrEqual(t, before, bound, "blocks went after the choke was decided (%d uploaded then)", uploaded)
					require.True(t, choked, "the choke reached the peer")
					assert.Zero(t, after, "a block after the choke (none is allowed-fast)")
					if fast {
						// BEP 6: every request answered, once.
						assert.Equal(t, dropRequests, len(answered))
						for b, n := range answered {
							assert.True(t, asked[b], "answered %+v, never asked", b)
							assert.Equal(t, 1, n, "%+v answered %d times", b, n)
						}
					} else {
						assert.Zero(t, rejects, "no BEP 6, no reject")
					}
				})
			})
		}
	}
}
