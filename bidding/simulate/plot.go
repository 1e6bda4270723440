package simulate

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// maxPlotLines is the most leechers drawn one line each; with more, the plot
// shows each strategy's mean progress instead.
const maxPlotLines = 16

// Plot returns a chart of download progress (percent of the torrent) over
// simulated time: one line per leecher, or one per strategy (the mean of its
// leechers) when there are more than 16 leechers.
func (r *Result) Plot() (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Download progress"
	p.X.Label.Text = "time (min)"
	p.Y.Label.Text = "progress (%)"
	p.Y.Min, p.Y.Max = 0, 100
	p.Legend.Top = true
	p.Legend.Left = true
	series := func(progress func(k int) (float64, bool), n int) plotter.XYs {
		pts := make(plotter.XYs, 0, n)
		for k := 0; k < n; k++ {
			y, ok := progress(k)
			if !ok {
				continue
			}
			pts = append(pts, plotter.XY{X: (r.SampleEvery * time.Duration(k)).Minutes(), Y: y})
		}
		return pts
	}
	var args []any
	if len(r.Leechers) <= maxPlotLines {
		for _, l := range r.Leechers {
			prog := l.Progress
			args = append(args, fmt.Sprintf("%s (%s)", l.Name, l.Strategy), series(func(k int) (float64, bool) {
				return 100 * float64(prog[k]) / float64(r.Size), true
			}, len(prog)))
		}
	} else {
		for _, s := range r.Strategies {
			var members [][]int64
			n := 0
			for _, l := range r.Leechers {
				if l.Strategy == s.Name {
					members = append(members, l.Progress)
					n = max(n, len(l.Progress))
				}
			}
			args = append(args, fmt.Sprintf("%s (mean of %d)", s.Name, len(members)), series(func(k int) (float64, bool) {
				var sum float64
				for _, m := range members {
					if k < len(m) {
						sum += float64(m[k])
					} else if len(m) > 0 {
						sum += float64(m[len(m)-1])
					}
				}
				return 100 * sum / float64(len(members)) / float64(r.Size), true
			}, n))
		}
	}
	if err := plotutil.AddLines(p, args...); err != nil {
		return nil, fmt.Errorf("simulate: plot: %w", err)
	}
	return p, nil
}

// WritePlot writes the progress chart to path, as PNG or SVG by its
// extension (.png, .svg; also .pdf, .jpg).
func (r *Result) WritePlot(path string) error {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png", ".svg", ".pdf", ".jpg", ".jpeg":
	default:
		return fmt.Errorf("simulate: plot %q: want a .png, .svg, .pdf or .jpg file", path)
	}
	p, err := r.Plot()
	if err != nil {
		return err
	}
	if err := p.Save(8*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("simulate: write plot: %w", err)
	}
	return nil
}

// PlotBuffer returns a chart of the buffer ahead of each streaming
// leecher's playhead, in seconds of playback, over simulated time (nil
// with an error if none streamed). A line on zero is a stall.
func (r *Result) PlotBuffer() (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Buffer ahead of the playhead"
	p.X.Label.Text = "time (min)"
	p.Y.Label.Text = "buffer (s of playback)"
	p.Y.Min = 0
	p.Legend.Top = true
	var args []any
	for _, l := range r.streamers() {
		pts := make(plotter.XYs, 0, len(l.Buffer))
		for k, b := range l.Buffer {
			pts = append(pts, plotter.XY{X: (r.SampleEvery * time.Duration(k)).Minutes(), Y: b})
		}
		args = append(args, fmt.Sprintf("%s (%s, %d stalls)", l.Name, l.Strategy, l.Stalls), pts)
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("simulate: plot buffer: no leecher streamed")
	}
	if err := plotutil.AddLines(p, args...); err != nil {
		return nil, fmt.Errorf("simulate: plot: %w", err)
	}
	return p, nil
}

// WriteBufferPlot writes the buffer chart (PlotBuffer) to path, as
// WritePlot does.
func (r *Result) WriteBufferPlot(path string) error {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png", ".svg", ".pdf", ".jpg", ".jpeg":
	default:
		return fmt.Errorf("simulate: plot %q: want a .png, .svg, .pdf or .jpg file", path)
	}
	p, err := r.PlotBuffer()
	if err != nil {
		return err
	}
	if err := p.Save(8*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("simulate: write plot: %w", err)
	}
	return nil
}
