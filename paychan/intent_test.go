package paychan_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/paychan/paychantest"
)

// intentWorld is a payer over an in-memory escrow, with its store in a
// directory it can reopen (a restart).
type intentWorld struct {
	t      *testing.T
	chain  *paychantest.Chain
	signer *paychan.KeySigner
	payee  btt.Address
	path   string
	store  *paychan.Store
	payer  *paychan.Payer
}

func newIntentWorld(t *testing.T, funds btt.Amount) *intentWorld {
	key, err := crypto.GenerateKey()
	require.NoError(t, err)
	signer, err := paychan.NewKeySigner(key)
	require.NoError(t, err)
	w := &intentWorld{
		t:      t,
		chain:  paychantest.New(paychan.Domain{ChainID: 1, Escrow: btt.MustParseAddress("TE2H9hWjzYdwzDFRJfx9BFhr4MmjH1CHaz")}, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		signer: signer,
		payee:  btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4"),
		path:   filepath.Join(t.TempDir(), "payer.db"),
	}
	w.chain.Mint(signer.Address(), funds)
	w.restart()
	t.Cleanup(func() { w.store.Close() })
	return w
}

// restart reopens the store and makes a new Payer, as a new process does.
func (w *intentWorld) restart() {
	if w.store != nil {
		require.NoError(w.t, w.store.Close())
	}
	var err error
	w.store, err = paychan.OpenStore(w.path)
	require.NoError(w.t, err)
	w.payer, err = paychan.NewPayer(context.Background(), w.store, w.chain.As(w.signer.Address()), w.signer)
	require.NoError(w.t, err)
}

// channelsOnChain counts the deposits the payer has locked: what left its
// balance.
func (w *intentWorld) locked(funds btt.Amount) btt.Amount {
	return funds.SubFloor(w.chain.Balance(w.signer.Address()))
}

// TestRetriedOpenDepositsOnce: an open whose answer is lost, retried —
// with a new expiry, as the engine's retry picks one, and after a restart
// — gives the first channel, never a second deposit (issue 30, item 1).
func TestRetriedOpenDepositsOnce(t *testing.T) {
	for _, restart := range []bool{false, true} {
		name := "same process"
		if restart {
			name = "after a restart"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			funds := btt.BTT(5) // exactly one deposit
			w := newIntentWorld(t, funds)
			exp1 := w.chain.Now().Add(24 * time.Hour)
			w.chain.SetLostAnswer("Open")
			_, err := w.payer.Open(ctx, w.payee, btt.BTT(5), exp1)
			require.ErrorIs(t, err, paychan.ErrChainUnavailable)
			ins, err := w.payer.Intents()
			require.NoError(t, err)
			require.Len(t, ins, 1, "the open with an unknown outcome is an intent")
			w.chain.SetUnavailable(false)
			if restart {
				w.restart()
			}

			ch, err := w.payer.Open(ctx, w.payee, btt.BTT(5), exp1.Add(time.Minute))
			require.NoError(t, err, "the retry finds the first channel; with one deposit's funds, a second open would fail")
			assert.Equal(t, exp1.Unix(), ch.Expiry.Unix(), "the first open's channel, its expiry")
			assert.Equal(t, 1, w.chain.Count("Open"), "one open sent")
			assert.Equal(t, btt.BTT(5), w.locked(funds), "one deposit locked")
			rec, err := w.store.Payer(ch.ID)
			require.NoError(t, err, "the channel is in the payer store")
			assert.Equal(t, ch.ID, rec.Channel.ID)
			ins, err = w.payer.Intents()
			require.NoError(t, err)
			assert.Empty(t, ins)

			// And it pays as any channel does.
			_, err = w.payer.PayForPieces(ch.ID, [20]byte{1}, []paychan.PiecePayment{{Piece: 0, Amount: btt.BTT(1)}})
			require.NoError(t, err)
		})
	}
}

// TestResolveIntentsFindsTheChannel: a run that stopped with an open's
// outcome unknown has its channel found and recorded at the next start,
// so that it is reclaimed after expiry; nothing is sent.
func TestResolveIntentsFindsTheChannel(t *testing.T) {
	ctx := context.Background()
	w := newIntentWorld(t, btt.BTT(10))
	// Someone else opens channels on the same escrow meanwhile.
	other := w.chain.As(btt.MustParseAddress("TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"))
	w.chain.Mint(btt.MustParseAddress("TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"), btt.BTT(10))
	w.chain.SetLostAnswer("Open")
	_, err := w.payer.Open(ctx, w.payee, btt.BTT(3), w.chain.Now().Add(time.Hour))
	require.Error(t, err)
	w.chain.SetUnavailable(false)
	_, err = other.Open(ctx, w.payee, btt.BTT(1), w.chain.Now().Add(time.Hour))
	require.NoError(t, err)
	w.restart()

	found, err := w.payer.ResolveIntents(ctx)
	require.NoError(t, err)
	require.Len(t, found, 1)
	assert.Equal(t, w.signer.Address(), found[0].Payer)
	assert.Equal(t, btt.BTT(3), found[0].Deposit)
	recs, err := w.payer.Channels()
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, found[0].ID, recs[0].Channel.ID)
	assert.Equal(t, 2, w.chain.Count("Open"), "ours and the other's: resolving sends nothing")
}

