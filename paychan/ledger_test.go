package paychan_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/paychan/paychantest"
)

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func signer(t testing.TB, b byte) *paychan.KeySigner {
	t.Helper()
	d := make([]byte, 32)
	d[0], d[31] = 0x11, b
	key, err := crypto.ToECDSA(d)
	require.NoError(t, err)
	s, err := paychan.NewKeySigner(key)
	require.NoError(t, err)
	return s
}

type world struct {
	chain        *paychantest.Chain
	payerKey     *paychan.KeySigner
	payeeAddr    btt.Address
	payer        *paychan.Payer
	payee        *paychan.Payee
	payerStore   *paychan.Store
	payerPath    string
	payeeStore   string
	clock        time.Time
	payeeStoreDB *paychan.Store
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{payerKey: signer(t, 1), payeeAddr: signer(t, 2).Address(), clock: start}
	escrow := btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")
	w.chain = paychantest.New(paychan.Domain{ChainID: 0x2b6653dc, Escrow: escrow}, start)
	w.chain.Mint(w.payerKey.Address(), btt.NewAmount(1_000_000))
	var err error
	w.payerPath = filepath.Join(t.TempDir(), "payer.db")
	w.payerStore, err = paychan.OpenStore(w.payerPath)
	require.NoError(t, err)
	t.Cleanup(func() { w.payerStore.Close() })
	w.payer, err = paychan.NewPayer(ctx, w.payerStore, w.chain.As(w.payerKey.Address()), w.payerKey)
	require.NoError(t, err)
	w.payeeStore = filepath.Join(t.TempDir(), "payee.db")
	w.openPayee(t)
	return w
}

// tiny is cfg without the floors (MinRedeem, MinDeposit): these tests
// trade in a few hundred base units.
func tiny(cfg paychan.PayeeConfig) paychan.PayeeConfig {
	cfg.MinRedeem, cfg.MinDeposit = btt.NewAmount(1), btt.NewAmount(1)
	return cfg
}

func (w *world) openPayee(t *testing.T) {
	t.Helper()
	st, err := paychan.OpenStore(w.payeeStore)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	w.payeeStoreDB = st
	w.payee, err = paychan.NewPayee(context.Background(), st, w.chain.As(w.payeeAddr), tiny(paychan.PayeeConfig{Self: w.payeeAddr, Now: func() time.Time { return w.clock }}))
	require.NoError(t, err)
}

// openAccepted opens a channel of deposit from the payer to the payee,
// expiring in a day, which the payee accepts.
func (w *world) openAccepted(t *testing.T, deposit btt.Amount) paychan.Channel {
	t.Helper()
	ctx := context.Background()
	ch, err := w.payer.Open(ctx, w.payeeAddr, deposit, start.Add(24*time.Hour))
	require.NoError(t, err)
	_, err = w.payee.Accept(ctx, ch.ID)
	require.NoError(t, err)
	return ch
}

func TestPayForVerifiedPiecesAndRedeem(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	ch, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(10_000), start.Add(24*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(990_000), w.chain.Balance(w.payerKey.Address()))
	_, err = w.payee.Accept(ctx, ch.ID)
	require.NoError(t, err)

	ih := [20]byte{7}
	var credited btt.Amount
	for i := 0; i < 5; i++ {
		sv, err := w.payer.PayFor(ch.ID, ih, i, btt.NewAmount(1000))
		require.NoError(t, err)
		assert.Equal(t, btt.NewAmount(uint64(1000*(i+1))), sv.Amount, "cumulative")
		d, err := w.payee.Receive(sv)
		require.NoError(t, err)
		credited, _ = credited.Add(d)
	}
	assert.Equal(t, btt.NewAmount(5000), credited)

	_, err = w.payer.PayFor(ch.ID, ih, 3, btt.NewAmount(1000))
	assert.ErrorIs(t, err, paychan.ErrAlreadyPaid, "a piece is never paid twice")
	_, err = w.payer.PayFor(ch.ID, ih, 9, btt.NewAmount(6000))
	var ife *paychan.InsufficientFundsError
	require.ErrorAs(t, err, &ife, "never past the deposit")
	assert.Equal(t, btt.NewAmount(1000), ife.Shortfall)

	tot, err := w.payee.Totals()
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(5000), tot.Redeemable)

	got, err := w.payee.Redeem(ctx, ch.ID, false)
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(5000), got)
	assert.Equal(t, btt.NewAmount(5000), w.chain.Balance(w.payeeAddr))
	// Pay more, then close: the payee gets the rest of what it is owed,
	// the payer the rest of the deposit.
	sv, err := w.payer.PayFor(ch.ID, ih, 5, btt.NewAmount(500))
	require.NoError(t, err)
	_, err = w.payee.Receive(sv)
	require.NoError(t, err)
	got, err = w.payee.Redeem(ctx, ch.ID, true)
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(500), got)
	assert.Equal(t, btt.NewAmount(5500), w.chain.Balance(w.payeeAddr))
	assert.Equal(t, btt.NewAmount(994_500), w.chain.Balance(w.payerKey.Address()), "deposit less payments refunded")
	tot, err = w.payee.Totals()
	require.NoError(t, err)
	assert.True(t, tot.Redeemable.IsZero())
}

