package devnet

import (
	"encoding/hex"
	"fmt"
	"math"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/protobuf/proto"

	"github.com/bttspeed/bttspeed/btt"
)

// maxExpiration is how far past the head block a transaction may expire.
const maxExpiration = 24 * time.Hour

// rejectError is a broadcast refused the way java-tron refuses it: the
// code and message BroadcastTransaction answers with.
type rejectError struct {
	code api.ReturnResponseCode
	msg  string
}

func (e *rejectError) Error() string { return e.code.String() + ": " + e.msg }

func (e *rejectError) ret() *api.Return {
	return &api.Return{Result: false, Code: e.code, Message: []byte(e.msg)}
}

// invalid is java-tron's ContractValidateException as a broadcast answer.
func invalid(format string, args ...any) *rejectError {
	return &rejectError{code: api.Return_CONTRACT_VALIDATE_ERROR, msg: "Contract validate error : " + fmt.Sprintf(format, args...)}
}

func sigError(format string, args ...any) *rejectError {
	return &rejectError{code: api.Return_SIGERROR, msg: "Validate signature error: " + fmt.Sprintf(format, args...)}
}

var (
	errDup          = &rejectError{code: api.Return_DUP_TRANSACTION_ERROR, msg: "Transaction already exists."}
	errTapos        = &rejectError{code: api.Return_TAPOS_ERROR, msg: "Tapos check error."}
	errExpired      = &rejectError{code: api.Return_TRANSACTION_EXPIRATION_ERROR, msg: "Transaction expired"}
	errBandwidth    = &rejectError{code: api.Return_BANDWITH_ERROR, msg: "Account resource insufficient error."}
	errNoCallValue  = "devnet: call_value and TRC-10 token values are not supported"
	errFeeLimitText = fmt.Sprintf("feeLimit must be >= 0 and <= %d", MaxFeeLimit)
)

// prepared is a transaction that passed every check, with what executing
// it will charge.
type prepared struct {
	id    [32]byte
	tx    *core.Transaction
	owner btt.Address

	transfer *core.TransferContract
	create   *core.CreateSmartContract
	trigger  *core.TriggerSmartContract
	// target is the transfer's recipient, the called contract or the
	// contract to be created.
	target btt.Address

	netBytes       int64
	useFreeNet     bool
	netFee         int64 // sun burned for bandwidth (or account creation)
	createsAccount bool  // a transfer to an account that does not exist
	systemFee      int64 // a transfer's account creation fee
	memoFee        int64 // sun burned for a memo (raw_data.data)
}

// check runs java-tron's checks on a transaction: at broadcast (in nil)
// against the head and the next block, when mining against the block in.
func (c *chain) check(tx *core.Transaction, id [32]byte, in *blockCtx) (*prepared, error) {
	raw := tx.GetRawData()
	if raw == nil || len(raw.Contract) != 1 {
		return nil, invalid("a transaction has exactly one contract, this one has %d", len(raw.GetContract()))
	}
	for _, sig := range tx.Signature {
		if len(sig) != 65 {
			return nil, sigError("Signature size is %d", len(sig))
		}
	}
	if size := proto.Size(tx); size > MaxTxSize {
		return nil, &rejectError{code: api.Return_TOO_BIG_TRANSACTION_ERROR, msg: fmt.Sprintf("Too big transaction, the size is %d bytes", size)}
	}
	if _, ok := c.included[id]; ok {
		return nil, errDup
	}
	ctx := blockCtx{number: c.head().number() + 1, ts: c.nextBlockTime()}
	if in != nil {
		ctx = *in
	} else if _, ok := c.pendingID[id]; ok {
		return nil, errDup
	}
	if !c.tapos(raw) {
		return nil, errTapos
	}
	headTs := c.head().timestamp()
	switch {
	case in != nil && raw.Expiration < ctx.ts:
		return nil, errExpired
	case in == nil && (raw.Expiration <= headTs || raw.Expiration > headTs+maxExpiration.Milliseconds()):
		return nil, errExpired
	}

	p := &prepared{id: id, tx: tx}
	contract := raw.Contract[0]
	if contract.PermissionId != 0 {
		return nil, sigError("permission %d does not exist (the devnet knows the owner permission only)", contract.PermissionId)
	}
	if contract.Parameter == nil {
		return nil, invalid("the contract has no parameter")
	}
	var ownerBytes []byte
	switch contract.Type {
	case core.Transaction_Contract_TransferContract:
		p.transfer = new(core.TransferContract)
		if err := contract.Parameter.UnmarshalTo(p.transfer); err != nil {
			return nil, invalid("the parameter is not a TransferContract: %v", err)
		}
		ownerBytes = p.transfer.OwnerAddress
	case core.Transaction_Contract_CreateSmartContract:
		p.create = new(core.CreateSmartContract)
		if err := contract.Parameter.UnmarshalTo(p.create); err != nil {
			return nil, invalid("the parameter is not a CreateSmartContract: %v", err)
		}
		ownerBytes = p.create.OwnerAddress
	case core.Transaction_Contract_TriggerSmartContract:
		p.trigger = new(core.TriggerSmartContract)
		if err := contract.Parameter.UnmarshalTo(p.trigger); err != nil {
			return nil, invalid("the parameter is not a TriggerSmartContract: %v", err)
		}
		ownerBytes = p.trigger.OwnerAddress
	default:
		return nil, invalid("devnet: contract type %s is not supported (TransferContract, CreateSmartContract and TriggerSmartContract are)", contract.Type)
	}
	owner, err := btt.AddressFromBytes(ownerBytes)
	if err != nil {
		return nil, invalid("Invalid ownerAddress!")
	}
	p.owner = owner

	// The signature: one, by the owner.
	switch len(tx.Signature) {
	case 0:
		return nil, sigError("miss sig or contract")
	case 1:
	default:
		return nil, sigError("Signature count is %d more than key counts of permission : 1", len(tx.Signature))
	}
	sig := append([]byte(nil), tx.Signature[0]...)
	if sig[64] >= 27 {
		sig[64] -= 27
	}
	pub, err := crypto.SigToPub(id[:], sig)
	if err != nil {
		return nil, sigError("%v", err)
	}
	if signer := btt.AddressFromEVM(crypto.PubkeyToAddress(*pub)); signer != owner {
		return nil, sigError("%s is signed by %s but it is not contained of permission.", hex.EncodeToString(tx.Signature[0]), signer)
	}

	// Bandwidth, charged before the contract is validated.
	acct := c.accounts[owner]
	if acct == nil {
		return nil, invalid("account does not exist")
	}
	balance := c.balance(owner)
	p.netBytes = int64(proto.Size(&core.Transaction{RawData: raw, Signature: tx.Signature})) + 64
	if p.transfer != nil {
		if to, err := btt.AddressFromBytes(p.transfer.ToAddress); err == nil && !c.exists(to) {
			p.createsAccount = true
		}
	}
	switch {
	case p.createsAccount:
		if balance < c.cfg.CreateAccountFee {
			return nil, errBandwidth
		}
		p.netFee = c.cfg.CreateAccountFee
	case p.netBytes <= c.cfg.FreeBandwidth-acct.freeNetUsed(ctx.slot()):
		p.useFreeNet = true
	default:
		fee := p.netBytes * c.cfg.BandwidthPrice
		if balance < fee {
			return nil, errBandwidth
		}
		p.netFee = fee
	}
	balance -= p.netFee
	// A memo pays the memo fee on top of its bytes' bandwidth, as
	// java-tron's consumeMemoFee charges it.
	if len(raw.Data) > 0 && c.cfg.MemoFee > 0 {
		if balance < c.cfg.MemoFee {
			return nil, &rejectError{code: api.Return_BANDWITH_ERROR, msg: fmt.Sprintf("Account Insufficient balance[%d] to MemoFee.", balance)}
		}
		p.memoFee = c.cfg.MemoFee
		balance -= p.memoFee
	}

	switch {
	case p.transfer != nil:
		return p, c.checkTransfer(p, balance)
	case p.create != nil:
		return p, c.checkCreate(p, raw.FeeLimit)
	default:
		return p, c.checkTrigger(p, raw.FeeLimit)
	}
}

