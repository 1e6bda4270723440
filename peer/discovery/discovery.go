// Package discovery finds peers for a torrent: BitTorrent trackers (HTTP
// and UDP, through anacrolix/torrent's tracker client), the mainline DHT
// (anacrolix/dht/v2), and peers given by hand.
//
// Each is a Source. The peer engine runs a torrent's sources for the
// torrent's life; a source announces as it goes and hands the peers it finds
// to Announce.Found. Nothing here dials a public host unless the caller
// configures one: the DHT starts from no bootstrap nodes unless given some.
package discovery

import (
	"context"
	"errors"
	"net/netip"
)

// Stats is what a torrent reports when it announces: payload bytes
// uploaded and downloaded this session, and bytes left (-1 if unknown, as
// before a magnet link's info arrives).
type Stats struct {
	Uploaded, Downloaded, Left int64
}

// Announce is what a Source needs from the torrent it finds peers for.
type Announce struct {
	InfoHash [20]byte
	PeerID   [20]byte
	// Port is the port we accept peers on.
	Port int
	// Stats returns the torrent's current figures; it is called from the
	// source's goroutine and must be cheap and safe for concurrent use.
	Stats func() Stats
	// Found receives peers; it may block briefly.
	Found func([]netip.AddrPort)
}

// Source finds peers for one torrent. Run blocks until ctx ends or a fatal
// error; on the way out it tells the swarm we leave where the protocol has
// a way to ("stopped" to a tracker).
type Source interface {
	Run(ctx context.Context, a Announce) error
}

// Errors from sources.
var (
	ErrBadURL    = errors.New("discovery: bad tracker URL")
	ErrBadConfig = errors.New("discovery: invalid configuration")
	// ErrResponseTooLarge is an HTTP tracker's answer longer than
	// MaxTrackerResponse.
	ErrResponseTooLarge = errors.New("discovery: tracker response too large")
	// ErrBadResponse is a tracker's answer we cannot read: not bencode,
	// nested too deep, or a field of the wrong type.
	ErrBadResponse = errors.New("discovery: malformed tracker response")
	// ErrTrackerFailure is a tracker's refusal: a failure reason, or an
	// HTTP status other than 200.
	ErrTrackerFailure = errors.New("discovery: tracker failure")
)

// Manual is a Source of a fixed list of peers, given by hand.
type Manual []netip.AddrPort

// Run hands the peers over once and waits for ctx.
func (m Manual) Run(ctx context.Context, a Announce) error {
	if len(m) > 0 {
		a.Found(append([]netip.AddrPort(nil), m...))
	}
	<-ctx.Done()
	return nil
}
