package peer_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/peer"
)

// TestSwarm: one seeder with a single upload slot and five leechers of
// ours that all know each other. The leechers must trade pieces among
// themselves to finish.
func TestSwarm(t *testing.T) {
	f := newFixture(t, 8<<20, 64<<10)
	oneSlot := func(cfg *peer.Config) {
		cfg.Policy = func() (choker.Policy, error) {
			return choker.NewTitForTat(choker.TitForTatConfig{Slots: 1, OptimisticSlots: 1})
		}
		cfg.RechokeInterval = time.Second
	}
	seeder := newClient(t, oneSlot)
	seedTor := seed(t, seeder, f)
	var leechers []*peer.Client
	var torrents []*peer.Torrent
	var dirs []string
	for i := 0; i < 5; i++ {
		leechers = append(leechers, newClient(t, func(c *peer.Config) { c.RechokeInterval = time.Second }))
	}
	for i, cl := range leechers {
		peers := []netip.AddrPort{seeder.Addr()}
		for j, o := range leechers {
			if j != i {
				peers = append(peers, o.Addr())
			}
		}
		dir := t.TempDir()
		tor, err := cl.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: peers})
		require.NoError(t, err)
		torrents = append(torrents, tor)
		dirs = append(dirs, dir)
	}
	var downloaded int64
	for i, tor := range torrents {
		waitDone(t, tor, 90*time.Second)
		requireSameFile(t, f, dirs[i])
		st, err := tor.Stats(context.Background())
		require.NoError(t, err)
		downloaded += st.Downloaded
	}
	st, err := seedTor.Stats(context.Background())
	require.NoError(t, err)
	fromLeechers := downloaded - st.Uploaded
	t.Logf("leechers downloaded %d bytes, the seeder uploaded %d: %d came from other leechers", downloaded, st.Uploaded, fromLeechers)
	assert.Greater(t, fromLeechers, f.info.TotalLength(), "leechers got pieces from each other")
}

// TestMagnet: a leecher starts from a magnet link alone and fetches the
// info dictionary (BEP 9) from the seeder.
func TestMagnet(t *testing.T) {
	f := newFixture(t, 1<<20+3, 32<<10)
	seeder := newClient(t, nil)
	seed(t, seeder, f)
	leecher := newClient(t, nil)
	dir := t.TempDir()
	magnet := fmt.Sprintf("magnet:?xt=urn:btih:%s&dn=%s&x.pe=%s", f.mi.HashInfoBytes().HexString(), f.name, seeder.Addr())
	tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{Magnet: magnet, Dir: dir})
	require.NoError(t, err)
	select {
	case <-tor.GotInfo():
	case <-time.After(30 * time.Second):
		t.Fatal("no metadata")
	}
	info, err := tor.Info(context.Background())
	require.NoError(t, err)
	assert.Equal(t, f.info.TotalLength(), info.TotalLength())
	waitDone(t, tor, 30*time.Second)
	requireSameFile(t, f, dir)
}

// TestResume: a leecher stops halfway (its only seeder has half the data),
// restarts, and fetches only what it had not verified.
func TestResume(t *testing.T) {
	const pieceLen = 64 << 10
	f := newFixture(t, 32*pieceLen, pieceLen)
	// A half seeder: the same torrent with only the first half on disk.
	half := t.TempDir()
	src, err := os.ReadFile(filepath.Join(f.dir, f.name))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(half, f.name), src[:16*pieceLen], 0o644))
	hs := newClient(t, nil)
	_, err = hs.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: half, Verify: true})
	require.NoError(t, err)

	dir := t.TempDir()
	first := newClient(t, nil)
	tor, err := first.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{hs.Addr()}})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st, err := tor.Stats(context.Background())
		return err == nil && st.PiecesDone == 16
	}, 30*time.Second, 20*time.Millisecond)
	require.NoError(t, first.Close())

	full := newClient(t, nil)
	seed(t, full, f)
	second := newClient(t, nil)
	// No peer until the count is read: from a seeder on loopback the
	// rest can come before it is (24 of 32 once in CI).
	tor, err = second.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir})
	require.NoError(t, err)
	st, err := tor.Stats(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 16, st.PiecesDone, "verified pieces are remembered")
	tor.AddPeers(full.Addr())
	waitDone(t, tor, 30*time.Second)
	st, err = tor.Stats(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(16*pieceLen), st.Downloaded, "only the missing half is fetched again")
	requireSameFile(t, f, dir)
}

