package tron

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"

	"github.com/bttspeed/bttspeed/btt"
)

// Call runs a constant (read-only) call of contract with ABI-encoded data
// as the client's address (or the zero address without a signer) and
// returns what it returned: on the solidified state with FinalitySolid
// (what it reads cannot be undone by a fork), on the head block's with
// FinalityHead. A revert gives a *RevertError with the decoded reason.
func (c *Client) Call(ctx context.Context, contract btt.Address, data []byte) ([]byte, error) {
	if c.solid != nil {
		return c.solidCall(ctx, c.Address(), contract, data)
	}
	out, _, err := c.simulate(ctx, c.Address(), contract, data)
	return out, err
}

// simulate runs data as a constant call from `from` and returns its output
// and the energy it used.
func (c *Client) simulate(ctx context.Context, from, contract btt.Address, data []byte) ([]byte, int64, error) {
	if contract.IsZero() {
		return nil, 0, fmt.Errorf("tron: call: %w: zero contract address", btt.ErrBadAddress)
	}
	fromS := ""
	if !from.IsZero() {
		fromS = sdkAddr(from)
	}
	var ext *api.TransactionExtention
	err := c.rpc(ctx, "call "+contract.String(), func(ctx context.Context) error {
		var err error
		ext, err = c.sdk.TriggerConstantContractWithDataCtx(ctx, fromS, sdkAddr(contract), data)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	if ext == nil {
		return nil, 0, fmt.Errorf("%w: empty answer to a call of %s", ErrBadResponse, contract)
	}
	out, err := constantResult(ext)
	if err != nil {
		return nil, ext.GetEnergyUsed(), fmt.Errorf("tron: call %s: %w", contract, err)
	}
	return out, ext.GetEnergyUsed(), nil
}

// constantResult checks a constant call's answer, which gotron-sdk does
// not: a revert (java-tron answers Result{result: true, code: SUCCESS,
// message: "REVERT opcode executed"} with ret[0].ret FAILED, the revert
// data in constant_result; older nodes answer CONTRACT_EXE_ERROR) gives a
// *RevertError; a call that could not run a *TxRejectedError.
func constantResult(ext *api.TransactionExtention) ([]byte, error) {
	var out []byte
	if len(ext.GetConstantResult()) > 0 {
		out = ext.GetConstantResult()[0]
	}
	res := ext.GetResult()
	msg := string(res.GetMessage())
	if res != nil && (res.GetCode() != api.Return_SUCCESS || !res.GetResult()) && res.GetCode() != api.Return_CONTRACT_EXE_ERROR {
		return nil, &TxRejectedError{Code: res.GetCode().String(), Message: msg}
	}
	failed := res.GetCode() == api.Return_CONTRACT_EXE_ERROR ||
		strings.Contains(strings.ToUpper(msg), "REVERT")
	for _, r := range ext.GetTransaction().GetRet() {
		cr := r.GetContractRet()
		if r.GetRet() == core.Transaction_Result_FAILED || (cr != core.Transaction_Result_DEFAULT && cr != core.Transaction_Result_SUCCESS) {
			failed = true
		}
		if cr != core.Transaction_Result_DEFAULT && cr != core.Transaction_Result_SUCCESS && cr != core.Transaction_Result_REVERT {
			return nil, fmt.Errorf("%w: %s: %s", ErrTxFailed, cr, msg)
		}
	}
	if failed {
		return nil, &RevertError{Reason: revertReason(out, msg)}
	}
	return out, nil
}

// revertReason decodes Error(string) or Panic(uint256) revert data; a
// node's message is the fallback when the data is not either.
func revertReason(data []byte, nodeMsg string) string {
	if len(data) >= 4 {
		if r, err := abi.UnpackRevert(data); err == nil {
			return r
		}
	}
	nodeMsg = strings.TrimSpace(nodeMsg)
	// A node's own message may itself be hex revert data.
	if b, err := hex.DecodeString(nodeMsg); err == nil && len(b) >= 4 {
		if r, err := abi.UnpackRevert(b); err == nil {
			return r
		}
	}
	if strings.EqualFold(nodeMsg, "REVERT opcode executed") {
		return ""
	}
	return nodeMsg
}
