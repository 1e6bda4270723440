package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/tron/contracts"
)

// settleTimeout bounds the wait for the last vouchers after the downloads.
const settleTimeout = 30 * time.Second

// report is what a run measured and checked.
type report struct {
	cfg  Config
	via  string // how balances were read
	rows []row
	// Seeder.
	earned, redeemed btt.Amount
	claims           int64 // redemptions while the swarm ran
	closed           int   // channels the seeder closed at the end
	closedClaimed    int   // of which the Redeemer had claimed in full already
	reclaimed        int   // channels their payers reclaimed (no voucher to close them with)
	channels         int
	// Checks.
	passed, failures []string
}

// row is one leecher's line of the table.
type row struct {
	name, strategy string
	budget         btt.Amount // zero for legacy
	firstBid, bid  btt.Amount
	clearing       btt.Amount
	avg            btt.Amount // per byte: spent / bytes sold in a paid slot
	paidBytes      int64
	took           time.Duration
	spent          btt.Amount
}

func (r *report) check(ok bool, pass string, fail string, args ...any) {
	if ok {
		r.passed = append(r.passed, pass)
	} else {
		r.failures = append(r.failures, fmt.Sprintf(fail, args...))
	}
}

// settle checks the downloads, waits for the last vouchers, settles every
// channel on the chain and checks every balance.
func (s *swarm) settle(ctx context.Context) (*report, error) {
	rep := &report{cfg: s.cfg, via: s.net.via()}

	// Every download is byte-identical to the source.
	bad := 0
	for _, l := range s.leechers {
		sum, err := fileSum(l.file(s.name))
		if err != nil || sum != s.sum {
			bad++
			rep.check(false, "", "%s: download differs from the source (sha256 %x, want %x; %v)", l.name, sum[:8], s.sum[:8], err)
		}
	}
	rep.check(bad == 0, fmt.Sprintf("%d downloads byte-identical to the source (sha256 %x…)", len(s.leechers), s.sum[:8]), "")

	// The last vouchers may be on their way when the downloads complete:
	// wait until every payer has hung up (it does once nothing is in
	// flight) and the seeder holds every voucher they signed.
	sd := s.seeder
	var spent btt.Amount
	deadline := time.Now().Add(settleTimeout)
	for {
		spent = btt.Zero
		quiet := true
		for _, l := range s.leechers {
			if !l.paying() {
				continue
			}
			spent, _ = spent.Add(l.ext.Spent())
			st, err := l.tor.Stats(ctx)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", l.name, err)
			}
			quiet = quiet && st.Peers == 0
		}
		tot, err := sd.payee.Totals()
		if err != nil {
			return nil, fmt.Errorf("seeder: %w", err)
		}
		if quiet && tot.Earned == spent {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("after %v the payers signed %s BTT and the seeder holds vouchers for %s BTT (payers hung up: %t)",
				settleTimeout, spent.FormatBTT(), tot.Earned.FormatBTT(), quiet)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}

	if err := s.settleChannels(ctx, rep); err != nil {
		return nil, err
	}

	// The figures.
	tot, err := sd.payee.Totals()
	if err != nil {
		return nil, fmt.Errorf("seeder: %w", err)
	}
	rep.earned, rep.redeemed = tot.Earned, tot.Redeemed
	sales := map[btt.Address]speedSale{}
	var salesPaid btt.Amount
	for _, cs := range sd.seller.Sales() {
		ss := sales[cs.Payer]
		ss.sold += cs.Sold
		ss.paid, _ = ss.paid.Add(cs.Paid)
		sales[cs.Payer] = ss
		salesPaid, _ = salesPaid.Add(cs.Paid)
	}
	token := s.net.Token()
	payersOK := true
	for _, l := range s.leechers {
		l.mu.Lock()
		r := row{name: l.name, strategy: l.strategy, budget: l.budget, firstBid: l.firstBid, bid: l.bid, clearing: l.clearing, took: l.took}
		l.mu.Unlock()
		if l.paying() {
			r.spent = l.ext.Spent()
			ss := sales[l.key.Address()]
			r.paidBytes = ss.sold
			if ss.sold > 0 {
				r.avg = r.spent.DivUint64(uint64(ss.sold))
			}
			bal, err := s.net.balanceOf(ctx, token, l.key.Address())
			if err != nil {
				return nil, fmt.Errorf("%s: balance: %w", l.name, err)
			}
			want := l.start.SubFloor(r.spent)
			if bal != want {
				payersOK = false
				rep.check(false, "", "%s: token balance %s BTT, want %s (minted) − %s (spent) = %s", l.name, bal.FormatBTT(), l.start.FormatBTT(), r.spent.FormatBTT(), want.FormatBTT())
			}
			if r.spent.Gt(l.budget) {
				payersOK = false
				rep.check(false, "", "%s: spent %s BTT, over its budget of %s", l.name, r.spent.FormatBTT(), l.budget.FormatBTT())
			}
		}
		rep.rows = append(rep.rows, r)
	}
	rep.check(payersOK, fmt.Sprintf("each payer's balance = minted − spent, within its budget (%d payers)", len(s.cfg.Leechers)), "")

	bal, err := s.net.balanceOf(ctx, token, sd.key.Address())
	if err != nil {
		return nil, fmt.Errorf("seeder: balance: %w", err)
	}
	gained := bal.SubFloor(sd.start)
	rep.check(bal.Cmp(sd.start) >= 0 && gained == spent && spent == tot.Earned && tot.Earned == tot.Redeemed && salesPaid == spent,
		fmt.Sprintf("seeder's balance grew by %s BTT = spent = earned = redeemed", spent.FormatBTT()),
		"seeder: balance grew by %s BTT; payers spent %s, seeder earned %s (sales %s), redeemed %s",
		gained.FormatBTT(), spent.FormatBTT(), tot.Earned.FormatBTT(), salesPaid.FormatBTT(), tot.Redeemed.FormatBTT())

	held, err := s.net.balanceOf(ctx, token, s.net.Escrow())
	if err != nil {
		return nil, fmt.Errorf("escrow balance: %w", err)
	}
	chans, err := s.channels(ctx)
	if err != nil {
		return nil, err
	}
	open := 0
	for _, c := range chans {
		if c.ch.State != paychan.ChannelClosed {
			open++
		}
	}
	rep.check(held.IsZero() && open == 0, fmt.Sprintf("escrow holds nothing; all %d channels closed", len(chans)),
		"escrow holds %s BTT; %d of %d channels not closed", held.FormatBTT(), open, len(chans))
	return rep, nil
}

