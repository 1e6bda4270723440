package tron

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

// restartPayer is the next process of interceptedPayer's account: a new
// client through a fresh slowBroadcast, a new Escrow (ApproveExact) and a
// Payer on the same store.
func restartPayer(t *testing.T, e *env, store *paychan.Store) (*slowBroadcast, *Escrow, *paychan.Payer) {
	t.Helper()
	s := &slowBroadcast{node: e.node, seen: make(map[TxID]int)}
	key, c := dialKey(t, e.node, e.node.Keys()[3], func(c *Config) {
		c.DialOptions = append(c.DialOptions, grpc.WithUnaryInterceptor(s.intercept))
	})
	esc, err := NewEscrow(c, e.escrow, WithApprove(ApproveExact))
	require.NoError(t, err)
	payer, err := paychan.NewPayer(context.Background(), store, esc, key)
	require.NoError(t, err)
	return s, esc, payer
}

// ourChannels lists the channels on chain opened by payer to payee, of
// every nonce so far.
func ourChannels(t *testing.T, ctx context.Context, esc *Escrow, payer, payee btt.Address) []paychan.ChannelID {
	t.Helper()
	last, err := esc.Nonce(ctx)
	require.NoError(t, err)
	var out []paychan.ChannelID
	for n := uint64(1); n <= last; n++ {
		id := ChannelID(esc.Address(), payer, payee, n)
		if _, err := esc.Channel(ctx, id); err == nil {
			out = append(out, id)
		}
	}
	return out
}

// TestAttackIntentDroppedWhileOpenPending: an intent is dropped at
// IntentTTL by the age of its record (Intent.At, taken before the open
// was even signed), while the escrow still holds that open's signed
// transaction, unsettled, in the journal. Here the open was signed more
// than IntentTTL after its intent was recorded (the escrow was busy or
// the node unreachable meanwhile; on an EVM chain a transaction never
// expires, so any intent older than IntentTTL qualifies), its answer
// lost, and the process restarted. ResolveIntents drops the intent; the
// next open (a new expiry, as the engine's retry picks) settles the first
// open — mined — and signs a second: two deposits, and the first channel
// is named by nothing on disk (only the escrow's in-memory done list).
func TestAttackIntentDroppedWhileOpenPending(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil)
	store, err := paychan.OpenStore(filepath.Join(t.TempDir(), "payer.db"))
	require.NoError(t, err)
	defer store.Close()
	const deposit = 5000
	key, s1, esc1, _ := interceptedPayer(t, e, deposit)
	// Funds and allowance for a second deposit (as ApproveUnlimited
	// leaves), so that nothing but the rule stops one.
	require.NoError(t, e.node.MintTokens(key.Address(), amt(deposit)))
	data, err := trc20ABI().Pack("approve", evmAddr(e.escrow), amt(2*deposit).Big())
	require.NoError(t, err)
	_, err = esc1.Client().Transact(ctx, e.token, data)
	require.NoError(t, err)
	require.NoError(t, esc1.KeepTxsIn(ctx, store))
	exp := e.node.Now().Add(time.Hour)

	// What Payer.OpenNotify writes, then an escrow that signs the open
	// only IntentTTL+1m later.
	mark, err := esc1.OpenMark(ctx)
	require.NoError(t, err)
	_, err = store.AddIntent(paychan.Intent{Payee: e.payee.Address(), Deposit: amt(deposit), Expiry: exp, Mark: mark, At: time.Now().Add(-24 * time.Hour)})
	require.NoError(t, err)
	s1.arm("latency")
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = esc1.Open(cctx, e.payee.Address(), amt(deposit), exp)
	cancel()
	var te *TxError
	require.ErrorAs(t, err, &te, "outcome unknown: %v", err)

	_, esc2, payer2 := restartPayer(t, e, store)
	require.NotNil(t, esc2.Pending(), "the signed open is taken up from the journal")
	_, err = payer2.ResolveIntents(ctx)
	require.NoError(t, err)
	ins, err := payer2.Intents()
	require.NoError(t, err)
	recs, err := payer2.Channels()
	require.NoError(t, err)
	// ResolveIntents settles the journal's open first (InFlight): it is
	// mined now, and its channel recorded. Either way it stays named.
	require.Equal(t, 1, len(ins)+len(recs), "an open whose signed transaction is unsettled is never dropped: an intent, or its channel")
	if len(ins) == 1 {
		ch, err := payer2.Open(ctx, e.payee.Address(), amt(deposit), exp.Add(time.Minute))
		require.NoError(t, err)
		assert.Equal(t, exp.Unix(), ch.Expiry.Unix(), "the first open's channel, not a second one")
	} else {
		assert.Equal(t, exp.Unix(), recs[0].Channel.Expiry.Unix(), "the first open's channel")
	}
	assert.Equal(t, amt(deposit), e.node.TokenBalance(key.Address()), "one deposit pulled, not two")
	recs, err = payer2.Channels()
	require.NoError(t, err)
	onChain := ourChannels(t, ctx, esc2, key.Address(), e.payee.Address())
	assert.Len(t, recs, len(onChain), "every channel of ours on chain is in the store (%d on chain)", len(onChain))
}

