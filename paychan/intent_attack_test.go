package paychan_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// mempool is the in-memory escrow with one fault paychantest lacks: an
// Open that is sent and not yet in a block. Armed, the next Open answers
// paychan.ErrChainUnavailable and is held; mine includes it later, as a
// node does with a transaction from its pool — on an EVM chain (bttc) a
// signed transaction never expires, so that can be at any time. It does
// not implement paychan.TxKeeper: it settles nothing before the next
// Open, as an escrow written without the journal does; NewPayer accepts
// it.
type mempool struct {
	paychan.Escrow
	finder paychan.OpenFinder
	// findErr, if set, fails FindOpen for an intent to that payee (what
	// tron.Escrow.FindOpen answers once more than MaxFindScan channels
	// were opened on the escrow since the intent's mark).
	findErr btt.Address

	mu   sync.Mutex
	hold bool
	held []func() error
}

func newMempool(w *intentWorld) *mempool {
	inner := w.chain.As(w.signer.Address())
	return &mempool{Escrow: inner, finder: inner.(paychan.OpenFinder)}
}

func (m *mempool) Open(ctx context.Context, payee btt.Address, deposit btt.Amount, expiry time.Time) (paychan.Channel, error) {
	m.mu.Lock()
	if m.hold {
		m.hold = false
		m.held = append(m.held, func() error {
			_, err := m.Escrow.Open(context.Background(), payee, deposit, expiry)
			return err
		})
		m.mu.Unlock()
		return paychan.Channel{}, fmt.Errorf("%w: open sent, not in a block yet", paychan.ErrChainUnavailable)
	}
	m.mu.Unlock()
	return m.Escrow.Open(ctx, payee, deposit, expiry)
}

// mine includes the held opens.
func (m *mempool) mine(t *testing.T) {
	m.mu.Lock()
	held := m.held
	m.held = nil
	m.mu.Unlock()
	for _, f := range held {
		require.NoError(t, f())
	}
}

func (m *mempool) OpenMark(ctx context.Context) (uint64, error) { return m.finder.OpenMark(ctx) }

// InFlight is true while an open is held in the pool.
func (m *mempool) InFlight(context.Context) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.held) > 0, nil
}

func (m *mempool) FindOpen(ctx context.Context, in paychan.Intent, known func(paychan.ChannelID) bool) (paychan.Channel, bool, error) {
	if !m.findErr.IsZero() && in.Payee == m.findErr {
		return paychan.Channel{}, false, fmt.Errorf("more than 100000 channels to read since nonce %d", in.Mark)
	}
	return m.finder.FindOpen(ctx, in, known)
}

// TestAttackResendWithoutTxKeeper: Payer.complete sends an unresolved
// open again when FindOpen does not see it yet, which is safe only if the
// escrow settles the first transaction before signing another (its doc:
// "as long as the escrow settles an unsettled transaction before it
// signs another (TxKeeper)"). NewPayer accepts an escrow that does not
// (it only requires OpenFinder): an open still in the pool when the
// retry comes is signed a second time, and both are mined — two
// deposits, the second channel recorded nowhere.
func TestAttackResendWithoutTxKeeper(t *testing.T) {
	ctx := context.Background()
	funds := btt.BTT(10)
	w := newIntentWorld(t, funds)
	m := newMempool(w)
	payer, err := paychan.NewPayer(ctx, w.store, m, w.signer)
	if err != nil {
		return // refusing an escrow that cannot settle what it sent closes the hole too
	}
	exp := w.chain.Now().Add(time.Hour)

	m.hold = true
	_, err = payer.Open(ctx, w.payee, btt.BTT(5), exp)
	require.ErrorIs(t, err, paychan.ErrChainUnavailable)
	_, _ = payer.Open(ctx, w.payee, btt.BTT(5), exp) // the retry
	m.mine(t)

	assert.Equal(t, btt.BTT(5), w.locked(funds), "one deposit locked, not two")
	_, err = payer.ResolveIntents(ctx)
	require.NoError(t, err)
	recs, err := payer.Channels()
	require.NoError(t, err)
	recorded := btt.Zero
	for _, r := range recs {
		recorded, _ = recorded.Add(r.Channel.Deposit)
	}
	assert.Equal(t, w.locked(funds), recorded, "every deposit locked is a channel in the store")
}

