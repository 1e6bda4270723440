package peer

import (
	"net"
	"net/netip"

	pp "github.com/anacrolix/torrent/peer_protocol"
)

type evKind uint8

const (
	evMsg evKind = iota
	evConnClosed
	evNewConn
	evDialFailed
	evHashDone
	evStorageErr
	evFunc
)

// event is what goroutines post to a torrent's loop.
type event struct {
	kind     evKind
	c        *conn
	msg      pp.Message
	err      error
	piece    int
	ok       bool
	hashes   [][20]byte
	fn       func()
	nc       net.Conn
	hs       handshakeResult
	addr     netip.AddrPort
	outgoing bool
}
