package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/examples/internal/chain/devbttc"
	"github.com/bttspeed/bttspeed/internal/leaktest"
	"github.com/bttspeed/bttspeed/paychan"
)

// Every goroutine — the devnet's, the engine's, the anacrolix client's —
// must be gone when the tests end.
func TestMain(m *testing.M) { leaktest.VerifyTestMain(m, devbttc.LeakOptions...) }

// testLogger logs warnings and errors to the test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// TestSwarm runs the demo in-process, small: 4 MiB, three paying leechers
// and one stock anacrolix client, channels on TRON's devnet and on a BTTC
// dev chain. It must pass its own checks (every download byte-identical,
// every balance adding up), print its table and write its plot, and leave
// no temp dir behind.
func TestSwarm(t *testing.T) {
	for _, c := range []string{ChainTRON, ChainBTTC} {
		t.Run(c, func(t *testing.T) { testSwarm(t, c) })
	}
}

func testSwarm(t *testing.T, chainName string) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	plotPath := filepath.Join(t.TempDir(), "progress.png")
	cfg, err := parseFlags([]string{
		"-size", "4MiB", "-strategies", "default,fixed:2,adaptive", "-legacy", "1",
		"-upload-rate", "8MiB", "-seed", "7", "-plot", plotPath,
		"-redeem-threshold", "0.001", // claims while it runs, then closes
		"-timeout", "2m", "-chain", chainName,
	}, io.Discard)
	require.NoError(t, err)
	cfg.Logger = testLogger(t)

	var out bytes.Buffer
	rep, err := runSwarm(context.Background(), cfg, &out)
	t.Log("\n" + out.String())
	require.NoError(t, err)

	text := out.String()
	assert.Contains(t, text, "OK: every download is byte-identical to the source and every balance on the chain adds up")
	assert.NotContains(t, text, "FAIL")
	for _, want := range []string{"leecher-1", "default", "leecher-2", "fixed", "leecher-3", "adaptive", "legacy-1", "seeder: earned", "MB/s", "spent BTT"} {
		assert.Contains(t, text, want)
	}
	// Without a terminal, progress comes as plain lines.
	assert.Regexp(t, `(?m)^\s+\d+\.\ds  leecher-1 `, text)

	require.Len(t, rep.rows, 4)
	var spent btt.Amount
	for _, r := range rep.rows {
		assert.Positive(t, r.took, "%s completed", r.name)
		spent, _ = spent.Add(r.spent)
	}
	assert.True(t, rep.earned.Gt(btt.Zero), "the seeder sold something")
	assert.Equal(t, spent, rep.earned)
	assert.Equal(t, rep.earned, rep.redeemed)
	assert.Empty(t, rep.failures)
	assert.Equal(t, 4, len(rep.passed))

	png, err := os.ReadFile(plotPath)
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")), "a PNG")

	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left, "temp dirs removed")
}

// cancelOn cancels a context once the output contains a string.
type cancelOn struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	s      string
	cancel context.CancelFunc
}

func (w *cancelOn) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.s) {
		w.cancel()
	}
	return len(p), nil
}

// TestSwarmInterrupted: cut short mid-download (as SIGINT does), the run
// says so, closes everything (goleak checks) and removes its temp dir.
func TestSwarmInterrupted(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	cfg, err := parseFlags([]string{"-size", "16MiB", "-leechers", "2", "-legacy", "1", "-upload-rate", "2MiB", "-plot", ""}, io.Discard)
	require.NoError(t, err)
	cfg.Logger = testLogger(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &cancelOn{s: "s  leecher-1 ", cancel: cancel} // the first progress line

	start := time.Now()
	err = run(ctx, cfg, out)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "interrupted")
	assert.Less(t, time.Since(start), time.Minute)
	assert.NotContains(t, out.buf.String(), "OK:")

	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left, "temp dirs removed")
}

