//go:build !cgo

package peer

import "github.com/anacrolix/utp"

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
	return s, nil
}
