package bttc

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/bttc/bttcdev"
)

// FuzzDecodePending: a journal's record, whatever its bytes, decodes to a
// transaction signed by the account and calling what the record says, or
// to an error; never a panic.
func FuzzDecodePending(f *testing.F) {
	key := bttcdev.Key("fuzz")
	from := crypto.PubkeyToAddress(key.PublicKey)
	to := btt.AddressFromEVM(common.Address{7})
	evm := common.Address(to.EVM())
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(big.NewInt(199)), &types.DynamicFeeTx{
		ChainID: big.NewInt(199), Nonce: 3, GasTipCap: big.NewInt(1), GasFeeCap: big.NewInt(2), Gas: 50_000, To: &evm, Data: []byte{1, 2},
	})
	require.NoError(f, err)
	good, err := encodePending(&pendingTx{to: &to, data: []byte{1, 2}, tx: &Tx{tx: tx}})
	require.NoError(f, err)
	back, err := decodePending(good, from)
	require.NoError(f, err)
	require.Equal(f, tx.Hash(), back.tx.Hash)
	_, err = decodePending(good, common.Address{1})
	require.Error(f, err, "signed by someone else")

	f.Add(good)
	f.Add([]byte(`{"to":null,"data":"","tx":""}`))
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePending(b, from)
		if err != nil {
			return
		}
		require.Equal(t, p.data, p.tx.tx.Data())
		sender, err := types.Sender(types.LatestSignerForChainID(p.tx.tx.ChainId()), p.tx.tx)
		require.NoError(t, err)
		require.Equal(t, from, sender)
	})
}
