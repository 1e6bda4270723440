package devnet

import (
	"bytes"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/bttspeed/bttspeed/btt"
)

func TestTransferTRX(t *testing.T) {
	e := newEnv(t, Config{})
	from, to := e.addr(0), e.addr(1)
	before0, before1 := e.node.TRXBalance(from), e.node.TRXBalance(to)
	require.Equal(t, DefaultAccountTRX, before0)

	ext, err := e.c.TransferCtx(e.ctx, from.String(), to.String(), 5*SunPerTRX)
	require.NoError(t, err)
	info := e.send(ext, e.node.Keys()[0])
	assert.Equal(t, core.TransactionInfo_SUCESS, info.Result)
	assert.Zero(t, info.Fee, "fits in the free bandwidth")
	assert.Positive(t, info.Receipt.NetUsage)
	assert.Zero(t, info.Receipt.NetFee)
	assert.Equal(t, before0-5*SunPerTRX, e.node.TRXBalance(from))
	assert.Equal(t, before1+5*SunPerTRX, e.node.TRXBalance(to))

	// The bandwidth is the size without ret plus 64.
	tx, err := e.c.GetTransactionByIDCtx(e.ctx, hexID(ext.Txid))
	require.NoError(t, err)
	require.Len(t, tx.Ret, 1)
	assert.Equal(t, core.Transaction_Result_SUCCESS, tx.Ret[0].ContractRet)
	tx.Ret = nil
	assert.Equal(t, int64(proto.Size(tx)+64), info.Receipt.NetUsage)

	// The block and the account as the client sees them.
	now, err := e.c.GetNowBlockCtx(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, info.BlockNumber, now.BlockHeader.RawData.Number)
	assert.Equal(t, info.BlockTimeStamp, now.BlockHeader.RawData.Timestamp)
	require.Len(t, now.Transactions, 1)
	assert.Equal(t, ext.Txid, now.Transactions[0].Txid)
	acct, err := e.c.GetAccountCtx(e.ctx, from.String())
	require.NoError(t, err)
	assert.Equal(t, e.node.TRXBalance(from), acct.Balance)
	assert.Equal(t, info.Receipt.NetUsage, acct.FreeNetUsage)
	net, err := e.c.GetAccountNetCtx(e.ctx, from.String())
	require.NoError(t, err)
	assert.Equal(t, DefaultFreeBandwidth, net.FreeNetLimit)
	assert.Equal(t, info.Receipt.NetUsage, net.FreeNetUsed)

	// A transfer to a new account pays the account creation fees.
	fresh := addressOf(freshKey(t))
	_, err = e.c.GetAccountCtx(e.ctx, fresh.String())
	require.Error(t, err, "no account yet")
	before0 = e.node.TRXBalance(from)
	ext, err = e.c.TransferCtx(e.ctx, from.String(), fresh.String(), 2*SunPerTRX)
	require.NoError(t, err)
	info = e.send(ext, e.node.Keys()[0])
	assert.Equal(t, DefaultCreateAccountFee+DefaultCreateAccountSystemFee, info.Fee)
	assert.Equal(t, DefaultCreateAccountFee, info.Receipt.NetFee)
	assert.Equal(t, before0-2*SunPerTRX-info.Fee, e.node.TRXBalance(from))
	acct, err = e.c.GetAccountCtx(e.ctx, fresh.String())
	require.NoError(t, err)
	assert.Equal(t, 2*SunPerTRX, acct.Balance)
	assert.Equal(t, info.BlockTimeStamp, acct.CreateTime)
}

