package main

import (
	"context"
	"fmt"
	"html/template"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
)

// The status page's charts cover the last hour: a sample every 10 s.
const (
	historyEvery   = 10 * time.Second
	historySamples = 360
)

// Sample is one point of the charts (/history.json): the seeder's totals
// at Time. JSON keys and units as in Snapshot.
type Sample struct {
	Time     time.Time `json:"time"`
	UpRate   int64     `json:"upRate"`
	Uploaded int64     `json:"uploaded"`
	// Sold is the bytes sent in paid slots; Free the rest of Uploaded.
	Sold        int64      `json:"sold"`
	Free        int64      `json:"free"`
	Earned      btt.Amount `json:"earned"`
	Redeemed    btt.Amount `json:"redeemed"`
	Redemptions int        `json:"redemptions"`
	Clearing    btt.Amount `json:"clearing"`
	Reserve     btt.Amount `json:"reserve"`
}

func sampleOf(s Snapshot) Sample {
	free := s.Uploaded - s.Sold
	if free < 0 {
		free = 0 // Sold counts a connection's bytes before the engine's Uploaded catches up
	}
	return Sample{Time: s.Time, UpRate: s.UpRate, Uploaded: s.Uploaded, Sold: s.Sold, Free: free, Earned: s.Earned, Redeemed: s.Redeemed,
		Redemptions: s.Redeem.Redemptions, Clearing: s.Clearing, Reserve: s.Reserve}
}

// history is a ring of the last samples; safe for concurrent use.
type history struct {
	every time.Duration
	mu    sync.Mutex
	buf   []Sample
	next  int
	full  bool
}

func newHistory(n int, every time.Duration) *history {
	return &history{every: every, buf: make([]Sample, n)}
}

func (h *history) add(s Sample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf[h.next] = s
	h.next = (h.next + 1) % len(h.buf)
	h.full = h.full || h.next == 0
}

// samples returns the samples, oldest first.
func (h *history) samples() []Sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.full {
		return append([]Sample(nil), h.buf[:h.next]...)
	}
	return append(append([]Sample(nil), h.buf[h.next:]...), h.buf[:h.next]...)
}

