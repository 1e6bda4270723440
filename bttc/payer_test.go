package bttc

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// TestPayerAndPayee: paychan's Payer and Payee, with their stores, on the
// BTTC backend: the payer opens (an intent first, the escrow's journal in
// its store), pays by voucher, the payee receives and redeems on chain.
// Until paychan.Payer signs in its domain's scheme (payer.go building
// its vouchers with paychan.Domain.Voucher) it signs TIP-191 vouchers an
// EIP-712 escrow refuses: a subtest says so and skips, and the payee's
// side runs with the voucher the payer will sign.
func TestPayerAndPayee(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	payerStore, err := paychan.OpenStore(filepath.Join(dir, "payer.db"))
	require.NoError(t, err)
	defer payerStore.Close()
	payeeStore, err := paychan.OpenStore(filepath.Join(dir, "payee.db"))
	require.NoError(t, err)
	defer payeeStore.Close()

	payer, err := paychan.NewPayer(e.ctx, payerStore, e.party("payer", nil), signer(t, "payer"))
	require.NoError(t, err)
	payee, err := paychan.NewPayee(e.ctx, payeeStore, e.party("payee", nil), paychan.PayeeConfig{Self: addrOf("payee"), ExpiryMargin: time.Minute})
	require.NoError(t, err)
	assert.Equal(t, paychan.SchemeEIP712, payee.Domain().Scheme)

	now, err := e.party("payer", nil).Now(e.ctx)
	require.NoError(t, err)
	ch, err := payer.Open(e.ctx, addrOf("payee"), btt.NewAmount(100_000), now.Add(24*time.Hour))
	require.NoError(t, err)
	_, err = payee.Accept(e.ctx, ch.ID)
	require.NoError(t, err)
	sv, err := payer.PayFor(ch.ID, [20]byte{1}, 0, btt.NewAmount(250))
	require.NoError(t, err)
	assert.Equal(t, payee.Domain().Scheme, sv.Scheme, "the payer signs in the escrow's scheme")
	got, err := payee.Receive(sv)
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(250), got)
	redeemed, err := payee.Redeem(e.ctx, ch.ID, true)
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(250), redeemed)
	assert.Equal(t, btt.NewAmount(250), e.balance("payee"))
}
