package peer

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/mse"
	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/bttspeed/bttspeed/piece"
)

// Limits on what a peer may send.
const (
	// maxMessageLength bounds every message but piece messages, whose
	// data must fit a 16 KiB block buffer: a bitfield of a million pieces
	// or an extension message with a metadata piece fits.
	maxMessageLength = 1 << 20
	// handshakeLen is BEP 3's handshake: pstrlen, pstr, reserved, info
	// hash, peer id.
	handshakeLen = 68
)

// Reserved bits we set.
func ourExtensions(fast bool) pp.PeerExtensionBits {
	var b pp.PeerExtensionBits
	b.SetBit(pp.ExtensionBitLtep, true)
	if fast {
		b.SetBit(pp.ExtensionBitFast, true)
	}
	return b
}

// handshakeResult is what a peer said in its handshake.
type handshakeResult struct {
	ext      pp.PeerExtensionBits
	infoHash metainfo.Hash
	peerID   [20]byte
	// crypto is the MSE method the stream runs with (plaintext or RC4
	// after an obfuscated handshake), 0 for a plaintext handshake.
	crypto mse.CryptoMethod
}

// writeHandshake writes our whole handshake.
func writeHandshake(w io.Writer, ext pp.PeerExtensionBits, ih metainfo.Hash, id [20]byte) error {
	var b [handshakeLen]byte
	copy(b[:], pp.Protocol)
	copy(b[20:28], ext[:])
	copy(b[28:48], ih[:])
	copy(b[48:68], id[:])
	_, err := w.Write(b[:])
	return err
}

// readHandshakeStart reads the protocol string, reserved bits and info hash.
// A peer that answers with anything but the BitTorrent protocol string is
// refused at the first byte (incoming connections go through
// acceptHandshake, which also takes MSE).
func readHandshakeStart(r io.Reader) (handshakeResult, error) {
	var res handshakeResult
	var b [48]byte
	if _, err := io.ReadFull(r, b[:1]); err != nil {
		return res, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	if b[0] != 19 {
		return res, fmt.Errorf("%w: %w (first byte %d)", ErrHandshake, errNotBitTorrent, b[0])
	}
	if _, err := io.ReadFull(r, b[1:]); err != nil {
		return res, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	if string(b[:20]) != pp.Protocol {
		return res, fmt.Errorf("%w: protocol string %q", ErrHandshake, b[1:20])
	}
	copy(res.ext[:], b[20:28])
	copy(res.infoHash[:], b[28:48])
	return res, nil
}

func readPeerID(r io.Reader) ([20]byte, error) {
	var id [20]byte
	if _, err := io.ReadFull(r, id[:]); err != nil {
		return id, fmt.Errorf("%w: peer id: %w", ErrHandshake, err)
	}
	return id, nil
}

// handshakeOutgoing runs our side of a handshake we initiated.
func handshakeOutgoing(ctx context.Context, nc net.Conn, ext pp.PeerExtensionBits, ih metainfo.Hash, id [20]byte) (handshakeResult, error) {
	stop := deadlineFromContext(ctx, nc)
	defer stop()
	if err := writeHandshake(nc, ext, ih, id); err != nil {
		return handshakeResult{}, fmt.Errorf("%w: write: %w", ErrHandshake, err)
	}
	res, err := readHandshakeStart(nc)
	if err != nil {
		return res, err
	}
	if res.infoHash != ih {
		return res, fmt.Errorf("%w: peer answered for info hash %s", ErrHandshake, res.infoHash.HexString())
	}
	res.peerID, err = readPeerID(nc)
	return res, err
}

// deadlineFromContext sets the connection's deadline from ctx and returns a
// function that clears it.
func deadlineFromContext(ctx context.Context, nc net.Conn) func() {
	if d, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	return func() {
		stop()
		_ = nc.SetDeadline(time.Time{})
	}
}

// Message encoding: append-style, with no reflection on the hot path.

func appendHeader(b []byte, length uint32, t pp.MessageType) []byte {
	b = binary.BigEndian.AppendUint32(b, length)
	return append(b, byte(t))
}

func msgSimple(t pp.MessageType) []byte { return appendHeader(nil, 1, t) }

func msgIndex(t pp.MessageType, i int) []byte {
	b := appendHeader(make([]byte, 0, 9), 5, t)
	return binary.BigEndian.AppendUint32(b, uint32(i))
}

func msgBlock(t pp.MessageType, blk piece.Block) []byte {
	b := appendHeader(make([]byte, 0, 17), 13, t)
	b = binary.BigEndian.AppendUint32(b, uint32(blk.Piece))
	b = binary.BigEndian.AppendUint32(b, blk.Begin)
	return binary.BigEndian.AppendUint32(b, blk.Length)
}

func msgBitfield(bf piece.Bitfield) []byte {
	raw := bf.Bytes()
	b := appendHeader(make([]byte, 0, 5+len(raw)), uint32(1+len(raw)), pp.Bitfield)
	return append(b, raw...)
}

func msgExtended(id pp.ExtensionNumber, payload []byte) []byte {
	b := appendHeader(make([]byte, 0, 6+len(payload)), uint32(2+len(payload)), pp.Extended)
	b = append(b, byte(id))
	return append(b, payload...)
}

// pieceHeader is the 13-byte header of a piece message carrying blk.
func pieceHeader(dst *[13]byte, blk piece.Block) {
	binary.BigEndian.PutUint32(dst[0:4], 9+blk.Length)
	dst[4] = byte(pp.Piece)
	binary.BigEndian.PutUint32(dst[5:9], uint32(blk.Piece))
	binary.BigEndian.PutUint32(dst[9:13], blk.Begin)
}

// bitfieldFromBools converts the decoder's []bool bitfield (8 bits per wire
// byte) to a piece.Bitfield of n pieces, checking length and spare bits.
func bitfieldFromBools(bools []bool, n int) (piece.Bitfield, error) {
	raw := make([]byte, len(bools)/8)
	for i, v := range bools {
		if v {
			raw[i/8] |= 0x80 >> (i % 8)
		}
	}
	return piece.BitfieldFromWire(raw, n)
}