// hostilePeer is a seeder that claims every piece and answers requests
// with random bytes.
type hostilePeer struct {
	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	closed int // connections the victim closed
}

func startHostile(t *testing.T, f *fixture) *hostilePeer {
	// An address of its own: a ban covers the whole address, and the
	// honest peers are on 127.0.0.1.
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	require.NoError(t, err)
	h := &hostilePeer{ln: ln}
	ih := f.mi.HashInfoBytes()
	n := f.info.NumPieces()
	h.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.wg.Go(func() {
				defer c.Close()
				var hs [68]byte
				if _, err := io.ReadFull(c, hs[:]); err != nil {
					return
				}
				copy(hs[28:48], ih[:])
				copy(hs[48:], "-XX0000-hostilepeer!")
				hs[20+7] = 0 // no extensions
				hs[20+5] = 0
				_, _ = c.Write(hs[:])
				bf := make([]byte, (n+7)/8)
				for i := 0; i < n; i++ {
					bf[i/8] |= 0x80 >> (i % 8)
				}
				w := bufio.NewWriter(c)
				msg := func(typ byte, payload []byte) {
					_ = binary.Write(w, binary.BigEndian, uint32(1+len(payload)))
					_ = w.WriteByte(typ)
					_, _ = w.Write(payload)
				}
				msg(byte(pp.Bitfield), bf)
				msg(byte(pp.Unchoke), nil)
				_ = w.Flush()
				d := pp.Decoder{R: bufio.NewReader(c), MaxLength: 1 << 20}
				junk := make([]byte, 16<<10)
				for {
					var m pp.Message
					if err := d.Decode(&m); err != nil {
						h.mu.Lock()
						h.closed++
						h.mu.Unlock()
						return
					}
					if m.Type != pp.Request {
						continue
					}
					_, _ = rand.Read(junk)
					payload := binary.BigEndian.AppendUint32(nil, uint32(m.Index))
					payload = binary.BigEndian.AppendUint32(payload, uint32(m.Begin))
					payload = append(payload, junk[:m.Length]...)
					msg(byte(pp.Piece), payload)
					_ = w.Flush()
				}
			})
		}
	})
	t.Cleanup(func() { ln.Close(); h.wg.Wait() })
	return h
}

func (h *hostilePeer) addr() netip.AddrPort { return netip.MustParseAddrPort(h.ln.Addr().String()) }

// TestCorruptPeerBanned: a peer that sends corrupt blocks is banned; nothing
// corrupt reaches the file, and the download completes from the honest
// seeder.
func TestCorruptPeerBanned(t *testing.T) {
	f := newFixture(t, 2<<20, 64<<10)
	bad := startHostile(t, f)
	honest := newClient(t, nil)
	seed(t, honest, f)

	leecher := newClient(t, nil)
	dir := t.TempDir()
	tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{bad.addr()}})
	require.NoError(t, err)
	// Give the liar a head start, then the honest seeder.
	require.Eventually(t, func() bool {
		bad.mu.Lock()
		defer bad.mu.Unlock()
		return bad.closed > 0
	}, 30*time.Second, 10*time.Millisecond, "the corrupt peer was dropped")
	tor.AddPeers(honest.Addr(), bad.addr())
	waitDone(t, tor, 60*time.Second)
	requireSameFile(t, f, dir)
	peers, err := tor.Peers(context.Background())
	require.NoError(t, err)
	for _, p := range peers {
		assert.NotEqual(t, bad.addr(), p.Addr, "the banned peer is not let back in")
	}
	bad.mu.Lock()
	assert.Equal(t, 1, bad.closed, "the banned peer was never redialed")
	bad.mu.Unlock()
}
