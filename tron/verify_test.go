package tron

import (
	"context"
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/tron/contracts"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

// returning is creation code whose constructor returns runtime as the new
// contract's code, as any deployer can write: it skips BttSpeedEscrow's
// constructor and its checks.
func returning(runtime []byte) []byte {
	init := []byte{
		0x61, 0, 0, // PUSH2 len
		0x80,       // DUP1
		0x61, 0, 0, // PUSH2 offset
		0x60, 0x00, // PUSH1 0
		0x39,       // CODECOPY(0, offset, len)
		0x60, 0x00, // PUSH1 0
		0xf3, // RETURN(0, len)
	}
	binary.BigEndian.PutUint16(init[1:], uint16(len(runtime)))
	binary.BigEndian.PutUint16(init[5:], uint16(len(init)))
	return append(init, runtime...)
}

// TestFakeEscrowRefused (issue 30 item 7): Domain, and so every call of
// an Escrow, refuses a contract that is not a BttSpeedEscrow deployed from
// the embedded creation code with a challenge period in bounds, before
// anything is signed. Before, a contract answering token() and
// voucherDigest() like the escrow was taken, whatever its code, and an
// escrow with a challenge period of 0 (the payer reclaims in the block
// after its startClose) too.
func TestFakeEscrowRefused(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil)
	_, deployer := dialKey(t, e.node, e.node.Keys()[2], func(c *Config) { c.FeeLimit = 1000 * SunPerTRX })
	deploy := func(t *testing.T, code []byte) btt.Address {
		t.Helper()
		addr, _, err := deployer.Deploy(ctx, contracts.EscrowABIJSON(), code, "BttSpeedEscrow")
		require.NoError(t, err)
		return addr
	}
	genuine := contracts.EscrowRuntime(e.token.EVM(), 3600)

	tests := []struct {
		name string
		addr func(t *testing.T) btt.Address
		opts []EscrowOption
		want error
	}{
		{"the devnet's escrow", func(*testing.T) btt.Address { return e.escrow }, nil, nil},
		{"a fresh genuine escrow", func(t *testing.T) btt.Address {
			return deploy(t, contracts.EscrowDeployData(e.token.EVM(), 60))
		}, nil, nil},
		{"the escrow's code and a byte more (answers like the escrow)", func(t *testing.T) btt.Address {
			return deploy(t, returning(append(genuine, 0)))
		}, nil, ErrNotGenuineEscrow},
		{"the escrow's code with a challenge period of 0 (the constructor skipped)", func(t *testing.T) btt.Address {
			return deploy(t, returning(contracts.EscrowRuntime(e.token.EVM(), 0)))
		}, nil, ErrChallengePeriod},
		{"the escrow's code with a period of 2^64-1", func(t *testing.T) btt.Address {
			return deploy(t, returning(contracts.EscrowRuntime(e.token.EVM(), math.MaxUint64)))
		}, nil, ErrChallengePeriod},
		{"the escrow's code, period in bounds, from other creation code (storage could be planted)", func(t *testing.T) btt.Address {
			return deploy(t, returning(genuine))
		}, nil, ErrNotGenuineEscrow},
		{"the token", func(*testing.T) btt.Address { return e.token }, nil, ErrNotGenuineEscrow},
		{"an account, not a contract", func(*testing.T) btt.Address { return e.payee.Address() }, nil, ErrNotGenuineEscrow},
		{"the devnet's escrow, 1 h, below the payee's margin of 2 h", func(*testing.T) btt.Address { return e.escrow },
			[]EscrowOption{WithMinChallengePeriod(2 * time.Hour)}, ErrChallengePeriod},
		{"the devnet's escrow, 1 h, the payee's margin 1 h", func(*testing.T) btt.Address { return e.escrow },
			[]EscrowOption{WithMinChallengePeriod(time.Hour)}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.addr(t)
			payer, err := NewEscrow(e.payerC, addr, tc.opts...)
			require.NoError(t, err)
			_, err = payer.Domain(ctx)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
			trx := e.node.TRXBalance(e.payerKey.Address())
			tok := e.node.TokenBalance(e.payerKey.Address())
			_, err = payer.Open(ctx, e.payee.Address(), amt(1000), e.node.Now().Add(time.Hour))
			require.ErrorIs(t, err, tc.want)
			assert.Equal(t, trx, e.node.TRXBalance(e.payerKey.Address()), "nothing signed: no approve")
			assert.Equal(t, tok, e.node.TokenBalance(e.payerKey.Address()))
			_, err = payer.ChallengePeriod(ctx)
			assert.ErrorIs(t, err, tc.want)
		})
	}
}

// TestChallengePeriodBounds (issue 30 item 7): the constructor refuses a
// period outside 1 min .. 30 days ("escrow: bad challenge period",
// ErrChallengePeriod), and DeployEscrow refuses one before signing.
func TestChallengePeriodBounds(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil)
	_, deployer := dialKey(t, e.node, e.node.Keys()[2], func(c *Config) { c.FeeLimit = 1000 * SunPerTRX })
	for _, secs := range []uint64{0, 59, 30*86400 + 1, 1 << 63, math.MaxUint64} {
		_, _, err := deployer.Deploy(ctx, contracts.EscrowABIJSON(), contracts.EscrowDeployData(e.token.EVM(), secs), "BttSpeedEscrow")
		assert.ErrorIs(t, err, ErrChallengePeriod, "period %d s", secs)
	}
	for _, d := range []time.Duration{0, time.Second, 59 * time.Second, 30*24*time.Hour + time.Second, 90*time.Second + 500*time.Millisecond} {
		_, err := DeployEscrow(ctx, deployer, e.token, d)
		assert.ErrorIs(t, err, ErrChallengePeriod, "period %v", d)
	}
	for _, d := range []time.Duration{MinChallengePeriod, MaxChallengePeriod} {
		esc, err := DeployEscrow(ctx, deployer, e.token, d)
		require.NoError(t, err, "period %v", d)
		got, err := esc.ChallengePeriod(ctx)
		require.NoError(t, err)
		assert.Equal(t, d, got)
	}
}

// TestFindDevnetEscrow (issue 30 item 7): discovery runs on a devnet's
// chain id only, and takes the first deployment of the escrow's creation
// code that proves genuine, not the first contract named BttSpeedEscrow.
func TestFindDevnetEscrow(t *testing.T) {
	ctx := context.Background()
	assert.Equal(t, uint64(devnet.DefaultChainID), uint64(DevnetChainID))

	e := newEnv(t, devnet.Config{}, nil)
	require.Equal(t, uint64(DevnetChainID), e.node.ChainID())
	found, err := FindDevnetEscrow(ctx, e.payeeC)
	require.NoError(t, err)
	assert.Equal(t, e.escrow, found.Address())

	_, err = FindDevnetEscrow(ctx, e.payeeC, WithMinChallengePeriod(2*time.Hour))
	assert.ErrorIs(t, err, ErrNotGenuineEscrow, "none in bounds")
	assert.ErrorIs(t, err, ErrChallengePeriod)

	for _, id := range []uint32{0x2b6653dc, 0xcd8690dc, 0x94a9059e} { // mainnet, Nile, Shasta
		other := newEnv(t, devnet.Config{ChainID: id}, nil)
		_, err := FindDevnetEscrow(ctx, other.payeeC)
		assert.ErrorIs(t, err, ErrNotDevnet, "chain id %#x", id)
	}
}