// TestAttackResendAfterClearedJournal: the process stops after the open
// was mined — the escrow has cleared its journal — and before the Payer
// resolved the intent (the crash point "after mined, before record"). At
// the next start, the intent is all that is left, and FindOpen decides
// between "found" and "send the same open again". A node that lied about
// the nonce at OpenMark (or a FindOpen read answered by a node behind or
// on another fork) makes FindOpen miss the channel, and the resend signs
// a brand-new open: a second deposit, and the first channel is recorded
// nowhere. The same arguments are not the same transaction once the
// journal no longer holds it.
func TestAttackResendAfterClearedJournal(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil)
	store, err := paychan.OpenStore(filepath.Join(t.TempDir(), "payer.db"))
	require.NoError(t, err)
	defer store.Close()
	const deposit = 5000
	key, _, esc1, _ := interceptedPayer(t, e, deposit)
	require.NoError(t, e.node.MintTokens(key.Address(), amt(deposit)), "funds for a second deposit, so nothing stops one")
	require.NoError(t, esc1.KeepTxsIn(ctx, store))
	exp := e.node.Now().Add(time.Hour)

	// OpenMark as a lying node answers it: one past the truth.
	mark, err := esc1.OpenMark(ctx)
	require.NoError(t, err)
	_, err = store.AddIntent(paychan.Intent{Payee: e.payee.Address(), Deposit: amt(deposit), Expiry: exp, Mark: mark + 1, At: time.Now()})
	require.NoError(t, err)
	first, err := esc1.Open(ctx, e.payee.Address(), amt(deposit), exp)
	require.NoError(t, err, "mined; the process stops before ResolveIntent")
	b, err := store.PendingTx(esc1.journalKey())
	require.NoError(t, err)
	require.Nil(t, b, "the journal was cleared when the outcome came")

	s2, _, payer2 := restartPayer(t, e, store)
	ch, err := payer2.Open(ctx, e.payee.Address(), amt(deposit), exp)
	require.NoError(t, err)
	assert.Empty(t, s2.signed(TxID{}), "nothing signed: the open was mined already")
	assert.Equal(t, first.ID, ch.ID, "the first open's channel")
	assert.Equal(t, amt(deposit), e.node.TokenBalance(key.Address()), "one deposit pulled, not two")
}

// TestAttackTopUpRetriedAfterLostAnswer: item 1's bug, on TopUp. A TopUp
// whose answer was lost, mined, retried with the same arguments (what
// Payer.TopUp's caller does; nothing records it as an intent), with
// ApproveExact: the allowance is spent, so fund checks the balance —
// gone into the channel — and reports insufficient funds while the
// top-up is on chain; with more tokens, it pays a second approve the
// escrow never uses. Open skips fund when the call is owed; TopUp does
// not.
func TestAttackTopUpRetriedAfterLostAnswer(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil)
	const deposit, more = 5000, 3000
	key, s, esc, approve := interceptedPayer(t, e, deposit)
	exp := e.node.Now().Add(time.Hour)
	ch, err := esc.Open(ctx, e.payee.Address(), amt(deposit), exp)
	require.NoError(t, err)
	require.NoError(t, e.node.MintTokens(key.Address(), amt(more)), "exactly one top-up")
	data, err := trc20ABI().Pack("approve", evmAddr(e.escrow), amt(more).Big())
	require.NoError(t, err)
	_, err = esc.Client().Transact(ctx, e.token, data)
	require.NoError(t, err)
	s.mu.Lock()
	clear(s.seen)
	s.mu.Unlock()

	s.arm("lost answer")
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = esc.TopUp(cctx, ch.ID, amt(more), exp)
	cancel()
	var te *TxError
	require.ErrorAs(t, err, &te, "the top-up's outcome is unknown: %v", err)
	e.node.Advance(3 * time.Second) // mined

	got, err := esc.TopUp(ctx, ch.ID, amt(more), exp)
	require.NoError(t, err, "the retry gets the first top-up's outcome")
	assert.Equal(t, amt(deposit+more), got.Deposit)
	assert.Len(t, s.signed(approve), 1, "one transaction signed: the top-up; no second approve")
}

