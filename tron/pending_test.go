package tron

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

// interceptedPayer dials a payer key of its own through a slowBroadcast,
// with an Escrow that approves exactly (the policy that spends the
// allowance); the account holds exactly deposit tokens and has approved
// the escrow for them, so that the next broadcast is the open's. It
// returns the approve's transaction id.
func interceptedPayer(t *testing.T, e *env, deposit uint64) (*KeySigner, *slowBroadcast, *Escrow, TxID) {
	t.Helper()
	ctx := context.Background()
	s := &slowBroadcast{node: e.node, seen: make(map[TxID]int)}
	key, c := dialKey(t, e.node, e.node.Keys()[3], func(c *Config) {
		c.DialOptions = append(c.DialOptions, grpc.WithUnaryInterceptor(s.intercept))
	})
	if extra := e.node.TokenBalance(key.Address()).SubFloor(amt(deposit)); !extra.IsZero() {
		data, err := trc20ABI().Pack("transfer", evmAddr(e.payee.Address()), extra.Big())
		require.NoError(t, err)
		_, err = c.Transact(ctx, e.token, data)
		require.NoError(t, err)
	}
	require.NoError(t, e.node.MintTokens(key.Address(), amt(deposit).SubFloor(e.node.TokenBalance(key.Address()))))
	require.Equal(t, amt(deposit), e.node.TokenBalance(key.Address()))
	esc, err := NewEscrow(c, e.escrow, WithApprove(ApproveExact))
	require.NoError(t, err)
	data, err := trc20ABI().Pack("approve", evmAddr(e.escrow), amt(deposit).Big())
	require.NoError(t, err)
	r, err := c.Transact(ctx, e.token, data)
	require.NoError(t, err)
	s.mu.Lock()
	clear(s.seen)
	s.mu.Unlock()
	return key, s, esc, r.TxID
}

// arm makes the next broadcast through s behave as mode.
func (s *slowBroadcast) arm(mode string) {
	s.mu.Lock()
	s.mode = mode
	s.mu.Unlock()
}

// signed returns the transactions broadcast through s but skip.
func (s *slowBroadcast) signed(skip TxID) []TxID {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []TxID
	for id := range s.seen {
		if id != skip {
			out = append(out, id)
		}
	}
	return out
}

// TestDevnetRetriedOpenOnce (issue 30 item 1): an Open whose answer is
// lost, retried with the same arguments, returns the first channel. The
// allowance the approve gave is spent by the first open, and the payer
// holds exactly one deposit: before, the retry checked the balance and
// approved again first, found the balance gone and reported insufficient
// funds — or, with funds, signed a second open and pulled a second
// deposit.
func TestDevnetRetriedOpenOnce(t *testing.T) {
	for _, between := range []string{"nothing", "another call settles it"} {
		t.Run(between, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, devnet.Config{}, nil)
			const deposit = 5000
			key, s, esc, approve := interceptedPayer(t, e, deposit)
			exp := e.node.Now().Add(time.Hour)

			s.arm("lost answer")
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := esc.Open(cctx, e.payee.Address(), amt(deposit), exp)
			cancel()
			var te *TxError
			require.ErrorAs(t, err, &te, "the open's outcome is unknown: %v", err)
			if between != "nothing" {
				// A different call settles the open first (and
				// fails: the channel is not the payer's to reclaim).
				_, err := esc.Reclaim(ctx, paychan.ChannelID{1})
				require.Error(t, err)
				assert.Nil(t, esc.Pending(), "settled")
			}

			ch, err := esc.Open(ctx, e.payee.Address(), amt(deposit), exp)
			require.NoError(t, err, "the retry gets the first open's channel")
			assert.Equal(t, te.Tx.ID, s.signed(approve)[0])
			assert.Len(t, s.signed(approve), 1, "one open signed")
			assert.True(t, e.node.TokenBalance(key.Address()).IsZero(), "one deposit pulled")
			n, err := esc.Nonce(ctx)
			require.NoError(t, err)
			assert.Equal(t, uint64(1), n)
			assert.Equal(t, ChannelID(e.escrow, key.Address(), e.payee.Address(), 1), ch.ID)
		})
	}
}

