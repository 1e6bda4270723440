package peer

import (
	"net"
	"net/netip"
	"sync"

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

// maxQueuedEvents is how many events from connections may wait for a
// torrent's loop; past it, posting blocks (a connection's reader waits,
// and TCP slows its peer). maxControlEvents is how many of the others
// may (dials, disk results, calls from the API).
const (
	maxQueuedEvents  = 1024
	maxControlEvents = 64
)

// eventPool holds the events posted to the loops. An event is some 340
// bytes; a torrent's queues hold pointers, so an idle torrent's cost half
// a KiB rather than the 340 KiB of a queue of events, and a busy one
// reuses the events it has handled.
var eventPool = sync.Pool{New: func() any { return new(event) }}

// newEvent returns a pooled copy of ev to post.
func newEvent(ev event) *event {
	p := eventPool.Get().(*event)
	*p = ev
	return p
}

// takeEvent returns what p holds and puts p back in the pool; p must not
// be used after.
func takeEvent(p *event) event {
	ev := *p
	*p = event{}
	eventPool.Put(p)
	return ev
}