func TestPayeeRejectsBadVouchers(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	ch, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(10_000), start.Add(24*time.Hour))
	require.NoError(t, err)
	good, err := w.payer.PayFor(ch.ID, [20]byte{1}, 0, btt.NewAmount(100))
	require.NoError(t, err)
	_, err = w.payee.Receive(good)
	assert.ErrorIs(t, err, paychan.ErrUnknownChannel, "channel not announced yet")
	_, err = w.payee.Accept(ctx, ch.ID)
	require.NoError(t, err)
	_, err = w.payee.Receive(good)
	require.NoError(t, err)
	_, err = w.payee.Receive(good)
	assert.ErrorIs(t, err, paychan.ErrNotIncreasing, "replayed")
	forged, err := paychan.Sign(signer(t, 9), paychan.Voucher{ChainID: good.ChainID, Escrow: good.Escrow, Channel: ch.ID, Amount: btt.NewAmount(500)})
	require.NoError(t, err)
	_, err = w.payee.Receive(forged)
	assert.ErrorIs(t, err, paychan.ErrBadSignature)
	tot, err := w.payee.Totals()
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(100), tot.Earned, "nothing credited for the bad ones")
}

// TestPayeeCrash: the payee's process dies without closing its store; a
// copy of the database file as it was is opened, and every acknowledged
// voucher is still there to redeem.
func TestPayeeCrash(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	ch, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(10_000), start.Add(24*time.Hour))
	require.NoError(t, err)
	_, err = w.payee.Accept(ctx, ch.ID)
	require.NoError(t, err)
	var acknowledged btt.Amount
	for i := 0; i < 7; i++ {
		sv, err := w.payer.PayFor(ch.ID, [20]byte{2}, i, btt.NewAmount(300))
		require.NoError(t, err)
		_, err = w.payee.Receive(sv)
		require.NoError(t, err)
		acknowledged = sv.Amount
	}
	// "Crash": copy the file while the store is open, as a kill would
	// leave it (every acknowledged write was committed and fsync'd).
	crashed := filepath.Join(t.TempDir(), "crashed.db")
	copyFile(t, w.payeeStore, crashed)
	w.payeeStore = crashed
	w.openPayee(t)
	got, err := w.payee.RedeemAll(ctx, true)
	require.NoError(t, err)
	assert.Equal(t, acknowledged, got)
	assert.Equal(t, acknowledged, w.chain.Balance(w.payeeAddr))
}

func TestPayerNeverSignsTwiceAcrossRestart(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	ch, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(1000), start.Add(time.Hour))
	require.NoError(t, err)
	_, err = w.payer.PayFor(ch.ID, [20]byte{3}, 0, btt.NewAmount(400))
	require.NoError(t, err)
	// Restart from the database as a kill would leave it.
	crashed := filepath.Join(t.TempDir(), "crashed.db")
	copyFile(t, w.payerPath, crashed)
	st, err := paychan.OpenStore(crashed)
	require.NoError(t, err)
	defer st.Close()
	p, err := paychan.NewPayer(ctx, st, w.chain.As(w.payerKey.Address()), w.payerKey)
	require.NoError(t, err)
	_, err = p.PayFor(ch.ID, [20]byte{3}, 0, btt.NewAmount(400))
	assert.ErrorIs(t, err, paychan.ErrAlreadyPaid)
	_, err = p.PayFor(ch.ID, [20]byte{3}, 1, btt.NewAmount(700))
	assert.ErrorIs(t, err, paychan.ErrOverDeposit)
	latest, err := p.Latest(ch.ID)
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(400), latest.Amount)
}

func TestChainRules(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	payerEsc := w.chain.As(w.payerKey.Address())
	payeeEsc := w.chain.As(w.payeeAddr)
	ch, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(1000), start.Add(time.Hour))
	require.NoError(t, err)
	_, err = payerEsc.TopUp(ctx, ch.ID, btt.NewAmount(10), start.Add(time.Minute))
	assert.Error(t, err, "top-up may only extend the expiry")
	_, err = w.payer.TopUp(ctx, ch.ID, btt.NewAmount(500), start.Add(2*time.Hour))
	require.NoError(t, err)
	_, err = payerEsc.Reclaim(ctx, ch.ID)
	assert.Error(t, err, "no reclaim before expiry")

	sv, err := w.payer.PayFor(ch.ID, [20]byte{4}, 0, btt.NewAmount(200))
	require.NoError(t, err)
	_, err = payerEsc.Claim(ctx, sv)
	assert.ErrorIs(t, err, paychan.ErrWrongPayee, "only the payee claims")
	// Early close: the payee can still redeem inside the window.
	_, err = payerEsc.StartClose(ctx, ch.ID)
	require.NoError(t, err)
	w.chain.Advance(30 * time.Minute)
	_, err = payeeEsc.Claim(ctx, sv)
	require.NoError(t, err)
	_, err = payerEsc.Reclaim(ctx, ch.ID)
	assert.Error(t, err, "not before the challenge window ends")
	w.chain.Advance(31 * time.Minute)
	closed, err := payerEsc.Reclaim(ctx, ch.ID)
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelClosed, closed.State)
	assert.Equal(t, btt.NewAmount(200), w.chain.Balance(w.payeeAddr))
	assert.Equal(t, btt.NewAmount(1_000_000-200), w.chain.Balance(w.payerKey.Address()))
	_, err = payeeEsc.Close(ctx, sv)
	assert.ErrorIs(t, err, paychan.ErrChannelClosed, "no second close")

	w.chain.SetUnavailable(true)
	_, err = payerEsc.Channel(ctx, ch.ID)
	assert.ErrorIs(t, err, paychan.ErrChainUnavailable)
}

