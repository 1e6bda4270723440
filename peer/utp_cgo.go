//go:build cgo

package peer

import (
	"net"
	"reflect"
	"unsafe"

	utp "github.com/anacrolix/go-libutp"
	alog "github.com/anacrolix/log"
)

// newUTPSocket opens a uTP socket with libutp (through cgo), what
// anacrolix/torrent uses, and gives its UDP socket the buffers of
// setUDPBuffers.
func newUTPSocket(addr string) (utpSocket, error) {
	s, err := utp.NewSocket("udp", addr, utp.WithLogger(alog.Default.WithFilterLevel(alog.Disabled)))
	if err != nil {
		if s != nil {
			_ = s.Close()
		}
		return nil, err
	}
	if uc := udpConnOf(s); uc != nil {
		setUDPBuffers(uc)
	}
	return s, nil
}

// udpConnOf returns the UDP socket go-libutp opened for s, or nil if it
// cannot be found. go-libutp (v1.3.2) neither exports it nor takes one of
// ours, so its unexported field "pc" is read through reflect: it is set
// when the Socket is made and never written again. TestUTPSocketBuffers
// fails if an upgrade moves it.
func udpConnOf(s *utp.Socket) *net.UDPConn {
	f := reflect.ValueOf(s).Elem().FieldByName("pc")
	if !f.IsValid() || f.Type() != reflect.TypeFor[net.PacketConn]() {
		return nil
	}
	pc := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface()
	uc, _ := pc.(*net.UDPConn)
	return uc
}

// udpConnOfSocket is udpConnOf for a socket newUTPSocket made, for tests.
func udpConnOfSocket(s utpSocket) *net.UDPConn {
	us, ok := s.(*utp.Socket)
	if !ok {
		return nil
	}
	return udpConnOf(us)
}
