package peer

import "errors"

// Errors the engine returns or closes connections with. Connection errors
// wrap one of these so a log line says why a peer was dropped.
var (
	ErrClosed          = errors.New("peer: closed")
	ErrConfig          = errors.New("peer: invalid configuration")
	ErrHandshake       = errors.New("peer: bad handshake")
	ErrUnknownTorrent  = errors.New("peer: unknown info hash")
	ErrProtocol        = errors.New("peer: protocol violation")
	ErrTooManyRequests = errors.New("peer: too many queued requests")
	ErrSlowPeer        = errors.New("peer: does not read what we send")
	ErrBanned          = errors.New("peer: banned for sending bad data")
	ErrTimeout         = errors.New("peer: timed out")
	ErrSelf            = errors.New("peer: connected to ourselves")
	ErrDuplicate       = errors.New("peer: duplicate connection")
	ErrLimit           = errors.New("peer: connection limit reached")
	ErrBadTorrent      = errors.New("peer: bad torrent")
	ErrExists          = errors.New("peer: torrent already added")
)
