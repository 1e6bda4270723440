package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/peer"
)

// player reads a file through a Reader as a media player does: at its
// playback rate (or as fast as it can without one), counting a stall each
// time the playhead finds no verified bytes ahead.
type player struct {
	r      *peer.Reader
	tor    *peer.Torrent
	length int64
	rate   int64
	out    io.Writer
	spent  func() btt.Amount

	pos    atomic.Int64
	stalls atomic.Int64
}

// chunk is what the player reads at once: a tenth of a second at its rate.
func (p *player) chunk() int {
	if p.rate <= 0 {
		return 256 << 10
	}
	return int(max(p.rate/10, 1))
}

// play reads to the end of the file.
func (p *player) play(ctx context.Context) error {
	buf := make([]byte, p.chunk())
	next := time.Now()
	stalled := false
	for p.pos.Load() < p.length {
		if p.rate > 0 {
			// Hold the playhead to the playback rate.
			if d := time.Until(next); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return fmt.Errorf("interrupted: %w", ctx.Err())
				}
			}
			if st := p.tor.StreamState(); st.Buffered == 0 && !stalled {
				stalled = true
				p.stalls.Add(1)
			}
		}
		n, err := io.ReadFull(p.r, buf[:min(int64(len(buf)), p.length-p.pos.Load())])
		if n > 0 {
			stalled = false
			if _, werr := p.out.Write(buf[:n]); werr != nil {
				return fmt.Errorf("write: %w", werr)
			}
			p.pos.Add(int64(n))
			if p.rate > 0 {
				next = next.Add(time.Duration(float64(n) / float64(p.rate) * float64(time.Second)))
				if now := time.Now(); next.Before(now) {
					next = now // a stall does not make the player rush
				}
			}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read: %w", err)
		}
	}
	return nil
}

// report prints one progress line.
func (p *player) report(w io.Writer) {
	st := p.tor.StreamState()
	stats, _ := p.tor.Stats(context.Background())
	buf := "-"
	if st.Rate > 0 {
		buf = fmt.Sprintf("%.1fs", float64(st.Buffered)/float64(st.Rate))
	}
	fmt.Fprintf(w, "pos %d/%d  buffer %d bytes (%s)  downloaded %d  peers %d  stalls %d  spent %s BTT\n",
		p.pos.Load(), p.length, st.Buffered, buf, stats.Downloaded, stats.Peers, p.stalls.Load(), p.spent().FormatBTT())
}
