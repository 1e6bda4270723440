package peer_test

import (
	"log/slog"
	"net/netip"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
)

// stackBytes returns the memory reserved for goroutine stacks.
func stackBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestDeeplyNestedExtendedMessage: peers send a seeder extended messages
// of 120 KiB nested 60,000 lists deep — a handshake, a message for an
// extension, a ut_metadata message (and one of 16 KiB, 8,000 deep, within
// a ut_metadata message's length) — while an honest leecher downloads.
// Each is disconnected with an error saying the message is nested too
// deep (or, for ut_metadata, too long), and no decoder runs on it: goroutine stacks do not grow
// (the decoder took about 16 MiB of stack and 10–20 ms of the torrent's
// loop for each such message), and the honest download completes.
func TestDeeplyNestedExtendedMessage(t *testing.T) {
	f := newFixture(t, 1<<20, 32<<10)
	logs := &logSink{}
	seeder := newClient(t, func(c *peer.Config) { c.Logger = slog.New(logs) })
	seedTor := seed(t, seeder, f)
	leecher := newClient(t, nil)
	dir := t.TempDir()
	honest, err := leecher.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{seeder.Addr()}})
	require.NoError(t, err)

	deep := strings.Repeat("l", 60_000) + strings.Repeat("e", 60_000)
	attacks := []struct {
		name string
		id   byte
		msg  string
		why  string
	}{
		{"handshake", 0, "d1:x" + deep + "e", "extended handshake: bencode nested too deep"},
		{"ut_metadata", 1, "d8:msg_typei0e1:x" + deep[60_000-8000:60_000+8000] + "e", "ut_metadata message: bencode nested too deep"},
		{"ut_metadata of 120 KiB", 1, "d8:msg_typei0e1:x" + deep + "e", "ut_metadata message too long"},
		{"another extension", 7, "d1:x" + deep + "e", "extended message 7: bencode nested too deep"},
	}

	// Follow the stacks while the attack runs.
	settledHeap()
	base := stackBytes()
	var peak atomic.Uint64
	peak.Store(base)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if s := stackBytes(); s > peak.Load() {
					peak.Store(s)
				}
			}
		}
	})
	// The loop answers while the attack runs.
	var slowest atomic.Int64
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			start := time.Now()
			_, err := seedTor.Stats(t.Context())
			assert.NoError(t, err)
			if d := int64(time.Since(start)); d > slowest.Load() {
				slowest.Store(d)
			}
		}
	})

	const rounds = 4
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			for range rounds {
				r := dialRawID(t, seeder.Addr().String(), f.mi.HashInfoBytes(), true, true, "-XX0000-"+randomSuffix())
				if a.id != 0 {
					r.write(extMsg(0, []byte("d1:md11:ut_metadatai3e4:fakei7eee")))
				}
				r.write(extMsg(a.id, []byte(a.msg)))
				expectClosed(t, r.c, 10*time.Second)
				line := logs.requireLogged(t, r.c.LocalAddr().String(), a.why)
				t.Logf("%s", line)
			}
		})
	}
	close(stop)
	wg.Wait()
	grown := int64(peak.Load()) - int64(base)
	t.Logf("%d nested messages: goroutine stacks grew by at most %.1f MiB; the slowest call to the loop took %v",
		rounds*len(attacks), float64(grown)/(1<<20), time.Duration(slowest.Load()).Round(time.Microsecond))
	assert.Less(t, grown, int64(4<<20), "no decoder recursed through the nesting")

	waitDone(t, honest, 30*time.Second)
	requireSameFile(t, f, dir)
}