// TestFlags: the defaults make the README's swarm; bad flags are refused
// with an error naming the flag, before anything starts.
func TestFlags(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, int64(64<<20), cfg.Size)
	assert.Equal(t, []LeecherSpec{{"default", btt.BTT(1)}, {"fixed", btt.BTT(2)}, {"adaptive", btt.BTT(1)}, {"paced", btt.BTT(1)}}, cfg.Leechers)
	assert.Equal(t, 1, cfg.Legacy)
	assert.Equal(t, btt.NewAmount(1_000_000_000), cfg.Reserve, "0.001 BTT per MB is 10^9 base units per byte")
	assert.Equal(t, int64(20<<20), cfg.UploadRate)
	assert.Equal(t, "swarm.png", cfg.Plot)

	cfg, err = parseFlags([]string{"-leechers", "6", "-budget", "0.5", "-upload-rate", "0", "-log-format", "json", "-log-level", "debug"}, io.Discard)
	require.NoError(t, err)
	require.Len(t, cfg.Leechers, 6)
	assert.Equal(t, "default", cfg.Leechers[4].Strategy, "cycles through the strategies")
	assert.Equal(t, "fixed", cfg.Leechers[5].Strategy)
	half, _ := btt.ParseBTT("0.5")
	assert.Equal(t, half, cfg.Leechers[5].Budget)
	assert.Zero(t, cfg.UploadRate, "no cap")

	var usage strings.Builder
	_, err = parseFlags([]string{"-h"}, &usage)
	assert.ErrorIs(t, err, flag.ErrHelp)
	for _, f := range []string{"-size", "-leechers", "-strategies", "-legacy", "-reserve", "-budget", "-upload-rate", "-seed", "-plot", "-quiet", "-timeout", "-log-level", "-log-format"} {
		assert.Contains(t, usage.String(), f)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-size", "0"}, "-size"},
		{[]string{"-size", "12XB"}, "-size"},
		{[]string{"-size", "16KiB"}, "size"},
		{[]string{"-size", "8GiB"}, "size"},
		{[]string{"-leechers", "-1"}, "-leechers -1"},
		{[]string{"-leechers", "17"}, "-leechers 17"},
		{[]string{"-leechers", "3", "-strategies", "default,fixed"}, "make them agree"},
		{[]string{"-strategies", "default,greedy"}, `unknown strategy "greedy"`},
		{[]string{"-strategies", "fixed:lots"}, "fixed: budget"},
		{[]string{"-strategies", "fixed:0"}, "above zero"},
		{[]string{"-budget", "0"}, "-budget"},
		{[]string{"-budget", "2000000"}, "at most"},
		{[]string{"-reserve", "-1"}, "-reserve"},
		{[]string{"-reserve", "0.0000000000001"}, "below one base unit"},
		{[]string{"-fixed-price", "x"}, "-fixed-price"},
		{[]string{"-redeem-threshold", "-0.1"}, "-redeem-threshold"},
		{[]string{"-upload-rate", "-5"}, "-upload-rate"},
		{[]string{"-legacy", "-2"}, "-legacy -2"},
		{[]string{"-leechers", "0", "-legacy", "0"}, "no leechers"},
		{[]string{"-slots", "1"}, "-slots 1"},
		{[]string{"-plot", "progress.gif"}, ".png or .svg"},
		{[]string{"-timeout", "0s"}, "-timeout"},
		{[]string{"-log-level", "loud"}, "-log-level"},
		{[]string{"-log-format", "xml"}, "-log-format"},
		{[]string{"-nope"}, "not defined"},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := parseFlags(tc.args, io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestRunRefusesBadConfig: run checks its Config before starting anything.
func TestRunRefusesBadConfig(t *testing.T) {
	err := run(context.Background(), Config{Size: 1}, io.Discard)
	require.Error(t, err)
	for _, want := range []string{"size 1 bytes", "no leechers", "reserve", "-slots 0", "-timeout"} {
		assert.Contains(t, err.Error(), want)
	}
	assert.False(t, errors.Is(err, context.Canceled))
}

// TestSettleChannels: whatever state a channel is left in, settling closes
// it and puts every base unit where it belongs — the seeder's vouchers
// paid, the rest of each deposit back with its payer, the escrow empty. It
// covers the cases a run may or may not meet: a voucher not yet redeemed
// (RedeemAll closes it), a voucher already claimed in full (RedeemAll
// skips it: the seeder closes it itself), a channel accepted with no
// voucher and one never announced (their payers take the deposits back).
func TestSettleChannels(t *testing.T) {
	for _, c := range []string{ChainTRON, ChainBTTC} {
		t.Run(c, func(t *testing.T) { testSettleChannels(t, c) })
	}
}

func testSettleChannels(t *testing.T, chainName string) {
	ctx := context.Background()
	cfg, err := parseFlags([]string{"-size", "64KiB", "-redeem-threshold", "0", "-plot", "", "-chain", chainName}, io.Discard)
	require.NoError(t, err)
	s := &swarm{cfg: cfg, log: testLogger(t), out: io.Discard, tmp: t.TempDir()}
	defer s.close()
	require.NoError(t, s.startChain(ctx))
	require.NoError(t, s.makeTorrent())
	require.NoError(t, s.startSeeder(ctx))
	for i, spec := range cfg.Leechers {
		l, err := s.newPayer(ctx, i, spec)
		require.NoError(t, err)
		s.leechers = append(s.leechers, l)
	}
	require.Len(t, s.leechers, 4)
	sd := s.seeder
	ih := [20]byte{1}
	open := func(l *leecher) paychan.Channel {
		ch, err := l.payer.Open(ctx, sd.key.Address(), btt.BTT(1), time.Now().Add(24*time.Hour))
		require.NoError(t, err)
		return ch
	}
	pay := func(l *leecher, ch paychan.Channel, amount uint64) {
		_, err := sd.payee.Accept(ctx, ch.ID)
		require.NoError(t, err)
		sv, err := l.payer.PayFor(ch.ID, ih, 0, btt.NewAmount(amount))
		require.NoError(t, err)
		_, err = sd.payee.Receive(sv)
		require.NoError(t, err)
	}
	// Amounts over the payee's redeem floor (paychan.DefaultMinRedeem):
	// less is not redeemed on its own.
	pay(s.leechers[0], open(s.leechers[0]), 100_000)
	ch := open(s.leechers[1])
	pay(s.leechers[1], ch, 200_000)
	got, err := sd.payee.Redeem(ctx, ch.ID, false)
	require.NoError(t, err)
	require.Equal(t, btt.NewAmount(200_000), got, "claimed in full, the channel left open")
	_, err = sd.payee.Accept(ctx, open(s.leechers[2]).ID)
	require.NoError(t, err)
	open(s.leechers[3])

	rep := &report{}
	require.NoError(t, s.settleChannels(ctx, rep))
	assert.Equal(t, 4, rep.channels)
	assert.Equal(t, 2, rep.closed, "the two with vouchers, by the seeder")
	assert.Equal(t, 1, rep.closedClaimed, "one claimed in full before, closed by RedeemAll")
	assert.Equal(t, 2, rep.reclaimed, "the two without, by their payers")

	chans, err := s.channels(ctx)
	require.NoError(t, err)
	require.Len(t, chans, 4)
	for _, c := range chans {
		assert.Equal(t, paychan.ChannelClosed, c.ch.State, c.l.name)
	}
	token := s.net.Token()
	held, err := s.net.balanceOf(ctx, token, s.net.Escrow())
	require.NoError(t, err)
	assert.True(t, held.IsZero(), "the escrow holds %s", held)
	for i, spent := range []uint64{100_000, 200_000, 0, 0} {
		l := s.leechers[i]
		bal, err := s.net.balanceOf(ctx, token, l.key.Address())
		require.NoError(t, err)
		assert.Equal(t, l.start.SubFloor(btt.NewAmount(spent)), bal, l.name)
	}
	bal, err := s.net.balanceOf(ctx, token, sd.key.Address())
	require.NoError(t, err)
	want, _ := sd.start.Add(btt.NewAmount(300_000))
	assert.Equal(t, want, bal, "the seeder")
}
