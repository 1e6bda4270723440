package peer

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/anacrolix/torrent/bencode"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/piece"
)

// Extension is a BEP 10 extension protocol that the engine carries for its
// user, such as btt_speed. Register it in Config.Extensions; the engine
// advertises it in every extended handshake and routes its messages, so a
// new extension needs no change to the engine.
//
// Every method is called on the torrent's loop goroutine and must not
// block.
type Extension interface {
	// Name is the extension's key in the handshake's "m" dictionary.
	Name() string
	// HandshakeKeys returns extra keys for our extended handshake on
	// torrent t (values must bencode); nil adds none.
	HandshakeKeys(t *Torrent) map[string]any
	// Attach is called when a peer's extended handshake lists the
	// extension. hs holds the peer's whole handshake dictionary, raw. It
	// returns the handler of the peer's messages, or an error to drop the
	// peer.
	Attach(p ExtPeer, hs map[string]bencode.Bytes) (ExtHandler, error)
}

// ExtHandler handles one peer's messages of one extension.
type ExtHandler interface {
	// Message handles a message's payload. An error closes the
	// connection. The payload is one bencoded value nested at most
	// bencheck.MaxDepth deep: the engine closes the connection of a peer
	// that sends anything else before Message is called.
	Message(payload []byte) error
	// Closed is called once when the connection ends.
	Closed()
}

// ChokeStatter is implemented by handlers that take part in choking, as
// btt_speed does with bids and credit: ChokeStat fills in the peer's
// snapshot before each rechoke, and Decided receives the outcome.
type ChokeStatter interface {
	ChokeStat(ps *choker.PeerStat)
	Decided(o choker.Outcome, clearing btt.Amount)
}

// InterestObserver is implemented by handlers that act when we come to
// want data from their peer, or stop wanting it, as btt_speed's buyer does
// by bidding at once rather than at its next rechoke when a download that
// wanted nothing the peer has (its files at PiecePriorityNone, say) comes
// to want something. Interested is called on the torrent's loop, after the
// interested or not interested message is queued.
type InterestObserver interface {
	Interested(want bool)
}

// ServeGate is implemented by handlers that may hold back uploads to their
// peer, as btt_speed does with a payer at its credit. MayServe is asked
// before block b is queued for the peer; Hold keeps the request back, in
// order, until the handler calls ExtPeer.ServeHeld (after a payment, say),
// when MayServe is asked again. Held requests count against
// Config.MaxQueuedRequests; a choke or a cancel ends them as it ends
// queued ones.
type ServeGate interface {
	MayServe(b piece.Block) Verdict
}

// Verdict is a ServeGate's answer for one requested block.
type Verdict uint8

const (
	// Hold keeps the request back until ExtPeer.ServeHeld.
	Hold Verdict = iota
	// Serve queues the block.
	Serve
	// ServeFree queues the block and, once it is sent, counts its bytes
	// in ExtPeer.UploadedFree as well as in Uploaded: btt_speed serves
	// again, without charging, a piece its payer has paid for before.
	ServeFree
)

// String returns the verdict's name.
func (v Verdict) String() string {
	switch v {
	case Hold:
		return "hold"
	case Serve:
		return "serve"
	case ServeFree:
		return "serve-free"
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// PieceObserver is implemented by handlers that want to know when a piece
// their peer sent blocks of passed its hash check, and how many of its bytes
// came from the peer — what btt_speed pays for. Pieces that fail are never
// reported.
type PieceObserver interface {
	PieceVerified(piece int, bytes int64)
}

// Busy is implemented by handlers that may have work in flight for their
// peer (btt_speed: a voucher being signed). The engine keeps a connection it
// would otherwise close as pointless (both sides seeding) until no handler
// is busy.
type Busy interface {
	Busy() bool
}

// Settler is implemented by handlers that may have work for their peer
// that closing must not lose (btt_speed: a voucher due, being signed, or
// signed and not yet sent: the seller is owed it). Closing a torrent asks
// each such handler, on the loop, until none is unsettled, for at most
// Config.CloseTimeout; the connections whose handlers were unsettled then
// close only once they have sent what is queued for them.
type Settler interface {
	// Unsettled reports whether the handler still has such work. It may
	// start it (say, sign what is due). A handler that sends its peer
	// something in Unsettled reports true that time, so that the
	// connection is among those that send what is queued before closing.
	Unsettled() bool
}

// ExtPeer is what an extension handler can do with its peer. The methods
// of the embedded ConcurrentExtPeer are safe from any goroutine. The
// others read or change the torrent's loop state and must be called on
// its loop: from a handler method, or in a function run with Do or Post.
type ExtPeer interface {
	ConcurrentExtPeer
	// RequestRechoke asks for a rechoke soon (say, after a new bid).
	RequestRechoke()
	// PeerHas reports whether the peer has announced piece i.
	PeerHas(i int) bool
	// Requested is the payload we have asked the peer for and not yet
	// received, in whole blocks: what it may have sent, or be about to
	// send, that Downloaded does not count yet.
	Requested() int64
	// ServeHeld serves, in order, the requests a ServeGate held back
	// that it now allows; it stops at the first it still holds.
	ServeHeld()
	// Do runs f on the torrent's loop and waits until it has run. It
	// reports whether f ran: false once the torrent has stopped, and f
	// then never runs. It is how work started with Go brings its results
	// back; while the torrent stops, such functions still run, so that
	// no result is lost, until its goroutines (which end with their ctx)
	// have. It waits for a loop, so it is for goroutines that are no
	// torrent's loop: on a loop (this torrent's or another's) use Post.
	Do(f func()) bool
}

// ConcurrentExtPeer is the part of ExtPeer that is safe for concurrent
// use from any goroutine: an extension's own goroutines (Go), the loop of
// another torrent, or the application's.
type ConcurrentExtPeer interface {
	// ID is the peer's id in the torrent (what the choker sees).
	ID() PeerID
	// Addr is the peer's address.
	Addr() netip.AddrPort
	// Torrent is the torrent the peer is connected for (whose exported
	// methods say where each may be called).
	Torrent() *Torrent
	// Send queues a message of this extension to the peer; it never
	// blocks.
	Send(payload []byte)
	// Close drops the peer with err.
	Close(err error)
	// Uploaded and Downloaded are the payload bytes sent to and received
	// from the peer on this connection.
	Uploaded() int64
	Downloaded() int64
	// UploadedFree is the part of Uploaded sent for blocks a ServeGate
	// passed with ServeFree.
	UploadedFree() int64
	// Go runs f in a new goroutine that ends with the torrent (its ctx is
	// cancelled then); f reports back through Do. It is for chain calls,
	// which must never run on the loop. It reports whether it started f:
	// false once the torrent is stopping.
	Go(f func(ctx context.Context)) bool
	// Post queues f to run on the torrent's loop and returns at once. It
	// reports whether f will run: true means f runs exactly once, on the
	// loop (in the order posted, before the torrent's connections are
	// dropped when it stops); false, that the torrent has stopped and f
	// never runs. It is how one torrent's loop wakes a peer of another.
	// Like Do's, f may run after the peer's connection has closed
	// (ExtHandler.Closed): it checks if that matters.
	Post(f func()) bool
}

// unsettled reports whether a handler of the connection has work its peer
// is owed (Settler).
func (c *conn) unsettled() bool {
	for _, h := range c.ls.handlers {
		if s, ok := h.(Settler); ok && s.Unsettled() {
			return true
		}
	}
	return false
}

func (c *conn) busy() bool {
	for _, h := range c.ls.handlers {
		if b, ok := h.(Busy); ok && b.Busy() {
			return true
		}
	}
	return false
}
