package peer

import (
	"context"
	"fmt"
	"net"
	"net/netip"
)

// listen returns the listener the client accepts peers on: Config.Listener
// if set, else a TCP listener on ListenAddr; nil with NoListen.
func (cl *Client) listen() (net.Listener, error) {
	switch {
	case cl.cfg.Listener != nil:
		return cl.cfg.Listener, nil
	case cl.cfg.NoListen:
		return nil, nil
	}
	ln, err := net.Listen("tcp", cl.cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("peer: listen on %s: %w", cl.cfg.ListenAddr, err)
	}
	return ln, nil
}

// dial connects to a peer: through Config.Dial if set, else over TCP.
func (cl *Client) dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	if cl.cfg.Dial != nil {
		return cl.cfg.Dial(ctx, addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr.String())
}
