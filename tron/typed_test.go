package tron

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

// TestDevnetTypedEscrow (issue 30, Also): an escrow deployed to check
// typed vouchers (TIP-712) is proven genuine like the TIP-191 one, reports
// its scheme, and a payer and payee over it pay and redeem: the payer
// signs typed data, which the contract recovers. A TIP-191 voucher is
// refused by the payee and would be by the contract.
func TestDevnetTypedEscrow(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil)
	_, deployer := dialKey(t, e.node, e.node.Keys()[2], func(c *Config) { c.FeeLimit = 1000_000_000 })
	deployed, err := DeployTypedEscrow(ctx, deployer, e.token, time.Hour)
	require.NoError(t, err)
	dom, err := deployed.Domain(ctx)
	require.NoError(t, err)
	assert.Equal(t, paychan.SchemeEIP712, dom.Scheme)

	payerE, err := NewEscrow(e.payerC, deployed.Address(), WithApprove(ApproveUnlimited))
	require.NoError(t, err)
	payeeE, err := NewEscrow(e.payeeC, deployed.Address())
	require.NoError(t, err)
	pst, err := paychan.OpenStore(filepath.Join(t.TempDir(), "payer.db"))
	require.NoError(t, err)
	defer pst.Close()
	est, err := paychan.OpenStore(filepath.Join(t.TempDir(), "payee.db"))
	require.NoError(t, err)
	defer est.Close()
	payer, err := paychan.NewPayer(ctx, pst, payerE, e.payerKey)
	require.NoError(t, err)
	payee, err := paychan.NewPayee(ctx, est, payeeE, paychan.PayeeConfig{Self: e.payee.Address(), Now: e.node.Now})
	require.NoError(t, err)

	ch, err := payer.Open(ctx, e.payee.Address(), amt(100_000), e.node.Now().Add(72*time.Hour))
	require.NoError(t, err)
	_, err = payee.Accept(ctx, ch.ID)
	require.NoError(t, err)
	sv, err := payer.PayFor(ch.ID, [20]byte{1}, 0, amt(30_000))
	require.NoError(t, err)
	assert.Equal(t, paychan.SchemeEIP712, sv.Scheme, "the payer signs typed data")
	signer, err := payeeE.CheckVoucher(ctx, sv)
	require.NoError(t, err)
	assert.Equal(t, e.payerKey.Address(), signer, "the contract recovers the payer from the typed digest")

	// A TIP-191 voucher for the same amount: refused.
	plain := sv.Voucher
	plain.Scheme = paychan.SchemeTIP191
	old, err := paychan.Sign(e.payerKey, plain)
	require.NoError(t, err)
	_, err = payee.Receive(old)
	assert.Error(t, err, "a voucher in the other scheme")

	_, err = payee.Receive(sv)
	require.NoError(t, err)
	red, err := payee.Redeem(ctx, ch.ID, false)
	require.NoError(t, err)
	assert.Equal(t, amt(30_000), red)
	assert.Equal(t, add(e.payeeT, 30_000), e.node.TokenBalance(e.payee.Address()))
}