func TestCredit(t *testing.T) {
	for _, tc := range []struct {
		name               string
		start, max, growth int64
		want               []int64 // the window after each of three payments
	}{
		{name: "default: the first payment opens it", start: 256 << 10, max: 256 << 20, want: []int64{256 << 20, 256 << 20, 256 << 20}},
		{name: "growth below 2 is the default", start: 256 << 10, max: 256 << 20, growth: 1, want: []int64{256 << 20, 256 << 20, 256 << 20}},
		{name: "64-fold", start: 256 << 10, max: 256 << 20, growth: 64, want: []int64{16 << 20, 256 << 20, 256 << 20}},
		{name: "twofold", start: 1 << 20, max: 5 << 20, growth: 2, want: []int64{2 << 20, 4 << 20, 5 << 20}},
		{name: "no overflow near the top", start: 1 << 61, max: 1 << 62, growth: 64, want: []int64{1 << 62, 1 << 62, 1 << 62}},
		{name: "capped, not overshot", start: 3 << 20, max: 8 << 20, want: []int64{8 << 20, 8 << 20, 8 << 20}},
		{name: "a max below the start is the start", start: 1 << 20, max: 1 << 10, want: []int64{1 << 20, 1 << 20, 1 << 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := paychan.NewCredit(tc.start, tc.max, tc.growth)
			assert.True(t, c.Allows(0))
			assert.True(t, c.Allows(tc.start-1))
			assert.False(t, c.Allows(tc.start), "the window is the most unpaid")
			var steps []int64
			for range 3 {
				c.Paid()
				steps = append(steps, c.Window)
			}
			assert.Equal(t, tc.want, steps)
		})
	}
	var zero paychan.Credit // a zero Growth grows by the default too
	zero.Window, zero.Max = 1, 1<<20
	zero.Paid()
	assert.Equal(t, int64(1024), zero.Window)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.Create(to)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
}

func TestPayForPieces(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	ch, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(1000), start.Add(time.Hour))
	require.NoError(t, err)
	ih := [20]byte{5}
	sv, err := w.payer.PayForPieces(ch.ID, ih, []paychan.PiecePayment{{Piece: 0, Amount: btt.NewAmount(100)}, {Piece: 1, Amount: btt.NewAmount(150)}})
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(250), sv.Amount)
	_, err = w.payer.PayForPieces(ch.ID, ih, []paychan.PiecePayment{{Piece: 2, Amount: btt.NewAmount(1)}, {Piece: 1, Amount: btt.NewAmount(1)}})
	assert.ErrorIs(t, err, paychan.ErrAlreadyPaid)
	sv, err = w.payer.PayFor(ch.ID, ih, 2, btt.NewAmount(1))
	require.NoError(t, err, "a failed batch records nothing")
	assert.Equal(t, btt.NewAmount(251), sv.Amount)
	_, err = w.payer.PayForPieces(ch.ID, ih, nil)
	assert.Error(t, err)
	_, err = w.payer.PayFor(ch.ID, ih, 1<<32+3, btt.NewAmount(1))
	assert.Error(t, err, "an index past 2^31-1 is not taken modulo 2^32")
	paid, err := w.payer.PaidPieces(ih)
	require.NoError(t, err)
	assert.NotContains(t, paid, 3)
}

// TestOpenNotify: the channel is handed over as soon as the chain has it,
// before it is recorded — so nothing can be signed on it yet — and once
// OpenNotify returns it is recorded and pays. The payee can accept it
// from the chain meanwhile.
func TestOpenNotify(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	var seen paychan.Channel
	ch, err := w.payer.OpenNotify(ctx, w.payeeAddr, btt.NewAmount(1000), start.Add(24*time.Hour), func(ch paychan.Channel) {
		seen = ch
		_, err := w.payerStore.Payer(ch.ID)
		assert.ErrorIs(t, err, paychan.ErrNotFound, "not recorded yet")
		_, err = w.payer.PayFor(ch.ID, [20]byte{1}, 0, btt.NewAmount(1))
		assert.ErrorIs(t, err, paychan.ErrUnknownChannel, "nothing signed before it is recorded")
		acc, err := w.payee.Accept(ctx, ch.ID)
		assert.NoError(t, err, "the payee reads it from the chain")
		assert.Equal(t, btt.NewAmount(1000), acc.Deposit)
	})
	require.NoError(t, err)
	assert.Equal(t, ch, seen)
	r, err := w.payerStore.Payer(ch.ID)
	require.NoError(t, err)
	assert.Equal(t, ch.Deposit, r.Channel.Deposit)
	sv, err := w.payer.PayFor(ch.ID, [20]byte{1}, 0, btt.NewAmount(1))
	require.NoError(t, err)
	_, err = w.payee.Receive(sv)
	assert.NoError(t, err)

	_, err = w.payer.OpenNotify(ctx, w.payeeAddr, btt.NewAmount(10_000_000), start.Add(time.Hour), func(paychan.Channel) {
		t.Error("called for a channel the chain refused")
	})
	assert.Error(t, err, "more than the balance")
}

