package peer

import (
	"context"
	"net"
	"net/netip"
)

// dial connects to a peer: through Config.Dial if set, else over TCP.
func (cl *Client) dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	if cl.cfg.Dial != nil {
		return cl.cfg.Dial(ctx, addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr.String())
}
