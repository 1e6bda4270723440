// Package peertest is an in-memory network for tests of peer clients: a
// Network of hosts, each with its own loopback address, whose listeners
// and dialers plug into peer.Config's Listener and Dial in place of TCP.
// Connections are in-memory pipes with a socket's buffering (a write
// returns once its bytes fit the buffer; net.Pipe's unbuffered writes
// would deadlock two peers that both write their handshake first) and
// deadlines: no sockets, no ports, no kernel, and, being made of
// sync.Cond and timers only, usable inside a testing/synctest bubble
// with its fake clock. Partition and Heal cut and restore the
// links between two hosts, as hashicorp raft's in-memory transport does.
//
//	n := peertest.NewNetwork()
//	h := n.Host()
//	ln, err := h.Listen(0)
//	cl, err := peer.NewClient(peer.Config{Listener: ln, Dial: h.Dial})
package peertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// Errors a dial can fail with; they wrap as a *net.OpError's Err.
var (
	// ErrRefused: nothing listens on the address.
	ErrRefused = errors.New("peertest: connection refused")
	// ErrUnreachable: the two hosts are partitioned.
	ErrUnreachable = errors.New("peertest: host unreachable")
)

// Network is an in-memory network. Its methods, and those of its hosts,
// listeners and connections, are safe for concurrent use.
type Network struct {
	mu        sync.Mutex
	listeners map[netip.AddrPort]*listener
	nextHost  uint32 // the last host's address, as 127.0.0.0/8 offset
	nextPort  map[netip.Addr]uint16
	cut       map[[2]netip.Addr]bool // partitioned pairs, lower address first
	conns     map[*pipeConn]bool     // open connections, to close on a partition
}

// NewNetwork returns an empty network.
func NewNetwork() *Network {
	return &Network{
		listeners: make(map[netip.AddrPort]*listener),
		nextPort:  make(map[netip.Addr]uint16),
		cut:       make(map[[2]netip.Addr]bool),
		conns:     make(map[*pipeConn]bool),
	}
}

// Host returns a new host, with the next free address of 127.0.0.0/8
// (127.0.0.2 first).
func (n *Network) Host() *Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.nextHost++
	off := n.nextHost + 1
	return &Host{n: n, addr: netip.AddrFrom4([4]byte{127, byte(off >> 16), byte(off >> 8), byte(off)})}
}

// Partition cuts the links between hosts a and b: dials between them fail
// with ErrUnreachable, and their open connections close.
func (n *Network) Partition(a, b *Host) {
	n.mu.Lock()
	n.cut[pairOf(a.addr, b.addr)] = true
	var doomed []*pipeConn
	for c := range n.conns {
		if pairOf(c.local.Addr(), c.remote.Addr()) == pairOf(a.addr, b.addr) {
			doomed = append(doomed, c)
		}
	}
	n.mu.Unlock()
	for _, c := range doomed {
		_ = c.Close()
	}
}

// Heal restores the links between hosts a and b.
func (n *Network) Heal(a, b *Host) {
	n.mu.Lock()
	delete(n.cut, pairOf(a.addr, b.addr))
	n.mu.Unlock()
}

func pairOf(a, b netip.Addr) [2]netip.Addr {
	if b.Less(a) {
		a, b = b, a
	}
	return [2]netip.Addr{a, b}
}

// Host is one machine on a Network.
type Host struct {
	n    *Network
	addr netip.Addr
}

// Addr returns the host's address.
func (h *Host) Addr() netip.Addr { return h.addr }

// port returns a free port of the host's (n.mu held).
func (h *Host) port() (uint16, error) {
	n := h.n
	for range 1 << 16 {
		p := n.nextPort[h.addr] + 1
		if p < 1024 {
			p = 1024
		}
		n.nextPort[h.addr] = p
		if _, taken := n.listeners[netip.AddrPortFrom(h.addr, p)]; !taken {
			return p, nil
		}
	}
	return 0, fmt.Errorf("peertest: %s has no free port", h.addr)
}

// Listen listens on port of the host; port 0 picks a free one.
func (h *Host) Listen(port uint16) (net.Listener, error) {
	n := h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if port == 0 {
		var err error
		if port, err = h.port(); err != nil {
			return nil, err
		}
	}
	ap := netip.AddrPortFrom(h.addr, port)
	if n.listeners[ap] != nil {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: net.TCPAddrFromAddrPort(ap), Err: errors.New("peertest: address already in use")}
	}
	l := &listener{n: n, addr: ap, accept: make(chan net.Conn), done: make(chan struct{})}
	n.listeners[ap] = l
	return l, nil
}

// Dial connects to addr from the host, waiting until the listener there
// accepts or ctx ends. Its signature is peer.Config.Dial's.
func (h *Host) Dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	n := h.n
	opErr := func(err error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(addr), Err: err}
	}
	n.mu.Lock()
	l := n.listeners[addr]
	cut := n.cut[pairOf(h.addr, addr.Addr())]
	var port uint16
	var err error
	if l != nil && !cut {
		port, err = h.port()
	}
	n.mu.Unlock()
	switch {
	case cut:
		return nil, opErr(ErrUnreachable)
	case l == nil:
		return nil, opErr(ErrRefused)
	case err != nil:
		return nil, opErr(err)
	}
	local := netip.AddrPortFrom(h.addr, port)
	ours, theirs := newPipe(n, local, addr)
	n.track(ours, theirs)
	select {
	case l.accept <- theirs:
		return ours, nil
	case <-l.done:
		err = ErrRefused
	case <-ctx.Done():
		err = ctx.Err()
	}
	_ = ours.Close()
	_ = theirs.Close()
	return nil, opErr(err)
}

func (n *Network) track(cs ...*pipeConn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range cs {
		n.conns[c] = true
	}
}

type listener struct {
	n      *Network
	addr   netip.AddrPort
	accept chan net.Conn
	once   sync.Once
	done   chan struct{}
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.accept:
		return c, nil
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
	}
}

func (l *listener) Close() error {
	l.once.Do(func() {
		l.n.mu.Lock()
		delete(l.n.listeners, l.addr)
		l.n.mu.Unlock()
		close(l.done)
	})
	return nil
}

func (l *listener) Addr() net.Addr { return net.TCPAddrFromAddrPort(l.addr) }
