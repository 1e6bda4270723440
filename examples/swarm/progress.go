package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/bttspeed/bttspeed/btt"
)

// sampleEvery is how often progress is sampled (for the display and the
// plot); lineEvery how often a plain progress line is printed.
const (
	sampleEvery = 200 * time.Millisecond
	lineEvery   = time.Second
)

// watch follows the leechers until all have the whole file, showing
// progress: bars on a terminal, plain lines otherwise, nothing with -quiet.
func (s *swarm) watch(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, l := range s.leechers {
		wg.Go(func() {
			select {
			case <-l.done():
				l.mu.Lock()
				l.took = time.Since(s.start)
				l.mu.Unlock()
			case <-ctx.Done():
			}
		})
	}
	defer wg.Wait()

	d := s.newDisplay()
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	for {
		all := true
		for _, l := range s.leechers {
			if err := s.sample(ctx, l); err != nil && ctx.Err() == nil {
				d.finish()
				return fmt.Errorf("%s: %w", l.name, err)
			}
			l.mu.Lock()
			all = all && l.took > 0
			l.mu.Unlock()
		}
		d.update()
		if all {
			d.finish()
			return nil
		}
		select {
		case <-ctx.Done():
			d.finish()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// sample records a leecher's progress, its last bid and clearing price,
// and what it has spent.
func (s *swarm) sample(ctx context.Context, l *leecher) error {
	have, err := l.have(ctx)
	if err != nil {
		return err
	}
	at := time.Since(s.start)
	var bid, clearing btt.Amount
	var won bool
	if l.ext != nil {
		figs, err := l.ext.Peers(ctx)
		if err != nil && ctx.Err() == nil {
			return err
		}
		for _, f := range figs {
			if f.Buy != nil {
				bid, clearing, won = f.Buy.Bid, f.Buy.Clearing, f.Buy.Won
			}
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.samples); n == 0 || l.samples[n-1].bytes != have || l.took == 0 {
		l.samples = append(l.samples, sample{at, have})
	}
	if !bid.IsZero() {
		if l.firstBid.IsZero() {
			l.firstBid = bid
		}
		l.bid = bid
	}
	if !clearing.IsZero() {
		l.clearing = clearing
	}
	l.won = won
	if l.ext != nil {
		l.spent = l.ext.Spent()
	}
	return nil
}

// status is a leecher's live figures: progress, rate, bid and spending.
type status struct {
	have          int64
	rate          float64 // bytes per second, over the last second
	done          bool
	took          time.Duration
	bid, clearing btt.Amount
	won           bool
	spent         btt.Amount
}

func (l *leecher) status() status {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := status{done: l.took > 0, took: l.took, bid: l.bid, clearing: l.clearing, won: l.won, spent: l.spent}
	n := len(l.samples)
	if n == 0 {
		return st
	}
	last := l.samples[n-1]
	st.have = last.bytes
	for i := n - 2; i >= 0; i-- {
		if p := l.samples[i]; last.at-p.at >= time.Second || i == 0 {
			if dt := (last.at - p.at).Seconds(); dt > 0 && !st.done {
				st.rate = float64(last.bytes-p.bytes) / dt
			}
			break
		}
	}
	return st
}

// describe is a leecher's status in a few words.
func (l *leecher) describe(st status) string {
	var b strings.Builder
	if st.done {
		fmt.Fprintf(&b, "done in %.1f s, %.1f MB/s", st.took.Seconds(), float64(st.have)/st.took.Seconds()/bytesPerMB)
	} else {
		fmt.Fprintf(&b, "%6.1f MB/s", st.rate/bytesPerMB)
	}
	if l.paying() {
		slot := "free/none"
		switch {
		case st.done:
			slot = ""
		case st.won:
			slot = "paid slot"
		}
		fmt.Fprintf(&b, "  bid %s  clearing %s BTT/MB  %-9s  spent %s BTT", perMB(st.bid), perMB(st.clearing), slot, formatBTT(st.spent, 6))
	} else {
		b.WriteString("  legacy: never bids")
	}
	return b.String()
}

// display shows progress.
type display struct {
	s        *swarm
	p        *mpb.Progress
	bars     []*mpb.Bar
	plain    io.Writer
	lastLine time.Time
}

func (s *swarm) newDisplay() *display {
	d := &display{s: s}
	switch {
	case s.cfg.Quiet:
	case isTerminal(s.out):
		d.p = mpb.New(mpb.WithOutput(s.out), mpb.WithWidth(40), mpb.WithRefreshRate(sampleEvery))
		width := 0
		for _, l := range s.leechers {
			width = max(width, len(l.name)+len(l.strategy)+4)
		}
		for _, l := range s.leechers {
			d.bars = append(d.bars, d.p.AddBar(s.cfg.Size,
				mpb.PrependDecorators(
					decor.Name(fmt.Sprintf("%s (%s)", l.name, l.strategy), decor.WC{W: width, C: decor.DindentRight}),
					decor.Percentage(decor.WC{W: 5}),
				),
				mpb.AppendDecorators(
					decor.Any(func(decor.Statistics) string {
						return l.describe(l.status())
					}),
				),
			))
		}
	default:
		d.plain = s.out
	}
	return d
}

func (d *display) update() {
	switch {
	case d.p != nil:
		for i, l := range d.s.leechers {
			d.bars[i].SetCurrent(l.status().have)
		}
	case d.plain != nil:
		if time.Since(d.lastLine) < lineEvery {
			return
		}
		d.lastLine = time.Now()
		var parts []string
		for _, l := range d.s.leechers {
			st := l.status()
			state := fmt.Sprintf("%5.1f%%", 100*float64(st.have)/float64(d.s.cfg.Size))
			if st.done {
				state = " done "
			}
			parts = append(parts, fmt.Sprintf("%s %s %.1f MB/s %s BTT", l.name, state, st.rate/bytesPerMB, formatBTT(st.spent, 6)))
		}
		fmt.Fprintf(d.plain, "%5.1fs  %s\n", time.Since(d.s.start).Seconds(), strings.Join(parts, " | "))
	}
}

// finish ends the display: complete bars stay, the others are aborted;
// plain output gets a last line.
func (d *display) finish() {
	if d.plain != nil {
		d.lastLine = time.Time{}
		d.update()
	}
	if d.p == nil {
		return
	}
	for i, l := range d.s.leechers {
		st := l.status()
		if st.done {
			d.bars[i].SetCurrent(d.s.cfg.Size)
		} else {
			d.bars[i].Abort(false)
		}
	}
	d.p.Wait()
}
