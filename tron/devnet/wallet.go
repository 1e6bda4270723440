package devnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/bttspeed/bttspeed/btt"
)

// zeroOwner is the owner of constant calls that name none (gotron-sdk's
// default).
var zeroOwner = btt.Address{btt.AddressPrefix}

// intercept injects the faults: unavailability and latency.
func (n *Node) intercept(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if n.unavailable.Load() {
		return nil, status.Error(codes.Unavailable, "devnet: node unavailable (fault injection)")
	}
	if d := time.Duration(n.latency.Load()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-n.stop:
			t.Stop()
			return nil, status.Error(codes.Unavailable, ErrClosed.Error())
		}
	}
	return handler(ctx, req)
}

// wallet implements the Wallet RPCs the devnet supports.
type wallet struct {
	api.UnimplementedWalletServer
	n *Node
}

// with runs f on the chain under the node's lock.
func with[T any](w *wallet, f func(c *chain) T) (T, error) {
	w.n.mu.Lock()
	defer w.n.mu.Unlock()
	if w.n.closed {
		var zero T
		return zero, status.Error(codes.Unavailable, ErrClosed.Error())
	}
	return f(w.n.chain), nil
}

func okReturn() *api.Return { return &api.Return{Result: true, Code: api.Return_SUCCESS} }

// failExt is a TransactionExtention that only carries an error.
func failExt(e *rejectError) *api.TransactionExtention {
	return &api.TransactionExtention{Result: e.ret()}
}

// newRaw builds a transaction's raw data as java-tron does: reference to
// the head block, expiration 60 s after it, timestamp from the clock.
func (c *chain) newRaw(typ core.Transaction_Contract_ContractType, msg proto.Message) (*core.TransactionRaw, error) {
	param, err := anypb.New(msg)
	if err != nil {
		return nil, fmt.Errorf("devnet: pack %s: %w", typ, err)
	}
	head := c.head()
	return &core.TransactionRaw{
		RefBlockBytes: bytes.Clone(head.id[6:8]),
		RefBlockHash:  bytes.Clone(head.id[8:16]),
		Expiration:    head.timestamp() + TxExpiration.Milliseconds(),
		Timestamp:     c.now().UnixMilli(),
		Contract:      []*core.Transaction_Contract{{Type: typ, Parameter: param}},
	}, nil
}

// txExt is an unsigned transaction for the client to sign.
func (c *chain) txExt(typ core.Transaction_Contract_ContractType, msg proto.Message) *api.TransactionExtention {
	raw, err := c.newRaw(typ, msg)
	if err != nil {
		return failExt(&rejectError{code: api.Return_OTHER_ERROR, msg: err.Error()})
	}
	id, err := txID(raw)
	if err != nil {
		return failExt(&rejectError{code: api.Return_OTHER_ERROR, msg: err.Error()})
	}
	return &api.TransactionExtention{Transaction: &core.Transaction{RawData: raw}, Txid: id[:], Result: okReturn()}
}

// GetNowBlock2 implements api.WalletServer.
func (w *wallet) GetNowBlock2(context.Context, *api.EmptyMessage) (*api.BlockExtention, error) {
	return with(w, func(c *chain) *api.BlockExtention { return blockExt(c.head()) })
}

// GetNowBlock implements api.WalletServer.
func (w *wallet) GetNowBlock(context.Context, *api.EmptyMessage) (*core.Block, error) {
	return with(w, func(c *chain) *core.Block { return coreBlock(c.head()) })
}

// GetBlockByNum2 implements api.WalletServer; an unknown number gives an
// empty block, as java-tron answers.
func (w *wallet) GetBlockByNum2(_ context.Context, in *api.NumberMessage) (*api.BlockExtention, error) {
	return with(w, func(c *chain) *api.BlockExtention {
		if b := c.blockAt(in.GetNum()); b != nil {
			return blockExt(b)
		}
		return &api.BlockExtention{}
	})
}

// GetBlockByNum implements api.WalletServer.
func (w *wallet) GetBlockByNum(_ context.Context, in *api.NumberMessage) (*core.Block, error) {
	return with(w, func(c *chain) *core.Block {
		if b := c.blockAt(in.GetNum()); b != nil {
			return coreBlock(b)
		}
		return &core.Block{}
	})
}

// GetBlockById implements api.WalletServer.
func (w *wallet) GetBlockById(_ context.Context, in *api.BytesMessage) (*core.Block, error) {
	return with(w, func(c *chain) *core.Block {
		if len(in.GetValue()) == 32 {
			if b := c.blockAt(int64(beUint64(in.Value[:8]))); b != nil && bytes.Equal(b.id[:], in.Value) {
				return coreBlock(b)
			}
		}
		return &core.Block{}
	})
}

