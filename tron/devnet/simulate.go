package devnet

import (
	"errors"

	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"

	"github.com/bttspeed/bttspeed/btt"
)

// simulateDeploy answers a constant call without a contract address, as
// java-tron (4.7.1 and later) does: data is a contract's creation code
// (with its constructor's arguments), run as a deployment by the owner and
// undone; energy_used is what the deployment would use, constant_result
// the runtime code it would leave. A constructor that reverts answers as a
// reverting constant call does.
func (c *chain) simulateDeploy(in *core.TriggerSmartContract) *api.TransactionExtention {
	if in.CallValue != 0 || in.CallTokenValue != 0 || in.TokenId != 0 {
		return failExt(invalid("%s", errNoCallValue))
	}
	from := zeroOwner
	if len(in.OwnerAddress) > 0 {
		var err error
		if from, err = btt.AddressFromBytes(in.OwnerAddress); err != nil {
			return failExt(invalid("Invalid ownerAddress!"))
		}
	}
	thash := c.callHash()
	target := contractAddress(thash, from)
	head := c.head()
	snapshot := c.state.Snapshot()
	out := c.runCreate(blockCtx{number: head.number(), ts: head.timestamp()}, thash, 0, from, target, in.Data, MaxConstantEnergy)
	c.state.RevertToSnapshot(snapshot)
	if out.err != nil && !errors.Is(out.err, vm.ErrExecutionReverted) {
		return failExt(&rejectError{code: api.Return_CONTRACT_EXE_ERROR, msg: javaException(out, MaxConstantEnergy)})
	}
	ext := c.txExt(core.Transaction_Contract_TriggerSmartContract, in)
	if ext.Transaction == nil {
		return ext
	}
	ext.ConstantResult = [][]byte{out.ret}
	ext.EnergyUsed = int64(out.used)
	ret := core.Transaction_Result_SUCESS
	if out.err != nil {
		ret = core.Transaction_Result_FAILED
		ext.Result.Message = []byte(revertMessage)
	}
	ext.Transaction.Ret = []*core.Transaction_Result{{Ret: ret}}
	return ext
}
