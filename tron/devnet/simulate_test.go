package devnet

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSimulateDeploy: a constant call without a contract address runs the
// data as a deployment and is undone; it uses the energy the deployment
// then uses, and a reverting constructor answers as a revert.
func TestSimulateDeploy(t *testing.T) {
	e := newEnv(t, Config{})
	code, err := hex.DecodeString(strings.TrimSpace(probeBin))
	require.NoError(t, err)
	from := e.addr(0)
	before, _ := e.node.Head()
	ext, err := e.c.Client.TriggerConstantContract(e.ctx, &core.TriggerSmartContract{OwnerAddress: from[:], Data: code})
	require.NoError(t, err)
	require.True(t, ext.GetResult().GetResult(), "%s", ext.GetResult().GetMessage())
	assert.Equal(t, core.Transaction_Result_SUCESS, ext.GetTransaction().GetRet()[0].GetRet())
	assert.NotEmpty(t, ext.GetConstantResult()[0], "the runtime code")
	after, _ := e.node.Head()
	assert.Equal(t, before, after, "nothing mined")
	assert.Equal(t, DefaultAccountTRX, e.node.TRXBalance(from), "nothing paid")

	_, info := e.deployProbe(0)
	assert.Equal(t, ext.GetEnergyUsed(), info.GetReceipt().GetEnergyUsageTotal(), "the simulation uses what the deployment does")

	// Creation code that reverts: REVERT(0, 0).
	ext, err = e.c.Client.TriggerConstantContract(e.ctx, &core.TriggerSmartContract{OwnerAddress: from[:], Data: []byte{0x60, 0x00, 0x60, 0x00, 0xfd}})
	require.NoError(t, err)
	assert.Equal(t, core.Transaction_Result_FAILED, ext.GetTransaction().GetRet()[0].GetRet())
	assert.Equal(t, revertMessage, string(ext.GetResult().GetMessage()))
	// Creation code that cannot run (an invalid opcode).
	ext, err = e.c.Client.TriggerConstantContract(e.ctx, &core.TriggerSmartContract{OwnerAddress: from[:], Data: []byte{0xfe}})
	require.NoError(t, err)
	assert.False(t, ext.GetResult().GetResult())
}
