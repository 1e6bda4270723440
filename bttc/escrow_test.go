package bttc

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/bttc/bttcdev"
	"github.com/bttspeed/bttspeed/paychan"
)

func signer(t testing.TB, name string) *paychan.KeySigner {
	t.Helper()
	s, err := paychan.NewKeySigner(bttcdev.Key(name))
	require.NoError(t, err)
	return s
}

// TestEscrowLife: a channel's whole life on the development chain through
// the JSON-RPC: the domain is EIP-712, open (with its approve), top-up,
// claim and close with EIP-712 vouchers, the balances moving as the
// contract says.
func TestEscrowLife(t *testing.T) {
	e := newEnv(t)
	payer, payee := e.party("payer", nil), e.party("payee", nil)
	dom, err := payer.Domain(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, paychan.SchemeEIP712, dom.Scheme)
	assert.Equal(t, uint64(bttcdev.DefaultChainID), dom.ChainID)
	assert.Equal(t, e.token, dom.Token)
	period, err := payer.ChallengePeriod(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, testPeriod, period)

	now, err := payer.Now(e.ctx)
	require.NoError(t, err)
	ch, err := payer.Open(e.ctx, addrOf("payee"), btt.NewAmount(1000), now.Add(24*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, ChannelID(e.escrow, addrOf("payer"), addrOf("payee"), 1), ch.ID)
	assert.Equal(t, paychan.ChannelOpen, ch.State)
	assert.Equal(t, btt.NewAmount(999_000), e.balance("payer"))

	ch, err = payer.TopUp(e.ctx, ch.ID, btt.NewAmount(500), now.Add(48*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(1500), ch.Deposit)

	s := signer(t, "payer")
	sv, err := paychan.Sign(s, dom.Voucher(ch.ID, btt.NewAmount(300)))
	require.NoError(t, err)
	got, err := payee.CheckVoucher(e.ctx, sv)
	require.NoError(t, err)
	assert.Equal(t, addrOf("payer"), got)
	ch, err = payee.Claim(e.ctx, sv)
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(300), ch.Paid)
	assert.Equal(t, btt.NewAmount(300), e.balance("payee"))

	sv, err = paychan.Sign(s, dom.Voucher(ch.ID, btt.NewAmount(1000)))
	require.NoError(t, err)
	ch, err = payee.Close(e.ctx, sv)
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelClosed, ch.State)
	assert.Equal(t, btt.NewAmount(1000), e.balance("payee"))
	assert.Equal(t, btt.NewAmount(999_000-500+500), e.balance("payer"))
	assert.Nil(t, payer.Pending())
}

// TestEscrowErrors: every refusal is simulated before anything is signed
// and comes back as paychan's sentinel.
func TestEscrowErrors(t *testing.T) {
	e := newEnv(t)
	payer, payee, other := e.party("payer", nil), e.party("payee", nil), e.party("other", nil)
	dom, err := payer.Domain(e.ctx)
	require.NoError(t, err)
	now, err := payer.Now(e.ctx)
	require.NoError(t, err)
	ch, err := payer.Open(e.ctx, addrOf("payee"), btt.NewAmount(1000), now.Add(time.Hour))
	require.NoError(t, err)
	s := signer(t, "payer")
	sign := func(amount uint64) paychan.SignedVoucher {
		sv, err := paychan.Sign(s, dom.Voucher(ch.ID, btt.NewAmount(amount)))
		require.NoError(t, err)
		return sv
	}

	_, err = payee.Claim(e.ctx, sign(1001))
	assert.ErrorIs(t, err, paychan.ErrOverDeposit)
	bad := sign(10)
	bad.Sig[5] ^= 1
	_, err = payee.Claim(e.ctx, bad)
	assert.ErrorIs(t, err, paychan.ErrBadSignature)
	tip := dom
	tip.Scheme = paychan.SchemeTIP191
	sv, err := paychan.Sign(s, tip.Voucher(ch.ID, btt.NewAmount(10)))
	require.NoError(t, err)
	_, err = payee.Claim(e.ctx, sv)
	assert.ErrorIs(t, err, paychan.ErrWrongChain, "a TIP-191 voucher for an EIP-712 escrow")
	sv.Scheme = paychan.SchemeEIP712
	_, err = payee.Claim(e.ctx, sv)
	assert.ErrorIs(t, err, paychan.ErrBadSignature, "signed over the TIP-191 digest")
	_, err = other.Claim(e.ctx, sign(10))
	assert.ErrorIs(t, err, paychan.ErrWrongPayee)
	_, err = payee.Channel(e.ctx, paychan.ChannelID{9})
	assert.ErrorIs(t, err, paychan.ErrUnknownChannel)
	_, err = payee.Claim(e.ctx, paychan.SignedVoucher{Voucher: dom.Voucher(paychan.ChannelID{9}, btt.NewAmount(1)), Sig: sign(1).Sig})
	assert.ErrorIs(t, err, paychan.ErrUnknownChannel)
	_, err = payer.Open(e.ctx, addrOf("payee"), btt.NewAmount(1), now.Add(-time.Minute))
	assert.ErrorIs(t, err, paychan.ErrExpired)
	_, err = payer.Open(e.ctx, addrOf("payee"), btt.NewAmount(2_000_000), now.Add(time.Hour))
	var short *paychan.InsufficientFundsError
	require.ErrorAs(t, err, &short)
	assert.Equal(t, btt.NewAmount(2_000_000-999_000), short.Shortfall)
	_, err = payer.Reclaim(e.ctx, ch.ID)
	assert.ErrorIs(t, err, ErrNotExpired)

	_, err = payee.Close(e.ctx, sign(100))
	require.NoError(t, err)
	_, err = payee.Claim(e.ctx, sign(200))
	assert.ErrorIs(t, err, paychan.ErrChannelClosed)

	// After the expiry: no redeem, and the payer reclaims.
	ch, err = payer.Open(e.ctx, addrOf("payee"), btt.NewAmount(1000), now.Add(2*time.Hour))
	require.NoError(t, err)
	require.NoError(t, e.chain.AdjustTime(3*time.Hour))
	_, err = payee.Claim(e.ctx, sign(10))
	assert.ErrorIs(t, err, paychan.ErrExpired)
	ch, err = payer.Reclaim(e.ctx, ch.ID)
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelClosed, ch.State)
}

