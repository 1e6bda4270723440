package peer

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"

	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/peer/discovery"
)

// recordExt is an extension that takes every peer and keeps nothing: the
// fuzz targets use it so that Attach sees the handshake's raw keys.
type recordExt struct{ keys int }

func (*recordExt) Name() string                          { return "fuzz_ext" }
func (*recordExt) HandshakeKeys(*Torrent) map[string]any { return map[string]any{"fz": 1} }
func (r *recordExt) Attach(_ ExtPeer, hs map[string]bencode.Bytes) (ExtHandler, error) {
	r.keys = len(hs)
	return recordHandler{}, nil
}

type recordHandler struct{}

func (recordHandler) Message([]byte) error { return nil }
func (recordHandler) Closed()              {}

// fuzzConn adds a connection to a torrent whose loop is not running.
func fuzzConn(tb testing.TB, t *Torrent, id PeerID) *conn {
	a, b := net.Pipe()
	tb.Cleanup(func() { a.Close(); b.Close() })
	c := newConn(t, a, false, handshakeResult{ext: ourExtensions(true), peerID: [20]byte{byte(id), byte(id >> 8)}})
	c.id = id
	c.ls = loopPeer{amChoking: true, peerChoking: true, connectedAt: time.Now()}
	t.conns[id] = c
	return c
}

// FuzzExtendedHandshake feeds arbitrary payloads to the engine's BEP 10
// handshake parsing (with an extension attached, as btt_speed is): an
// error or a handshake whose recorded names stay bounded, never a panic.
func FuzzExtendedHandshake(f *testing.F) {
	for _, s := range []string{
		"d1:md11:ut_metadatai3e8:fuzz_exti4ee13:metadata_sizei1234e1:v5:hello4:reqqi250e1:pi6881ee",
		"d1:md11:ut_metadatai0e8:fuzz_exti-1eee",
		"d1:md8:fuzz_exti300eee",
		"d1:mdee",
		"d1:mli1eee",
		"d13:metadata_sizei99999999999ee",
		"le",
		"i5e",
		"d1:md1:a1:xee",
	} {
		f.Add([]byte(s))
	}
	ext := &recordExt{}
	cl, err := NewClient(Config{NoListen: true, DataDir: f.TempDir(), Extensions: []Extension{ext}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { cl.Close() })
	policy, _ := choker.NewTitForTat(choker.TitForTatConfig{})
	tor := newTorrent(cl, [20]byte{7}, TorrentSpec{Dir: f.TempDir()}, policy)
	var next PeerID
	f.Fuzz(func(t *testing.T, payload []byte) {
		next++
		c := fuzzConn(t, tor, next)
		defer delete(tor.conns, c.id)
		if err := tor.onExtendedHandshake(c, payload); err != nil {
			return
		}
		if n := len(c.ls.extIDs); n > 2+maxPeerExtensions {
			t.Fatalf("%d extension names kept", n)
		}
		if c.ls.metadataSize < 0 || c.ls.metadataSize > maxMetadataSize {
			t.Fatalf("metadata size %d kept", c.ls.metadataSize)
		}
		if err := tor.onExtendedHandshake(c, payload); err == nil {
			t.Fatal("a second extended handshake was accepted")
		}
	})
}

// FuzzMetadata feeds arbitrary ut_metadata messages to a torrent fetching
// its info (a magnet link) and to one serving it: errors, rejects or
// pieces, never a panic, never more answers than asked for, never an info
// that does not hash to the info hash.
func FuzzMetadata(f *testing.F) {
	msg := func(s string) []byte {
		return binary.BigEndian.AppendUint16(nil, uint16(len(s)))
	}
	seed := func(parts ...string) []byte {
		var b []byte
		for _, p := range parts {
			b = append(append(b, msg(p)...), p...)
		}
		return b
	}
	f.Add(seed("d8:msg_typei0e5:piecei0ee"), true)
	f.Add(seed("d8:msg_typei0e5:piecei562949953421312ee", "d8:msg_typei0e5:piecei-1ee"), true)
	f.Add(seed("d8:msg_typei1e5:piecei0e10:total_sizei3eeabc", "d8:msg_typei2e5:piecei0ee"), false)
	f.Add(seed("d8:msg_typei1e5:piecei1e10:total_sizei40000eexyz", "d8:msg_typei9ee", "x"), false)
	serving, _ := fuzzTorrent(f)
	cl, err := NewClient(Config{NoListen: true, RequestTimeout: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { cl.Close() })
	policy, _ := choker.NewTitForTat(choker.TitForTatConfig{})
	var next PeerID
	f.Fuzz(func(t *testing.T, in []byte, serve bool) {
		tor := serving
		if !serve {
			// A fresh magnet torrent, fetching from a peer that says
			// the info is 40,000 bytes.
			tor = newTorrent(cl, [20]byte{9}, TorrentSpec{Dir: t.TempDir()}, policy)
			defer tor.cancel()
		}
		next++
		c := fuzzConn(t, tor, next)
		defer delete(tor.conns, c.id)
		c.ls.metadataID = 3
		if !serve {
			c.ls.metadataSize = 40_000
			tor.requestMetadata()
			takeFuzzQueue(c)
		}
		asked := 0
		for len(in) >= 2 {
			n := int(binary.BigEndian.Uint16(in))
			in = in[2:]
			if n > len(in) {
				n = len(in)
			}
			payload := in[:n]
			in = in[n:]
			if m, _, err := decodeMetadataMsg(payload); err == nil && m.Type == 0 {
				asked++
			}
			if err := tor.onMetadata(c, payload); err != nil {
				return
			}
		}
		if q := takeFuzzQueue(c); q > asked {
			t.Fatalf("%d answers to %d requests", q, asked)
		}
		if tor.picker != nil && tor != serving {
			t.Fatal("an info that cannot hash to the info hash was taken")
		}
	})
}

// takeFuzzQueue empties a connection's queue and returns how many messages
// it held.
func takeFuzzQueue(c *conn) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.queue)
	c.queue, c.queuedBytes = c.queue[:0], 0
	return n
}

// FuzzMagnet feeds arbitrary magnet links to the loader and to what
// AddTorrent makes of their trackers and peers (without dialing anything):
// an error or a v1 info hash, never a panic.
func FuzzMagnet(f *testing.F) {
	for _, s := range []string{
		"magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=x&tr=udp%3A%2F%2F127.0.0.1%3A1%2Fannounce&x.pe=127.0.0.1:6881",
		"magnet:?xt=urn:btih:AEBAGBAFAYDQQCIKBMGA2DQPCAIREEYU",
		"magnet:?xt=urn:btmh:1220caf1e1c30e81cb361b9ee167c4aa64228a7fa4fa9f6105232b28ad099f3a302e",
		"magnet:?xt=urn:btih:zz&tr=gopher://x&x.pe=[::1]:1&x.pe=300.1.1.1:5",
		"magnet:?",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, m, err := TorrentSpec{Magnet: s}.load()
		if err != nil {
			return
		}
		if !m.InfoHash.Ok {
			t.Fatal("a magnet link without a v1 info hash was taken")
		}
		for _, tr := range m.Trackers {
			_, _ = discovery.NewTracker(tr, discovery.TrackerConfig{})
		}
		for _, p := range m.Params["x.pe"] {
			_, _ = netip.ParseAddrPort(p)
		}
	})
}
