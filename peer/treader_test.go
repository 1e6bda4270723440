package peer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
)

// capped returns a Config modifier capping uploads at rate bytes/s.
func capped(rate int64) func(*peer.Config) {
	return func(c *peer.Config) { c.UploadRate = rate }
}

// TestReaderStreams: a reader of a file downloading from a rate-capped
// seeder returns exactly the file's bytes, with reads of odd sizes.
func TestReaderStreams(t *testing.T) {
	const pl = 64 << 10
	f := newMultiFixture(t, pl, 200<<10+11, 1<<20+5, 100<<10)
	seeder := f.seed(t, capped(4<<20))
	leecher := newClient(t, nil)
	tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{
		MetaInfo: f.mi, Dir: t.TempDir(), Peers: []netip.AddrPort{seeder.Addr()},
		FilePriority: func(int, string) peer.PiecePriority { return peer.PiecePriorityNone },
	})
	require.NoError(t, err)
	r := tor.Files()[1].NewReader()
	defer r.Close()
	r.SetReadahead(128 << 10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r.SetContext(ctx)
	var got bytes.Buffer
	buf := make([]byte, 7777)
	for {
		n, err := r.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
	}
	assert.True(t, bytes.Equal(f.data[1], got.Bytes()), "read %d bytes, want %d", got.Len(), len(f.data[1]))
	assert.Positive(t, tor.Left(), "the reader alone drove the download: nothing else was wanted")
}

// TestReaderBeforeInfo: a reader of a magnet link's torrent blocks until
// the info arrives, then reads the whole torrent; after completion a second
// reader reads from disk, and Seek from the end works.
func TestReaderBeforeInfo(t *testing.T) {
	f := newFixture(t, 700<<10+1, 32<<10)
	seeder := newClient(t, nil)
	seed(t, seeder, f)
	leecher := newClient(t, nil)
	magnet := fmt.Sprintf("magnet:?xt=urn:btih:%s&x.pe=%s", f.mi.HashInfoBytes().HexString(), seeder.Addr())
	tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{Magnet: magnet, Dir: t.TempDir()})
	require.NoError(t, err)
	r := tor.NewReader()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := sha256.New()
	_, err = io.Copy(h, readerCtx{r, ctx})
	require.NoError(t, err)
	assert.Equal(t, f.sum[:], h.Sum(nil))
	require.NoError(t, r.Close())
	_, err = r.Read(make([]byte, 1))
	assert.ErrorIs(t, err, peer.ErrClosed)

	waitDone(t, tor, 30*time.Second)
	r2 := tor.NewReader()
	defer r2.Close()
	pos, err := r2.Seek(-10, io.SeekEnd)
	require.NoError(t, err)
	assert.Equal(t, f.info.TotalLength()-10, pos)
	tail, err := io.ReadAll(r2)
	require.NoError(t, err)
	want, err := os.ReadFile(filepath.Join(f.dir, f.name))
	require.NoError(t, err)
	assert.Equal(t, want[len(want)-10:], tail)
}

type readerCtx struct {
	r   *peer.Reader
	ctx context.Context
}

func (rc readerCtx) Read(p []byte) (int, error) { return rc.r.ReadContext(rc.ctx, p) }

// TestReaderCancel: a read waiting for a piece no peer has returns when
// its context ends, and when the reader is closed.
func TestReaderCancel(t *testing.T) {
	f := newFixture(t, 256<<10, 32<<10)
	leecher := newClient(t, nil)
	tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: t.TempDir()})
	require.NoError(t, err)
	r := tor.NewReader()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = r.ReadContext(ctx, make([]byte, 10))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	errc := make(chan error, 1)
	go func() {
		_, err := r.Read(make([]byte, 10))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, r.Close())
	select {
	case err := <-errc:
		assert.ErrorIs(t, err, peer.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("read did not return on Close")
	}
}

// TestReaderSeekFirstByte: from a rate-capped seeder, a reader that seeks
// to 75% of a file gets its first byte far sooner than an unprioritised
// download has 75% of the file. Both are measured here, one after the
// other from the same seeder; only their order is asserted.
func TestReaderSeekFirstByte(t *testing.T) {
	const size = 4 << 20
	f := newFixture(t, size, 64<<10)
	seeder := newClient(t, capped(4<<20))
	seed(t, seeder, f)

	// Unprioritised: how long until three quarters of the file are in.
	plain := newClient(t, nil)
	start := time.Now()
	tor, err := plain.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: t.TempDir(), Peers: []netip.AddrPort{seeder.Addr()}})
	require.NoError(t, err)
	file := tor.Files()[0]
	require.Eventually(t, func() bool { return file.BytesCompleted() >= size*3/4 }, 30*time.Second, time.Millisecond)
	plainTook := time.Since(start)
	require.NoError(t, tor.Close())

	// With a reader seeking to 75%.
	streamer := newClient(t, nil)
	start = time.Now()
	tor, err = streamer.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: t.TempDir(), Peers: []netip.AddrPort{seeder.Addr()}})
	require.NoError(t, err)
	r := tor.NewReader()
	defer r.Close()
	_, err = r.Seek(size*3/4, io.SeekStart)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := make([]byte, 1)
	_, err = r.ReadContext(ctx, b)
	require.NoError(t, err)
	streamTook := time.Since(start)
	want, err := os.ReadFile(filepath.Join(f.dir, f.name))
	require.NoError(t, err)
	assert.Equal(t, want[size*3/4], b[0])
	t.Logf("first byte at 75%%: %v with a reader, 75%% downloaded without: %v", streamTook, plainTook)
	assert.Less(t, streamTook, plainTook/2)
}

// TestStreamState: what a buyer sees of the readers — nothing buffered
// before the data, the rest of the file once it is in, the neediest of
// two readers, and the playback rate set.
func TestStreamState(t *testing.T) {
	const pl = 32 << 10
	f := newFixture(t, 20*pl, pl)
	leecher := newClient(t, nil)
	tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: t.TempDir()})
	require.NoError(t, err)
	assert.Equal(t, peer.StreamState{}, tor.StreamState())
	r := tor.NewReader()
	defer r.Close()
	assert.Equal(t, peer.StreamState{Readers: 1}, tor.StreamState(), "no rate known yet")
	r.SetPlaybackRate(1000)
	assert.Equal(t, peer.StreamState{Rate: 1000, Readers: 1}, tor.StreamState(), "nothing buffered")

	seeder := newClient(t, nil)
	seed(t, seeder, f)
	tor.AddPeers(seeder.Addr())
	waitDone(t, tor, 30*time.Second)
	_, err = r.Seek(100, io.SeekStart)
	require.NoError(t, err)
	assert.Equal(t, peer.StreamState{Buffered: 20*pl - 100, Rate: 1000, Readers: 1}, tor.StreamState())
	r2 := tor.NewReader()
	defer r2.Close()
	r2.SetPlaybackRate(4000) // 4× the rate, the same data: the neediest
	assert.Equal(t, peer.StreamState{Buffered: 20 * pl, Rate: 4000, Readers: 2}, tor.StreamState())
}