// checkTransfer is TransferActuator.validate; balance is what is left
// after bandwidth.
func (c *chain) checkTransfer(p *prepared, balance int64) error {
	t := p.transfer
	to, err := btt.AddressFromBytes(t.ToAddress)
	if err != nil {
		return invalid("Invalid toAddress!")
	}
	if to == p.owner {
		return invalid("Cannot transfer TRX to yourself.")
	}
	if t.Amount <= 0 {
		return invalid("Amount must be greater than 0.")
	}
	if c.isContract(to) {
		return invalid("Cannot transfer TRX to a smart contract.")
	}
	if p.createsAccount {
		p.systemFee = c.cfg.CreateAccountSystemFee
	}
	if t.Amount > math.MaxInt64-p.systemFee || balance < t.Amount+p.systemFee {
		return invalid("Validate TransferContract error, balance is not sufficient.")
	}
	if c.balance(to) > math.MaxInt64-t.Amount {
		return invalid("long overflow")
	}
	p.target = to
	return nil
}

// checkTrigger is VMActuator's validation of a contract call.
func (c *chain) checkTrigger(p *prepared, feeLimit int64) error {
	t := p.trigger
	to, err := btt.AddressFromBytes(t.ContractAddress)
	if err != nil || !c.isContract(to) {
		return invalid("No contract or not a valid smart contract")
	}
	if t.CallValue != 0 || t.CallTokenValue != 0 || t.TokenId != 0 {
		return invalid("%s", errNoCallValue)
	}
	if feeLimit < 0 || feeLimit > MaxFeeLimit {
		return invalid("%s", errFeeLimitText)
	}
	p.target = to
	return nil
}

// checkCreate is VMActuator's validation of a deployment.
func (c *chain) checkCreate(p *prepared, feeLimit int64) error {
	nc := p.create.NewContract
	if nc == nil {
		return invalid("Cannot get CreateSmartContract from transaction")
	}
	if origin, err := btt.AddressFromBytes(nc.OriginAddress); err != nil || origin != p.owner {
		return invalid("OwnerAddress is not equals OriginAddress")
	}
	if len(nc.Name) > 32 {
		return invalid("contractName's length cannot be greater than 32")
	}
	if nc.ConsumeUserResourcePercent < 0 || nc.ConsumeUserResourcePercent > 100 {
		return invalid("percent must be >= 0 and <= 100")
	}
	if nc.OriginEnergyLimit <= 0 {
		return invalid("The originEnergyLimit must be > 0")
	}
	if nc.CallValue != 0 || p.create.CallTokenValue != 0 || p.create.TokenId != 0 {
		return invalid("%s", errNoCallValue)
	}
	if feeLimit < 0 || feeLimit > MaxFeeLimit {
		return invalid("%s", errFeeLimitText)
	}
	if len(nc.Bytecode) == 0 {
		return invalid("devnet: the contract has no bytecode")
	}
	addr := contractAddress(p.id, p.owner)
	if c.exists(addr) {
		return invalid("Trying to create a contract with existing contract address: %s", addr)
	}
	p.target = addr
	return nil
}
