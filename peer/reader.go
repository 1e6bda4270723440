package peer

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"
)

// readLoop decodes messages and posts them to the torrent's loop.
func (c *conn) readLoop() {
	r := bufio.NewReaderSize(c.nc, smallBuffer)
	d := pp.Decoder{R: r, Pool: &blockPool, MaxLength: maxMessageLength}
	idle := c.t.cl.cfg.IdleTimeout
	var lastDeadline time.Time
	// msg is decoded into through a pointer, so it lives on the heap:
	// one for the connection, not one per message (64 Ki of them, 8.5
	// MB, per GiB downloaded). Each message starts from the zero value;
	// what is posted is a copy.
	var msg pp.Message
	for {
		if now := time.Now(); now.Sub(lastDeadline) > time.Second {
			_ = c.nc.SetReadDeadline(now.Add(idle))
			lastDeadline = now
		}
		if err := c.checkLength(r); err != nil {
			c.close(err)
			return
		}
		msg = pp.Message{}
		err := d.Decode(&msg)
		if err != nil {
			c.close(readErr(err))
			return
		}
		if msg.Keepalive {
			continue
		}
		if msg.Type == pp.Extended {
			if err := checkExtended(msg.ExtendedID, msg.ExtendedPayload); err != nil {
				c.close(err)
				return
			}
		}
		ev := event{kind: evMsg, c: c, msg: msg}
		if msg.Type == pp.Piece {
			c.downloaded.Add(int64(len(msg.Piece)))
			if !c.throttleDown(len(msg.Piece)) {
				putBlock(msg.Piece)
				return
			}
			if r.Size() < bigBuffer {
				r = growReader(r, c.nc)
				d.R = r
			}
		}
		if !c.t.postFromConn(ev, c) {
			if msg.Type == pp.Piece {
				putBlock(msg.Piece)
			}
			return
		}
		if msg.Type == pp.Piece {
			// Read no more blocks while the disk is behind.
			if dq := c.disk.Load(); dq != nil && !dq.waitRoom(c.closed, c.t.ctx.Done()) {
				return
			}
		}
	}
}

// maxExtendedLength bounds a BEP 10 message: a metadata piece (16 KiB)
// with its dictionary, an extended handshake, btt_speed's messages (4 KiB
// at most) all fit with room to spare.
const maxExtendedLength = 128 << 10

// lengthLimit returns the longest message of type typ we accept now.
func (c *conn) lengthLimit(typ pp.MessageType) uint32 {
	switch typ {
	case pp.Bitfield:
		n := maxEarlyPieces
		if st := c.t.storage(); st != nil {
			n = st.Layout().NumPieces()
		}
		return uint32(1 + (n+7)/8)
	case pp.Extended:
		return maxExtendedLength
	}
	return maxMessageLength
}

// checkLength looks at the next message's header without consuming it, and
// refuses a message longer than its type allows before the decoder
// allocates for it: the decoder would take a bitfield of up to
// maxMessageLength bytes and make it eight times larger as bools. A
// ut_metadata message (our number 1) longer than a piece and its dict is
// refused too.
func (c *conn) checkLength(r *bufio.Reader) error {
	hdr, err := r.Peek(4)
	if err != nil {
		return readErr(err)
	}
	length := binary.BigEndian.Uint32(hdr)
	if length == 0 {
		return nil // a keep-alive
	}
	if hdr, err = r.Peek(5); err != nil {
		return readErr(err)
	}
	typ := pp.MessageType(hdr[4])
	if limit := c.lengthLimit(typ); length > limit {
		return fmt.Errorf("%w: %v message too long: %d bytes, at most %d", ErrProtocol, typ, length, limit)
	}
	if typ == pp.Extended && length > 2+maxMetadataMessage {
		if hdr, err = r.Peek(6); err != nil {
			return readErr(err)
		}
		if pp.ExtensionNumber(hdr[5]) == localMetadataID {
			return fmt.Errorf("%w: ut_metadata message too long: %d bytes, at most %d", ErrProtocol, length-2, maxMetadataMessage)
		}
	}
	return nil
}

// growReader returns a bigBuffer reader that goes on where r left off.
func growReader(r *bufio.Reader, nc net.Conn) *bufio.Reader {
	rest, _ := r.Peek(r.Buffered()) // already buffered: cannot fail
	return bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(rest)), nc), bigBuffer)
}

func readErr(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return fmt.Errorf("%w: %v", ErrClosed, err)
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%w: no message", ErrTimeout)
	}
	return fmt.Errorf("%w: %v", ErrProtocol, err)
}
