package peer

import (
	"net"
	"strings"
	"testing"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readerConn is a connection of torrent t whose reader runs, with no loop
// behind it: what the reader posts stays in t.events.
func readerConn(t *testing.T, tor *Torrent) (*conn, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	c := newConn(tor, a, false, handshakeResult{ext: ourExtensions(true)})
	c.id = 99
	done := make(chan struct{})
	go func() { c.readLoop(); close(done) }()
	t.Cleanup(func() { a.Close(); b.Close(); <-done })
	return c, b
}

// nestedLists is n lists, one inside the other.
func nestedLists(n int) string { return strings.Repeat("l", n) + strings.Repeat("e", n) }

// TestExtendedMessagesScanned: every BEP 10 message is scanned on the
// connection's reader, before any decoder or the torrent's loop sees it:
// one nested too deep, malformed, or (ut_metadata) longer than a metadata
// piece closes the connection with an error that says so, and nothing of
// it reaches the loop. A ut_metadata piece is a dict followed by raw bytes,
// which are not scanned.
func TestExtendedMessagesScanned(t *testing.T) {
	piece := strings.Repeat("l", metadataPiece) // raw piece bytes that look like nesting
	tests := []struct {
		name    string
		id      pp.ExtensionNumber
		payload string
		why     string // "" for accepted
	}{
		{"a handshake", 0, "d1:md11:ut_metadatai3eee", ""},
		{"a handshake 32 deep", 0, "d1:x" + nestedLists(31) + "e", ""},
		{"a ut_metadata piece", 1, "d8:msg_typei1e5:piecei0e10:total_sizei16384ee" + piece, ""},
		{"an extension's message", 2, "d1:t3:bid5:price1:5e", ""},

		{"a handshake 33 deep", 0, "d1:x" + nestedLists(32) + "e", "extended handshake: bencode nested too deep"},
		{"a handshake 60,000 deep (120 KiB)", 0, "d1:x" + nestedLists(60_000) + "e", "extended handshake: bencode nested too deep"},
		{"a ut_metadata dict nested too deep", 1, "d8:msg_typei1e1:x" + nestedLists(8000) + "e" + "abc", "ut_metadata message: bencode nested too deep"},
		{"an extension's message nested too deep", 2, "d1:t" + nestedLists(60_000) + "e", "extended message 2: bencode nested too deep"},
		{"a message for an extension we lack, nested too deep", 9, nestedLists(60_000), "extended message 9: bencode nested too deep"},
		{"a handshake that is not bencode", 0, "d1:m", "extended handshake: malformed bencode"},
		{"a handshake with bytes after it", 0, "d1:mdeeXX", "extended handshake: malformed bencode: 2 bytes after the value"},
		{"an extension's message that is not bencode", 2, "x", "extended message 2: malformed bencode"},
		{"a ut_metadata message longer than a piece and its dict", 1, "d8:msg_typei1e5:piecei0ee" + strings.Repeat("x", metadataPiece+1<<10), "ut_metadata message too long"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tor, _ := fuzzTorrent(t) // its loop does not run
			c, peerSide := readerConn(t, tor)
			go func() { _, _ = peerSide.Write(msgExtended(tc.id, []byte(tc.payload))) }()
			if tc.why == "" {
				select {
				case ev := <-tor.events:
					require.Equal(t, evMsg, ev.kind)
					assert.Equal(t, pp.Extended, ev.msg.Type)
					assert.Len(t, ev.msg.ExtendedPayload, len(tc.payload))
				case <-c.closed:
					t.Fatalf("closed: %v", c.Err())
				case <-time.After(10 * time.Second):
					t.Fatal("the message never reached the loop")
				}
				return
			}
			select {
			case <-c.closed:
			case <-time.After(10 * time.Second):
				t.Fatal("the connection stays open")
			}
			require.ErrorIs(t, c.Err(), ErrProtocol)
			assert.Contains(t, c.Err().Error(), tc.why)
			t.Logf("closed: %v", c.Err())
			for len(tor.events) > 0 {
				ev := <-tor.events
				assert.NotEqual(t, evMsg, ev.kind, "a message reached the loop: %v", ev.msg.Type)
			}
		})
	}
}
