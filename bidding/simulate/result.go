package simulate

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/bttspeed/bttspeed/btt"
)

// Result is what a run measured.
type Result struct {
	// Size is the torrent size each leecher downloads.
	Size int64
	// Elapsed is the simulated time the run took.
	Elapsed time.Duration
	// SampleEvery is the interval of LeecherResult.Progress samples.
	SampleEvery time.Duration
	Leechers    []LeecherResult
	Seeders     []SeederResult
	// Strategies aggregates the leechers by strategy name, in order of
	// first appearance ("legacy" for leechers without one).
	Strategies []StrategyResult
	// Fairness is Jain's index over the leechers' mean download rates: 1
	// when all are equal, 1/n when one gets everything.
	Fairness float64
}

// LeecherResult is one leecher's outcome.
type LeecherResult struct {
	Name, Strategy string
	Arrive         time.Duration
	// Done reports whether it completed; Finish is when (after the start).
	Done   bool
	Finish time.Duration
	// Bytes is what it received; PaidBytes the part bought in paid slots.
	Bytes, PaidBytes int64
	Budget, Spent    btt.Amount
	// PricePerByte is Spent / PaidBytes, rounded down (zero if nothing was
	// bought).
	PricePerByte btt.Amount
	// Rate is the mean download rate in bytes per second, from arrival to
	// completion (or the end of the run).
	Rate float64
	// Progress holds the bytes received at each sample time.
	Progress []int64
	// For a streaming leecher (Leecher.Playback): how many times the
	// playhead stalled after playback started, for how long in all, and
	// the buffer ahead of it in seconds at each sample time until the
	// playback ends.
	Stalls  int
	Stalled time.Duration
	Buffer  []float64
	// Streaming reports whether it streamed.
	Streaming bool
}

// CompletionTime is how long the leecher took from arrival to completion,
// or -1 if it did not complete.
func (l LeecherResult) CompletionTime() time.Duration {
	if !l.Done {
		return -1
	}
	return l.Finish - l.Arrive
}

// SeederResult is one seeder's outcome.
type SeederResult struct {
	Name string
	// Sent is the bytes it uploaded; Revenue what it was paid.
	Sent    int64
	Revenue btt.Amount
	// Utilisation is Sent over what its capacity could have sent in the
	// run, in [0, 1].
	Utilisation float64
}

// StrategyResult aggregates the leechers of one strategy.
type StrategyResult struct {
	Name                string
	Leechers, Completed int
	// MeanCompletion is the mean completion time of those that completed.
	MeanCompletion time.Duration
	Spent          btt.Amount
	// PricePerByte is their total spend over their total paid bytes.
	PricePerByte btt.Amount
}

func buildResult(sc *Scenario, seeders []seederState, leechers []leecherState, elapsed time.Duration) *Result {
	r := &Result{Size: sc.Size, Elapsed: elapsed, SampleEvery: sc.SampleEvery}
	var sum, sumSq float64
	n := 0
	for i, l := range leechers {
		spec := sc.Leechers[i]
		name := "legacy"
		if spec.Strategy != nil {
			name = spec.Strategy.Name()
		}
		lr := LeecherResult{
			Name: spec.Name, Strategy: name, Arrive: spec.Arrive,
			Done: l.done, Finish: l.finish,
			Bytes: sc.Size - l.remaining, PaidBytes: l.paidBytes,
			Budget: spec.Budget, Spent: l.spent,
			Progress: l.samples,
			Stalls:   l.stalls, Stalled: l.stalled, Buffer: l.bufSamples,
			Streaming: spec.Playback > 0,
		}
		if l.paidBytes > 0 {
			lr.PricePerByte = l.spent.DivUint64(uint64(l.paidBytes))
		}
		end := elapsed
		if l.done {
			end = l.finish
		}
		if span := end - spec.Arrive; span > 0 {
			lr.Rate = float64(lr.Bytes) / span.Seconds()
		}
		if spec.Arrive < elapsed {
			sum += lr.Rate
			sumSq += lr.Rate * lr.Rate
			n++
		}
		r.Leechers = append(r.Leechers, lr)
		idx := slices.IndexFunc(r.Strategies, func(s StrategyResult) bool { return s.Name == name })
		if idx < 0 {
			r.Strategies = append(r.Strategies, StrategyResult{Name: name})
			idx = len(r.Strategies) - 1
		}
		sr := &r.Strategies[idx]
		sr.Leechers++
		sr.Spent, _ = sr.Spent.Add(l.spent)
		if l.done {
			sr.Completed++
			sr.MeanCompletion += lr.CompletionTime()
		}
	}
	for i := range r.Strategies {
		sr := &r.Strategies[i]
		if sr.Completed > 0 {
			sr.MeanCompletion /= time.Duration(sr.Completed)
		}
		var paid int64
		for _, l := range r.Leechers {
			if l.Strategy == sr.Name {
				paid += l.PaidBytes
			}
		}
		if paid > 0 {
			sr.PricePerByte = sr.Spent.DivUint64(uint64(paid))
		}
	}
	if n > 0 && sumSq > 0 {
		r.Fairness = sum * sum / (float64(n) * sumSq)
	}
	for i, s := range seeders {
		sr := SeederResult{Name: sc.Seeders[i].Name, Sent: s.sent, Revenue: s.revenue}
		if possible := float64(sc.Seeders[i].Upload) * elapsed.Seconds(); possible > 0 {
			sr.Utilisation = float64(s.sent) / possible
		}
		r.Seeders = append(r.Seeders, sr)
	}
	return r
}