// TestAttackIntentTTLWhileInPool: an intent is dropped once its record is
// older than IntentTTL and FindOpen sees nothing — a rule sized on TRON's
// 60 s transaction expiration that the Payer applies to every escrow.
// On a chain whose transactions do not expire (bttc), or with a TRON
// transaction signed long after its intent was recorded (see
// tron.TestAttackIntentDroppedWhileOpenPending), the open is mined after
// the drop: its deposit is locked in a channel nothing names — not the
// payer store, not an intent — so no Resume uses it and no reclaim
// returns it.
func TestAttackIntentTTLWhileInPool(t *testing.T) {
	ctx := context.Background()
	funds := btt.BTT(10)
	w := newIntentWorld(t, funds)
	m := newMempool(w)
	payer, err := paychan.NewPayer(ctx, w.store, m, w.signer)
	require.NoError(t, err)

	m.hold = true
	_, err = payer.Open(ctx, w.payee, btt.BTT(5), w.chain.Now().Add(time.Hour))
	require.ErrorIs(t, err, paychan.ErrChainUnavailable)
	// IntentTTL passes with the open still in the pool: the intent as it
	// is then.
	ins, err := w.store.Intents()
	require.NoError(t, err)
	require.Len(t, ins, 1)
	aged := ins[0]
	aged.At = aged.At.Add(-24 * time.Hour)
	require.NoError(t, w.store.ResolveIntent(ins[0].Seq, nil))
	_, err = w.store.AddIntent(aged)
	require.NoError(t, err)

	_, err = payer.ResolveIntents(ctx)
	require.NoError(t, err)
	m.mine(t)
	_, err = payer.ResolveIntents(ctx)
	require.NoError(t, err)

	recs, err := payer.Channels()
	require.NoError(t, err)
	ins, err = payer.Intents()
	require.NoError(t, err)
	assert.True(t, len(recs) == 1 || len(ins) == 1, "the deposit of %s is named by a channel record or an intent (records %d, intents %d)", w.locked(funds), len(recs), len(ins))
}

// TestAttackResolveIntentsStopsAtOne: ResolveIntents returns at the first
// intent it cannot resolve, so one intent whose search fails for good
// (tron.Escrow.FindOpen past MaxFindScan channels on a busy shared
// escrow; the error never ends, and the IntentTTL drop is never reached
// because complete returns first) hides every later intent's channel
// from the start-up resolution and from the market's reclaim, which
// reclaims only recorded channels. (And every Open to that payee fails
// from then on.)
func TestAttackResolveIntentsStopsAtOne(t *testing.T) {
	ctx := context.Background()
	funds := btt.BTT(10)
	w := newIntentWorld(t, funds)
	m := newMempool(w)
	payer, err := paychan.NewPayer(ctx, w.store, m, w.signer)
	require.NoError(t, err)
	stuck := btt.MustParseAddress("TJRabPrwbZy45sbavfcjinPJC18kjpRTv8")
	for _, payee := range []btt.Address{stuck, w.payee} {
		w.chain.SetLostAnswer("Open")
		_, err := payer.Open(ctx, payee, btt.BTT(3), w.chain.Now().Add(time.Hour))
		require.ErrorIs(t, err, paychan.ErrChainUnavailable)
		w.chain.SetUnavailable(false)
	}
	m.findErr = stuck

	found, err := payer.ResolveIntents(ctx)
	assert.Error(t, err, "the stuck intent is reported")
	require.Len(t, found, 1, "the other intent's channel is found all the same")
	assert.Equal(t, w.payee, found[0].Payee)
}
