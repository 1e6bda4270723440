package bttc

import (
	"context"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/bttc/bttcdev"
	"github.com/bttspeed/bttspeed/paychan"
)

// memJournal is a paychan.TxJournal in memory, shared by the "processes"
// of a test.
type memJournal struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (j *memJournal) PendingTx(key string) ([]byte, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.m[key], nil
}

func (j *memJournal) SetPendingTx(key string, tx []byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.m == nil {
		j.m = map[string][]byte{}
	}
	if tx == nil {
		delete(j.m, key)
	} else {
		j.m[key] = append([]byte(nil), tx...)
	}
	return nil
}

// TestUnknownOutcomeAcrossRestart: an open whose answer is lost, the node
// then gone, leaves its signed transaction in the journal; a new process
// (a new Client and Escrow over the same journal) settles that
// transaction — sent again, the same bytes — before anything else, and
// the same Open returns its channel: the account signed one transaction
// for it, one channel was opened, one deposit pulled.
func TestUnknownOutcomeAcrossRestart(t *testing.T) {
	e := newEnv(t)
	j := &memJournal{}
	f := &faults{}
	first := e.party("payer", f, WithApprove(ApproveUnlimited))
	require.NoError(t, first.KeepTxsIn(e.ctx, j))
	now, err := first.Now(e.ctx)
	require.NoError(t, err)
	// The approve goes through; the open's answer is lost.
	_, err = first.Open(e.ctx, addrOf("payee"), btt.NewAmount(1), now.Add(time.Hour))
	require.NoError(t, err)
	f.mu.Lock()
	f.loseReply, f.downAfter = 1, true
	f.mu.Unlock()
	expiry := now.Add(2 * time.Hour)
	_, err = first.Open(e.ctx, addrOf("payee"), btt.NewAmount(1000), expiry)
	require.ErrorIs(t, err, paychan.ErrChainUnavailable)
	var te *TxError
	require.ErrorAs(t, err, &te)
	lost := first.Pending()
	require.NotNil(t, lost)
	assert.Equal(t, lost.Hash, te.Tx.Hash)
	assert.Len(t, j.m, 1, "journaled before it was sent")
	flying, err := first.InFlight(e.ctx)
	require.Error(t, err, "the node is down: unknown")
	assert.True(t, flying)

	// A new process, the node reachable.
	g := &faults{}
	second := e.party("payer", g, WithApprove(ApproveUnlimited))
	require.NoError(t, second.KeepTxsIn(e.ctx, j))
	require.NotNil(t, second.Pending())
	assert.Equal(t, lost.Hash, second.Pending().Hash)
	flying, err = second.InFlight(e.ctx)
	require.NoError(t, err)
	assert.False(t, flying, "the node had it: it is mined")
	nonceBefore, err := second.c.b.NonceAt(e.ctx, second.c.addr, nil)
	require.NoError(t, err)
	ch, err := second.Open(e.ctx, addrOf("payee"), btt.NewAmount(1000), expiry)
	require.NoError(t, err)
	assert.Equal(t, ChannelID(e.escrow, addrOf("payer"), addrOf("payee"), 2), ch.ID)
	nonceAfter, err := second.c.b.NonceAt(e.ctx, second.c.addr, nil)
	require.NoError(t, err)
	assert.Equal(t, nonceBefore, nonceAfter, "nothing new signed")
	assert.Equal(t, 1, g.sent(lost.Hash), "the same bytes sent again")
	assert.Empty(t, j.m, "settled: cleared")
	assert.Nil(t, second.Pending())
	assert.Equal(t, btt.NewAmount(1_000_000-1-1000), e.balance("payer"), "one deposit")
}

// TestDroppedSendResentSameBytes: a transaction the node never got is
// sent again, the same bytes, and mined.
func TestDroppedSendResentSameBytes(t *testing.T) {
	e := newEnv(t)
	f := &faults{drop: 1}
	c := e.client(bttcdev.Key("payer"), f)
	tok := e.token
	r, err := c.Transact(e.ctx, &tok, mustPack(t, "approve", addrOf("other"), btt.NewAmount(5)))
	require.NoError(t, err)
	assert.Equal(t, 2, f.sent(r.TxHash), "dropped once, sent again")
	allowed, err := c.Allowance(e.ctx, e.token, addrOf("payer"), addrOf("other"))
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(5), allowed)
}

