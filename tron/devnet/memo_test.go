package devnet

import (
	"bytes"
	"testing"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMemoFee: a transaction with a memo (raw_data.data) pays Config.MemoFee
// on top of its bandwidth, and its bytes count in the bandwidth; an
// account that cannot pay it is refused at broadcast.
func TestMemoFee(t *testing.T) {
	for _, tc := range []struct {
		name string
		memo []byte
		fee  int64
		// paysNet: too big for the free bandwidth, it pays for its bytes.
		paysNet bool
	}{
		{"no memo", nil, 0, false},
		{"memo", []byte("hello"), DefaultMemoFee, false},
		{"large memo", bytes.Repeat([]byte{'x'}, 4096), DefaultMemoFee, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			from := e.addr(0)
			before := e.node.TRXBalance(from)
			ext := e.transferExt(0, 1, 1)
			ext.Transaction.RawData.Data = tc.memo
			tx := e.sign(&api.TransactionExtention{Transaction: ext.Transaction, Txid: txid(t, ext.Transaction.RawData)}, e.node.Keys()[0])
			ret := e.broadcast(tx)
			require.True(t, ret.Result, "%s", ret.Message)
			id := txid(t, tx.RawData)
			info, err := e.c.GetTransactionInfoByIDCtx(e.ctx, hexID(id))
			require.NoError(t, err)
			assert.Equal(t, core.TransactionInfo_SUCESS, info.Result)
			if tc.paysNet {
				// Bandwidth paid by the byte: the whole transaction.
				assert.Equal(t, tc.fee+info.Receipt.NetFee, info.Fee)
				assert.Greater(t, info.Receipt.NetFee, int64(4096*DefaultBandwidthPrice))
			} else {
				assert.Equal(t, tc.fee, info.Fee)
			}
			assert.Equal(t, before-1-info.Fee, e.node.TRXBalance(from))
		})
	}

	t.Run("cannot pay", func(t *testing.T) {
		e := newEnv(t, Config{AccountTRX: DefaultMemoFee / 2})
		ext := e.transferExt(0, 1, 1)
		ext.Transaction.RawData.Data = []byte("hi")
		tx := e.sign(&api.TransactionExtention{Transaction: ext.Transaction, Txid: txid(t, ext.Transaction.RawData)}, e.node.Keys()[0])
		ret := e.broadcast(tx)
		assert.False(t, ret.Result)
		assert.Equal(t, api.Return_BANDWITH_ERROR, ret.Code)
		assert.Contains(t, string(ret.Message), "MemoFee")
	})
}

func txid(t *testing.T, raw *core.TransactionRaw) []byte {
	t.Helper()
	id, err := txID(raw)
	require.NoError(t, err)
	return id[:]
}
