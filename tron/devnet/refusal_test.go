package devnet

import (
	"bytes"
	"testing"
	"time"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/bttspeed/bttspeed/btt"
)

// transferExt builds an unsigned transfer of amount sun from key i to key j.
func (e *env) transferExt(i, j int, amount int64) *api.TransactionExtention {
	e.t.Helper()
	ext, err := e.c.TransferCtx(e.ctx, e.addr(i).String(), e.addr(j).String(), amount)
	require.NoError(e.t, err)
	return ext
}

// broadcast sends tx and returns the node's answer (not an error for a
// refusal).
func (e *env) broadcast(tx *core.Transaction) *api.Return {
	e.t.Helper()
	ret, err := e.c.BroadcastCtx(e.ctx, tx)
	if err != nil {
		require.NotNil(e.t, ret, "transport error: %v", err)
	}
	return ret
}

func TestBroadcastRefusals(t *testing.T) {
	e := newEnv(t, Config{})
	keys := e.node.Keys()

	// resign replaces a transaction's raw data and signs it with key k.
	resign := func(tx *core.Transaction, k int, edit func(*core.TransactionRaw)) *core.Transaction {
		tx = proto.Clone(tx).(*core.Transaction)
		edit(tx.RawData)
		_, err := sign(tx, keys[k])
		require.NoError(t, err)
		return tx
	}

	for _, tc := range []struct {
		name string
		tx   func() *core.Transaction
		code api.ReturnResponseCode
		msg  string
	}{
		{"signed by another key", func() *core.Transaction {
			return e.sign(e.transferExt(0, 1, 1), keys[1])
		}, api.Return_SIGERROR, "Validate signature error: "},
		{"not signed", func() *core.Transaction {
			return e.transferExt(0, 1, 1).Transaction
		}, api.Return_SIGERROR, "Validate signature error: miss sig or contract"},
		{"short signature", func() *core.Transaction {
			tx := e.sign(e.transferExt(0, 1, 1), keys[0])
			tx.Signature[0] = tx.Signature[0][:64]
			return tx
		}, api.Return_SIGERROR, "Validate signature error: Signature size is 64"},
		{"two signatures", func() *core.Transaction {
			tx := e.sign(e.transferExt(0, 1, 1), keys[0])
			tx.Signature = append(tx.Signature, tx.Signature[0])
			return tx
		}, api.Return_SIGERROR, "Signature count is 2"},
		{"raw data changed after signing", func() *core.Transaction {
			tx := e.sign(e.transferExt(0, 1, 1), keys[0])
			tx.RawData.Timestamp++
			return tx
		}, api.Return_SIGERROR, "Validate signature error: "},
		{"unknown reference block", func() *core.Transaction {
			return resign(e.transferExt(0, 1, 1).Transaction, 0, func(r *core.TransactionRaw) { r.RefBlockHash = make([]byte, 8) })
		}, api.Return_TAPOS_ERROR, "Tapos check error."},
		{"expired", func() *core.Transaction {
			return resign(e.transferExt(0, 1, 1).Transaction, 0, func(r *core.TransactionRaw) { r.Expiration = 1 })
		}, api.Return_TRANSACTION_EXPIRATION_ERROR, "Transaction expired"},
		{"expiring too late", func() *core.Transaction {
			return resign(e.transferExt(0, 1, 1).Transaction, 0, func(r *core.TransactionRaw) { r.Expiration += (25 * time.Hour).Milliseconds() })
		}, api.Return_TRANSACTION_EXPIRATION_ERROR, "Transaction expired"},
		{"fee limit too high", func() *core.Transaction {
			probe, _ := e.deployProbe(0)
			data, err := probeABI.Pack("stored")
			require.NoError(t, err)
			// A function that is not constant, so the node builds a
			// transaction. (A copy: with no arguments Pack returns the
			// method's own id, which flipping would change for every
			// later test.)
			data = bytes.Clone(data)
			data[0] ^= 0xff
			ext, err := e.c.TriggerContractWithDataCtx(e.ctx, e.addr(0).String(), probe.String(), data, MaxFeeLimit+1, 0, "", 0)
			require.NoError(t, err)
			return e.sign(ext, keys[0])
		}, api.Return_CONTRACT_VALIDATE_ERROR, "Contract validate error : feeLimit must be >= 0 and <= 15000000000"},
		{"no contract", func() *core.Transaction {
			return &core.Transaction{RawData: &core.TransactionRaw{}}
		}, api.Return_CONTRACT_VALIDATE_ERROR, "Contract validate error : "},
		{"unsupported contract type", func() *core.Transaction {
			tx := e.transferExt(0, 1, 1).Transaction
			return resign(tx, 0, func(r *core.TransactionRaw) { r.Contract[0].Type = core.Transaction_Contract_FreezeBalanceContract })
		}, api.Return_CONTRACT_VALIDATE_ERROR, "is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ret := e.broadcast(tc.tx())
			assert.False(t, ret.Result)
			assert.Equal(t, tc.code, ret.Code)
			assert.Contains(t, string(ret.Message), tc.msg)
		})
	}
	assert.Equal(t, DefaultAccountTRX, e.node.TRXBalance(e.addr(1)), "nothing went through")
}

