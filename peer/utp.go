package peer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Protocols is a set of transports for peer connections: TCP, uTP (BEP 29)
// or both.
//
// The default is TCP alone. uTP takes the UDP port of the TCP port's
// number: a DHT node made with discovery.DHTConfig.OnClientSocket runs on
// the uTP socket itself (dhtsocket.go), and one with a socket of its own
// must be on another port. With both, the client accepts on TCP
// and UDP on the same port, and dials TCP first, then uTP if TCP fails to connect (refused,
// unreachable, or not answered within the handshake timeout): TCP is the
// faster on a good path, where the kernel paces it, and uTP reaches the
// peers TCP cannot (a firewall that passes only UDP, a peer listening on
// uTP alone). libtorrent prefers uTP and falls back to TCP; anacrolix
// races both; see docs/DECISIONS.md.
type Protocols uint8

// The transports.
const (
	ProtocolTCP Protocols = 1 << iota
	ProtocolUTP
)

func (p Protocols) String() string {
	var names []string
	if p&ProtocolTCP != 0 {
		names = append(names, "tcp")
	}
	if p&ProtocolUTP != 0 {
		names = append(names, "utp")
	}
	if p&^(ProtocolTCP|ProtocolUTP) != 0 || len(names) == 0 {
		return fmt.Sprintf("Protocols(%d)", uint8(p))
	}
	return strings.Join(names, ",")
}

// ParseProtocols parses "tcp", "utp", or both separated by a comma.
func ParseProtocols(s string) (Protocols, error) {
	var p Protocols
	for name := range strings.SplitSeq(s, ",") {
		switch strings.TrimSpace(name) {
		case "tcp":
			p |= ProtocolTCP
		case "utp":
			p |= ProtocolUTP
		default:
			return 0, fmt.Errorf("%w: protocol %q is not tcp or utp", ErrConfig, name)
		}
	}
	return p, nil
}

// Bounds on dialing uTP after TCP failed (see dialPeer).
const (
	utpFallbacks       = 4
	utpFallbackTimeout = 3 * time.Second
)

// The UDP socket buffers of the uTP socket, Transmission's sizes (its
// udp.cc): the kernel's default receive buffer (208 KiB on Linux) fills
// within one of libutp's windows on a fast path, and every packet it then
// drops costs LEDBAT a halved window and often a retransmission timeout.
// On loopback here this alone takes libutp from 6 to 40-75 MB/s
// (BenchmarkUTPRaw). The kernel caps both at net.core.rmem_max and
// wmem_max.
const (
	utpReadBuffer  = 4 << 20
	utpWriteBuffer = 1 << 20
)

// setUDPBuffers gives a uTP socket's UDP socket its buffers; a kernel
// that allows less gives what it allows.
func setUDPBuffers(uc *net.UDPConn) {
	_ = uc.SetReadBuffer(utpReadBuffer)
	_ = uc.SetWriteBuffer(utpWriteBuffer)
}

// utpSocket is a uTP socket on one UDP port: it accepts (net.Listener)
// and dials. go-libutp with cgo, anacrolix/utp (pure Go) without: see
// utp_cgo.go and utp_nocgo.go. ReadFrom returns the packets that are not
// uTP (the DHT's: see dhtsocket.go), and an error once Close was called;
// WriteTo sends a packet from the socket's port.
type utpSocket interface {
	net.Listener
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	ReadFrom(b []byte) (int, net.Addr, error)
	WriteTo(b []byte, addr net.Addr) (int, error)
}

