package peer

import (
	"fmt"

	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/bttspeed/bttspeed/peer/discovery/bencheck"
)

// maxMetadataMessage bounds a ut_metadata message's payload: one
// metadata piece (16 KiB) and the dict before it, which is under 100 bytes.
// A longer one is refused from its header.
const maxMetadataMessage = metadataPiece + 1<<10

// checkExtended vets a BEP 10 message on the connection's reader, before
// anything decodes it and before it reaches the torrent's loop: its
// payload must be one bencoded value, framed right and nested at most
// bencheck.MaxDepth deep (anacrolix's decoder recurses once per level: a
// 128 KiB message of nested lists cost 16 MiB of stack and 10–20 ms of
// the loop). A ut_metadata message is a dict followed, in a data message,
// by the piece's raw bytes: the dict is scanned, the bytes after it are
// not. Every message is checked, whoever it is for, an extension's
// included.
func checkExtended(id pp.ExtensionNumber, payload []byte) error {
	var err error
	if id == localMetadataID {
		_, err = bencheck.Value(payload)
	} else {
		err = bencheck.Check(payload)
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrProtocol, extName(id), err)
	}
	return nil
}

// extName names a BEP 10 message by our number for it, for errors.
func extName(id pp.ExtensionNumber) string {
	switch id {
	case 0:
		return "extended handshake"
	case localMetadataID:
		return "ut_metadata message"
	}
	return fmt.Sprintf("extended message %d", id)
}