// TestDevnetPendingOpenSurvivesRestart (issue 30 item 1): the open's
// signed transaction is written to the payer's store before it is sent.
// A process that stops with the open's outcome unknown — here the node
// never got it — leaves it there; the next process, asked to open with a
// new expiry as the engine's retry does, sends that same transaction
// again rather than signing a second open that could be mined beside the
// first.
func TestDevnetPendingOpenSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil)
	store, err := paychan.OpenStore(filepath.Join(t.TempDir(), "payer.db"))
	require.NoError(t, err)
	defer store.Close()
	deposit := uint64(5000)
	key, s1, esc1, approve := interceptedPayer(t, e, deposit)
	payer1, err := paychan.NewPayer(ctx, store, esc1, key)
	require.NoError(t, err)
	exp := e.node.Now().Add(time.Hour)
	s1.arm("latency")
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = payer1.Open(cctx, e.payee.Address(), amt(deposit), exp)
	cancel()
	require.ErrorIs(t, err, paychan.ErrChainUnavailable)
	first := s1.signed(approve)
	require.Len(t, first, 1)

	// The next process: the same key and store, a new client.
	s2 := &slowBroadcast{node: e.node, seen: make(map[TxID]int)}
	_, c2 := dialKey(t, e.node, e.node.Keys()[3], func(c *Config) {
		c.DialOptions = append(c.DialOptions, grpc.WithUnaryInterceptor(s2.intercept))
	})
	esc2, err := NewEscrow(c2, e.escrow)
	require.NoError(t, err)
	payer2, err := paychan.NewPayer(ctx, store, esc2, key)
	require.NoError(t, err)
	require.NotNil(t, esc2.Pending(), "the signed open is taken up from the store")
	assert.Equal(t, first[0], esc2.Pending().ID)

	ch, err := payer2.Open(ctx, e.payee.Address(), amt(deposit), exp.Add(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, exp.Unix(), ch.Expiry.Unix(), "the first open's channel")
	assert.Equal(t, first, s2.signed(TxID{}), "the first open's transaction sent again, nothing else signed")
	assert.Nil(t, esc2.Pending())
	b, err := store.PendingTx(esc2.journalKey())
	require.NoError(t, err)
	assert.Nil(t, b, "cleared once settled")
	recs, err := payer2.Channels()
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, ch.ID, recs[0].Channel.ID)
}

// TestDevnetFindOpenPassesOverOthers (issue 30 item 5): the channels
// opened on a shared escrow since an open's mark include other accounts';
// their nonces give ids the escrow does not know for us, and the search
// goes on past them. Before, it stopped at the first and the deposit was
// never found.
func TestDevnetFindOpenPassesOverOthers(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil)
	store, err := paychan.OpenStore(filepath.Join(t.TempDir(), "payer.db"))
	require.NoError(t, err)
	defer store.Close()
	mark, err := e.payerE.OpenMark(ctx)
	require.NoError(t, err)
	exp := e.node.Now().Add(time.Hour)
	in, err := store.AddIntent(paychan.Intent{Payee: e.payee.Address(), Deposit: amt(700), Expiry: exp, Mark: mark, At: time.Now()})
	require.NoError(t, err)

	// Another payer opens two channels to the same payee first.
	_, otherC := dialKey(t, e.node, e.node.Keys()[2], nil)
	require.NoError(t, e.node.MintTokens(otherC.Address(), amt(1000)))
	otherE, err := NewEscrow(otherC, e.escrow, WithApprove(ApproveUnlimited))
	require.NoError(t, err)
	for range 2 {
		_, err := otherE.Open(ctx, e.payee.Address(), amt(10), exp)
		require.NoError(t, err)
	}
	ours, err := e.payerE.Open(ctx, e.payee.Address(), amt(700), exp)
	require.NoError(t, err)

	got, ok, err := e.payerE.FindOpen(ctx, in, nil)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, ours.ID, got.ID)

	payer, err := paychan.NewPayer(ctx, store, e.payerE, e.payerKey)
	require.NoError(t, err)
	found, err := payer.ResolveIntents(ctx)
	require.NoError(t, err)
	require.Len(t, found, 1)
	assert.Equal(t, ours.ID, found[0].ID)

	// Known channels are passed over too: nothing more to find.
	_, ok, err = e.payerE.FindOpen(ctx, in, func(id paychan.ChannelID) bool { return id == ours.ID })
	require.NoError(t, err)
	assert.False(t, ok)
}