func mustPack(t testing.TB, method string, to btt.Address, amount btt.Amount) []byte {
	t.Helper()
	a := to.EVM()
	data, err := erc20ABI().Pack(method, a, amount.Big())
	require.NoError(t, err)
	return data
}

// TestConfirmations: a receipt counts only once Confirmations blocks are
// mined, its own included.
func TestConfirmations(t *testing.T) {
	e := newEnv(t)
	ec, err := e.chain.Dial()
	require.NoError(t, err)
	defer ec.Close()
	cfg := fastConfig(bttcdev.Key("payer"))
	cfg.Confirmations = 3
	cfg.ReceiptTimeout = 20 * time.Second
	c, err := New(ec, cfg)
	require.NoError(t, err)
	tok := e.token
	tx, err := c.SignCall(e.ctx, &tok, mustPack(t, "approve", addrOf("other"), btt.NewAmount(7)))
	require.NoError(t, err)
	require.NoError(t, c.Send(e.ctx, tx))
	done := make(chan *Receipt, 1)
	go func() {
		r, err := c.Confirm(context.WithoutCancel(e.ctx), tx)
		assert.NoError(t, err)
		done <- r
	}()
	select {
	case <-done:
		t.Fatal("confirmed with one block")
	case <-time.After(300 * time.Millisecond):
	}
	e.chain.Commit()
	e.chain.Commit()
	select {
	case r := <-done:
		assert.Equal(t, tx.Hash, r.TxHash)
		assert.GreaterOrEqual(t, e.chain.Head(), r.BlockNumber+2)
	case <-time.After(10 * time.Second):
		t.Fatal("not confirmed after two more blocks")
	}
}

// TestFeeCap: a chain asking more per gas than the cap gives ErrFeeCap
// before anything is signed.
func TestFeeCap(t *testing.T) {
	e := newEnv(t)
	ec, err := e.chain.Dial()
	require.NoError(t, err)
	defer ec.Close()
	cfg := fastConfig(bttcdev.Key("payer"))
	cfg.MaxFeePerGas = big.NewInt(1)
	c, err := New(ec, cfg)
	require.NoError(t, err)
	tok := e.token
	_, err = c.SignCall(e.ctx, &tok, mustPack(t, "approve", addrOf("other"), btt.NewAmount(7)))
	require.ErrorIs(t, err, ErrFeeCap)
	n, err := ec.PendingNonceAt(e.ctx, c.addr)
	require.NoError(t, err)
	assert.Zero(t, n)
}

// TestReplacedIsProven: a transaction whose nonce another transaction of
// the key took (the key used elsewhere) is ErrTxReplaced once that one is
// mined — proven never to be mined — and the Escrow signs anew; while the
// other is not mined, it is only unknown.
func TestReplacedIsProven(t *testing.T) {
	e := newEnv(t)
	f := &faults{drop: 1} // ours never reaches the node
	es := e.party("payer", f)
	tok := e.token
	data := mustPack(t, "approve", addrOf("other"), btt.NewAmount(5))
	tx, err := es.c.SignCall(e.ctx, &tok, data)
	require.NoError(t, err)
	require.NoError(t, es.c.Send(e.ctx, tx))

	// Another process of the same key takes the nonce.
	other := e.client(bttcdev.Key("payer"), nil)
	_, err = other.Transact(e.ctx, &tok, mustPack(t, "approve", addrOf("other"), btt.NewAmount(6)))
	require.NoError(t, err)

	_, err = es.c.Confirm(e.ctx, tx)
	require.ErrorIs(t, err, ErrTxReplaced)
	assert.NotErrorIs(t, err, paychan.ErrChainUnavailable, "proven: not an unknown outcome")
}
