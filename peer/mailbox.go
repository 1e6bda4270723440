package peer

import (
	"context"
	"sync"
)

// mailbox holds the functions posted to run on a torrent's loop
// (ExtPeer.Post and Do). Posting never blocks: the list is unbounded, and
// grows only with what extensions post, at most a few functions per
// connection at a time. Every function taken runs exactly once, on the
// loop or in its shutdown; once the shutdown has run the last of them,
// the mailbox is closed and posting reports false.
type mailbox struct {
	mu     sync.Mutex
	fns    []func()
	spare  []func() // the slice run last, reused
	closed bool     // no more functions taken
	noGo   bool     // no more goroutines started (the loop is waiting for them)
	wake   chan struct{}
}

// maxSpare is the largest list of functions kept for reuse.
const maxSpare = 256

// post queues f; it reports whether f will run.
func (m *mailbox) post(f func()) bool {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return false
	}
	m.fns = append(m.fns, f)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default: // a wake-up is pending: it runs f too
	}
	return true
}

// run runs, on the loop, the functions posted so far; with last, it
// closes the mailbox first, so that no function is taken that would not
// run.
func (m *mailbox) run(last bool) {
	m.mu.Lock()
	fns := m.fns
	m.fns, m.spare = m.spare[:0], nil
	m.closed = m.closed || last
	m.mu.Unlock()
	for _, f := range fns {
		f()
	}
	clear(fns)
	if cap(fns) > maxSpare {
		fns = nil // a burst's array is not kept for good
	}
	m.mu.Lock()
	m.spare = fns
	m.mu.Unlock()
}

// stopGo makes goExt refuse from now on.
func (m *mailbox) stopGo() {
	m.mu.Lock()
	m.noGo = true
	m.mu.Unlock()
}

// postFunc queues f to run on the loop (ExtPeer.Post).
func (t *Torrent) postFunc(f func()) bool { return t.mail.post(f) }

// goExt starts f in a goroutine of the torrent's (ExtPeer.Go), unless the
// torrent is stopping: the check and the start are under the mailbox's
// lock, so a start either happens before the shutdown waits for the
// torrent's goroutines or not at all.
func (t *Torrent) goExt(f func(ctx context.Context)) bool {
	t.mail.mu.Lock()
	defer t.mail.mu.Unlock()
	if t.mail.noGo || t.ctx.Err() != nil {
		return false
	}
	t.wg.Go(func() { f(t.ctx) })
	return true
}
