package devnet

import (
	"context"
	"math/big"
	"strings"
	"testing"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

// FuzzBroadcast feeds arbitrary transactions to BroadcastTransaction and
// the block they go to: every one is refused with a code or mined, never a
// panic or a hang. The seeds are valid transactions of each kind.
func FuzzBroadcast(f *testing.F) {
	n, err := Start(context.Background(), Config{Seed: "fuzz", GenesisTime: testGenesis, DeployContracts: true})
	require.NoError(f, err)
	f.Cleanup(func() { _ = n.Close() })
	w := &wallet{n: n}
	key := n.Keys()[0]
	owner := addressOf(key)

	seed := func(typ core.Transaction_Contract_ContractType, msg proto.Message, feeLimit int64) {
		n.mu.Lock()
		raw, err := n.chain.newRaw(typ, msg)
		n.mu.Unlock()
		require.NoError(f, err)
		raw.FeeLimit = feeLimit
		tx := &core.Transaction{RawData: raw}
		_, err = sign(tx, key)
		require.NoError(f, err)
		b, err := proto.Marshal(tx)
		require.NoError(f, err)
		f.Add(b)
	}
	seed(core.Transaction_Contract_TransferContract, &core.TransferContract{OwnerAddress: owner[:], ToAddress: sliceOf(n.Accounts()[1]), Amount: 7}, 0)
	code := []byte(strings.TrimSpace(probeBin))
	bytecode := make([]byte, len(code)/2)
	for i := range bytecode {
		bytecode[i] = unhex(code[2*i])<<4 | unhex(code[2*i+1])
	}
	a, err := protoABI(probeABIJSON)
	require.NoError(f, err)
	seed(core.Transaction_Contract_CreateSmartContract, &core.CreateSmartContract{OwnerAddress: owner[:], NewContract: &core.SmartContract{
		OriginAddress: owner[:], Abi: a, Bytecode: bytecode, Name: "Probe", ConsumeUserResourcePercent: 100, OriginEnergyLimit: 1,
	}}, 100*SunPerTRX)
	data, err := tokenABI().Pack("transfer", evmAddr(n.Accounts()[1]), big.NewInt(5))
	require.NoError(f, err)
	token := n.Token()
	seed(core.Transaction_Contract_TriggerSmartContract, &core.TriggerSmartContract{OwnerAddress: owner[:], ContractAddress: token[:], Data: data}, 100*SunPerTRX)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x00})

	f.Fuzz(func(t *testing.T, b []byte) {
		var tx core.Transaction
		if proto.Unmarshal(b, &tx) != nil {
			return
		}
		ret, err := w.BroadcastTransaction(context.Background(), &tx)
		require.NoError(t, err)
		require.NotNil(t, ret)
		if !ret.Result {
			require.NotEqual(t, api.Return_SUCCESS, ret.Code)
			require.NotEmpty(t, ret.Message)
		}
		// The chain still answers.
		_, err = w.GetNowBlock2(context.Background(), &api.EmptyMessage{})
		require.NoError(t, err)
	})
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