// GetBlockByLatestNum2 implements api.WalletServer: the last n blocks
// (1 to 100), oldest first.
func (w *wallet) GetBlockByLatestNum2(_ context.Context, in *api.NumberMessage) (*api.BlockListExtention, error) {
	return with(w, func(c *chain) *api.BlockListExtention {
		out := &api.BlockListExtention{}
		k := in.GetNum()
		if k <= 0 || k > 100 {
			return out
		}
		for i := max(int64(len(c.blocks))-k, 0); i < int64(len(c.blocks)); i++ {
			out.Block = append(out.Block, blockExt(c.blocks[i]))
		}
		return out
	})
}

func beUint64(b []byte) uint64 {
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v
}

func (c *chain) blockAt(num int64) *block {
	if num < 0 || num >= int64(len(c.blocks)) {
		return nil
	}
	return c.blocks[num]
}

func blockExt(b *block) *api.BlockExtention {
	ext := &api.BlockExtention{BlockHeader: b.header, Blockid: b.id[:]}
	for i, tx := range b.txs {
		ext.Transactions = append(ext.Transactions, &api.TransactionExtention{Transaction: tx, Txid: b.txids[i][:], Result: okReturn()})
	}
	return ext
}

func coreBlock(b *block) *core.Block {
	return &core.Block{Transactions: b.txs, BlockHeader: b.header}
}

// GetAccount implements api.WalletServer; an unknown account is empty.
func (w *wallet) GetAccount(_ context.Context, in *core.Account) (*core.Account, error) {
	return with(w, func(c *chain) *core.Account { return c.accountMsg(in.GetAddress()) })
}

// accountMsg is an account as GetAccount answers it.
func (c *chain) accountMsg(addr []byte) *core.Account {
	a, err := btt.AddressFromBytes(addr)
	if err != nil || !c.exists(a) {
		return &core.Account{}
	}
	out := &core.Account{Address: a[:], Balance: c.balance(a), Type: core.AccountType_Normal}
	if c.isContract(a) {
		out.Type = core.AccountType_Contract
	}
	if acct := c.accounts[a]; acct != nil {
		slot := c.head().timestamp() / blockMillis
		out.CreateTime = acct.createTime
		out.FreeNetUsage = acct.freeNetUsed(slot)
		out.LatestConsumeFreeTime = acct.freeNetSlot * blockMillis
	}
	return out
}

// GetAccountNet implements api.WalletServer.
func (w *wallet) GetAccountNet(_ context.Context, in *core.Account) (*api.AccountNetMessage, error) {
	return with(w, func(c *chain) *api.AccountNetMessage {
		used, limit, ok := c.netUsage(in.GetAddress())
		if !ok {
			return &api.AccountNetMessage{}
		}
		return &api.AccountNetMessage{FreeNetUsed: used, FreeNetLimit: limit}
	})
}

// GetAccountResource implements api.WalletServer: free bandwidth only (no
// staking on the devnet).
func (w *wallet) GetAccountResource(_ context.Context, in *core.Account) (*api.AccountResourceMessage, error) {
	return with(w, func(c *chain) *api.AccountResourceMessage {
		used, limit, ok := c.netUsage(in.GetAddress())
		if !ok {
			return &api.AccountResourceMessage{}
		}
		return &api.AccountResourceMessage{FreeNetUsed: used, FreeNetLimit: limit}
	})
}

func (c *chain) netUsage(addr []byte) (used, limit int64, ok bool) {
	a, err := btt.AddressFromBytes(addr)
	if err != nil || !c.exists(a) {
		return 0, 0, false
	}
	if acct := c.accounts[a]; acct != nil {
		used = acct.freeNetUsed(c.head().timestamp() / blockMillis)
	}
	return used, c.cfg.FreeBandwidth, true
}

// CreateTransaction2 implements api.WalletServer: an unsigned TRX
// transfer, validated as TransferActuator does.
func (w *wallet) CreateTransaction2(_ context.Context, in *core.TransferContract) (*api.TransactionExtention, error) {
	return with(w, func(c *chain) *api.TransactionExtention {
		owner, err := btt.AddressFromBytes(in.OwnerAddress)
		if err != nil {
			return failExt(invalid("Invalid ownerAddress!"))
		}
		if c.accounts[owner] == nil {
			return failExt(invalid("Validate TransferContract error, no OwnerAccount."))
		}
		p := &prepared{owner: owner, transfer: in}
		if to, err := btt.AddressFromBytes(in.ToAddress); err == nil && !c.exists(to) {
			p.createsAccount = true
		}
		if err := c.checkTransfer(p, c.balance(owner)); err != nil {
			return failExt(asReject(err))
		}
		return c.txExt(core.Transaction_Contract_TransferContract, in)
	})
}

