package peer

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/piece"
)

// fuzzTorrent is a torrent with its info and storage but no loop running,
// so a test can call the loop's handlers directly.
func fuzzTorrent(tb testing.TB) (*Torrent, *conn) {
	tb.Helper()
	dir := tb.TempDir()
	data := make([]byte, 5*16<<10+100)
	_, _ = rand.Read(data)
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	info := metainfo.Info{PieceLength: 32 << 10}
	if err := info.BuildFromFilePath(path); err != nil {
		tb.Fatal(err)
	}
	ib, _ := bencode.Marshal(info)
	cl, err := NewClient(Config{NoListen: true, DataDir: dir})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cl.Close() })
	policy, _ := choker.NewTitForTat(choker.TitForTatConfig{})
	t := newTorrent(cl, metainfo.HashBytes(ib), TorrentSpec{Dir: dir}, policy)
	st, err := t.openStorage(&info)
	if err != nil {
		tb.Fatal(err)
	}
	if err := t.start(&info, ib, st); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { t.cancel(); t.disk.close(); t.wg.Wait(); st.Close() })
	a, b := net.Pipe()
	tb.Cleanup(func() { a.Close(); b.Close() })
	c := newConn(t, a, false, handshakeResult{ext: ourExtensions(true)})
	c.id = 1
	c.ls = loopPeer{amChoking: true, peerChoking: true, connectedAt: time.Now()}
	t.conns[c.id] = c
	t.picker.AddPeer(1, t.picker.Have())
	return t, c
}

// FuzzDecode feeds arbitrary bytes through anacrolix's decoder and our
// message dispatch: nothing may panic; bad input ends in an error.
func FuzzDecode(f *testing.F) {
	seeds := [][]byte{
		{0, 0, 0, 1, 2},             // interested
		{0, 0, 0, 5, 4, 0, 0, 0, 1}, // have 1
		{0, 0, 0, 2, 5, 0xf8},       // bitfield
		{0, 0, 0, 1, 14},            // have all
		{0, 0, 0, 13, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0},  // request
		{0, 0, 0, 13, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0}, // reject
		append([]byte{0, 0, 0, 14, 20, 0}, []byte("d1:md1:ai1eee")...),
		append([]byte{0, 0, 0, 28, 20, 1}, []byte("d8:msg_typei0e5:piecei0ee")...),
		append([]byte{0, 0, 0, 9 + 4, 7, 0, 0, 0, 0, 0, 0, 0, 0}, 1, 2, 3, 4),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(tb *testing.T, in []byte) {
		t, c := fuzzTorrent(tb)
		d := pp.Decoder{R: bufio.NewReader(bytes.NewReader(in)), Pool: &blockPool, MaxLength: maxMessageLength}
		for i := 0; i < 64; i++ {
			var m pp.Message
			if err := d.Decode(&m); err != nil {
				return
			}
			if m.Keepalive {
				continue
			}
			if m.Type == pp.Extended && checkExtended(m.ExtendedID, m.ExtendedPayload) != nil {
				return // the reader closes the connection: as readLoop does
			}
			if err := t.onMessage(c, m); err != nil {
				return
			}
		}
	})
}

// FuzzLoadTorrent feeds arbitrary bytes to the .torrent and magnet loaders
// as AddTorrent uses them: a clear error or a torrent whose info passes the
// path checks, never a panic.
func FuzzLoadTorrent(f *testing.F) {
	f.Add([]byte("d4:infod6:lengthi1e4:name1:a12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee"), "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567")
	f.Add([]byte("d4:infod5:filesld6:lengthi1e4:pathl2:..1:xeee4:name1:a12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee"), "magnet:?xt=urn:btih:zz")
	f.Add([]byte("le"), "magnet:?dn=x&x.pe=127.0.0.1:1")
	f.Fuzz(func(t *testing.T, torrent []byte, magnet string) {
		if mi, _, err := (TorrentSpec{TorrentBytes: torrent}).load(); err == nil {
			if info, err := mi.UnmarshalInfo(); err == nil {
				_ = piece.CheckInfo(&info)
			}
		}
		_, _, _ = (TorrentSpec{Magnet: magnet}).load()
	})
}