// TestAttackPendingRecordNotItsTx: a journal record's to and data are
// taken as written, not from the signed transaction it carries, and owed
// and transact match calls against them. A record whose data says "open
// to P" and whose transaction is something else (corrupted, or written
// by another version) makes an Open skip its balance check and approve
// and return that other transaction's receipt as its outcome (then
// ErrBadResponse: no ChannelOpened, and paychan.Payer drops the intent).
// The record must be checked: to and data are the transaction's
// TriggerSmartContract's, from the journal key's account.
func TestAttackPendingRecordNotItsTx(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil)
	approveData, err := trc20ABI().Pack("approve", evmAddr(e.escrow), amt(1).Big())
	require.NoError(t, err)
	tx, err := e.payerC.SignCall(ctx, e.token, approveData)
	require.NoError(t, err)
	openData, err := e.payerE.abi.Pack("open", evmAddr(e.payee.Address()), amt(5000).Big(), uint64(e.node.Now().Add(time.Hour).Unix()))
	require.NoError(t, err)
	b, err := encodePending(&pendingTx{to: e.escrow, data: openData, tx: tx})
	require.NoError(t, err)
	_, _, err = decodePending(b)
	assert.Error(t, err, "a record whose call is not its transaction's")

	// Another account's transaction under this account's key.
	_, otherC := dialKey(t, e.node, e.node.Keys()[2], nil)
	other, err := otherC.SignCall(ctx, e.token, approveData)
	require.NoError(t, err)
	b, err = encodePending(&pendingTx{to: e.token, data: approveData, tx: other})
	require.NoError(t, err)
	j := memJournal{e.payerE.journalKey(): b}
	assert.Error(t, e.payerE.KeepTxsIn(ctx, j), "a record of another account's transaction")
}

// memJournal is a paychan.TxJournal in memory.
type memJournal map[string][]byte

func (m memJournal) PendingTx(key string) ([]byte, error) { return m[key], nil }

func (m memJournal) SetPendingTx(key string, tx []byte) error {
	if tx == nil {
		delete(m, key)
		return nil
	}
	m[key] = tx
	return nil
}

// lateExpiry is a gRPC interceptor that, armed, answers receipt reads
// "not found" (a receipt index a block behind, or the block that holds
// the transaction arriving just after the last poll) and every broadcast
// of a transaction it has seen before TRANSACTION_EXPIRATION_ERROR, as
// java-tron does for an included transaction rebroadcast once the head
// block passes its expiration (the expiration is checked before the
// duplicate).
type lateExpiry struct {
	mu sync.Mutex
	on bool
	// answered: an expiration was answered; the receipt is seen from
	// then on (the index caught up).
	answered bool
	seen     map[TxID]int
}

