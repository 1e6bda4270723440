package paychan_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// TestCloseRefusedClaimsInstead (issue 30 item 4): on an escrow whose
// close pays the payee and refunds the payer in one transaction, a payer
// that has the token refuse to credit it makes every close fail, until its
// channel expires and it reclaims all. The payee then claims instead,
// which pays it alone, near the deadline and at shutdown; a close with
// nothing owed that fails so is no error at shutdown. Before, Redeem
// returned the close's error and the payee was never paid.
func TestCloseRefusedClaimsInstead(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	refused := fmt.Errorf("%w: the token refused to credit the payer", paychan.ErrTokenRefused)
	w.chain.FailCloses(refused)
	pay := func(ch paychan.Channel, amount uint64) {
		t.Helper()
		sv, err := w.payer.PayForPieces(ch.ID, [20]byte{9}, []paychan.PiecePayment{{Piece: int(amount), Amount: btt.NewAmount(amount)}})
		require.NoError(t, err)
		_, err = w.payee.Receive(sv)
		require.NoError(t, err)
	}

	ch := w.openAccepted(t, btt.NewAmount(10_000))
	pay(ch, 3000)
	got, err := w.payee.Redeem(ctx, ch.ID, true)
	require.NoError(t, err, "a refused close is followed by a claim")
	assert.Equal(t, btt.NewAmount(3000), got)
	assert.Equal(t, btt.NewAmount(3000), w.chain.Balance(w.payeeAddr), "the payee is paid")
	assert.Equal(t, 1, w.chain.Count("Close"))
	assert.Equal(t, 1, w.chain.Count("Claim"))
	tot, err := w.payee.Totals()
	require.NoError(t, err)
	assert.True(t, tot.Redeemable.IsZero(), "%+v", tot)

	// At shutdown: a second channel owed something is claimed; the first,
	// owed nothing, fails to close and that is no error.
	ch2 := w.openAccepted(t, btt.NewAmount(10_000))
	pay(ch2, 2000)
	got, err = w.payee.RedeemAll(ctx, true)
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(2000), got)
	assert.Equal(t, btt.NewAmount(5000), w.chain.Balance(w.payeeAddr))

	// Any other close failure stands: no claim follows it.
	w.chain.FailCloses(fmt.Errorf("%w: node down", paychan.ErrChainUnavailable))
	ch3 := w.openAccepted(t, btt.NewAmount(10_000))
	pay(ch3, 1000)
	claims := w.chain.Count("Claim")
	_, err = w.payee.Redeem(ctx, ch3.ID, true)
	assert.ErrorIs(t, err, paychan.ErrChainUnavailable)
	assert.Equal(t, claims, w.chain.Count("Claim"))
	w.chain.FailCloses(nil)

	// The payer reclaims only the rest after the expiry.
	w.chain.Advance(25 * time.Hour)
	_, err = w.payer.Reclaim(ctx, ch.ID)
	require.NoError(t, err)
	_, err = w.payer.Reclaim(ctx, ch2.ID)
	require.NoError(t, err)
	_, err = w.payer.Reclaim(ctx, ch3.ID) // its close failed: nothing paid
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(1_000_000-5000), w.chain.Balance(w.payerKey.Address()))
}
