package tron

import (
	"context"
	"testing"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/tron/contracts"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

// TestDevnetDeployEstimate (issue 30 item 8): a deployment is simulated
// first. Its fee limit is the simulated energy plus DeployMargin, not
// Config.FeeLimit; a deployment that needs more than Config.FeeLimit is
// refused before anything is signed, where it used to run out of energy on
// chain and burn its whole fee limit; a constructor that reverts costs
// nothing. (The energy is the devnet's, go-ethereum's gas table: TVM's
// differs a little, see tron/devnet's doc, and TestNile logs the real one.)
func TestDevnetDeployEstimate(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil)
	_, rich := dialKey(t, e.node, e.node.Keys()[2], func(c *Config) { c.FeeLimit = 5000 * SunPerTRX })
	code := contracts.EscrowDeployData(e.token.EVM(), 3600)
	addr, r, err := rich.Deploy(ctx, contracts.EscrowABIJSON(), code, "BttSpeedEscrow")
	require.NoError(t, err)
	require.False(t, addr.IsZero())
	tx, err := rich.sdk.Client.GetTransactionById(ctx, &api.BytesMessage{Value: r.TxID[:]})
	require.NoError(t, err)
	feeLimit := tx.GetRawData().GetFeeLimit()
	energyFee := r.EnergyUsed * devnet.DefaultEnergyPrice
	t.Logf("escrow deployment: %d energy, %s burnt, fee limit %s", r.EnergyUsed, formatSun(r.Fee), formatSun(feeLimit))
	assert.Less(t, feeLimit, int64(5000*SunPerTRX), "the fee limit comes from the simulation, not Config.FeeLimit")
	assert.GreaterOrEqual(t, feeLimit, energyFee+energyFee*DeployMargin/100, "with the margin")
	assert.LessOrEqual(t, feeLimit, energyFee+energyFee*DeployMargin/100+devnet.DefaultEnergyPrice)

	// A fee limit below what the deployment needs: refused before
	// signing, nothing burnt.
	poorKey := e.node.Keys()[3]
	_, short := dialKey(t, e.node, poorKey, func(c *Config) { c.FeeLimit = energyFee - SunPerTRX })
	before := e.node.TRXBalance(short.Address())
	head, _ := e.node.Head()
	_, _, err = short.Deploy(ctx, contracts.EscrowABIJSON(), code, "BttSpeedEscrow")
	var oe *OutOfEnergyError
	require.ErrorAs(t, err, &oe)
	assert.Empty(t, oe.TxID, "never sent")
	assert.Greater(t, oe.Need, short.Config().FeeLimit)
	assert.Equal(t, before, e.node.TRXBalance(short.Address()), "nothing burnt")
	after, _ := e.node.Head()
	assert.Equal(t, head, after, "no transaction mined")

	// A constructor that reverts: its reason, for free.
	bad := contracts.EscrowDeployData(e.token.EVM(), 1)
	_, _, err = short.Deploy(ctx, contracts.EscrowABIJSON(), bad, "BttSpeedEscrow")
	assert.ErrorIs(t, err, ErrChallengePeriod)
	var re *RevertError
	assert.ErrorAs(t, err, &re)
	assert.Equal(t, before, e.node.TRXBalance(short.Address()))
}

func TestDeployFeeLimit(t *testing.T) {
	for _, tc := range []struct {
		name              string
		energy, price, mx int64
		want              int64
		oe, bad           bool
	}{
		{"margin", 1_000_000, 210, 1000 * SunPerTRX, 1_200_000 * 210, false, false},
		{"at the limit", 1_000_000, 210, 1_200_000 * 210, 1_200_000 * 210, false, false},
		{"over the limit", 1_000_000, 210, 1_200_000*210 - 1, 0, true, false},
		{"no energy", 0, 210, 1000 * SunPerTRX, 0, false, true},
		{"no price", 1000, 0, 1000 * SunPerTRX, 0, false, true},
		{"overflow", 1 << 60, 1 << 20, 1 << 62, 0, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := deployFeeLimit(tc.energy, tc.price, tc.mx)
			switch {
			case tc.oe:
				var oe *OutOfEnergyError
				require.ErrorAs(t, err, &oe)
				assert.Equal(t, tc.mx, oe.FeeLimit)
			case tc.bad:
				assert.ErrorIs(t, err, ErrBadResponse)
			default:
				require.NoError(t, err)
				assert.Equal(t, tc.want, got)
			}
		})
	}
}
