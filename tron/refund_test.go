package tron

import (
	"context"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

// refusingToken deploys tron/contracts' test-only RefusingToken (anyone
// mints; an account may have the token refuse to credit it) from c.
func refusingToken(t *testing.T, ctx context.Context, c *Client) (btt.Address, abi.ABI) {
	t.Helper()
	abiJSON, err := os.ReadFile("contracts/testdata/artifacts/RefusingToken.abi.json")
	require.NoError(t, err)
	binHex, err := os.ReadFile("contracts/testdata/artifacts/RefusingToken.bin")
	require.NoError(t, err)
	code, err := hex.DecodeString(strings.TrimSpace(string(binHex)))
	require.NoError(t, err)
	a, err := abi.JSON(strings.NewReader(string(abiJSON)))
	require.NoError(t, err)
	addr, _, err := c.Deploy(ctx, string(abiJSON), code, "RefusingToken")
	require.NoError(t, err)
	return addr, a
}

// TestDevnetCloseWhenTheTokenRefusesThePayer (issue 30 item 4): the payer
// has the token refuse to credit it (a blacklist, a pause, a hook armed
// for itself), hoping every close fails until its channel expires and it
// reclaims all. Close pays the payee anyway and holds the refund, which the
// payer withdraws once the token credits it again. Before the fix every
// close failed with ErrTokenTransfer.
func TestDevnetCloseWhenTheTokenRefusesThePayer(t *testing.T) {
	ctx := context.Background()
	node := startNode(t, devnet.Config{})
	big := func(c *Config) { c.FeeLimit = 1000 * SunPerTRX }
	payerKey, payerC := dialKey(t, node, node.Keys()[2], big)
	_, payeeC := dialKey(t, node, node.Keys()[3], big)
	token, tokABI := refusingToken(t, ctx, payerC)
	send := func(c *Client, method string, args ...any) {
		t.Helper()
		data, err := tokABI.Pack(method, args...)
		require.NoError(t, err)
		_, err = c.Transact(ctx, token, data)
		require.NoError(t, err)
	}
	send(payerC, "mint", evmAddr(payerC.Address()), amt(10_000).Big())
	deployed, err := DeployEscrow(ctx, payerC, token, time.Minute)
	require.NoError(t, err)
	payerE := deployed
	payeeE, err := NewEscrow(payeeC, deployed.Address())
	require.NoError(t, err)

	ch, err := payerE.Open(ctx, payeeC.Address(), amt(1000), node.Now().Add(time.Hour))
	require.NoError(t, err)
	send(payerC, "refuse", uint8(1))
	sv, err := paychan.Sign(payerKey, paychan.Voucher{ChainID: node.ChainID(), Escrow: deployed.Address(), Channel: ch.ID, Amount: amt(600)})
	require.NoError(t, err)

	closed, err := payeeE.Close(ctx, sv)
	require.NoError(t, err, "the payee's close does not depend on the payer's refund")
	assert.Equal(t, paychan.ChannelClosed, closed.State)
	bal := func(who btt.Address) btt.Amount {
		t.Helper()
		b, err := payeeC.BalanceOf(ctx, token, who)
		require.NoError(t, err)
		return b
	}
	assert.Equal(t, amt(600), bal(payeeC.Address()), "the payee is paid")
	assert.Equal(t, amt(9000), bal(payerC.Address()))
	held, err := payerE.Refund(ctx, payerC.Address())
	require.NoError(t, err)
	assert.Equal(t, amt(400), held, "the refund is held for the payer")

	_, err = payerE.Withdraw(ctx)
	assert.ErrorIs(t, err, ErrTokenTransfer, "the token still refuses the payer")
	assert.ErrorIs(t, err, paychan.ErrTokenRefused)
	send(payerC, "refuse", uint8(0))
	got, err := payerE.Withdraw(ctx)
	require.NoError(t, err)
	assert.Equal(t, amt(400), got)
	assert.Equal(t, amt(9400), bal(payerC.Address()))
	assert.Equal(t, btt.Zero, bal(deployed.Address()), "the escrow holds nothing")
	_, err = payerE.Withdraw(ctx)
	assert.ErrorIs(t, err, ErrNothingToWithdraw)
}
