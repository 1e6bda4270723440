package peer_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/peer"
)

// fixedPolicy unchokes exactly the peers it is told to (all or none).
type fixedPolicy struct{ unchoke bool }

func (p fixedPolicy) Rechoke(_ time.Time, s choker.Snapshot) choker.Decision {
	var d choker.Decision
	for _, ps := range s.Peers {
		d.Outcomes = append(d.Outcomes, choker.Outcome{ID: ps.ID, Unchoke: p.unchoke && ps.Interested, Slot: choker.Regular})
	}
	return d
}

// rawPeer is a minimal test peer speaking the wire protocol by hand.
type rawPeer struct {
	t  *testing.T
	c  net.Conn
	w  *bufio.Writer
	d  pp.Decoder
	ih [20]byte
}

func dialRaw(t *testing.T, addr string, ih [20]byte, fast bool, ltep ...bool) *rawPeer {
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	var hs [68]byte
	copy(hs[:], pp.Protocol)
	if fast {
		hs[20+7] |= 0x04
	}
	if len(ltep) > 0 && ltep[0] {
		hs[20+5] |= 0x10
	}
	copy(hs[28:48], ih[:])
	copy(hs[48:], "-XX0000-rawtestpeer!")
	_, err = c.Write(hs[:])
	require.NoError(t, err)
	_, err = io.ReadFull(c, hs[:])
	require.NoError(t, err)
	return &rawPeer{t: t, c: c, w: bufio.NewWriter(c), d: pp.Decoder{R: bufio.NewReader(c), MaxLength: 1 << 20}, ih: ih}
}

func (r *rawPeer) send(typ pp.MessageType, ints ...uint32) {
	_ = binary.Write(r.w, binary.BigEndian, uint32(1+4*len(ints)))
	_ = r.w.WriteByte(byte(typ))
	for _, i := range ints {
		_ = binary.Write(r.w, binary.BigEndian, i)
	}
	require.NoError(r.t, r.w.Flush())
}

// recv returns the next message of one of the types, skipping others,
// or fails after the timeout; ok is false on timeout.
func (r *rawPeer) recv(timeout time.Duration, types ...pp.MessageType) (pp.Message, bool) {
	_ = r.c.SetReadDeadline(time.Now().Add(timeout))
	defer r.c.SetReadDeadline(time.Time{})
	for {
		var m pp.Message
		if err := r.d.Decode(&m); err != nil {
			return m, false
		}
		for _, t := range types {
			if !m.Keepalive && m.Type == t {
				return m, true
			}
		}
	}
}

func TestChokingHonoured(t *testing.T) {
	f := newFixture(t, 64*(16<<10), 16<<10) // 64 pieces: more than the 10 allowed-fast
	tests := []struct {
		name        string
		unchoke     bool
		fast        bool
		allowedFast bool           // request a piece of the allowed-fast set
		want        pp.MessageType // what a request gets; 0xff: nothing
	}{
		{"choked, BEP 6: request rejected", false, true, false, pp.Reject},
		{"choked, BEP 6, allowed-fast piece: served", false, true, true, pp.Piece},
		{"choked, no BEP 6: request dropped", false, false, false, 0xff},
		{"unchoked: request served", true, true, false, pp.Piece},
		{"unchoked, no BEP 6: request served", true, false, false, pp.Piece},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cl := newClient(t, func(c *peer.Config) {
				c.Policy = func() (choker.Policy, error) { return fixedPolicy{unchoke: tc.unchoke}, nil }
				c.RechokeInterval = 100 * time.Millisecond
			})
			seed(t, cl, f)
			r := dialRaw(t, cl.Addr().String(), f.mi.HashInfoBytes(), tc.fast)
			allowed := map[uint32]bool{}
			if tc.fast {
				for len(allowed) < 10 {
					m, ok := r.recv(5*time.Second, pp.AllowedFast)
					require.True(t, ok, "allowed-fast set")
					allowed[uint32(m.Index)] = true
				}
			}
			req := uint32(0)
			for allowed[req] != tc.allowedFast {
				req++
			}
			r.send(pp.Interested)
			if tc.unchoke {
				_, ok := r.recv(5*time.Second, pp.Unchoke)
				require.True(t, ok, "unchoked")
			}
			r.send(pp.Request, req, 0, 16<<10)
			types := []pp.MessageType{pp.Piece, pp.Reject}
			m, ok := r.recv(time.Second, types...)
			if tc.want == 0xff {
				assert.False(t, ok, "no answer to a choked peer's request, got %v", m.Type)
				return
			}
			require.True(t, ok)
			assert.Equal(t, tc.want, m.Type)
			if m.Type == pp.Piece {
				assert.Len(t, m.Piece, 16<<10)
			}
		})
	}
}

// TestBadMessagesCloseTheConnection: protocol violations close the
// offending connection with an error, and the seeder carries on.
func TestBadMessagesCloseTheConnection(t *testing.T) {
	f := newFixture(t, 256<<10, 64<<10)
	cl := newClient(t, nil)
	seed(t, cl, f)
	ih := f.mi.HashInfoBytes()
	tests := []struct {
		name string
		raw  []byte
	}{
		{"oversized length prefix", []byte{0x7f, 0xff, 0xff, 0xff, 7}},
		{"unknown message type", []byte{0, 0, 0, 1, 99}},
		{"bitfield of the wrong size", []byte{0, 0, 0, 3, 5, 0xff, 0xff}},
		{"request out of range", append([]byte{0, 0, 0, 13, 6}, binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 99), 0), 16384)...)},
		{"have past the last piece", []byte{0, 0, 0, 5, 4, 0, 0, 1, 0}},
		{"piece data larger than a block", append([]byte{0, 0, 0x80, 0x09, 7, 0, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 0x8000)...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, cl.Addr().String(), ih, true)
			_, err := r.c.Write(tc.raw)
			require.NoError(t, err)
			_ = r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = io.Copy(io.Discard, r.c)
			// Closed: EOF, or a reset when our bytes were still unread.
			if err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("the seeder must close the connection, not hang: %v", err)
			}
		})
	}
	// The seeder still serves an honest leecher.
	leecher := newClient(t, nil)
	dir := t.TempDir()
	tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: nil})
	require.NoError(t, err)
	tor.AddPeers(cl.Addr())
	waitDone(t, tor, 30*time.Second)
	requireSameFile(t, f, dir)
}

// TestLateBitfieldTolerated: BEP 3 wants the bitfield first, but aria2
// sends one after have-none; it is taken as haves, not as a violation.
func TestLateBitfieldTolerated(t *testing.T) {
	f := newFixture(t, 8*(16<<10), 16<<10)
	cl := newClient(t, nil)
	seed(t, cl, f)
	r := dialRaw(t, cl.Addr().String(), f.mi.HashInfoBytes(), true)
	r.send(pp.HaveNone)
	r.send(pp.Interested)
	// bitfield: 8 pieces, piece 0 set
	_, err := r.c.Write([]byte{0, 0, 0, 2, byte(pp.Bitfield), 0x80})
	require.NoError(t, err)
	r.send(pp.Request, 0, 0, 16<<10)
	_, ok := r.recv(5*time.Second, pp.Piece, pp.Reject)
	assert.True(t, ok, "the connection survives and the request is answered")
}