// TestEscrowEarlyClose: startClose, a claim inside the challenge window,
// reclaim after it.
func TestEscrowEarlyClose(t *testing.T) {
	e := newEnv(t)
	payer, payee := e.party("payer", nil), e.party("payee", nil)
	dom, err := payer.Domain(e.ctx)
	require.NoError(t, err)
	now, err := payer.Now(e.ctx)
	require.NoError(t, err)
	ch, err := payer.Open(e.ctx, addrOf("payee"), btt.NewAmount(1000), now.Add(24*time.Hour))
	require.NoError(t, err)
	ch, err = payer.StartClose(e.ctx, ch.ID)
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelClosing, ch.State)
	sv, err := paychan.Sign(signer(t, "payer"), dom.Voucher(ch.ID, btt.NewAmount(400)))
	require.NoError(t, err)
	_, err = payee.Claim(e.ctx, sv)
	require.NoError(t, err)
	_, err = payer.Reclaim(e.ctx, ch.ID)
	assert.ErrorIs(t, err, ErrNotExpired)
	require.NoError(t, e.chain.AdjustTime(testPeriod))
	ch, err = payer.Reclaim(e.ctx, ch.ID)
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelClosed, ch.State)
	assert.Equal(t, btt.NewAmount(999_600), e.balance("payer"))
}

// TestNotGenuineEscrow: an address without the escrow's code is refused
// before anything is sent.
func TestNotGenuineEscrow(t *testing.T) {
	e := newEnv(t)
	for _, addr := range []btt.Address{e.token, addrOf("other")} {
		es, err := NewEscrow(e.owner, addr)
		require.NoError(t, err)
		_, err = es.Domain(e.ctx)
		assert.ErrorIs(t, err, ErrNotGenuineEscrow)
	}
	es, err := NewEscrow(e.owner, e.escrow, WithMinChallengePeriod(2*testPeriod))
	require.NoError(t, err)
	_, err = es.Domain(e.ctx)
	assert.ErrorIs(t, err, ErrChallengePeriod)
}

// TestCreationTx: WithCreationTx accepts the escrow's own deployment and
// refuses another transaction.
func TestCreationTx(t *testing.T) {
	e := newEnv(t)
	escrow, r, err := DeployEscrow(e.ctx, e.owner, e.token, testPeriod)
	require.NoError(t, err)
	es, err := NewEscrow(e.owner, escrow, WithCreationTx(r.TxHash))
	require.NoError(t, err)
	_, err = es.Domain(e.ctx)
	require.NoError(t, err)

	_, other, err := DeployTestToken(e.ctx, e.owner)
	require.NoError(t, err)
	es, err = NewEscrow(e.owner, escrow, WithCreationTx(other.TxHash))
	require.NoError(t, err)
	_, err = es.Domain(e.ctx)
	assert.ErrorIs(t, err, ErrNotGenuineEscrow)
	es, err = NewEscrow(e.owner, e.escrow, WithCreationTx(r.TxHash))
	require.NoError(t, err)
	_, err = es.Domain(e.ctx)
	assert.ErrorIs(t, err, ErrNotGenuineEscrow, "another escrow's deployment")
}
