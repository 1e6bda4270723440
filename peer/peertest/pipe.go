package peertest

import (
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// bufferSize is what each direction of a connection holds before a write
// blocks: about a loopback socket's buffer.
const bufferSize = 256 << 10

// buffer is one direction of a connection: a ring of bytes written by one
// end and read by the other.
type buffer struct {
	mu   sync.Mutex
	cond *sync.Cond
	ring []byte
	head int // first unread byte
	n    int // unread bytes
	// readerGone: the reading end closed (writes fail); writerGone: the
	// writing end closed (reads drain, then EOF).
	readerGone, writerGone bool
	// readDeadline and writeDeadline are the ends' deadlines for this
	// direction (zero: none); a timer wakes the waiters when one passes.
	readDeadline, writeDeadline time.Time
	readTimer, writeTimer       *time.Timer
}

func newBuffer() *buffer {
	b := &buffer{ring: make([]byte, bufferSize)}
	b.cond = sync.NewCond(&b.mu)
	return b
}

func passed(d time.Time) bool { return !d.IsZero() && !time.Now().Before(d) }

func (b *buffer) read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.n == 0 {
		switch {
		case b.readerGone:
			return 0, net.ErrClosed
		case b.writerGone:
			return 0, io.EOF
		case passed(b.readDeadline):
			return 0, os.ErrDeadlineExceeded
		}
		if len(p) == 0 {
			return 0, nil
		}
		b.cond.Wait()
	}
	if b.readerGone {
		return 0, net.ErrClosed
	}
	if passed(b.readDeadline) {
		return 0, os.ErrDeadlineExceeded
	}
	m := 0
	for m < len(p) && b.n > 0 {
		end := min(b.head+b.n, len(b.ring))
		c := copy(p[m:], b.ring[b.head:end])
		m += c
		b.head = (b.head + c) % len(b.ring)
		b.n -= c
	}
	b.cond.Broadcast()
	return m, nil
}

func (b *buffer) write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := 0
	for m < len(p) {
		switch {
		case b.writerGone:
			return m, net.ErrClosed
		case b.readerGone:
			return m, io.ErrClosedPipe
		case passed(b.writeDeadline):
			return m, os.ErrDeadlineExceeded
		}
		if b.n == len(b.ring) {
			b.cond.Wait()
			continue
		}
		tail := (b.head + b.n) % len(b.ring)
		end := len(b.ring)
		if tail < b.head {
			end = b.head
		}
		c := copy(b.ring[tail:end], p[m:])
		m += c
		b.n += c
		b.cond.Broadcast()
	}
	return m, nil
}

// setDeadline sets the read or the write deadline and wakes the waiters
// when it passes.
func (b *buffer) setDeadline(d time.Time, reading bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	dl, tm := &b.writeDeadline, &b.writeTimer
	if reading {
		dl, tm = &b.readDeadline, &b.readTimer
	}
	*dl = d
	if *tm != nil {
		(*tm).Stop()
		*tm = nil
	}
	if !d.IsZero() {
		*tm = time.AfterFunc(time.Until(d), func() {
			b.mu.Lock()
			b.cond.Broadcast()
			b.mu.Unlock()
		})
	}
	b.cond.Broadcast()
}

// closeEnd marks one end gone and wakes both.
func (b *buffer) closeEnd(reader bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if reader {
		b.readerGone = true
	} else {
		b.writerGone = true
	}
	for _, tm := range []*time.Timer{b.readTimer, b.writeTimer} {
		if tm != nil {
			tm.Stop()
		}
	}
	b.cond.Broadcast()
}

// pipeConn is one end of a connection, with the hosts' addresses as TCP
// addresses.
type pipeConn struct {
	n             *Network
	local, remote netip.AddrPort
	in, out       *buffer // what this end reads, and writes
	once          sync.Once
}

// newPipe returns the two ends of a connection from a to b.
func newPipe(n *Network, a, b netip.AddrPort) (*pipeConn, *pipeConn) {
	ab, ba := newBuffer(), newBuffer()
	return &pipeConn{n: n, local: a, remote: b, in: ba, out: ab},
		&pipeConn{n: n, local: b, remote: a, in: ab, out: ba}
}

func (c *pipeConn) opErr(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

func (c *pipeConn) Read(p []byte) (int, error) {
	n, err := c.in.read(p)
	return n, c.opErr("read", err)
}

func (c *pipeConn) Write(p []byte) (int, error) {
	n, err := c.out.write(p)
	return n, c.opErr("write", err)
}

func (c *pipeConn) Close() error {
	c.once.Do(func() {
		c.n.mu.Lock()
		delete(c.n.conns, c)
		c.n.mu.Unlock()
		c.in.closeEnd(true)
		c.out.closeEnd(false)
	})
	return nil
}

func (c *pipeConn) LocalAddr() net.Addr  { return net.TCPAddrFromAddrPort(c.local) }
func (c *pipeConn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.remote) }

func (c *pipeConn) SetDeadline(t time.Time) error {
	c.in.setDeadline(t, true)
	c.out.setDeadline(t, false)
	return nil
}

func (c *pipeConn) SetReadDeadline(t time.Time) error {
	c.in.setDeadline(t, true)
	return nil
}

func (c *pipeConn) SetWriteDeadline(t time.Time) error {
	c.out.setDeadline(t, false)
	return nil
}