// TestTopUpKeepsConcurrentPayments: a top-up recorded while payments are
// being reserved loses none of them: what the payer's store says it signed
// is the sum of every payment, so it can never sign past its deposit.
func TestTopUpKeepsConcurrentPayments(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	ch, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(10_000), start.Add(48*time.Hour))
	require.NoError(t, err)
	var wg sync.WaitGroup
	const pieces = 200
	for i := range pieces {
		wg.Go(func() {
			_, err := w.payer.PayForPieces(ch.ID, [20]byte{2}, []paychan.PiecePayment{{Piece: i, Amount: btt.NewAmount(10)}})
			assert.NoError(t, err)
		})
		if i%20 == 0 {
			wg.Go(func() {
				_, err := w.payer.TopUp(ctx, ch.ID, btt.NewAmount(1), start.Add(48*time.Hour))
				assert.NoError(t, err)
			})
		}
	}
	wg.Wait()
	r, err := w.payerStore.Payer(ch.ID)
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(pieces*10), r.Signed, "every payment counted")
	assert.Equal(t, btt.NewAmount(10_000+pieces/20), r.Channel.Deposit)
}

// TestStaleChainReadKeepsTopUp: two top-ups (or a top-up and a Resume)
// whose results are stored in the reverse of the chain's order leave the
// store with the later state, never the earlier: the chain only moves a
// channel forward.
func TestStaleChainReadKeepsTopUp(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	older, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(100), start.Add(time.Hour))
	require.NoError(t, err)
	newer, err := w.payer.TopUp(ctx, older.ID, btt.NewAmount(50), start.Add(2*time.Hour))
	require.NoError(t, err)
	_, err = w.payer.PayFor(older.ID, [20]byte{1}, 0, btt.NewAmount(120))
	require.NoError(t, err, "within the topped-up deposit")

	require.NoError(t, w.payerStore.SetPayerChannel(older), "the stale read lands last")
	r, err := w.payerStore.Payer(older.ID)
	require.NoError(t, err)
	assert.Equal(t, newer.Deposit, r.Channel.Deposit)
	assert.True(t, newer.Expiry.Equal(r.Channel.Expiry))
	assert.Equal(t, btt.NewAmount(120), r.Signed, "what was signed is kept")
	_, err = w.payer.PayFor(older.ID, [20]byte{1}, 1, btt.NewAmount(30))
	require.NoError(t, err, "the top-up still counts")

	closing, err := w.payer.StartClose(ctx, older.ID)
	require.NoError(t, err)
	require.NoError(t, w.payerStore.SetPayerChannel(newer))
	r, err = w.payerStore.Payer(older.ID)
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelClosing, r.Channel.State, "a close is not undone by an older read")
	assert.True(t, closing.ChallengeEnd.Equal(r.Channel.ChallengeEnd))
}

