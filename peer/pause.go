package peer

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/bttspeed/bttspeed/peer/discovery"
)

// pauseState is whether a torrent is paused; safe from any goroutine.
// While it is not paused, pausing closes paused; while it is, resuming
// closes resumed.
type pauseState struct {
	mu      sync.Mutex
	on      bool
	paused  chan struct{}
	resumed chan struct{}
}

func newPauseState() pauseState {
	return pauseState{paused: make(chan struct{}), resumed: make(chan struct{})}
}

// set switches the state and reports whether it changed.
func (p *pauseState) set(on bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.on == on {
		return false
	}
	p.on = on
	if on {
		close(p.paused)
		p.resumed = make(chan struct{})
	} else {
		close(p.resumed)
		p.paused = make(chan struct{})
	}
	return true
}

// get returns the state and the channel that closes when it next changes.
func (p *pauseState) get() (on bool, change <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.on {
		return true, p.resumed
	}
	return false, p.paused
}

// Pause stops the torrent's traffic without closing it: its connections
// close, it dials and accepts none, and its peer sources stop announcing
// (a tracker hears "stopped") until Resume. What was downloaded stays, and
// so do the blocks of pieces under way: nothing is fetched twice. Readers
// wait. Safe from any goroutine.
func (t *Torrent) Pause() {
	if !t.emb.pause.set(true) {
		return
	}
	t.postFunc(func() {
		for _, c := range t.conns {
			c.close(fmt.Errorf("%w: torrent paused", ErrClosed))
		}
	})
}

// Resume undoes Pause: sources announce again, and the peers known are
// dialled at once.
func (t *Torrent) Resume() {
	if !t.emb.pause.set(false) {
		return
	}
	t.postFunc(func() {
		for _, cand := range t.known {
			cand.nextTry, cand.fails = time.Time{}, 0
		}
		t.dialMore(time.Now())
	})
}

// Paused reports whether the torrent is paused.
func (t *Torrent) Paused() bool {
	on, _ := t.emb.pause.get()
	return on
}

// paused is Paused for the loop.
func (t *Torrent) paused() bool { return t.Paused() }

// pausable returns src wrapped so that it runs only while the torrent is
// not paused: Pause cancels its Run, and Resume runs it again.
func (t *Torrent) pausable(src discovery.Source) discovery.Source {
	return pausableSource{t: t, src: src}
}

type pausableSource struct {
	t   *Torrent
	src discovery.Source
}

// Run runs the source until ctx ends, stopping it over each pause.
func (p pausableSource) Run(ctx context.Context, a discovery.Announce) error {
	for {
		on, change := p.t.emb.pause.get()
		if on {
			select {
			case <-change:
				continue
			case <-ctx.Done():
				return nil
			}
		}
		runCtx, cancel := context.WithCancel(ctx)
		stop := make(chan struct{})
		go func() {
			select {
			case <-change:
				cancel()
			case <-stop:
			}
		}()
		err := p.src.Run(runCtx, a)
		close(stop)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if on, _ := p.t.emb.pause.get(); !on {
			return err // it stopped by itself
		}
	}
}

// SetSequential makes the torrent fetch new pieces in order (true) or
// rarest first (false, the default); pieces under and ahead of readers,
// and high-priority files, still come first. Safe from any goroutine,
// before or after the info is known.
func (t *Torrent) SetSequential(on bool) {
	t.emb.sequential.Store(on)
	t.postFunc(func() {
		if t.picker != nil {
			t.picker.SetSequential(t.emb.sequential.Load())
			t.fillAll()
		}
	})
}

// SetRateLimits caps this torrent's payload upload and download rates, on
// top of Config.UploadRate and Config.DownloadRate; nil leaves a direction
// uncapped by the torrent. A limiter may be shared by several torrents to
// cap them together. Safe from any goroutine; connections take the new
// limits with their next block.
func (t *Torrent) SetRateLimits(up, down *rate.Limiter) {
	t.emb.upLimit.Store(up)
	t.emb.downLimit.Store(down)
}

// throttleDown waits, on the connection's reader, until the limits allow
// n more bytes of payload in; holding the reader back lets TCP's window
// slow the sender. It returns false if the connection closed meanwhile.
func (c *conn) throttleDown(n int) bool {
	if lim := c.t.cl.cfg.downLimit; lim != nil && !waitLimit(lim, n, c.closed) {
		return false
	}
	if lim := c.t.emb.downLimit.Load(); lim != nil && !waitLimit(lim, n, c.closed) {
		return false
	}
	return true
}

// waitLimit waits until lim allows n bytes (in bursts of at most its
// burst), or stop closes (false). An infinite limit never waits.
func waitLimit(lim *rate.Limiter, n int, stop <-chan struct{}) bool {
	for n > 0 {
		k := n
		if b := lim.Burst(); b > 0 && k > b {
			k = b
		}
		r := lim.ReserveN(time.Now(), k)
		if !r.OK() {
			return true // a zero burst with a finite rate: nothing can pass; do not hang on it
		}
		if d := r.Delay(); d > 0 {
			tm := time.NewTimer(d)
			select {
			case <-tm.C:
			case <-stop:
				tm.Stop()
				r.Cancel()
				return false
			}
		}
		n -= k
	}
	return true
}
