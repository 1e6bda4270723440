package devnet

import (
	"math/big"
	"testing"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// solidView is a constant call of the probe on the solidified state.
func (e *env) solidView(s api.WalletSolidityClient, to [21]byte, method string) any {
	e.t.Helper()
	data, err := probeABI.Pack(method)
	require.NoError(e.t, err)
	ext, err := s.TriggerConstantContract(e.ctx, &core.TriggerSmartContract{ContractAddress: to[:], Data: data})
	require.NoError(e.t, err)
	require.True(e.t, ext.GetResult().GetResult(), "%s: %s", method, ext.GetResult().GetMessage())
	out, err := probeABI.Unpack(method, ext.ConstantResult[0])
	require.NoError(e.t, err)
	return out[0]
}

// TestSolidLag: the WalletSolidity service answers from the block
// Config.SolidLag behind the head — receipts, blocks, accounts and
// constant calls — and DropBlocks drops what is above it, the state with
// them, and nothing solid.
func TestSolidLag(t *testing.T) {
	e := newEnv(t, Config{SolidLag: 2})
	s := api.NewWalletSolidityClient(e.c.Conn)
	head, _ := e.node.Head()
	assert.Equal(t, head, e.node.SolidHead(), "the blocks Start mines are solid")
	require.Error(t, e.node.DropBlocks(1), "a solid block cannot be dropped")

	probe, _ := e.deployProbe(0)                                      // block head+1
	info := e.trigger(0, probe, 10*SunPerTRX, "store", big.NewInt(5)) // head+2
	require.Equal(t, core.TransactionInfo_SUCESS, info.Result)
	assert.Equal(t, head+2, info.BlockNumber)
	assert.Equal(t, head, e.node.SolidHead(), "two blocks behind")

	got, err := s.GetTransactionInfoById(e.ctx, &api.BytesMessage{Value: info.Id})
	require.NoError(t, err)
	assert.Empty(t, got.GetId(), "not solid yet: no receipt")
	now, err := s.GetNowBlock2(e.ctx, &api.EmptyMessage{})
	require.NoError(t, err)
	assert.Equal(t, head, now.GetBlockHeader().GetRawData().GetNumber())
	blk, err := s.GetBlockByNum2(e.ctx, &api.NumberMessage{Num: head + 2})
	require.NoError(t, err)
	assert.Nil(t, blk.GetBlockHeader(), "no block past the solid one")

	e.trigger(0, probe, 10*SunPerTRX, "store", big.NewInt(6)) // head+3
	assert.Equal(t, head+1, e.node.SolidHead())
	assert.Equal(t, big.NewInt(6), e.view(probe, "stored"))
	// The solid state has the probe (block head+1) but not its stores.
	assert.Zero(t, e.solidView(s, probe, "stored").(*big.Int).Sign())

	// Drop the two stores: the head state goes back to before them.
	require.Error(t, e.node.DropBlocks(3), "block head+1 is solid")
	require.NoError(t, e.node.DropBlocks(2))
	n, _ := e.node.Head()
	assert.Equal(t, head+1, n)
	assert.Zero(t, e.view(probe, "stored").(*big.Int).Sign())
	gone, err := e.c.GetTransactionInfoByIDCtx(e.ctx, hexID(info.Id))
	assert.Error(t, err, "the dropped store is in no block: %v", gone)

	// The same signed transaction goes again, and solidifies.
	info = e.trigger(0, probe, 10*SunPerTRX, "store", big.NewInt(7)) // head+2
	e.trigger(0, probe, 10*SunPerTRX, "store", big.NewInt(8))        // head+3
	e.trigger(0, probe, 10*SunPerTRX, "store", big.NewInt(9))        // head+4
	assert.Equal(t, head+2, e.node.SolidHead())
	got, err = s.GetTransactionInfoById(e.ctx, &api.BytesMessage{Value: info.Id})
	require.NoError(t, err)
	assert.Equal(t, info.Id, got.GetId(), "solid now")
	assert.Equal(t, big.NewInt(7), e.solidView(s, probe, "stored"))
	a0 := e.addr(0)
	acct, err := s.GetAccount(e.ctx, &core.Account{Address: a0[:]})
	require.NoError(t, err)
	assert.Greater(t, acct.GetBalance(), e.node.TRXBalance(e.addr(0)), "the solid balance has not paid for the two last stores")
}

// TestSolidLagZero: by default every block is solid as it is mined, and
// none can be dropped.
func TestSolidLagZero(t *testing.T) {
	e := newEnv(t, Config{})
	s := api.NewWalletSolidityClient(e.c.Conn)
	probe, _ := e.deployProbe(0)
	info := e.trigger(0, probe, 10*SunPerTRX, "store", big.NewInt(5))
	got, err := s.GetTransactionInfoById(e.ctx, &api.BytesMessage{Value: info.Id})
	require.NoError(t, err)
	assert.Equal(t, info.Id, got.GetId())
	assert.Equal(t, big.NewInt(5), e.solidView(s, probe, "stored"))
	require.Error(t, e.node.DropBlocks(1))
	_, err = Start(e.ctx, Config{SolidLag: MaxSolidLag + 1})
	assert.ErrorIs(t, err, ErrConfig)
}