// settleChannels settles every channel our payers opened to the seeder:
// the seeder closes those it holds a voucher for, which pays it the best
// voucher and refunds the rest of the deposit; the payers take back the
// deposits of the others.
func (s *swarm) settleChannels(ctx context.Context, rep *report) error {
	sd := s.seeder
	sd.stopRedeemer()
	rep.claims = sd.claims.Load()
	claimedBefore := map[paychan.ChannelID]bool{}
	if before, err := sd.store.Payees(); err == nil {
		for _, r := range before {
			claimedBefore[r.Channel.ID] = !r.Best.Amount.IsZero() && !r.Redeemed.Lt(r.Best.Amount)
		}
	}
	if _, err := sd.payee.RedeemAll(ctx, true); err != nil {
		return fmt.Errorf("seeder: redeem: %w", err)
	}
	// RedeemAll with close also closes the channels whose vouchers the
	// Redeemer had already claimed in full (paying nothing more and
	// refunding the rest): count those.
	recs, err := sd.store.Payees()
	if err != nil {
		return fmt.Errorf("seeder: %w", err)
	}
	for _, r := range recs {
		if !r.Best.Amount.IsZero() && !r.Redeemed.Lt(r.Best.Amount) && r.Channel.State == paychan.ChannelClosed && claimedBefore[r.Channel.ID] {
			rep.closedClaimed++
		}
	}
	for _, r := range recs {
		if !r.Best.Amount.IsZero() {
			rep.closed++
		}
	}
	// A channel with no voucher (opened for a paid slot won when little
	// was left to buy in it) cannot be closed by the payee: its payer
	// takes the deposit back — an early close, the challenge period, a
	// reclaim.
	chans, err := s.channels(ctx)
	if err != nil {
		return err
	}
	rep.channels = len(chans)
	var reclaim []chanOf
	for _, c := range chans {
		if c.ch.State == paychan.ChannelOpen {
			if _, err := c.l.escrow.StartClose(ctx, c.ch.ID); err != nil {
				return fmt.Errorf("%s: early close: %w", c.l.name, err)
			}
		}
		if c.ch.State != paychan.ChannelClosed {
			reclaim = append(reclaim, c)
		}
	}
	if len(reclaim) > 0 {
		if err := s.net.advance(challengePeriod); err != nil {
			return err
		}
		for _, c := range reclaim {
			if _, err := c.l.payer.Reclaim(ctx, c.ch.ID); err != nil {
				return fmt.Errorf("%s: reclaim: %w", c.l.name, err)
			}
		}
	}
	rep.reclaimed = len(reclaim)

	return nil
}

type speedSale struct {
	sold int64
	paid btt.Amount
}

// chanOf is a channel and the leecher that opened it.
type chanOf struct {
	l  *leecher
	ch paychan.Channel
}

