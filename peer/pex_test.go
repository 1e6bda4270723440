package peer_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/anacrolix/dht/v2/krpc"
	"github.com/anacrolix/torrent/bencode"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
)

// pexHandshake is the extended handshake of a raw peer that speaks ut_pex
// as its extension 1 and takes connections on port.
func pexHandshake(t *testing.T, port int) []byte {
	return extMsg(0, bencoded(t, map[string]any{"m": map[string]int{"ut_pex": 1}, "p": port}))
}

// theirExtID reads messages from the raw peer's target until its extended
// handshake, and returns its number for name.
func theirExtID(t *testing.T, r *rawPeer, name string) byte {
	t.Helper()
	_ = r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer r.c.SetReadDeadline(time.Time{})
	for {
		var m pp.Message
		require.NoError(t, r.d.Decode(&m))
		if m.Type != pp.Extended || m.ExtendedID != 0 {
			continue
		}
		var hs pp.ExtendedHandshakeMessage
		require.NoError(t, bencode.Unmarshal(m.ExtendedPayload, &hs))
		return byte(hs.M[pp.ExtensionName(name)])
	}
}

// A leecher given only a peer that has nothing finds a seeder through that
// peer's exchange, and downloads from it: the seeder's address reaches the
// empty peer only as the listening port ("p") a peer connected to it
// named.
func TestPEXFindsSeeder(t *testing.T) {
	f := newFixture(t, 4<<20+11, 256<<10)
	hub := newClient(t, nil)
	// The hub wants nothing: it learns the seeder's address too (from
	// the same "p"), and, wanting the torrent, fetched pieces from it and
	// passed them on (CI, once), so the leecher's data came partly
	// through it.
	ht, err := hub.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: t.TempDir(),
		FilePriority: func(int, string) peer.PiecePriority { return peer.PiecePriorityNone }})
	require.NoError(t, err)
	seeder := newClient(t, nil)
	seedCopy(t, seeder, f)

	// A peer connected to the hub says it takes connections on the
	// seeder's port (the same IP).
	r := dialRawID(t, hub.Addr().String(), f.mi.HashInfoBytes(), true, true, "-RAW001-"+randomSuffix())
	r.write(pexHandshake(t, int(seeder.Addr().Port())))

	leecher := newClient(t, nil)
	dir := t.TempDir()
	tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{hub.Addr()}})
	require.NoError(t, err)
	waitDone(t, tor, 30*time.Second)
	requireSameFile(t, f, dir)
	assert.True(t, tor.Knows(seeder.Addr()))
	ps, err := ht.Peers(context.Background())
	require.NoError(t, err)
	for _, p := range ps {
		assert.Zero(t, p.Uploaded, "the hub had nothing to give")
	}
}

// PEX is off for a private torrent: not offered, and nothing learned.
func TestPEXOffForPrivate(t *testing.T) {
	f := newPrivateFixture(t, 1<<20, 256<<10)
	s := newClient(t, nil)
	seed(t, s, f)
	r := dialRawID(t, s.Addr().String(), f.mi.HashInfoBytes(), true, true, "-RAW001-"+randomSuffix())
	r.write(pexHandshake(t, 6881))
	assert.Zero(t, theirExtID(t, r, "ut_pex"), "ut_pex offered on a private torrent")
}

func newPrivateFixture(t *testing.T, size, pieceLen int64) *fixture {
	f := newFixture(t, size, pieceLen)
	priv := true
	f.info.Private = &priv
	f.mi.InfoBytes = bencoded(t, f.info)
	return f
}

// A peer that sends a PEX of 10,000 peers, and another right after, adds
// at most pexMaxDelta candidates.
func TestHostilePEXFlood(t *testing.T) {
	f := newFixture(t, 1<<20, 256<<10)
	cl := newClient(t, nil)
	tor, err := cl.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: t.TempDir()})
	require.NoError(t, err)
	r := dialRawID(t, cl.Addr().String(), f.mi.HashInfoBytes(), true, true, "-RAW001-"+randomSuffix())
	r.write(pexHandshake(t, 1))
	id := theirExtID(t, r, "ut_pex")
	require.NotZero(t, id)
	for _, n := range []int{10000, 3000, 3000} {
		var m pp.PexMsg
		for i := range n {
			m.Added = append(m.Added, krpc.NodeAddr{IP: net.IPv4(127, 1, byte(i>>8), byte(i)).To4(), Port: 1 + i%60000})
		}
		r.write(extMsg(id, bencoded(t, &m)))
	}
	// The connection stays (a flood is ignored, not punished) and the
	// candidates stay bounded.
	expectOpen(t, r.c, 300*time.Millisecond)
	assert.LessOrEqual(t, tor.KnownPeers(), peer.PEXMaxDelta)
}