// TestPayerResume: a payer that restarts carries on through a channel it
// has to the payee — open on chain, running past the time asked, with
// funds left — the one with the most left; otherwise it has none to
// resume.
func TestPayerResume(t *testing.T) {
	ctx := context.Background()
	other := signer(t, 3).Address()
	until := start.Add(12 * time.Hour)
	tests := []struct {
		name  string
		setup func(t *testing.T, w *world) (want paychan.ChannelID, signed uint64)
	}{
		{"no channel", func(*testing.T, *world) (paychan.ChannelID, uint64) { return paychan.ChannelID{}, 0 }},
		{"to another payee", func(t *testing.T, w *world) (paychan.ChannelID, uint64) {
			_, err := w.payer.Open(ctx, other, btt.NewAmount(100), start.Add(24*time.Hour))
			require.NoError(t, err)
			return paychan.ChannelID{}, 0
		}},
		{"another key's, in the same store", func(t *testing.T, w *world) (paychan.ChannelID, uint64) {
			k := signer(t, 4)
			w.chain.Mint(k.Address(), btt.NewAmount(1000))
			p, err := paychan.NewPayer(ctx, w.payerStore, w.chain.As(k.Address()), k)
			require.NoError(t, err)
			_, err = p.Open(ctx, w.payeeAddr, btt.NewAmount(100), start.Add(24*time.Hour))
			require.NoError(t, err)
			return paychan.ChannelID{}, 0
		}},
		{"expiring too soon", func(t *testing.T, w *world) (paychan.ChannelID, uint64) {
			_, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(100), start.Add(11*time.Hour))
			require.NoError(t, err)
			return paychan.ChannelID{}, 0
		}},
		{"all signed", func(t *testing.T, w *world) (paychan.ChannelID, uint64) {
			ch, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(100), start.Add(24*time.Hour))
			require.NoError(t, err)
			_, err = w.payer.PayForPieces(ch.ID, [20]byte{1}, []paychan.PiecePayment{{Piece: 0, Amount: btt.NewAmount(100)}})
			require.NoError(t, err)
			return paychan.ChannelID{}, 0
		}},
		{"closing", func(t *testing.T, w *world) (paychan.ChannelID, uint64) {
			ch, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(100), start.Add(24*time.Hour))
			require.NoError(t, err)
			_, err = w.payer.StartClose(ctx, ch.ID)
			require.NoError(t, err)
			return paychan.ChannelID{}, 0
		}},
		{"closed on chain, open in the store", func(t *testing.T, w *world) (paychan.ChannelID, uint64) {
			ch, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(100), start.Add(24*time.Hour))
			require.NoError(t, err)
			sv, err := w.payer.PayForPieces(ch.ID, [20]byte{1}, []paychan.PiecePayment{{Piece: 0, Amount: btt.NewAmount(10)}})
			require.NoError(t, err)
			_, err = w.chain.As(w.payeeAddr).Close(ctx, sv)
			require.NoError(t, err)
			return paychan.ChannelID{}, 0
		}},
		{"one open with funds left", func(t *testing.T, w *world) (paychan.ChannelID, uint64) {
			ch, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(100), start.Add(24*time.Hour))
			require.NoError(t, err)
			_, err = w.payer.PayForPieces(ch.ID, [20]byte{1}, []paychan.PiecePayment{{Piece: 0, Amount: btt.NewAmount(30)}})
			require.NoError(t, err)
			return ch.ID, 30
		}},
		{"the one with the most left", func(t *testing.T, w *world) (paychan.ChannelID, uint64) {
			a, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(100), start.Add(24*time.Hour))
			require.NoError(t, err)
			b, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(300), start.Add(24*time.Hour))
			require.NoError(t, err)
			_, err = w.payer.PayForPieces(b.ID, [20]byte{1}, []paychan.PiecePayment{{Piece: 0, Amount: btt.NewAmount(250)}})
			require.NoError(t, err)
			return a.ID, 0 // 100 left, against 50
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			want, signed := tc.setup(t, w)
			ch, got, ok, err := w.payer.Resume(ctx, w.payeeAddr, until)
			require.NoError(t, err)
			if want == (paychan.ChannelID{}) {
				assert.False(t, ok, "nothing to resume, got %x", ch.ID[:8])
				return
			}
			require.True(t, ok)
			assert.Equal(t, want, ch.ID)
			assert.Equal(t, btt.NewAmount(signed), got)
			assert.Equal(t, paychan.ChannelOpen, ch.State)
		})
	}

	t.Run("the store learns what the chain says", func(t *testing.T) {
		w := newWorld(t)
		ch, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(100), start.Add(24*time.Hour))
		require.NoError(t, err)
		// Topped up behind the store's back (a top-up whose record was lost).
		_, err = w.chain.As(w.payerKey.Address()).TopUp(ctx, ch.ID, btt.NewAmount(50), start.Add(36*time.Hour))
		require.NoError(t, err)
		got, _, ok, err := w.payer.Resume(ctx, w.payeeAddr, until)
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, btt.NewAmount(150), got.Deposit)
		recs, err := w.payer.Channels()
		require.NoError(t, err)
		require.Len(t, recs, 1)
		assert.Equal(t, btt.NewAmount(150), recs[0].Channel.Deposit)
	})
	t.Run("the chain down", func(t *testing.T) {
		w := newWorld(t)
		_, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(100), start.Add(24*time.Hour))
		require.NoError(t, err)
		w.chain.SetUnavailable(true)
		_, _, ok, err := w.payer.Resume(ctx, w.payeeAddr, until)
		assert.ErrorIs(t, err, paychan.ErrChainUnavailable)
		assert.False(t, ok)
	})
}

// TestPayerRefresh: a top-up the payer's store never recorded (its
// outcome was unknown) shows after Refresh, and the payer can sign up to
// the new deposit.
func TestPayerRefresh(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	ch, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(100), start.Add(24*time.Hour))
	require.NoError(t, err)
	_, err = w.chain.As(w.payerKey.Address()).TopUp(ctx, ch.ID, btt.NewAmount(50), start.Add(24*time.Hour))
	require.NoError(t, err)
	_, err = w.payer.PayForPieces(ch.ID, [20]byte{1}, []paychan.PiecePayment{{Piece: 0, Amount: btt.NewAmount(120)}})
	var dry *paychan.InsufficientFundsError
	require.ErrorAs(t, err, &dry, "the store knows only the first deposit")

	got, err := w.payer.Refresh(ctx, ch.ID)
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(150), got.Deposit)
	sv, err := w.payer.PayForPieces(ch.ID, [20]byte{1}, []paychan.PiecePayment{{Piece: 0, Amount: btt.NewAmount(120)}})
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(120), sv.Amount)

	w.chain.SetUnavailable(true)
	_, err = w.payer.Refresh(ctx, ch.ID)
	assert.ErrorIs(t, err, paychan.ErrChainUnavailable)
}

