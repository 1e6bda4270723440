//go:build !cgo

package peer

import (
	"time"

	"github.com/anacrolix/utp"
)

// newUTPSocket opens a uTP socket with anacrolix/utp, the pure-Go
// implementation anacrolix/torrent falls back to without cgo.
func newUTPSocket(addr string) (utpSocket, error) {
	s, err := utp.NewSocket("udp", addr)
	if err != nil {
		if s != nil {
			_ = s.Close()
		}
		return nil, err
	}
	return pureUTPSocket{s}, nil
}

// pureUTPSocket closes as utpSocket says, and as go-libutp's does: at
// once, its connections with it (anacrolix/utp's Close waits for the
// last connection's end, its reader goroutine with it), and a ReadFrom
// waiting returns (anacrolix/utp's would wait for good: a read deadline
// in the past ends it).
type pureUTPSocket struct{ *utp.Socket }

func (s pureUTPSocket) Close() error {
	err := s.Socket.CloseNow()
	_ = s.Socket.SetReadDeadline(time.Now())
	return err
}
