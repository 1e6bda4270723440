//go:build linux

package peer

import (
	"net"

	"golang.org/x/sys/unix"
)

// PacingRates returns the kernel's pacing rate (TCP_INFO's
// tcpi_pacing_rate, bytes a second) of each of the torrent's connections
// on TCP, for the loopback benchmark: under BBR it is the rate the kernel
// spaces a connection's packets at, which it estimates from what the
// connection delivered and keeps for the connection's life.
func (t *Torrent) PacingRates() (rates []uint64) {
	_ = t.do(t.ctx, func() {
		for _, c := range t.conns {
			tc, ok := c.nc.(*net.TCPConn)
			if !ok {
				continue
			}
			rc, err := tc.SyscallConn()
			if err != nil {
				continue
			}
			var ti *unix.TCPInfo
			_ = rc.Control(func(fd uintptr) { ti, _ = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) })
			if ti != nil {
				rates = append(rates, ti.Pacing_rate)
			}
		}
	})
	return rates
}