// BenchmarkPayForPieces signs one voucher for a batch of pieces, the
// batch recorded in one durable transaction first: what a fast download
// pays with (a voucher for one piece, then a few hundred at a time, under
// the default credit window).
// cpu-µs/op is the process's CPU per voucher, fsync included.
func BenchmarkPayForPieces(b *testing.B) {
	for _, n := range []int{1, 32, 512} {
		b.Run(fmt.Sprintf("pieces=%d", n), func(b *testing.B) {
			_, p, ch := benchChannel(b, signer(b, 2).Address())
			pays := make([]paychan.PiecePayment, n)
			var ih [20]byte
			i := 0
			var cpu time.Duration
			for b.Loop() {
				binary.BigEndian.PutUint32(ih[:], uint32(i)) // a fresh torrent: no piece paid twice
				i++
				for j := range pays {
					pays[j] = paychan.PiecePayment{Piece: j, Amount: btt.NewAmount(1)}
				}
				c0 := processCPU()
				if _, err := p.PayForPieces(ch.ID, ih, pays); err != nil {
					b.Fatal(err)
				}
				cpu += processCPU() - c0
			}
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// BenchmarkReceivePieces stores one voucher and the batch of pieces it
// lists (a payee's side of BenchmarkPayForPieces), in one durable
// transaction. cpu-µs/op is the process's CPU per voucher, fsync included.
func BenchmarkReceivePieces(b *testing.B) {
	for _, n := range []int{1, 32, 512} {
		b.Run(fmt.Sprintf("pieces=%d", n), func(b *testing.B) {
			ctx := context.Background()
			payee := signer(b, 2).Address()
			chain, p, ch := benchChannel(b, payee)
			est, err := paychan.OpenStore(filepath.Join(b.TempDir(), "payee.db"))
			require.NoError(b, err)
			defer est.Close()
			e, err := paychan.NewPayee(ctx, est, chain.As(payee), paychan.PayeeConfig{Self: payee, Now: func() time.Time { return start }})
			require.NoError(b, err)
			_, err = e.Accept(ctx, ch.ID)
			require.NoError(b, err)
			bought := paychan.PiecesBought{Price: btt.NewAmount(1), Pieces: make([]paychan.PieceSize, n)}
			for j := range bought.Pieces {
				bought.Pieces[j] = paychan.PieceSize{Piece: j, Bytes: 1}
			}
			i := 0
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				i++
				binary.BigEndian.PutUint32(bought.InfoHash[:], uint32(i)) // a fresh torrent
				sv, err := p.PayFor(ch.ID, [20]byte{0xff}, i, btt.NewAmount(uint64(n)))
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				c0 := processCPU()
				if _, _, err := e.ReceivePieces(sv, bought); err != nil {
					b.Fatal(err)
				}
				cpu += processCPU() - c0
			}
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// benchChannel returns, for the benchmarks, a fresh in-memory chain, a
// payer on a store of its own (closed with b), and a channel of 1,000,000
// BTT from it to payee.
func benchChannel(b *testing.B, payee btt.Address) (*paychantest.Chain, *paychan.Payer, paychan.Channel) {
	ctx := context.Background()
	k := signer(b, 1)
	chain := paychantest.New(paychan.Domain{ChainID: 1, Escrow: btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")}, start)
	chain.Mint(k.Address(), btt.BTT(1_000_000))
	st, err := paychan.OpenStore(filepath.Join(b.TempDir(), "payer.db"))
	require.NoError(b, err)
	b.Cleanup(func() { st.Close() })
	p, err := paychan.NewPayer(ctx, st, chain.As(k.Address()), k)
	require.NoError(b, err)
	ch, err := p.Open(ctx, payee, btt.BTT(1_000_000), start.Add(24*time.Hour))
	require.NoError(b, err)
	return chain, p, ch
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestReceivePieces: the pieces a voucher lists are recorded, durably and
// with it, as far as the channel's payments cover them at the price
// claimed; a piece recorded before costs nothing again.
func TestReceivePieces(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	ch, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(10_000), start.Add(24*time.Hour))
	require.NoError(t, err)
	_, err = w.payee.Accept(ctx, ch.ID)
	require.NoError(t, err)
	ih, other := [20]byte{7}, [20]byte{8}
	pieces := func(ps ...int) []paychan.PieceSize {
		var out []paychan.PieceSize
		for _, p := range ps {
			out = append(out, paychan.PieceSize{Piece: p, Bytes: 10})
		}
		return out
	}
	next := 0 // the payer's own piece numbers, apart from the claims
	pay := func(amount int64, bought paychan.PiecesBought) []int {
		t.Helper()
		next++
		sv, err := w.payer.PayFor(ch.ID, [20]byte{9}, next, btt.NewAmount(uint64(amount)))
		require.NoError(t, err)
		added, rec, err := w.payee.ReceivePieces(sv, bought)
		require.NoError(t, err)
		assert.Equal(t, btt.NewAmount(uint64(amount)), added)
		return rec
	}
	price := btt.NewAmount(2) // a piece of 10 bytes costs 20

	tests := []struct {
		name   string
		amount int64 // what the voucher adds
		bought paychan.PiecesBought
		want   []int
	}{
		{"covered", 60, paychan.PiecesBought{InfoHash: ih, Price: price, Pieces: pieces(0, 1, 2)}, []int{0, 1, 2}},
		{"past the payments the rest is left out", 30, paychan.PiecesBought{InfoHash: ih, Price: price, Pieces: pieces(3, 4, 5)}, []int{3}},
		{"recorded before: free, and what is left covers one more", 10, paychan.PiecesBought{InfoHash: ih, Price: price, Pieces: pieces(0, 1, 4)}, []int{4}},
		{"another torrent", 20, paychan.PiecesBought{InfoHash: other, Price: price, Pieces: pieces(0)}, []int{0}},
		{"zero price records nothing", 20, paychan.PiecesBought{InfoHash: ih, Pieces: pieces(6)}, nil},
		{"bad pieces are skipped", 40, paychan.PiecesBought{InfoHash: ih, Price: price, Pieces: []paychan.PieceSize{{Piece: -1, Bytes: 10}, {Piece: 7, Bytes: 0}, {Piece: 8, Bytes: 10}}}, []int{8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, pay(tt.amount, tt.bought))
		})
	}
	// A voucher that does not verify records nothing.
	sv, err := w.payer.PayFor(ch.ID, [20]byte{9}, 1000, btt.NewAmount(1))
	require.NoError(t, err)
	sv.Amount, _ = sv.Amount.Add(btt.NewAmount(1))
	_, rec, err := w.payee.ReceivePieces(sv, paychan.PiecesBought{InfoHash: ih, Price: price, Pieces: pieces(9)})
	assert.ErrorIs(t, err, paychan.ErrBadSignature)
	assert.Empty(t, rec)

	// Kept across a crash, with what they cost.
	crashed := filepath.Join(t.TempDir(), "crashed.db")
	copyFile(t, w.payeeStore, crashed)
	w.payeeStore = crashed
	w.openPayee(t)
	got, err := w.payee.SoldPieces(ch.ID, ih)
	require.NoError(t, err)
	assert.Equal(t, []int{0, 1, 2, 3, 4, 8}, got)
	got, err = w.payee.SoldPieces(ch.ID, other)
	require.NoError(t, err)
	assert.Equal(t, []int{0}, got)
	r, err := w.payeeStoreDB.Payee(ch.ID)
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(140), r.Listed, "seven pieces at 20")
	assert.False(t, r.Listed.Gt(r.Best.Amount))
}

// TestPieceListsAcrossChunks: the pieces paid for and sold are kept as
// bitmaps of 8192 pieces each; pieces on either side of a chunk's edge, far
// apart and at the largest index are listed exactly, a piece is never paid
// twice — not in two batches, not twice in one, not through two channels —
// and a batch refused records nothing.
func TestPieceListsAcrossChunks(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	a, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(10_000), start.Add(24*time.Hour))
	require.NoError(t, err)
	b, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(10_000), start.Add(24*time.Hour))
	require.NoError(t, err)
	_, err = w.payee.Accept(ctx, a.ID)
	require.NoError(t, err)
	ih := [20]byte{3}
	pays := func(ps ...int) []paychan.PiecePayment {
		var out []paychan.PiecePayment
		for _, p := range ps {
			out = append(out, paychan.PiecePayment{Piece: p, Amount: btt.NewAmount(1)})
		}
		return out
	}
	want := map[int]paychan.ChannelID{}
	for _, tc := range []struct {
		name   string
		ch     paychan.ChannelID
		pieces []int
		err    error // nil: paid
		bad    bool  // refused, with an error of its own
	}{
		{"a chunk's edges", a.ID, []int{0, 7, 8, 8191, 8192}, nil, false},
		{"far apart and the largest index", a.ID, []int{1 << 20, 1<<31 - 1, 9}, nil, false},
		{"through another channel", b.ID, []int{10, 8193}, nil, false},
		{"paid before", a.ID, []int{11, 8192}, paychan.ErrAlreadyPaid, false},
		{"paid before through the other channel", a.ID, []int{12, 8193}, paychan.ErrAlreadyPaid, false},
		{"twice in one batch: paid once", b.ID, []int{13, 15, 13}, nil, false},
		{"past the largest index", a.ID, []int{14, 1 << 31}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, err := w.payerStore.Payer(tc.ch)
			require.NoError(t, err)
			_, err = w.payer.PayForPieces(tc.ch, ih, pays(tc.pieces...))
			after, rerr := w.payerStore.Payer(tc.ch)
			require.NoError(t, rerr)
			switch {
			case tc.err != nil:
				assert.ErrorIs(t, err, tc.err)
			case tc.bad:
				assert.Error(t, err)
			default:
				require.NoError(t, err)
				distinct := map[int]bool{}
				for _, p := range tc.pieces {
					want[p] = tc.ch
					distinct[p] = true
				}
				assert.Equal(t, btt.NewAmount(uint64(len(distinct))), after.Signed.SubFloor(before.Signed), "a unit a piece")
				return
			}
			assert.Equal(t, before.Signed, after.Signed, "a batch refused signs nothing")
		})
	}
	got, err := w.payer.PaidPieces(ih)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	for _, other := range [][20]byte{{2}, {4}} { // sorting before and after ih
		none, err := w.payer.PaidPieces(other)
		require.NoError(t, err)
		assert.Empty(t, none, "another torrent")
	}

	// The payee's list of what channel a paid for: the same edges.
	sv, err := w.payer.Latest(a.ID)
	require.NoError(t, err)
	sizes := func(ps ...int) []paychan.PieceSize {
		var out []paychan.PieceSize
		for _, p := range ps {
			out = append(out, paychan.PieceSize{Piece: p, Bytes: 1})
		}
		return out
	}
	_, rec, err := w.payee.ReceivePieces(sv, paychan.PiecesBought{InfoHash: ih, Price: btt.NewAmount(1), Pieces: sizes(8192, 0, 8191, 1<<31-1, 8191)})
	require.NoError(t, err)
	assert.Equal(t, []int{8192, 0, 8191, 1<<31 - 1}, rec, "a piece listed twice is recorded once")

	// Other channels and torrents have lists of their own.
	_, err = w.payee.Accept(ctx, b.ID)
	require.NoError(t, err)
	svb, err := w.payer.Latest(b.ID)
	require.NoError(t, err)
	_, rec, err = w.payee.ReceivePieces(svb, paychan.PiecesBought{InfoHash: ih, Price: btt.NewAmount(1), Pieces: sizes(1, 2)})
	require.NoError(t, err)
	assert.Equal(t, []int{1, 2}, rec)
	sva, err := w.payer.PayFor(a.ID, [20]byte{0x77}, 0, btt.NewAmount(5))
	require.NoError(t, err)
	_, rec, err = w.payee.ReceivePieces(sva, paychan.PiecesBought{InfoHash: [20]byte{2}, Price: btt.NewAmount(1), Pieces: sizes(5)})
	require.NoError(t, err)
	assert.Equal(t, []int{5}, rec)
	for _, tc := range []struct {
		ch   paychan.ChannelID
		ih   [20]byte
		want []int
	}{
		{a.ID, ih, []int{0, 8191, 8192, 1<<31 - 1}},
		{a.ID, [20]byte{2}, []int{5}},
		{b.ID, ih, []int{1, 2}},
		{b.ID, [20]byte{2}, nil},
		{a.ID, [20]byte{1}, nil},
		{a.ID, [20]byte{4}, nil},
	} {
		sold, err := w.payee.SoldPieces(tc.ch, tc.ih)
		require.NoError(t, err)
		assert.Equal(t, tc.want, sold, "channel %x, torrent %x", tc.ch[:2], tc.ih[:1])
	}
}

// TestLegacyPieceLists: a store written before the piece lists became
// bitmaps keeps a key per piece; those pieces still count as paid for and
// sold — never paid twice, served again free — beside the ones recorded
// since. A bitmap too long for its chunk is a malformed store, not a panic.
func TestLegacyPieceLists(t *testing.T) {
	w := newWorld(t)
	ch := w.openAccepted(t, btt.NewAmount(10_000))
	ih := [20]byte{6}
	require.NoError(t, paychan.PutLegacyPaid(w.payerStore, ih, 5, ch.ID))
	require.NoError(t, paychan.PutLegacySold(w.payeeStoreDB, ch.ID, ih, 5))

	_, err := w.payer.PayForPieces(ch.ID, ih, []paychan.PiecePayment{{Piece: 6, Amount: btt.NewAmount(10)}, {Piece: 5, Amount: btt.NewAmount(10)}})
	assert.ErrorIs(t, err, paychan.ErrAlreadyPaid, "paid for in the old format")
	sv, err := w.payer.PayForPieces(ch.ID, ih, []paychan.PiecePayment{{Piece: 6, Amount: btt.NewAmount(10)}, {Piece: 7, Amount: btt.NewAmount(10)}})
	require.NoError(t, err)
	paid, err := w.payer.PaidPieces(ih)
	require.NoError(t, err)
	assert.Equal(t, map[int]paychan.ChannelID{5: ch.ID, 6: ch.ID, 7: ch.ID}, paid)

	one := func(p int) paychan.PieceSize { return paychan.PieceSize{Piece: p, Bytes: 10} }
	_, rec, err := w.payee.ReceivePieces(sv, paychan.PiecesBought{InfoHash: ih, Price: btt.NewAmount(1), Pieces: []paychan.PieceSize{one(5), one(6), one(7)}})
	require.NoError(t, err)
	assert.Equal(t, []int{6, 7}, rec, "sold before in the old format: not recorded again")
	sold, err := w.payee.SoldPieces(ch.ID, ih)
	require.NoError(t, err)
	assert.Equal(t, []int{5, 6, 7}, sold)
	r, err := w.payeeStoreDB.Payee(ch.ID)
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(20), r.Listed)

	// Corrupt lists: the payer refuses to sign (it cannot tell what it
	// paid for); the payee still stores the voucher, which is money, and
	// leaves the corrupt chunk's pieces unrecorded.
	require.NoError(t, paychan.PutPaidBitmap(w.payerStore, ih, ch.ID, 1, make([]byte, 1025)))
	_, err = w.payer.PaidPieces(ih)
	assert.ErrorIs(t, err, paychan.ErrMalformed)
	_, err = w.payer.PayForPieces(ch.ID, ih, []paychan.PiecePayment{{Piece: 8192, Amount: btt.NewAmount(1)}})
	assert.ErrorIs(t, err, paychan.ErrMalformed)
	require.NoError(t, paychan.PutSoldBitmap(w.payeeStoreDB, ch.ID, ih, 1, make([]byte, 1025)))
	sv, err = w.payer.PayFor(ch.ID, [20]byte{0xee}, 0, btt.NewAmount(30))
	require.NoError(t, err)
	added, rec, err := w.payee.ReceivePieces(sv, paychan.PiecesBought{InfoHash: ih, Price: btt.NewAmount(1), Pieces: []paychan.PieceSize{one(8), one(8192), one(9)}})
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(30), added)
	assert.Equal(t, []int{8, 9}, rec)
	r, err = w.payeeStoreDB.Payee(ch.ID)
	require.NoError(t, err)
	assert.Equal(t, sv.Amount, r.Best.Amount, "stored")
	_, err = w.payee.SoldPieces(ch.ID, ih)
	assert.ErrorIs(t, err, paychan.ErrMalformed)

	// A chunk past the largest piece index.
	far := [20]byte{0x66}
	require.NoError(t, paychan.PutPaidBitmap(w.payerStore, far, ch.ID, 1<<18, []byte{1}))
	_, err = w.payer.PaidPieces(far)
	assert.ErrorIs(t, err, paychan.ErrMalformed)
}