func asReject(err error) *rejectError {
	var r *rejectError
	if errors.As(err, &r) {
		return r
	}
	return &rejectError{code: api.Return_OTHER_ERROR, msg: "Error: " + err.Error()}
}

// DeployContract implements api.WalletServer: an unsigned deployment (the
// rest is checked at broadcast, as java-tron does).
func (w *wallet) DeployContract(_ context.Context, in *core.CreateSmartContract) (*api.TransactionExtention, error) {
	return with(w, func(c *chain) *api.TransactionExtention {
		if p := in.GetNewContract().GetConsumeUserResourcePercent(); p < 0 || p > 100 {
			return failExt(invalid("percent must be >= 0 and <= 100"))
		}
		return c.txExt(core.Transaction_Contract_CreateSmartContract, in)
	})
}

// TriggerContract implements api.WalletServer: an unsigned call, or, for
// a view or pure function, its result (as java-tron answers).
func (w *wallet) TriggerContract(_ context.Context, in *core.TriggerSmartContract) (*api.TransactionExtention, error) {
	return with(w, func(c *chain) *api.TransactionExtention {
		to, err := btt.AddressFromBytes(in.ContractAddress)
		if err != nil || !c.isContract(to) {
			return failExt(invalid("No contract or not a valid smart contract"))
		}
		if in.CallValue != 0 || in.CallTokenValue != 0 || in.TokenId != 0 {
			return failExt(invalid("%s", errNoCallValue))
		}
		if c.isConstantMethod(to, in.Data) {
			return c.constantExt(in)
		}
		return c.txExt(core.Transaction_Contract_TriggerSmartContract, in)
	})
}

// TriggerConstantContract implements api.WalletServer.
func (w *wallet) TriggerConstantContract(_ context.Context, in *core.TriggerSmartContract) (*api.TransactionExtention, error) {
	return with(w, func(c *chain) *api.TransactionExtention { return c.constantExt(in) })
}

// constantCallArgs checks a constant call's request.
func (c *chain) constantCallArgs(in *core.TriggerSmartContract) (from, to btt.Address, rej *rejectError) {
	to, err := btt.AddressFromBytes(in.ContractAddress)
	if err != nil || !c.isContract(to) {
		return from, to, invalid("Smart contract is not exist.")
	}
	if in.CallValue != 0 || in.CallTokenValue != 0 || in.TokenId != 0 {
		return from, to, invalid("%s", errNoCallValue)
	}
	from = zeroOwner
	if len(in.OwnerAddress) > 0 {
		if from, err = btt.AddressFromBytes(in.OwnerAddress); err != nil {
			return from, to, invalid("Invalid ownerAddress!")
		}
	}
	return from, to, nil
}

// constantExt runs a constant call and answers as java-tron does: a
// revert is Result true with the message "REVERT opcode executed", the
// revert data in constant_result and ret FAILED; any other failure is
// Result false, CONTRACT_EXE_ERROR.
func (c *chain) constantExt(in *core.TriggerSmartContract) *api.TransactionExtention {
	if len(in.ContractAddress) == 0 && len(in.Data) > 0 {
		return c.simulateDeploy(in)
	}
	from, to, rej := c.constantCallArgs(in)
	if rej != nil {
		return failExt(rej)
	}
	out := c.constantCall(from, to, in.Data, MaxConstantEnergy)
	if out.err != nil && !errors.Is(out.err, vm.ErrExecutionReverted) {
		return failExt(&rejectError{code: api.Return_CONTRACT_EXE_ERROR, msg: javaException(out, MaxConstantEnergy)})
	}
	ext := c.txExt(core.Transaction_Contract_TriggerSmartContract, in)
	if ext.Transaction == nil {
		return ext
	}
	ext.ConstantResult = [][]byte{out.ret}
	ext.EnergyUsed = int64(out.used)
	ext.Logs = out.logs
	ret := core.Transaction_Result_SUCESS
	if out.err != nil {
		ret = core.Transaction_Result_FAILED
		ext.Result.Message = []byte(revertMessage)
	}
	ext.Transaction.Ret = []*core.Transaction_Result{{Ret: ret}}
	return ext
}

