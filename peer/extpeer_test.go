package peer_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
)

// TestExtPeerContract: Do runs its function on the loop and says so, up to
// the torrent's shutdown; a function Post reports taken runs exactly
// once, even when the torrent stops meanwhile; once the torrent has
// stopped, Do, Post and Go report false at once and run nothing.
func TestExtPeerContract(t *testing.T) {
	g := &gateExt{open: true, peer: make(chan peer.ExtPeer, 1)}
	_, ep := gatedPeer(t, g)
	tor := ep.Torrent()

	ran := false
	require.True(t, ep.Do(func() { ran = true }), "Do while the torrent runs")
	assert.True(t, ran, "Do returns after its function ran")

	// Posts from several goroutines, in a race with Close.
	var posted, runs atomic.Int64
	var posters sync.WaitGroup
	for range 4 {
		posters.Go(func() {
			for i := 0; i < 20000 && ep.Post(func() { runs.Add(1) }); i++ {
				posted.Add(1)
				if i%100 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	// A goroutine of the extension's that asks the loop until its ctx
	// ends: its last Do, in the torrent's shutdown, still runs.
	var doStopped atomic.Bool
	require.True(t, ep.Go(func(ctx context.Context) {
		for ctx.Err() == nil {
			if !ep.Do(func() {}) {
				t.Error("Do refused before the torrent's goroutines ended")
				break
			}
		}
		doStopped.Store(true)
	}))
	time.Sleep(10 * time.Millisecond) // let the posts pile up
	require.NoError(t, tor.Close())
	posters.Wait()

	assert.True(t, doStopped.Load(), "Close waited for the goroutine")
	assert.Positive(t, posted.Load())
	assert.Equal(t, posted.Load(), runs.Load(), "every function Post took ran, once")

	assert.False(t, ep.Do(func() { t.Error("Do ran a function after the torrent stopped") }))
	assert.False(t, ep.Post(func() { t.Error("Post ran a function after the torrent stopped") }))
	assert.False(t, ep.Go(func(context.Context) { t.Error("Go started a goroutine after the torrent stopped") }))
}
