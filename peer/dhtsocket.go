package peer

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// The DHT on the client's port: a Config.DHT made with
// discovery.DHTConfig.OnClientSocket is started by the client on its own
// UDP port. With uTP on, the node reads the packets of the uTP socket that
// are not uTP (libutp and anacrolix/utp hand those to the socket's
// ReadFrom, and a KRPC message — a bencoded dictionary, first byte 'd' —
// never parses as a uTP header), as anacrolix/torrent runs its DHT; with
// uTP off, it gets a UDP socket of its own on the TCP port's number. So
// the port announced to trackers and the DHT, the PORT message's and the
// one peers dial over TCP and uTP are one.

// dhtPackets bounds the DHT packets waiting for the node to read them;
// past it they are dropped, as a full socket buffer drops them.
const dhtPackets = 64

// startDHT starts a Config.DHT that waits for the client's port, on the
// uTP socket if there is one, else on a UDP socket of the client's port.
// Nothing to do for another DHT (it has its own socket).
func (cl *Client) startDHT() error {
	d := cl.cfg.DHT
	if d == nil || !d.OnClientSocket() {
		return nil
	}
	var pc net.PacketConn
	switch {
	case cl.utp != nil:
		pc = newDHTPacketConn(cl.utp, &cl.wg)
	case !cl.addr.IsValid():
		return fmt.Errorf("%w: the DHT node is to run on the client's port, and the client listens on no UDP port (NoListen, or a Config.Listener)", ErrConfig)
	default:
		addr := cl.addr.String()
		if h, _, err := net.SplitHostPort(cl.cfg.ListenAddr); err == nil && h == "" {
			addr = fmt.Sprintf(":%d", cl.addr.Port())
		}
		var err error
		if pc, err = net.ListenPacket("udp", addr); err != nil {
			return fmt.Errorf("peer: dht listen on %s: %w", addr, err)
		}
	}
	if err := d.Start(pc); err != nil {
		_ = pc.Close()
		return fmt.Errorf("peer: starting the DHT node on the client's port: %w", err)
	}
	return nil
}

// dhtPacketConn is the DHT node's view of the uTP socket: the socket's
// non-uTP packets, read by one goroutine of the client's (pump) until the
// socket closes. Close ends the node's reads and leaves the socket open:
// the client closes it. Once the socket is closed, reads wait for Close
// and writes fail.
type dhtPacketConn struct {
	s         utpSocket
	in        chan dhtPacket // closed when the socket is
	done      chan struct{}  // closed by Close
	closeOnce sync.Once
}

type dhtPacket struct {
	b    []byte
	from net.Addr
}

var _ net.PacketConn = (*dhtPacketConn)(nil)

func newDHTPacketConn(s utpSocket, wg *sync.WaitGroup) *dhtPacketConn {
	c := &dhtPacketConn{s: s, in: make(chan dhtPacket, dhtPackets), done: make(chan struct{})}
	wg.Go(c.pump)
	return c
}

// pump moves the socket's non-uTP packets to in, dropping them when the
// node is not reading (closed, or behind), until the socket closes.
func (c *dhtPacketConn) pump() {
	defer close(c.in)
	buf := make([]byte, 1<<16)
	for {
		n, from, err := c.s.ReadFrom(buf)
		if err != nil {
			return // the socket closed: neither utp package reports any other error
		}
		select {
		case c.in <- dhtPacket{b: append([]byte(nil), buf[:n]...), from: from}:
		default:
		}
	}
}

func (c *dhtPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case <-c.done:
		return 0, nil, net.ErrClosed
	default:
	}
	select {
	case p, ok := <-c.in:
		if ok {
			return copy(b, p.b), p.from, nil
		}
		// The client closed the socket first. anacrolix/dht panics on
		// a read error before its own Close, so the read waits for
		// that: the node is the caller's to close.
		<-c.done
		return 0, nil, net.ErrClosed
	case <-c.done:
		return 0, nil, net.ErrClosed
	}
}

func (c *dhtPacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	select {
	case <-c.done:
		return 0, net.ErrClosed
	default:
	}
	return c.s.WriteTo(b, addr)
}

// Close ends the node's use of the socket; the socket stays open.
func (c *dhtPacketConn) Close() error {
	c.closeOnce.Do(func() { close(c.done) })
	return nil
}

func (c *dhtPacketConn) LocalAddr() net.Addr { return c.s.Addr() }

// errNoDeadlines: the DHT sets none, and the uTP socket has none to give
// (go-libutp's panic).
var errNoDeadlines = errors.New("peer: the DHT's share of the uTP socket has no deadlines")

func (c *dhtPacketConn) SetDeadline(time.Time) error      { return errNoDeadlines }
func (c *dhtPacketConn) SetReadDeadline(time.Time) error  { return errNoDeadlines }
func (c *dhtPacketConn) SetWriteDeadline(time.Time) error { return errNoDeadlines }