func (l *lateExpiry) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	l.mu.Lock()
	on, answered := l.on, l.answered
	l.mu.Unlock()
	switch {
	case on && !answered && method == "/protocol.Wallet/GetTransactionInfoById":
		return nil // an empty TransactionInfo: not in a block
	case on && method == "/protocol.Wallet/BroadcastTransaction":
		id, _ := TxIDOf(req.(*core.Transaction))
		l.mu.Lock()
		l.seen[id]++
		again := l.seen[id] > 1
		l.answered = l.answered || again
		l.mu.Unlock()
		if again {
			r := reply.(*api.Return)
			r.Result, r.Code, r.Message = false, api.Return_TRANSACTION_EXPIRATION_ERROR, []byte("transaction expired")
			return nil
		}
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// TestAttackRebroadcastAnsweredExpired: Confirm, when no receipt came in
// ReceiptTimeout, rebroadcasts; an ErrTxExpired answer to that rebroadcast
// is returned at once as "expired, safe to send again" — without the
// last look that its own past-expiration branch and Escrow.settle make.
// An included transaction rebroadcast after the head passed its
// expiration gets exactly that answer. The open was mined; transact
// clears it from the journal, Open's error does not wrap
// ErrChainUnavailable, and paychan.Payer drops the intent as "proven not
// taken": the deposit is in a channel nothing names, and the engine's
// retry opens a second.
func TestAttackRebroadcastAnsweredExpired(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil)
	store, err := paychan.OpenStore(filepath.Join(t.TempDir(), "payer.db"))
	require.NoError(t, err)
	defer store.Close()
	l := &lateExpiry{seen: make(map[TxID]int)}
	key, c := dialKey(t, e.node, e.node.Keys()[3], func(c *Config) {
		c.Rebroadcasts = 1
		c.DialOptions = append(c.DialOptions, grpc.WithUnaryInterceptor(l.intercept))
	})
	require.NoError(t, e.node.MintTokens(key.Address(), amt(5000)))
	esc, err := NewEscrow(c, e.escrow, WithApprove(ApproveUnlimited))
	require.NoError(t, err)
	payer, err := paychan.NewPayer(ctx, store, esc, key)
	require.NoError(t, err)
	data, err := trc20ABI().Pack("approve", evmAddr(e.escrow), amt(5000).Big())
	require.NoError(t, err)
	_, err = c.Transact(ctx, e.token, data)
	require.NoError(t, err)

	l.mu.Lock()
	l.on = true
	l.mu.Unlock()
	_, err = payer.Open(ctx, e.payee.Address(), amt(5000), e.node.Now().Add(time.Hour))
	l.mu.Lock()
	l.on = false
	l.mu.Unlock()
	onChain := ourChannels(t, ctx, esc, key.Address(), e.payee.Address())
	require.Len(t, onChain, 1, "the open was mined")
	if err != nil {
		assert.ErrorIs(t, err, paychan.ErrChainUnavailable, "mined, or the outcome unknown; never \"expired\" without a look that says it is in no block")
	}
	ins, err := payer.Intents()
	require.NoError(t, err)
	recs, err := payer.Channels()
	require.NoError(t, err)
	assert.True(t, len(ins) == 1 || len(recs) == 1, "the deposit is named by an intent or a record (intents %d, records %d)", len(ins), len(recs))
}

// noLogs is a gRPC interceptor that, armed, strips the logs from every
// receipt: a node whose receipt says "success" but whose event index is
// missing or lying.
type noLogs struct {
	mu sync.Mutex
	on bool
}

func (n *noLogs) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	n.mu.Lock()
	on := n.on
	n.mu.Unlock()
	if info, ok := reply.(*core.TransactionInfo); ok && on && err == nil {
		info.Log = nil
	}
	return err
}

// TestAttackOpenedButUnreadable: an open that was mined and succeeded,
// whose receipt does not read as a ChannelOpened (no log, a log that
// does not decode), fails with ErrBadResponse — which does not wrap
// ErrChainUnavailable, so paychan.Payer takes it for "proven not taken"
// and drops the intent. The deposit is locked in a channel that nothing
// names. Any error after a successful receipt must keep the intent
// (FindOpen then finds the channel).
func TestAttackOpenedButUnreadable(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil)
	store, err := paychan.OpenStore(filepath.Join(t.TempDir(), "payer.db"))
	require.NoError(t, err)
	defer store.Close()
	n := &noLogs{}
	key, c := dialKey(t, e.node, e.node.Keys()[3], func(c *Config) {
		c.DialOptions = append(c.DialOptions, grpc.WithUnaryInterceptor(n.intercept))
	})
	require.NoError(t, e.node.MintTokens(key.Address(), amt(5000)))
	esc, err := NewEscrow(c, e.escrow, WithApprove(ApproveUnlimited))
	require.NoError(t, err)
	payer, err := paychan.NewPayer(ctx, store, esc, key)
	require.NoError(t, err)
	data, err := trc20ABI().Pack("approve", evmAddr(e.escrow), amt(5000).Big())
	require.NoError(t, err)
	_, err = c.Transact(ctx, e.token, data)
	require.NoError(t, err)

	n.mu.Lock()
	n.on = true
	n.mu.Unlock()
	_, openErr := payer.Open(ctx, e.payee.Address(), amt(5000), e.node.Now().Add(time.Hour))
	n.mu.Lock()
	n.on = false
	n.mu.Unlock()
	require.Len(t, ourChannels(t, ctx, esc, key.Address(), e.payee.Address()), 1, "the open was mined")
	ins, err := payer.Intents()
	require.NoError(t, err)
	recs, err := payer.Channels()
	require.NoError(t, err)
	assert.True(t, len(ins) == 1 || len(recs) == 1, "the deposit is named by an intent or a record (intents %d, records %d): %v", len(ins), len(recs), openErr)
}

