package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/peer"
)

// progress prints download progress: a line per update, or on a terminal
// one line redrawn in place with a bar.
type progress struct {
	w    io.Writer
	tty  bool
	last int
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

// line formats one progress line.
func progressLine(st peer.Stats, spent btt.Amount) string {
	if st.Pieces == 0 {
		return fmt.Sprintf("fetching the torrent's metadata from %d peers", st.Peers)
	}
	pct := 100 * float64(st.Length-st.Left) / float64(max(st.Length, 1))
	return fmt.Sprintf("progress: %5.1f%% %s of %s, %d/%d pieces, down %s/s, up %s/s, peers %d, spent %s BTT",
		pct, cli.HumanBytes(st.Length-st.Left), cli.HumanBytes(st.Length), st.PiecesDone, st.Pieces,
		cli.HumanBytes(st.DownRate), cli.HumanBytes(st.UpRate), st.Peers, spent.FormatBTT())
}

func bar(st peer.Stats, width int) string {
	if st.Length <= 0 {
		return strings.Repeat(" ", width)
	}
	n := int(int64(width) * (st.Length - st.Left) / st.Length)
	return strings.Repeat("#", n) + strings.Repeat("-", width-n)
}

func (p *progress) update(st peer.Stats, spent btt.Amount) {
	line := progressLine(st, spent)
	if !p.tty {
		fmt.Fprintln(p.w, line)
		return
	}
	line = "[" + bar(st, 20) + "] " + line
	pad := max(p.last-len(line), 0)
	fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
	p.last = len(line)
}

// end finishes a redrawn line.
func (p *progress) end() {
	if p.tty && p.last > 0 {
		fmt.Fprintln(p.w)
		p.last = 0
	}
}