func TestDuplicateBroadcast(t *testing.T) {
	e := newEnv(t, Config{})
	tx := e.sign(e.transferExt(0, 1, 1), e.node.Keys()[0])
	ret := e.broadcast(tx)
	require.True(t, ret.Result, string(ret.Message))
	ret = e.broadcast(tx)
	assert.False(t, ret.Result)
	assert.Equal(t, api.Return_DUP_TRANSACTION_ERROR, ret.Code)
	assert.Equal(t, "Transaction already exists.", string(ret.Message))

	// Also while it waits for a block.
	e.node.SetBlockDelay(time.Minute)
	tx = e.sign(e.transferExt(0, 1, 2), e.node.Keys()[0])
	require.True(t, e.broadcast(tx).Result)
	assert.Equal(t, api.Return_DUP_TRANSACTION_ERROR, e.broadcast(tx).Code)
	assert.Equal(t, DefaultAccountTRX+1, e.node.TRXBalance(e.addr(1)))
}

func TestBandwidth(t *testing.T) {
	e := newEnv(t, Config{FreeBandwidth: 300})
	keys := e.node.Keys()

	// The first transfer fits in the free bandwidth, the second does not
	// and burns 1000 sun a byte.
	info := e.send(e.transferExt(0, 1, 1), keys[0])
	require.Positive(t, info.Receipt.NetUsage)
	require.LessOrEqual(t, info.Receipt.NetUsage, int64(300))
	assert.Zero(t, info.Fee)
	before := e.node.TRXBalance(e.addr(0))
	info = e.send(e.transferExt(0, 1, 1), keys[0])
	assert.Zero(t, info.Receipt.NetUsage)
	assert.Greater(t, info.Receipt.NetFee, int64(200*DefaultBandwidthPrice))
	assert.Equal(t, info.Receipt.NetFee, info.Fee)
	assert.Equal(t, before-1-info.Fee, e.node.TRXBalance(e.addr(0)))

	// The free bandwidth comes back over 24 h.
	e.node.Advance(24 * time.Hour)
	info = e.send(e.transferExt(0, 1, 1), keys[0])
	assert.Zero(t, info.Fee)
	assert.Positive(t, info.Receipt.NetUsage)

	// An account without enough TRX for the bandwidth is refused at
	// broadcast.
	poor := freshKey(t)
	require.NoError(t, e.node.FundTRX(addressOf(poor), 1000))
	e.node.Advance(time.Hour)
	ext, err := e.c.TransferCtx(e.ctx, addressOf(poor).String(), e.addr(1).String(), 10)
	require.NoError(t, err)
	first := e.send(ext, poor) // free
	require.Zero(t, first.Fee)
	ext, err = e.c.TransferCtx(e.ctx, addressOf(poor).String(), e.addr(1).String(), 10)
	require.NoError(t, err)
	ret := e.broadcast(e.sign(ext, poor))
	assert.False(t, ret.Result)
	assert.Equal(t, api.Return_BANDWITH_ERROR, ret.Code)
	assert.Equal(t, "Account resource insufficient error.", string(ret.Message))
	assert.Equal(t, int64(1000-10), e.node.TRXBalance(addressOf(poor)))

	// And with too little TRX for a new account's creation fee, which
	// replaces bandwidth: the node's builder refuses it already (no TRX for
	// the 1 TRX system fee either), the broadcast refuses it too.
	broke, fresh := freshKey(t), addressOf(freshKey(t))
	require.NoError(t, e.node.FundTRX(addressOf(broke), DefaultCreateAccountFee-1))
	_, err = e.c.TransferCtx(e.ctx, addressOf(broke).String(), fresh.String(), 1)
	require.ErrorContains(t, err, "Validate TransferContract error, balance is not sufficient.")
	e.node.mu.Lock()
	raw, err := e.node.chain.newRaw(core.Transaction_Contract_TransferContract, &core.TransferContract{OwnerAddress: sliceOf(addressOf(broke)), ToAddress: sliceOf(fresh), Amount: 1})
	e.node.mu.Unlock()
	require.NoError(t, err)
	tx := &core.Transaction{RawData: raw}
	_, err = sign(tx, broke)
	require.NoError(t, err)
	ret = e.broadcast(tx)
	assert.Equal(t, api.Return_BANDWITH_ERROR, ret.Code)
}

func sliceOf(a btt.Address) []byte { return a[:] }