// clearFails is a journal whose removals fail while on (a store error at
// that moment: disk full, a closed database).
type clearFails struct {
	paychan.TxJournal
	on atomic.Bool
}

func (j *clearFails) SetPendingTx(key string, tx []byte) error {
	if tx == nil && j.on.Load() {
		return errors.New("journal: write failed (fault injection)")
	}
	return j.TxJournal.SetPendingTx(key, tx)
}

// TestAttackClearFailsAfterMined: transact, settling the pending open
// for the same open asked again, finds it mined, fails to clear the
// journal record, and returns a plain error — not ErrChainUnavailable,
// though the open is in a block. paychan.Payer.complete reads that as
// "proven not taken" and drops the intent: the deposit is in a channel
// nothing names. An error after a transaction is known included must
// never read as "not taken".
func TestAttackClearFailsAfterMined(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil)
	store, err := paychan.OpenStore(filepath.Join(t.TempDir(), "payer.db"))
	require.NoError(t, err)
	defer store.Close()
	const deposit = 5000
	key, s, esc, _ := interceptedPayer(t, e, deposit)
	payer, err := paychan.NewPayer(ctx, store, esc, key)
	require.NoError(t, err)
	j := &clearFails{TxJournal: store}
	require.NoError(t, esc.KeepTxsIn(ctx, j))
	exp := e.node.Now().Add(time.Hour)

	s.arm("latency") // the node never gets it
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = payer.Open(cctx, e.payee.Address(), amt(deposit), exp)
	cancel()
	require.ErrorIs(t, err, paychan.ErrChainUnavailable)

	j.on.Store(true)
	_, openErr := payer.Open(ctx, e.payee.Address(), amt(deposit), exp)
	j.on.Store(false)
	require.Len(t, ourChannels(t, ctx, esc, key.Address(), e.payee.Address()), 1, "the open was mined")
	ins, err := payer.Intents()
	require.NoError(t, err)
	recs, err := payer.Channels()
	require.NoError(t, err)
	assert.True(t, len(ins) == 1 || len(recs) == 1, "the deposit is named by an intent or a record (intents %d, records %d): %v", len(ins), len(recs), openErr)
}

// TestRebroadcastExpiredLooksFirst: Confirm's rebroadcast answered
// "expired" for a transaction in a block returns its receipt, not
// ErrTxExpired ("safe to send again"): the look comes first.
func TestRebroadcastExpiredLooksFirst(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil)
	l := &lateExpiry{seen: make(map[TxID]int)}
	key, c := dialKey(t, e.node, e.node.Keys()[3], func(c *Config) {
		c.Rebroadcasts = 1
		c.DialOptions = append(c.DialOptions, grpc.WithUnaryInterceptor(l.intercept))
	})
	require.NoError(t, e.node.MintTokens(key.Address(), amt(5000)))
	esc, err := NewEscrow(c, e.escrow, WithApprove(ApproveUnlimited))
	require.NoError(t, err)
	data, err := trc20ABI().Pack("approve", evmAddr(e.escrow), amt(5000).Big())
	require.NoError(t, err)
	_, err = c.Transact(ctx, e.token, data)
	require.NoError(t, err)

	l.mu.Lock()
	l.on = true
	l.mu.Unlock()
	ch, err := esc.Open(ctx, e.payee.Address(), amt(5000), e.node.Now().Add(time.Hour))
	l.mu.Lock()
	l.on = false
	answered := l.answered
	l.mu.Unlock()
	require.True(t, answered, "the rebroadcast was answered expired")
	require.NoError(t, err, "in a block: its receipt, not \"expired\"")
	assert.Equal(t, amt(5000), ch.Deposit)
}