// javaException is how java-tron reports a constant call's VM exception.
func javaException(out vmOutcome, limit uint64) string {
	name := "RuntimeException"
	switch out.result() {
	case core.Transaction_Result_OUT_OF_ENERGY:
		name = "Program$OutOfEnergyException"
	case core.Transaction_Result_BAD_JUMP_DESTINATION:
		name = "Program$BadJumpDestinationException"
	case core.Transaction_Result_STACK_TOO_SMALL:
		name = "Program$StackTooSmallException"
	case core.Transaction_Result_STACK_TOO_LARGE:
		name = "Program$StackTooLargeException"
	case core.Transaction_Result_ILLEGAL_OPERATION:
		name = "Program$IllegalOperationException"
	}
	return fmt.Sprintf("class org.tron.core.vm.program.%s : %s", name, out.message(limit))
}

// isConstantMethod reports whether data calls a view or pure function of
// the contract's ABI.
func (c *chain) isConstantMethod(to btt.Address, data []byte) bool {
	sc := c.contracts[to]
	if sc == nil || len(data) < 4 {
		return false
	}
	for _, e := range sc.GetAbi().GetEntrys() {
		if e.Type != core.SmartContract_ABI_Entry_Function {
			continue
		}
		types := make([]string, len(e.Inputs))
		for i, in := range e.Inputs {
			types[i] = in.Type
		}
		sel := crypto.Keccak256([]byte(e.Name + "(" + strings.Join(types, ",") + ")"))[:4]
		if bytes.Equal(sel, data[:4]) {
			return e.Constant || e.StateMutability == core.SmartContract_ABI_Entry_View || e.StateMutability == core.SmartContract_ABI_Entry_Pure
		}
	}
	return false
}

// EstimateEnergy implements api.WalletServer: the least energy with which
// the call succeeds, found as java-tron finds it.
func (w *wallet) EstimateEnergy(_ context.Context, in *core.TriggerSmartContract) (*api.EstimateEnergyMessage, error) {
	return with(w, func(c *chain) *api.EstimateEnergyMessage {
		from, to, rej := c.constantCallArgs(in)
		if rej != nil {
			return &api.EstimateEnergyMessage{Result: rej.ret()}
		}
		energy, out := c.estimateEnergy(from, to, in.Data)
		switch {
		case out.err == nil:
			return &api.EstimateEnergyMessage{Result: okReturn(), EnergyRequired: int64(energy)}
		case errors.Is(out.err, vm.ErrExecutionReverted):
			return &api.EstimateEnergyMessage{Result: &api.Return{Code: api.Return_SUCCESS, Message: []byte(revertMessage)}}
		}
		return &api.EstimateEnergyMessage{Result: &api.Return{Code: api.Return_CONTRACT_EXE_ERROR, Message: []byte(javaException(out, MaxConstantEnergy))}}
	})
}

// BroadcastTransaction implements api.WalletServer: java-tron's checks,
// then the transaction waits for the next block, mined at once unless
// blocks come on a timer or are delayed.
func (w *wallet) BroadcastTransaction(_ context.Context, in *core.Transaction) (*api.Return, error) {
	return with(w, func(c *chain) *api.Return {
		if in.GetRawData() == nil {
			return invalid("the transaction has no raw_data").ret()
		}
		id, err := txID(in.RawData)
		if err != nil {
			return asReject(err).ret()
		}
		if _, err := c.check(in, id, nil); err != nil {
			return asReject(err).ret()
		}
		if w.n.drop > 0 {
			w.n.drop--
			return okReturn()
		}
		c.pending = append(c.pending, pendingTx{tx: proto.Clone(in).(*core.Transaction), id: id})
		c.pendingID[id] = struct{}{}
		if w.n.cfg.BlockInterval == 0 && !c.delayed() {
			c.delayUntil = time.Time{}
			c.mineNext()
		}
		return okReturn()
	})
}

// GetTransactionById implements api.WalletServer; a transaction not in a
// block is empty.
func (w *wallet) GetTransactionById(_ context.Context, in *api.BytesMessage) (*core.Transaction, error) {
	return with(w, func(c *chain) *core.Transaction {
		if b, i, ok := c.lookup(in.GetValue()); ok {
			return b.txs[i]
		}
		return &core.Transaction{}
	})
}

