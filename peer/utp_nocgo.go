//go:build !cgo

package peer

import (
	"net"
	"time"

	"github.com/anacrolix/utp"
)

// newUTPSocket opens a uTP socket with anacrolix/utp, the pure-Go
// implementation anacrolix/torrent falls back to without cgo, on a UDP
// socket with the buffers of setUDPBuffers.
func newUTPSocket(addr string) (utpSocket, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, err
	}
	uc := pc.(*net.UDPConn)
	setUDPBuffers(uc)
	s, err := utp.NewSocketFromPacketConn(uc)
	if err != nil {
		_ = uc.Close()
		return nil, err
	}
	return pureUTPSocket{Socket: s, uc: uc}, nil
}

// pureUTPSocket closes as utpSocket says, and as go-libutp's does: at
// once, its connections with it (anacrolix/utp's Close waits for the
// last connection's end, its reader goroutine with it), and a ReadFrom
// waiting returns (anacrolix/utp's would wait for good: a read deadline
// in the past ends it).
type pureUTPSocket struct {
	*utp.Socket
	uc *net.UDPConn
}

func (s pureUTPSocket) Close() error {
	err := s.Socket.CloseNow()
	_ = s.Socket.SetReadDeadline(time.Now())
	return err
}

// udpConnOfSocket returns the UDP socket under s, for tests.
func udpConnOfSocket(s utpSocket) *net.UDPConn {
	ps, ok := s.(pureUTPSocket)
	if !ok {
		return nil
	}
	return ps.uc
}