func TestTransferValidation(t *testing.T) {
	e := newEnv(t, Config{})
	from, to := e.addr(0), e.addr(1)
	for _, tc := range []struct {
		name     string
		from, to string
		amount   int64
		want     string
	}{
		{"to self", from.String(), from.String(), 1, "Cannot transfer TRX to yourself."},
		{"zero amount", from.String(), to.String(), 0, "Amount must be greater than 0."},
		{"too much", from.String(), to.String(), DefaultAccountTRX + 1, "balance is not sufficient"},
		{"no owner account", addressOf(freshKey(t)).String(), to.String(), 1, "no OwnerAccount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.c.TransferCtx(e.ctx, tc.from, tc.to, tc.amount)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestDeployTriggerAndConstantCalls(t *testing.T) {
	e := newEnv(t, Config{})
	owner := e.addr(0)
	before := e.node.TRXBalance(owner)
	probe, info := e.deployProbe(0)

	// The address: 0x41 || keccak256(txid || owner)[12:].
	h := crypto.Keccak256(append(bytes.Clone(info.Id), owner[:]...))
	assert.Equal(t, btt.AddressFromEVM([20]byte(h[12:])), probe)
	assert.Equal(t, core.Transaction_Result_SUCCESS, info.Receipt.Result)
	assert.Positive(t, info.Receipt.EnergyUsageTotal)
	assert.Equal(t, info.Receipt.EnergyUsageTotal*DefaultEnergyPrice, info.Receipt.EnergyFee)
	assert.Equal(t, info.Receipt.EnergyFee+info.Receipt.NetFee, info.Fee)
	assert.Equal(t, before-info.Fee, e.node.TRXBalance(owner))

	// The EVM saw the 20-byte addresses.
	assert.Equal(t, common.Address(probe.EVM()), e.view(probe, "self"))
	assert.Equal(t, common.Address(owner.EVM()), e.view(probe, "deployer"))

	// The contract as the client sees it.
	abiProto, err := e.c.GetContractABICtx(e.ctx, probe.String())
	require.NoError(t, err)
	assert.Len(t, abiProto.Entrys, len(probeABI.Methods)+len(probeABI.Events)+1)
	acct, err := e.c.GetAccountCtx(e.ctx, probe.String())
	require.NoError(t, err)
	assert.Equal(t, core.AccountType_Contract, acct.Type)

	// A call, its log and its effect.
	info = e.trigger(1, probe, 10*SunPerTRX, "store", big.NewInt(7))
	require.Equal(t, core.TransactionInfo_SUCESS, info.Result, string(info.ResMessage))
	assert.Equal(t, core.Transaction_Result_SUCCESS, info.Receipt.Result)
	require.Len(t, info.Log, 1)
	l := info.Log[0]
	assert.Equal(t, probe.EVM(), [20]byte(l.Address), "log addresses are 20 bytes")
	require.Len(t, l.Topics, 2)
	assert.Equal(t, probeABI.Events["Stored"].ID.Bytes(), l.Topics[0])
	assert.Equal(t, common.LeftPadBytes(evmAddr(e.addr(1)).Bytes(), 32), l.Topics[1])
	assert.Equal(t, common.LeftPadBytes([]byte{7}, 32), l.Data)
	assert.Equal(t, big.NewInt(7), e.view(probe, "stored"))

	// TriggerContract on a view function answers its result at once, as
	// java-tron does.
	data, err := probeABI.Pack("stored")
	require.NoError(t, err)
	ext, err := e.c.TriggerContractWithDataCtx(e.ctx, owner.String(), probe.String(), data, 0, 0, "", 0)
	require.NoError(t, err)
	require.Len(t, ext.ConstantResult, 1)
	assert.Equal(t, common.LeftPadBytes([]byte{7}, 32), ext.ConstantResult[0])

	// Calling an address without code is refused up front.
	_, err = e.c.TriggerContractWithDataCtx(e.ctx, owner.String(), e.addr(2).String(), data, 0, 0, "", 0)
	require.ErrorContains(t, err, "No contract or not a valid smart contract")
	ext, err = e.c.TriggerConstantContractWithDataCtx(e.ctx, "", e.addr(2).String(), data)
	require.NoError(t, err)
	assert.False(t, ext.Result.Result)
	assert.Equal(t, api.Return_CONTRACT_VALIDATE_ERROR, ext.Result.Code)
}

func TestRevert(t *testing.T) {
	e := newEnv(t, Config{})
	probe, _ := e.deployProbe(0)
	before := e.node.TRXBalance(e.addr(1))
	info := e.trigger(1, probe, 10*SunPerTRX, "store", big.NewInt(0))
	assert.Equal(t, core.TransactionInfo_FAILED, info.Result)
	assert.Equal(t, "REVERT opcode executed", string(info.ResMessage))
	assert.Equal(t, core.Transaction_Result_REVERT, info.Receipt.Result)
	require.Len(t, info.ContractResult, 1)
	reason, err := abi.UnpackRevert(info.ContractResult[0])
	require.NoError(t, err)
	assert.Equal(t, "probe: zero value", reason)
	assert.Positive(t, info.Receipt.EnergyUsageTotal, "a revert pays for what it used")
	assert.Less(t, info.Receipt.EnergyUsageTotal, int64(10*SunPerTRX/DefaultEnergyPrice))
	assert.Equal(t, before-info.Fee, e.node.TRXBalance(e.addr(1)))
	assert.Empty(t, info.Log)
	tx, err := e.c.GetTransactionByIDCtx(e.ctx, hexID(info.Id))
	require.NoError(t, err)
	assert.Equal(t, core.Transaction_Result_REVERT, tx.Ret[0].ContractRet)

	// A constant call's revert, answered as java-tron answers it.
	data, err := probeABI.Pack("fail")
	require.NoError(t, err)
	ext, err := e.c.TriggerConstantContractWithDataCtx(e.ctx, "", probe.String(), data)
	require.NoError(t, err)
	assert.True(t, ext.Result.Result)
	assert.Equal(t, api.Return_SUCCESS, ext.Result.Code)
	assert.Equal(t, "REVERT opcode executed", string(ext.Result.Message))
	assert.Equal(t, core.Transaction_Result_FAILED, ext.Transaction.Ret[0].Ret)
	require.Len(t, ext.ConstantResult, 1)
	reason, err = abi.UnpackRevert(ext.ConstantResult[0])
	require.NoError(t, err)
	assert.Equal(t, "probe: failed on purpose", reason)

	// EstimateEnergy of a reverting call.
	est, err := e.c.EstimateEnergyWithDataCtx(e.ctx, e.addr(1).String(), probe.String(), data, 0, "", 0)
	require.NoError(t, err)
	assert.False(t, est.Result.Result)
	assert.Equal(t, "REVERT opcode executed", string(est.Result.Message))
	assert.Zero(t, est.EnergyRequired)
}

func TestEstimateEnergy(t *testing.T) {
	e := newEnv(t, Config{})
	probe, _ := e.deployProbe(0)
	data, err := probeABI.Pack("burn", big.NewInt(3))
	require.NoError(t, err)
	est, err := e.c.EstimateEnergyWithDataCtx(e.ctx, e.addr(1).String(), probe.String(), data, 0, "", 0)
	require.NoError(t, err)
	require.True(t, est.Result.Result, string(est.Result.Message))
	require.Greater(t, est.EnergyRequired, int64(3*22_100))

	// One energy short runs out; the estimate is enough.
	info := e.trigger(1, probe, (est.EnergyRequired-1)*DefaultEnergyPrice, "burn", big.NewInt(3))
	assert.Equal(t, core.Transaction_Result_OUT_OF_ENERGY, info.Receipt.Result)
	info = e.trigger(1, probe, est.EnergyRequired*DefaultEnergyPrice, "burn", big.NewInt(3))
	assert.Equal(t, core.Transaction_Result_SUCCESS, info.Receipt.Result, string(info.ResMessage))
}

func TestOutOfEnergy(t *testing.T) {
	e := newEnv(t, Config{})
	probe, _ := e.deployProbe(0)
	caller := e.addr(1)
	before := e.node.TRXBalance(caller)
	const feeLimit = 1 * SunPerTRX // 4761 energy: not one SSTORE of a new slot... after the first
	info := e.trigger(1, probe, feeLimit, "burn", big.NewInt(50))
	assert.Equal(t, core.TransactionInfo_FAILED, info.Result)
	assert.Equal(t, core.Transaction_Result_OUT_OF_ENERGY, info.Receipt.Result)
	assert.True(t, strings.HasPrefix(string(info.ResMessage), "Not enough energy for 'SSTORE' operation executing: curInvokeEnergyLimit[4761]"), string(info.ResMessage))
	limit := feeLimit / DefaultEnergyPrice
	assert.Equal(t, limit, info.Receipt.EnergyUsageTotal, "the whole limit is spent")
	assert.Equal(t, limit*DefaultEnergyPrice, info.Receipt.EnergyFee)
	assert.Equal(t, before-info.Fee, e.node.TRXBalance(caller))
	// Nothing was written.
	e.node.mu.Lock()
	slot := e.node.chain.state.GetState(evmAddr(probe), common.BigToHash(big.NewInt(1001)))
	e.node.mu.Unlock()
	assert.Equal(t, common.Hash{}, slot)

	// With too little TRX for the fee limit, the balance is the limit.
	poor := freshKey(t)
	require.NoError(t, e.node.FundTRX(addressOf(poor), 2*SunPerTRX))
	data, err := probeABI.Pack("burn", big.NewInt(50))
	require.NoError(t, err)
	ext, err := e.c.TriggerContractWithDataCtx(e.ctx, addressOf(poor).String(), probe.String(), data, 100*SunPerTRX, 0, "", 0)
	require.NoError(t, err)
	info = e.send(ext, poor)
	assert.Equal(t, core.Transaction_Result_OUT_OF_ENERGY, info.Receipt.Result)
	assert.Equal(t, (2*SunPerTRX-info.Receipt.NetFee)/DefaultEnergyPrice, info.Receipt.EnergyUsageTotal)
	assert.Less(t, e.node.TRXBalance(addressOf(poor)), DefaultEnergyPrice, "everything but change went")
}