// channels lists every channel our payers opened to the seeder: the escrow
// names them keccak256(escrow || payer || payee || nonce) with a nonce
// counting every channel opened.
func (s *swarm) channels(ctx context.Context) ([]chanOf, error) {
	abi := contracts.EscrowABI()
	data, err := abi.Pack("nonce")
	if err != nil {
		return nil, err
	}
	out, err := s.net.call(ctx, s.net.Escrow(), data)
	if err != nil {
		return nil, fmt.Errorf("escrow nonce: %w", err)
	}
	vals, err := abi.Unpack("nonce", out)
	if err != nil || len(vals) != 1 {
		return nil, fmt.Errorf("escrow nonce: %v %w", vals, err)
	}
	nonce, ok := vals[0].(uint64)
	if !ok {
		return nil, fmt.Errorf("escrow nonce: %T", vals[0])
	}
	escrow, payee := s.net.Escrow().EVM(), s.seeder.key.Address().EVM()
	var found []chanOf
	for n := uint64(1); n <= nonce; n++ {
		var nb [8]byte
		binary.BigEndian.PutUint64(nb[:], n)
		for _, l := range s.leechers {
			if !l.paying() {
				continue
			}
			payer := l.key.Address().EVM()
			var id paychan.ChannelID
			copy(id[:], crypto.Keccak256(escrow[:], payer[:], payee[:], nb[:]))
			ch, err := s.seeder.escrow.Channel(ctx, id)
			switch {
			case errors.Is(err, paychan.ErrUnknownChannel):
				continue
			case err != nil:
				return nil, fmt.Errorf("channel %x: %w", id[:8], err)
			}
			found = append(found, chanOf{l, ch})
		}
	}
	return found, nil
}

// write prints the table and the checks.
func (r *report) write(w io.Writer) {
	fmt.Fprintf(w, "\nresults: %s to each leecher; prices in BTT per MB (10^6 bytes)\n", mib(r.cfg.Size))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "leecher\tstrategy\tbudget\tbid: first -> last\tlast clearing\tavg paid\tpaid-slot MB\ttime\tMB/s\tspent BTT\t")
	for _, x := range r.rows {
		budget, paid := "-", "-"
		if !x.budget.IsZero() {
			budget = formatBTT(x.budget, 4)
			paid = fmt.Sprintf("%.1f", float64(x.paidBytes)/bytesPerMB)
		}
		took, rate := "-", "-"
		if x.took > 0 {
			took = fmt.Sprintf("%.1f s", x.took.Seconds())
			rate = fmt.Sprintf("%.1f", float64(r.cfg.Size)/x.took.Seconds()/bytesPerMB)
		}
		spent := "0"
		if !x.budget.IsZero() {
			spent = formatBTT(x.spent, 6)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", x.name, x.strategy, budget, bids(x.firstBid, x.bid), perMB(x.clearing), perMB(x.avg), paid, took, rate, spent)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "seeder: earned %s BTT, redeemed %s BTT on chain: %d claims while the swarm ran, %d channels closed at the end (%d of them claimed in full already), %d without a voucher reclaimed by their payers\n",
		formatBTT(r.earned, 6), formatBTT(r.redeemed, 6), r.claims, r.closed, r.closedClaimed, r.reclaimed)
	fmt.Fprintf(w, "checks (balances read from %s):\n", r.via)
	for _, p := range r.passed {
		fmt.Fprintln(w, "  ok  ", p)
	}
}

// bids shows the first and the last bid.
func bids(first, last btt.Amount) string {
	if first == last {
		return perMB(last)
	}
	return perMB(first) + " -> " + perMB(last)
}

// writePlot draws each leecher's download progress over time.
func (s *swarm) writePlot(path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Paid swarm: %s, seeder's reserve %s BTT/MB", mib(s.cfg.Size), perMB(s.cfg.Reserve))
	if s.cfg.UploadRate > 0 {
		p.Title.Text += fmt.Sprintf(", upload %s/s", mib(s.cfg.UploadRate))
	}
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "downloaded (%)"
	p.Y.Min, p.Y.Max = 0, 100
	p.Legend.Top, p.Legend.Left = true, true
	var args []any
	for _, l := range s.leechers {
		l.mu.Lock()
		pts := make(plotter.XYs, 0, len(l.samples)+1)
		pts = append(pts, plotter.XY{})
		for _, x := range l.samples {
			pts = append(pts, plotter.XY{X: x.at.Seconds(), Y: 100 * float64(x.bytes) / float64(s.cfg.Size)})
		}
		label := fmt.Sprintf("%s (%s)", l.name, l.strategy)
		if l.paying() {
			label = fmt.Sprintf("%s (%s, %s BTT)", l.name, l.strategy, formatBTT(l.budget, 4))
		}
		l.mu.Unlock()
		args = append(args, label, pts)
	}
	if err := plotutil.AddLines(p, args...); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := p.Save(8*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}

func fileSum(path string) ([32]byte, error) {
	var sum [32]byte
	f, err := os.Open(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, err
	}
	h.Sum(sum[:0])
	return sum, nil
}