// streamers returns the leechers that streamed.
func (r *Result) streamers() []LeecherResult {
	var out []LeecherResult
	for _, l := range r.Leechers {
		if l.Streaming {
			out = append(out, l)
		}
	}
	return out
}

// Revenue is the seeders' total revenue.
func (r *Result) Revenue() btt.Amount {
	var t btt.Amount
	for _, s := range r.Seeders {
		t, _ = t.Add(s.Revenue)
	}
	return t
}

// Leecher returns the result of the leecher with the given name.
func (r *Result) Leecher(name string) (LeecherResult, bool) {
	for _, l := range r.Leechers {
		if l.Name == name {
			return l, true
		}
	}
	return LeecherResult{}, false
}

func fmtDur(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return d.Round(time.Second).String()
}

// WriteTable writes the result as aligned text tables: leechers, strategies
// and seeders.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "leecher\tstrategy\tarrive\tcompletion\tMB/s\tspent BTT\tprice/byte\t\n")
	for _, l := range r.Leechers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2f\t%s\t%s\t\n", l.Name, l.Strategy, fmtDur(l.Arrive), fmtDur(l.CompletionTime()), l.Rate/1e6, l.Spent.FormatBTT(), l.PricePerByte)
	}
	if streams := r.streamers(); len(streams) > 0 {
		fmt.Fprintf(tw, "\t\t\t\t\t\t\t\n")
		fmt.Fprintf(tw, "streamer\tstrategy\tstalls\tstalled\tspent BTT\t\t\t\n")
		for _, l := range streams {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t\t\t\n", l.Name, l.Strategy, l.Stalls, fmtDur(l.Stalled), l.Spent.FormatBTT())
		}
	}
	fmt.Fprintf(tw, "\t\t\t\t\t\t\t\n")
	fmt.Fprintf(tw, "strategy\tleechers\tcompleted\tmean completion\tspent BTT\tprice/byte\t\t\n")
	for _, s := range r.Strategies {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t\t\n", s.Name, s.Leechers, s.Completed, fmtDur(s.MeanCompletion), s.Spent.FormatBTT(), s.PricePerByte)
	}
	fmt.Fprintf(tw, "\t\t\t\t\t\t\t\n")
	fmt.Fprintf(tw, "seeder\tsent MB\trevenue BTT\tutilisation\t\t\t\t\n")
	for _, s := range r.Seeders {
		fmt.Fprintf(tw, "%s\t%.1f\t%s\t%.0f%%\t\t\t\t\n", s.Name, float64(s.Sent)/1e6, s.Revenue.FormatBTT(), 100*s.Utilisation)
	}
	fmt.Fprintf(tw, "\t\t\t\t\t\t\t\n")
	fmt.Fprintf(tw, "fairness (Jain)\t%.3f\telapsed\t%s\t\t\t\t\n", r.Fairness, fmtDur(r.Elapsed))
	return tw.Flush()
}

// WriteCSV writes one row per leecher, with a header. Amounts are in base
// units; times in seconds (completion is empty if it did not complete).
func (r *Result) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"leecher", "strategy", "arrive_s", "completion_s", "bytes", "paid_bytes", "rate_Bps", "budget", "spent", "price_per_byte"}); err != nil {
		return err
	}
	for _, l := range r.Leechers {
		completion := ""
		if l.Done {
			completion = strconv.FormatFloat(l.CompletionTime().Seconds(), 'f', -1, 64)
		}
		if err := cw.Write([]string{
			l.Name, l.Strategy,
			strconv.FormatFloat(l.Arrive.Seconds(), 'f', -1, 64), completion,
			strconv.FormatInt(l.Bytes, 10), strconv.FormatInt(l.PaidBytes, 10),
			strconv.FormatFloat(l.Rate, 'f', 1, 64),
			l.Budget.String(), l.Spent.String(), l.PricePerByte.String(),
		}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
