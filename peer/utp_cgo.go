//go:build cgo

package peer

import (
	utp "github.com/anacrolix/go-libutp"
	alog "github.com/anacrolix/log"
)

// newUTPSocket opens a uTP socket with libutp (through cgo), what
// anacrolix/torrent uses.
func newUTPSocket(addr string) (utpSocket, error) {
	s, err := utp.NewSocket("udp", addr, utp.WithLogger(alog.Default.WithFilterLevel(alog.Disabled)))
	if err != nil {
		if s != nil {
			_ = s.Close()
		}
		return nil, err
	}
	return s, nil
}