// TestIntentOutcomes: which failures keep an intent and which drop it.
func TestIntentOutcomes(t *testing.T) {
	ctx := context.Background()

	t.Run("refused: dropped", func(t *testing.T) {
		w := newIntentWorld(t, btt.BTT(1))
		_, err := w.payer.Open(ctx, w.payee, btt.BTT(5), w.chain.Now().Add(time.Hour))
		var short *paychan.InsufficientFundsError
		require.ErrorAs(t, err, &short)
		ins, err := w.payer.Intents()
		require.NoError(t, err)
		assert.Empty(t, ins, "the chain proved the open was not taken")
	})

	t.Run("chain down at the open: kept until the chain says", func(t *testing.T) {
		w := newIntentWorld(t, btt.BTT(10))
		exp1 := w.chain.Now().Add(time.Hour)
		w.chain.SetDownAfter("OpenMark")
		_, err := w.payer.Open(ctx, w.payee, btt.BTT(4), exp1)
		require.ErrorIs(t, err, paychan.ErrChainUnavailable)
		ins, err := w.payer.Intents()
		require.NoError(t, err)
		require.Len(t, ins, 1, "the chain could not be asked: kept")
		w.chain.SetUnavailable(false)

		// Not on chain, nothing in flight: dropped, and this open goes
		// ahead with its own arguments.
		ch, err := w.payer.Open(ctx, w.payee, btt.BTT(2), exp1.Add(time.Hour))
		require.NoError(t, err)
		assert.Equal(t, btt.BTT(2), ch.Deposit)
		assert.Equal(t, btt.BTT(2), w.locked(btt.BTT(10)))
		ins, err = w.payer.Intents()
		require.NoError(t, err)
		assert.Empty(t, ins)
	})

	t.Run("an error after the open took effect: the channel, found", func(t *testing.T) {
		w := newIntentWorld(t, btt.BTT(10))
		w.chain.SetLostAnswer("Open") // and the chain is gone when it is looked for
		_, err := w.payer.Open(ctx, w.payee, btt.BTT(4), w.chain.Now().Add(time.Hour))
		require.Error(t, err)
		w.chain.SetUnavailable(false)
		found, err := w.payer.ResolveIntents(ctx)
		require.NoError(t, err)
		require.Len(t, found, 1)
	})

	t.Run("not on chain with nothing in flight: dropped", func(t *testing.T) {
		w := newIntentWorld(t, btt.BTT(10))
		_, err := w.store.AddIntent(paychan.Intent{Payee: w.payee, Deposit: btt.BTT(4), Expiry: w.chain.Now().Add(time.Hour), Mark: 1, At: time.Now()})
		require.NoError(t, err)
		ch, err := w.payer.Open(ctx, w.payee, btt.BTT(2), w.chain.Now().Add(2*time.Hour))
		require.NoError(t, err)
		assert.Equal(t, btt.BTT(2), ch.Deposit, "a new open with the caller's arguments")
		ins, err := w.payer.Intents()
		require.NoError(t, err)
		assert.Empty(t, ins)
	})

	t.Run("another payee's intent does not hold this open", func(t *testing.T) {
		w := newIntentWorld(t, btt.BTT(10))
		w.chain.SetLostAnswer("Open")
		other := btt.MustParseAddress("TJRabPrwbZy45sbavfcjinPJC18kjpRTv8")
		_, err := w.payer.Open(ctx, other, btt.BTT(3), w.chain.Now().Add(time.Hour))
		require.Error(t, err)
		w.chain.SetUnavailable(false)
		ch, err := w.payer.Open(ctx, w.payee, btt.BTT(2), w.chain.Now().Add(time.Hour))
		require.NoError(t, err)
		assert.Equal(t, w.payee, ch.Payee)
		ins, err := w.payer.Intents()
		require.NoError(t, err)
		assert.Len(t, ins, 1, "the other payee's open stays to be resolved")
	})
}