// GetTransactionInfoById implements api.WalletServer; a transaction not in
// a block has an empty receipt.
func (w *wallet) GetTransactionInfoById(_ context.Context, in *api.BytesMessage) (*core.TransactionInfo, error) {
	return with(w, func(c *chain) *core.TransactionInfo {
		if b, i, ok := c.lookup(in.GetValue()); ok {
			return b.infos[i]
		}
		return &core.TransactionInfo{}
	})
}

func (c *chain) lookup(id []byte) (*block, int64, bool) {
	if len(id) != 32 {
		return nil, 0, false
	}
	loc, ok := c.included[[32]byte(id)]
	if !ok || loc.block >= int64(len(c.blocks)) {
		// Not included, or (seen as of the solidified block) after it.
		return nil, 0, false
	}
	return c.blocks[loc.block], loc.index, true
}

// GetTransactionInfoByBlockNum implements api.WalletServer.
func (w *wallet) GetTransactionInfoByBlockNum(_ context.Context, in *api.NumberMessage) (*api.TransactionInfoList, error) {
	return with(w, func(c *chain) *api.TransactionInfoList {
		out := &api.TransactionInfoList{}
		if b := c.blockAt(in.GetNum()); b != nil {
			out.TransactionInfo = b.infos
		}
		return out
	})
}

// GetContract implements api.WalletServer; not a contract gives an empty
// one.
func (w *wallet) GetContract(_ context.Context, in *api.BytesMessage) (*core.SmartContract, error) {
	return with(w, func(c *chain) *core.SmartContract { return c.smartContract(in.GetValue()) })
}

// GetContractInfo implements api.WalletServer.
func (w *wallet) GetContractInfo(_ context.Context, in *api.BytesMessage) (*core.SmartContractDataWrapper, error) {
	return with(w, func(c *chain) *core.SmartContractDataWrapper {
		sc := c.smartContract(in.GetValue())
		out := &core.SmartContractDataWrapper{SmartContract: sc}
		if a, err := btt.AddressFromBytes(sc.ContractAddress); err == nil {
			out.Runtimecode = c.state.GetCode(evmAddr(a))
		}
		return out
	})
}

func (c *chain) smartContract(addr []byte) *core.SmartContract {
	a, err := btt.AddressFromBytes(addr)
	if err != nil || !c.isContract(a) {
		return &core.SmartContract{}
	}
	if sc := c.contracts[a]; sc != nil {
		return sc
	}
	// Created by another contract: no ABI, as on TRON.
	return &core.SmartContract{ContractAddress: a[:], Abi: &core.SmartContract_ABI{}, CodeHash: c.state.GetCodeHash(evmAddr(a)).Bytes()}
}

// GetChainParameters implements api.WalletServer: the parameters the
// devnet uses.
func (w *wallet) GetChainParameters(context.Context, *api.EmptyMessage) (*core.ChainParameters, error) {
	cfg := w.n.cfg
	params := []struct {
		key   string
		value int64
	}{
		{"getMaintenanceTimeInterval", int64(6 * time.Hour / time.Millisecond)},
		{"getCreateAccountFee", cfg.CreateAccountFee},
		{"getTransactionFee", cfg.BandwidthPrice},
		{"getCreateNewAccountFeeInSystemContract", cfg.CreateAccountSystemFee},
		{"getFreeNetLimit", cfg.FreeBandwidth},
		{"getMemoFee", cfg.MemoFee},
		{"getEnergyFee", cfg.EnergyPrice},
		{"getAllowCreationOfContracts", 1},
		{"getAllowTvmTransferTrc10", 1},
		{"getAllowTvmConstantinople", 1},
		{"getAllowTvmIstanbul", 1},
		{"getAllowTvmLondon", 1},
		{"getMaxFeeLimit", MaxFeeLimit},
	}
	out := &core.ChainParameters{}
	for _, p := range params {
		out.ChainParameter = append(out.ChainParameter, &core.ChainParameters_ChainParameter{Key: p.key, Value: p.value})
	}
	return out, nil
}

// GetEnergyPrices implements api.WalletServer ("0:price").
func (w *wallet) GetEnergyPrices(context.Context, *api.EmptyMessage) (*api.PricesResponseMessage, error) {
	return &api.PricesResponseMessage{Prices: fmt.Sprintf("0:%d", w.n.cfg.EnergyPrice)}, nil
}

// GetBandwidthPrices implements api.WalletServer ("0:price").
func (w *wallet) GetBandwidthPrices(context.Context, *api.EmptyMessage) (*api.PricesResponseMessage, error) {
	return &api.PricesResponseMessage{Prices: fmt.Sprintf("0:%d", w.n.cfg.BandwidthPrice)}, nil
}