// run samples at once and then every h.every until ctx ends.
func (h *history) run(ctx context.Context, snap snapshotFunc, log *slog.Logger) {
	tick := time.NewTicker(h.every)
	defer tick.Stop()
	for {
		s, err := snapshotFor(ctx, snap)
		if err == nil {
			h.add(sampleOf(s))
		} else if ctx.Err() == nil {
			log.Debug("history sample", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// series is one line of a chart.
type series struct {
	name, color string
	ys          []float64
}

// Chart colours; the screenshot test looks for them.
const (
	colorUpRate   = "#1f77b4"
	colorPaid     = "#2ca02c"
	colorFree     = "#ff7f0e"
	colorEarned   = "#9467bd"
	colorRedeemed = "#d62728"
	colorClearing = "#e377c2"
	colorReserve  = "#17becf"
)

// charts renders the status page's four charts from the samples, as
// inline SVG drawn here on the server: the page needs no script and no
// chart library, works offline and under a strict content policy, and
// shows the same thing in every browser and in the tests.
func charts(ss []Sample) template.HTML {
	ts := make([]time.Time, len(ss))
	var rate, paid, free, earned, redeemed, clearing, reserve []float64
	for i, s := range ss {
		ts[i] = s.Time
		rate = append(rate, float64(s.UpRate))
		paid = append(paid, float64(s.Sold))
		free = append(free, float64(s.Free))
		earned = append(earned, cli.Float(s.Earned))
		redeemed = append(redeemed, cli.Float(s.Redeemed))
		clearing = append(clearing, baseFloat(s.Clearing))
		reserve = append(reserve, baseFloat(s.Reserve))
	}
	var b strings.Builder
	b.WriteString(chart("chart-rate", "Upload rate", fmtRate, ts, []series{{"upload", colorUpRate, rate}}))
	b.WriteString(chart("chart-bytes", "Paid and free bytes sent", fmtBytes, ts, []series{{"paid slots", colorPaid, paid}, {"free slots", colorFree, free}}))
	b.WriteString(chart("chart-btt", "BTT earned and redeemed", fmtBTT, ts, []series{{"earned", colorEarned, earned}, {"redeemed", colorRedeemed, redeemed}}))
	b.WriteString(chart("chart-price", "Clearing price against the reserve (base units per byte)", fmtPrice, ts, []series{{"clearing", colorClearing, clearing}, {"reserve", colorReserve, reserve}}))
	return template.HTML(b.String()) //nolint:gosec // built here from numbers and fixed strings, names escaped
}

func fmtRate(v float64) string  { return cli.HumanBytes(int64(v)) + "/s" }
func fmtBytes(v float64) string { return cli.HumanBytes(int64(v)) }
func fmtBTT(v float64) string   { return fmt.Sprintf("%.6g BTT", v) }
func fmtPrice(v float64) string { return fmt.Sprintf("%.4g", v) }

// chart draws one line chart: y from 0 to the largest value, x over the
// samples' times.
func chart(id, title string, label func(float64) string, ts []time.Time, ss []series) string {
	const w, h, left, right, top, bottom = 600.0, 200.0, 80.0, 10.0, 24.0, 28.0
	pw, ph := w-left-right, h-top-bottom
	ymax := 0.0
	for _, s := range ss {
		for _, y := range s.ys {
			if !math.IsNaN(y) && !math.IsInf(y, 0) {
				ymax = math.Max(ymax, y)
			}
		}
	}
	if ymax == 0 {
		ymax = 1
	}
	var t0, t1 time.Time
	if len(ts) > 0 {
		t0, t1 = ts[0], ts[len(ts)-1]
	}
	span := t1.Sub(t0).Seconds()
	x := func(i int) float64 {
		if span <= 0 {
			return left + pw
		}
		return left + pw*ts[i].Sub(t0).Seconds()/span
	}
	y := func(v float64) float64 { return top + ph - ph*v/ymax }
	var b strings.Builder
	fmt.Fprintf(&b, `<figure class="chart" id="%s"><svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" role="img" aria-label="%s">`,
		id, w, h, w, h, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<text x="%g" y="15" font-size="13" font-weight="bold">%s</text>`, left, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#999"/><line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#999"/>`,
		left, top, left, top+ph, left, top+ph, left+pw, top+ph)
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#eee"/>`, left, top, left+pw, top)
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="11" text-anchor="end">%s</text>`, left-4, top+4, template.HTMLEscapeString(label(ymax)))
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="11" text-anchor="end">0</text>`, left-4, top+ph+4)
	if len(ts) > 0 {
		fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="11">%s</text>`, left, h-8, t0.UTC().Format("15:04:05"))
		fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="11" text-anchor="end">%s UTC</text>`, left+pw, h-8, t1.UTC().Format("15:04:05"))
	}
	for k, s := range ss {
		var pts []string
		for i, v := range s.ys {
			if i < len(ts) && !math.IsNaN(v) && !math.IsInf(v, 0) {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(v)))
			}
		}
		if len(pts) == 1 {
			pts = append(pts, fmt.Sprintf("%.1f,%s", left, strings.Split(pts[0], ",")[1]))
		}
		if len(pts) > 0 {
			fmt.Fprintf(&b, `<polyline class="series" data-series="%s" fill="none" stroke="%s" stroke-width="3" points="%s"/>`,
				template.HTMLEscapeString(s.name), s.color, strings.Join(pts, " "))
		}
		lx := left + 10 + float64(k)*130
		fmt.Fprintf(&b, `<rect x="%g" y="%g" width="12" height="4" fill="%s"/><text x="%g" y="%g" font-size="11">%s</text>`,
			lx+200, top+2, s.color, lx+216, top+7, template.HTMLEscapeString(s.name))
	}
	b.WriteString(`</svg></figure>`)
	return b.String()
}
