package bttc

import (
	"context"
	"fmt"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// TestDonau runs a channel's life on a real BTTC node — Donau, the
// testnet (https://pre-rpc.bt.io/), or any EVM chain — when
// BTTSPEED_BTTC_RPC (the JSON-RPC URL) and BTTSPEED_BTTC_KEY (a funded
// key, 64 hex digits) are set: it deploys TestToken and an EIP-712 escrow,
// funds a fresh payee key with a little BTT for gas, opens, tops up,
// claims and closes, and logs each transaction's gas.
func TestDonau(t *testing.T) {
	url, hexKey := os.Getenv("BTTSPEED_BTTC_RPC"), os.Getenv("BTTSPEED_BTTC_KEY")
	if url == "" || hexKey == "" {
		t.Skip("set BTTSPEED_BTTC_RPC (e.g. https://pre-rpc.bt.io/) and BTTSPEED_BTTC_KEY (hex) to run the life cycle on a real BTTC node")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	payerKey, err := crypto.HexToECDSA(strings.TrimPrefix(hexKey, "0x"))
	require.NoError(t, err, "BTTSPEED_BTTC_KEY")
	payeeKey, err := crypto.GenerateKey()
	require.NoError(t, err)
	cfg := Config{URL: url, Key: payerKey, Confirmations: 2, ReceiptTimeout: 3 * time.Minute}
	payer, err := Dial(ctx, cfg)
	require.NoError(t, err)
	defer payer.Close()
	cfg.Key = payeeKey
	payee, err := Dial(ctx, cfg)
	require.NoError(t, err)
	defer payee.Close()
	chainID, err := payer.ChainID(ctx)
	require.NoError(t, err)
	t.Logf("chain %d, payer %s, payee %s", chainID, payer.Address(), payee.Address())

	var log strings.Builder
	token, r, err := DeployTestToken(ctx, payer)
	require.NoError(t, err)
	fmt.Fprintf(&log, "deploy TestToken %d\n", r.GasUsed)
	escrow, r, err := DeployEscrow(ctx, payer, token, time.Hour)
	require.NoError(t, err)
	fmt.Fprintf(&log, "deploy BttSpeedEscrow %d\n", r.GasUsed)
	_, err = Mint(ctx, payer, token, payer.Address(), btt.BTT(1000))
	require.NoError(t, err)
	_, err = payer.TransferBTT(ctx, payee.Address(), new(big.Int).Mul(big.NewInt(50), big.NewInt(1e18)))
	require.NoError(t, err)

	pe, err := NewEscrow(payer, escrow)
	require.NoError(t, err)
	qe, err := NewEscrow(payee, escrow)
	require.NoError(t, err)
	dom, err := pe.Domain(ctx)
	require.NoError(t, err)
	assert.Equal(t, paychan.SchemeEIP712, dom.Scheme)
	now, err := pe.Now(ctx)
	require.NoError(t, err)
	ch, err := pe.Open(ctx, payee.Address(), btt.BTT(10), now.Add(2*time.Hour))
	require.NoError(t, err)
	ch, err = pe.TopUp(ctx, ch.ID, btt.BTT(5), ch.Expiry.Add(time.Hour))
	require.NoError(t, err)
	s, err := paychan.NewKeySigner(payerKey)
	require.NoError(t, err)
	sv, err := paychan.Sign(s, dom.Voucher(ch.ID, btt.BTT(3)))
	require.NoError(t, err)
	ch, err = qe.Claim(ctx, sv)
	require.NoError(t, err)
	assert.Equal(t, btt.BTT(3), ch.Paid)
	sv, err = paychan.Sign(s, dom.Voucher(ch.ID, btt.BTT(7)))
	require.NoError(t, err)
	ch, err = qe.Close(ctx, sv)
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelClosed, ch.State)
	bal, err := payee.BalanceOf(ctx, token, payee.Address())
	require.NoError(t, err)
	assert.Equal(t, btt.BTT(7), bal)
	t.Logf("gas on chain %d:\n%s", chainID, log.String())
}
