package devnet

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"

	"github.com/bttspeed/bttspeed/tron/contracts"
)

// tokenABI is the test token's ABI.
func tokenABI() abi.ABI { return contracts.TokenABI() }

// deployContracts deploys the test token and the escrow in block 1 (at
// ts), from the operator, and mints the test token to every funded key.
func (n *Node) deployContracts(ts int64) error {
	c := n.chain
	op := addressOf(n.operator)
	tokenProtoABI, err := protoABI(contracts.TokenABIJSON())
	if err != nil {
		return fmt.Errorf("devnet: token ABI: %w", err)
	}
	escrowProtoABI, err := protoABI(contracts.EscrowABIJSON())
	if err != nil {
		return fmt.Errorf("devnet: escrow ABI: %w", err)
	}
	ctx := blockCtx{number: 1, ts: ts}
	deploy := func(name string, a *core.SmartContract_ABI, code []byte) ([32]byte, error) {
		raw, err := c.newRaw(core.Transaction_Contract_CreateSmartContract, &core.CreateSmartContract{
			OwnerAddress: op[:],
			NewContract: &core.SmartContract{
				OriginAddress:              op[:],
				Abi:                        a,
				Bytecode:                   code,
				Name:                       name,
				ConsumeUserResourcePercent: 100,
				OriginEnergyLimit:          10_000_000,
			},
		})
		if err != nil {
			return [32]byte{}, err
		}
		raw.FeeLimit = MaxFeeLimit
		raw.Expiration = ts + TxExpiration.Milliseconds()
		tx := &core.Transaction{RawData: raw}
		id, err := sign(tx, n.operator)
		if err != nil {
			return id, fmt.Errorf("devnet: sign %s deployment: %w", name, err)
		}
		if _, err := c.check(tx, id, &ctx); err != nil {
			return id, fmt.Errorf("devnet: deploy %s: %w", name, err)
		}
		c.pending = append(c.pending, pendingTx{tx: tx, id: id})
		c.pendingID[id] = struct{}{}
		return id, nil
	}
	tokenID, err := deploy("TestToken", tokenProtoABI, contracts.TokenDeployData())
	if err != nil {
		return err
	}
	token := contractAddress(tokenID, op)
	escrowID, err := deploy("BttSpeedEscrow", escrowProtoABI, contracts.EscrowDeployData(token.EVM(), uint64(n.cfg.ChallengePeriod/time.Second)))
	if err != nil {
		return err
	}
	b := c.mine(ts)
	if len(b.infos) != 2 {
		return fmt.Errorf("devnet: block 1 has %d of the 2 deployments", len(b.infos))
	}
	for i, name := range []string{"TestToken", "BttSpeedEscrow"} {
		if info := b.infos[i]; info.Result != core.TransactionInfo_SUCESS {
			return fmt.Errorf("devnet: deploying %s failed: %s", name, info.ResMessage)
		}
	}
	n.token, n.escrow = token, contractAddress(escrowID, op)
	mint, err := contracts.TokenABI().Pack("mint", evmAddr(op), n.cfg.TokenMint.Big())
	if err != nil {
		return fmt.Errorf("devnet: mint: %w", err)
	}
	for _, a := range n.Accounts() {
		copy(mint[4+12:4+32], a[1:])
		if err := c.stateCall(op, token, mint); err != nil {
			return fmt.Errorf("devnet: mint to %s: %w", a, err)
		}
	}
	return nil
}

// abiEntry is one entry of a Solidity ABI in JSON.
type abiEntry struct {
	Type            string     `json:"type"`
	Name            string     `json:"name"`
	Inputs          []abiParam `json:"inputs"`
	Outputs         []abiParam `json:"outputs"`
	StateMutability string     `json:"stateMutability"`
	Constant        bool       `json:"constant"`
	Payable         bool       `json:"payable"`
	Anonymous       bool       `json:"anonymous"`
}

type abiParam struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Indexed bool   `json:"indexed"`
}

var (
	abiEntryTypes = map[string]core.SmartContract_ABI_Entry_EntryType{
		"constructor": core.SmartContract_ABI_Entry_Constructor,
		"function":    core.SmartContract_ABI_Entry_Function,
		"event":       core.SmartContract_ABI_Entry_Event,
		"fallback":    core.SmartContract_ABI_Entry_Fallback,
		"receive":     core.SmartContract_ABI_Entry_Receive,
		"error":       core.SmartContract_ABI_Entry_Error,
	}
	abiMutability = map[string]core.SmartContract_ABI_Entry_StateMutabilityType{
		"pure":       core.SmartContract_ABI_Entry_Pure,
		"view":       core.SmartContract_ABI_Entry_View,
		"nonpayable": core.SmartContract_ABI_Entry_Nonpayable,
		"payable":    core.SmartContract_ABI_Entry_Payable,
	}
)

// protoABI converts a JSON ABI to the ABI a CreateSmartContract carries.
func protoABI(js string) (*core.SmartContract_ABI, error) {
	var entries []abiEntry
	if err := json.Unmarshal([]byte(js), &entries); err != nil {
		return nil, err
	}
	params := func(ps []abiParam) []*core.SmartContract_ABI_Entry_Param {
		out := make([]*core.SmartContract_ABI_Entry_Param, len(ps))
		for i, p := range ps {
			out[i] = &core.SmartContract_ABI_Entry_Param{Name: p.Name, Type: p.Type, Indexed: p.Indexed}
		}
		return out
	}
	out := &core.SmartContract_ABI{}
	for _, e := range entries {
		typ, ok := abiEntryTypes[e.Type]
		if !ok {
			return nil, fmt.Errorf("unknown ABI entry type %q", e.Type)
		}
		mut := abiMutability[e.StateMutability] // UnknownMutabilityType when absent
		out.Entrys = append(out.Entrys, &core.SmartContract_ABI_Entry{
			Anonymous:       e.Anonymous,
			Constant:        e.Constant,
			Name:            e.Name,
			Inputs:          params(e.Inputs),
			Outputs:         params(e.Outputs),
			Type:            typ,
			Payable:         e.Payable,
			StateMutability: mut,
		})
	}
	return out, nil
}