// TestPendingRecordRoundTrip: a pending record reads back as written, and
// bad records are errors, not panics.
func TestPendingRecordRoundTrip(t *testing.T) {
	signer, to := testSigner(t, 5), testSigner(t, 6).Address()
	owner := signer.Address()
	call, err := anypb.New(&core.TriggerSmartContract{OwnerAddress: owner[:], ContractAddress: to[:], Data: []byte{1, 2, 3}})
	require.NoError(t, err)
	raw := &core.Transaction{RawData: &core.TransactionRaw{Expiration: 1_800_000_000_000, FeeLimit: 50_000_000, Timestamp: 1,
		Contract: []*core.Transaction_Contract{{Type: core.Transaction_Contract_TriggerSmartContract, Parameter: call}}}}
	id, err := SignTx(signer, raw)
	require.NoError(t, err)
	p := &pendingTx{to: to, data: []byte{1, 2, 3}, tx: &Tx{ID: id, Expiration: time.UnixMilli(1_800_000_000_000).UTC(), FeeLimit: 50_000_000, signed: raw}}
	b, err := encodePending(p)
	require.NoError(t, err)
	got, by, err := decodePending(b)
	require.NoError(t, err)
	assert.Equal(t, owner, by)
	assert.Equal(t, p.to, got.to)
	assert.Equal(t, p.data, got.data)
	assert.Equal(t, p.tx.ID, got.tx.ID)
	assert.Equal(t, p.tx.Expiration, got.tx.Expiration)
	assert.Equal(t, p.tx.FeeLimit, got.tx.FeeLimit)

	for _, b := range [][]byte{nil, []byte("{"), []byte(`{"tx":"AAAA"}`), []byte(`{"to":"x"}`), make([]byte, maxPendingBytes+1)} {
		_, _, err := decodePending(b)
		assert.Error(t, err, "%q", b)
	}
}

// TestDevnetStalePendingOpenDoesNotWedge: an open whose transaction never
// reached the chain, found in the journal a day later — past its own
// expiration and the channel's expiry. InFlight asks the chain rather
// than reporting what memory holds, so the intent is dropped and the next
// open to the payee goes ahead. Before, InFlight said "in flight" for as
// long as nothing else was sent, the resend failed its expiry check
// before it could settle anything, and every open to that payee failed.
func TestDevnetStalePendingOpenDoesNotWedge(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil)
	store, err := paychan.OpenStore(filepath.Join(t.TempDir(), "payer.db"))
	require.NoError(t, err)
	defer store.Close()
	const deposit = 5000
	key, s1, esc1, _ := interceptedPayer(t, e, deposit)
	payer1, err := paychan.NewPayer(ctx, store, esc1, key)
	require.NoError(t, err)
	s1.arm("latency") // the node never gets it
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = payer1.Open(cctx, e.payee.Address(), amt(deposit), e.node.Now().Add(time.Hour))
	cancel()
	require.ErrorIs(t, err, paychan.ErrChainUnavailable)

	e.node.Advance(25 * time.Hour)
	_, esc2, payer2 := restartPayer(t, e, store)
	require.NotNil(t, esc2.Pending())
	exp := e.node.Now().Add(time.Hour)
	ch, err := payer2.Open(ctx, e.payee.Address(), amt(deposit), exp)
	require.NoError(t, err, "the stale open is settled (expired), its intent dropped, and this open goes ahead")
	assert.Equal(t, exp.Unix(), ch.Expiry.Unix())
	ins, err := payer2.Intents()
	require.NoError(t, err)
	assert.Empty(t, ins)
	assert.Nil(t, esc2.Pending())
}