// listenAll opens the TCP listener (or takes Config.Listener) and the uTP
// socket on the same port, sets cl.addr, and starts a Config.DHT that
// waits for the client's port on it (startDHT). With port 0 asked for, a
// UDP port found taken where TCP found it free is tried again on a new
// port, a few times, rather than failing the client.
func (cl *Client) listenAll() (net.Listener, error) {
	tcp := cl.cfg.Protocols&ProtocolTCP != 0 || cl.cfg.Listener != nil
	utp := cl.cfg.Protocols&ProtocolUTP != 0 && cl.cfg.Listener == nil && cl.cfg.Dial == nil
	_, port, _ := net.SplitHostPort(cl.cfg.ListenAddr)
	for attempt := 1; ; attempt++ {
		var ln net.Listener
		if tcp {
			var err error
			if ln, err = cl.listen(); err != nil {
				return nil, err
			}
			if ln != nil {
				cl.addr, _ = netip.ParseAddrPort(ln.Addr().String())
			}
		}
		var err error
		if utp {
			err = cl.listenUTP()
		}
		if err == nil {
			if err = cl.startDHT(); err != nil && cl.utp != nil {
				_ = cl.utp.Close()
				cl.utp = nil
			}
		}
		if err == nil {
			if cl.utp != nil && !cl.cfg.NoListen {
				cl.wg.Go(func() { cl.acceptLoop(cl.utp) })
			}
			return ln, nil
		}
		if ln != nil && ln != cl.cfg.Listener {
			_ = ln.Close()
		}
		cl.addr = netip.AddrPort{}
		if ln == nil || port != "0" || attempt == 5 || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, err
		}
	}
}

// listenUTP opens the client's uTP socket: on the TCP listener's port if
// there is one (the same port for both, as peers expect), else on
// ListenAddr. listenAll starts accepting on it.
func (cl *Client) listenUTP() error {
	addr := cl.cfg.ListenAddr
	if cl.addr.IsValid() {
		addr = cl.addr.String()
		if h, _, err := net.SplitHostPort(cl.cfg.ListenAddr); err == nil && h == "" {
			addr = fmt.Sprintf(":%d", cl.addr.Port())
		}
	}
	if cl.cfg.NoListen {
		addr = ":0"
	}
	s, err := newUTPSocket(addr)
	if err != nil {
		return fmt.Errorf("peer: utp listen on %s: %w", addr, err)
	}
	cl.utp = s
	cl.utpSlots = make(chan struct{}, utpFallbacks)
	if !cl.addr.IsValid() && !cl.cfg.NoListen {
		cl.addr, _ = netip.ParseAddrPort(s.Addr().String())
	}
	return nil
}

// dialPeer connects to a peer over the configured protocols (see
// Protocols): Config.Dial if set, else TCP and then uTP.
func (cl *Client) dialPeer(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	p := cl.cfg.Protocols
	if cl.cfg.Dial != nil || cl.utp == nil || p == ProtocolTCP {
		return cl.dial(ctx, addr)
	}
	if p == ProtocolUTP {
		return cl.utp.DialContext(ctx, "udp", addr.String())
	}
	nc, err := cl.dial(ctx, addr)
	if err == nil || ctx.Err() != nil {
		return nc, err
	}
	// The fallback: at most utpFallbacks at once per client, each for at
	// most utpFallbackTimeout (libtorrent's uTP connect timeout), so that a
	// flood of addresses that refuse TCP keeps the half-open slots
	// turning as fast as their refusals come.
	select {
	case cl.utpSlots <- struct{}{}:
		defer func() { <-cl.utpSlots }()
	default:
		return nil, err
	}
	uctx, cancel := context.WithTimeout(ctx, utpFallbackTimeout)
	defer cancel()
	nc, uerr := cl.utp.DialContext(uctx, "udp", addr.String())
	if uerr != nil {
		return nil, fmt.Errorf("tcp: %w; utp: %w", err, uerr)
	}
	return nc, nil
}

// isUTP reports whether a connection runs over uTP: go-libutp's
// addresses are "udp", anacrolix/utp's "utp/udp".
func isUTP(nc net.Conn) bool {
	if m, ok := nc.(*mseConn); ok {
		nc = m.Conn
	}
	if nc.LocalAddr() == nil {
		return false
	}
	switch nc.LocalAddr().Network() {
	case "udp", "utp/udp", "utp":
		return true
	}
	return false
}
