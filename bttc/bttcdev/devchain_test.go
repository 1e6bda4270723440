package bttcdev

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestChainServesRPC: the chain answers JSON-RPC on 127.0.0.1 with its
// chain id and genesis balances, mines a sent transaction into a block at
// once (Period 0), and AdjustTime moves its clock.
func TestChainServesRPC(t *testing.T) {
	key := Key("alice")
	alice := crypto.PubkeyToAddress(key.PublicKey)
	c, err := Start(Config{ChainID: 199, Alloc: map[common.Address]*big.Int{alice: big.NewInt(1e18)}})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, c.Close()) })
	require.Contains(t, c.URL(), "http://127.0.0.1:")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := c.Dial()
	require.NoError(t, err)
	defer cl.Close()
	id, err := cl.ChainID(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(199), id.Int64())
	bal, err := cl.BalanceAt(ctx, alice, nil)
	require.NoError(t, err)
	assert.Equal(t, int64(1e18), bal.Int64())

	head, err := cl.HeaderByNumber(ctx, nil)
	require.NoError(t, err)
	to := common.Address{1}
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(id), &types.DynamicFeeTx{
		ChainID: id, Nonce: 0, GasTipCap: big.NewInt(MinTip), GasFeeCap: new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), big.NewInt(MinTip)),
		Gas: 21000, To: &to, Value: big.NewInt(5),
	})
	require.NoError(t, err)
	cheap, err := types.SignNewTx(key, types.LatestSignerForChainID(id), &types.DynamicFeeTx{
		ChainID: id, Nonce: 0, GasTipCap: big.NewInt(MinTip - 1), GasFeeCap: new(big.Int).Mul(head.BaseFee, big.NewInt(2)),
		Gas: 21000, To: &to, Value: big.NewInt(5),
	})
	require.NoError(t, err)
	require.Error(t, cl.SendTransaction(ctx, cheap), "a tip below MinTip is refused, not left to spin the miner")
	require.NoError(t, cl.SendTransaction(ctx, tx))
	var r *types.Receipt
	require.Eventually(t, func() bool {
		r, err = cl.TransactionReceipt(ctx, tx.Hash())
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "mined on arrival")
	assert.Equal(t, types.ReceiptStatusSuccessful, r.Status)

	before, err := cl.HeaderByNumber(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, c.AdjustTime(time.Hour))
	after, err := cl.HeaderByNumber(ctx, nil)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, after.Time, before.Time+3600)
	assert.Equal(t, after.Number.Uint64(), c.Head())
}
