package contracts

import (
	_ "embed"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

//go:embed testdata/artifacts/FeeOnTransferToken.abi.json
var feeOnTransferTokenABIJSON string

func parseTestABI(t testing.TB, js string) abi.ABI {
	t.Helper()
	a, err := abi.JSON(strings.NewReader(js))
	require.NoError(t, err)
	return a
}

func TestTestToken(t *testing.T) {
	c := newEVMChain(t, tronMainnetChainID)
	a := TokenABI()
	owner, alice, bob := newAccount(t, "owner"), newAccount(t, "alice"), newAccount(t, "bob")
	token, _ := c.deploy(owner.addr, TokenDeployData())
	get := func(method string, args ...any) any {
		t.Helper()
		res := c.view(token, pack(t, a, method, args...))
		require.NoError(t, res.Err, res.Revert)
		return unpack(t, a, method, res.Ret)[0]
	}
	bal := func(who common.Address) int64 { t.Helper(); return get("balanceOf", who).(*big.Int).Int64() }
	events := func(res txResult) []event { t.Helper(); return decodeEvents(t, a, token, res.Logs) }

	assert.Equal(t, "Test BTT", get("name"))
	assert.Equal(t, "tBTT", get("symbol"))
	assert.Equal(t, uint8(18), get("decimals"))
	assert.Equal(t, owner.addr, get("owner"))
	assert.Equal(t, int64(0), get("totalSupply").(*big.Int).Int64())

	// mint: owner only, never to zero
	requireRevert(t, c.send(alice.addr, token, pack(t, a, "mint", alice.addr, bi(5))), "token: not owner")
	requireRevert(t, c.send(owner.addr, token, pack(t, a, "mint", common.Address{}, bi(5))), "token: zero address")
	res := c.send(owner.addr, token, pack(t, a, "mint", alice.addr, bi(1000)))
	require.NoError(t, res.Err, res.Revert)
	assert.Equal(t, []event{{Name: "Transfer", Args: map[string]any{"from": common.Address{}, "to": alice.addr, "value": amt(1000)}}}, events(res))
	assert.Equal(t, int64(1000), bal(alice.addr))
	assert.Equal(t, int64(1000), get("totalSupply").(*big.Int).Int64())

	// transfer
	requireRevert(t, c.send(alice.addr, token, pack(t, a, "transfer", bob.addr, bi(1001))), "token: insufficient balance")
	requireRevert(t, c.send(alice.addr, token, pack(t, a, "transfer", common.Address{}, bi(1))), "token: zero address")
	res = c.send(alice.addr, token, pack(t, a, "transfer", bob.addr, bi(100)))
	require.NoError(t, res.Err, res.Revert)
	assert.Equal(t, []any{true}, unpack(t, a, "transfer", res.Ret))
	assert.Equal(t, []event{{Name: "Transfer", Args: map[string]any{"from": alice.addr, "to": bob.addr, "value": amt(100)}}}, events(res))
	assert.Equal(t, [2]int64{900, 100}, [2]int64{bal(alice.addr), bal(bob.addr)})

	// approve and transferFrom
	requireRevert(t, c.send(bob.addr, token, pack(t, a, "transferFrom", alice.addr, bob.addr, bi(1))), "token: insufficient allowance")
	res = c.send(alice.addr, token, pack(t, a, "approve", bob.addr, bi(300)))
	require.NoError(t, res.Err, res.Revert)
	assert.Equal(t, []event{{Name: "Approval", Args: map[string]any{"owner": alice.addr, "spender": bob.addr, "value": amt(300)}}}, events(res))
	requireRevert(t, c.send(bob.addr, token, pack(t, a, "transferFrom", alice.addr, bob.addr, bi(301))), "token: insufficient allowance")
	res = c.send(bob.addr, token, pack(t, a, "transferFrom", alice.addr, bob.addr, bi(200)))
	require.NoError(t, res.Err, res.Revert)
	assert.Equal(t, []any{true}, unpack(t, a, "transferFrom", res.Ret))
	assert.Equal(t, int64(100), get("allowance", alice.addr, bob.addr).(*big.Int).Int64())
	assert.Equal(t, [2]int64{700, 300}, [2]int64{bal(alice.addr), bal(bob.addr)})

	// an allowance within the balance still needs the balance
	res = c.send(alice.addr, token, pack(t, a, "approve", bob.addr, bi(10_000)))
	require.NoError(t, res.Err)
	requireRevert(t, c.send(bob.addr, token, pack(t, a, "transferFrom", alice.addr, bob.addr, bi(701))), "token: insufficient balance")

	// an unlimited allowance is never spent down
	maxU := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	require.NoError(t, c.send(alice.addr, token, pack(t, a, "approve", bob.addr, maxU)).Err)
	require.NoError(t, c.send(bob.addr, token, pack(t, a, "transferFrom", alice.addr, bob.addr, bi(700))).Err)
	assert.Equal(t, maxU, get("allowance", alice.addr, bob.addr))
	assert.Equal(t, [2]int64{0, 1000}, [2]int64{bal(alice.addr), bal(bob.addr)})
	assert.Equal(t, int64(1000), get("totalSupply").(*big.Int).Int64())
}

// runChannel opens a channel, claims and closes on it, and checks the
// balances: the escrow works with this token.
func runChannel(t *testing.T, e *env) {
	t.Helper()
	id := e.mustOpen(1000, 3600)
	assert.Equal(t, [4]int64{999_000, 0, 1_000_000, 1000}, e.balances())
	res := e.claim(e.payee.addr, id, 300, e.sig(id, 300))
	require.NoError(t, res.Err, res.Revert)
	assert.Equal(t, [4]int64{999_000, 300, 1_000_000, 700}, e.balances())
	res = e.close(e.payee.addr, id, 600, e.sig(id, 600))
	require.NoError(t, res.Err, res.Revert)
	assert.Equal(t, [4]int64{999_400, 600, 1_000_000, 0}, e.balances())
	id = e.mustOpen(50, 60)
	e.advance(60)
	require.NoError(t, e.reclaim(e.payer.addr, id).Err)
	assert.Equal(t, [4]int64{999_400, 600, 1_000_000, 0}, e.balances())
}

func TestEscrowWithFalseReturningToken(t *testing.T) {
	// TRON's USDT returns false from a transfer that succeeded.
	runChannel(t, newEnvWithToken(t, tronMainnetChainID, mustBin(t, falseReturnTokenBin)))
}

func TestEscrowWithNoReturnToken(t *testing.T) {
	runChannel(t, newEnvWithToken(t, tronMainnetChainID, mustBin(t, noReturnTokenBin)))
}

func TestEscrowRefusesFeeOnTransferToken(t *testing.T) {
	e := newEnvWithToken(t, tronMainnetChainID, mustBin(t, feeOnTransferTokenBin))
	fee := parseTestABI(t, feeOnTransferTokenABIJSON)

	// pulling: the escrow would get 999 of 1000
	_, res := e.open(e.payer.addr, e.payee.addr, 1000, e.now+3600)
	requireRevert(t, res, "escrow: token transfer failed")

	// paying out: open with the fee off, then turn it on
	e.mustSend(e.owner.addr, e.token, pack(t, fee, "setFee", false))
	id := e.mustOpen(1000, 3600)
	e.mustSend(e.owner.addr, e.token, pack(t, fee, "setFee", true))
	before, chBefore := e.balances(), e.channel(id)
	requireRevert(t, e.topUp(e.payer.addr, id, 10, e.now+3600), "escrow: token transfer failed")
	requireRevert(t, e.claim(e.payee.addr, id, 300, e.sig(id, 300)), "escrow: token transfer failed")
	requireRevert(t, e.close(e.payee.addr, id, 300, e.sig(id, 300)), "escrow: token transfer failed")
	e.advance(3600)
	requireRevert(t, e.reclaim(e.payer.addr, id), "escrow: token transfer failed")
	assert.Equal(t, before, e.balances())
	assert.Equal(t, chBefore, e.channel(id))

	// nothing was lost: with the fee off the payer gets the deposit back
	e.mustSend(e.owner.addr, e.token, pack(t, fee, "setFee", false))
	require.NoError(t, e.reclaim(e.payer.addr, id).Err)
	assert.Equal(t, [4]int64{1_000_000, 0, 1_000_000, 0}, e.balances())
}

func TestEscrowOverATokenWithoutCode(t *testing.T) {
	c := newEVMChain(t, tronMainnetChainID)
	owner, payer, payee := newAccount(t, "owner"), newAccount(t, "payer"), newAccount(t, "payee")
	escrow, _ := c.deploy(owner.addr, EscrowDeployData(common.Address{0xee}, testChallengePeriod))
	res := c.send(payer.addr, escrow, pack(t, EscrowABI(), "open", payee.addr, bi(10), c.now+60))
	requireRevert(t, res, "escrow: token transfer failed")
}

func TestEscrowRefusesReentry(t *testing.T) {
	e := newEnvWithToken(t, tronMainnetChainID, mustBin(t, reentrantTokenBin))
	rt := parseTestABI(t, reentrantTokenABIJSON)
	arm := func(call []byte) {
		t.Helper()
		e.mustSend(e.owner.addr, e.token, pack(t, rt, "setHook", e.escrow, call))
	}
	hook := func() (called, ok bool, reason string) {
		t.Helper()
		get := func(m string) any {
			res := e.view(e.token, pack(t, rt, m))
			require.NoError(t, res.Err)
			return unpack(t, rt, m, res.Ret)[0]
		}
		called, ok = get("hookCalled").(bool), get("hookOk").(bool)
		if ret := get("hookResult").([]byte); len(ret) > 0 {
			var err error
			reason, err = abi.UnpackRevert(ret)
			require.NoError(t, err)
		}
		return called, ok, reason
	}

	// during open's transferFrom, the token calls open again
	arm(pack(t, e.escrowABI, "open", e.payee.addr, bi(1), e.now+60))
	id := e.mustOpen(1000, 3600)
	called, ok, reason := hook()
	require.True(t, called, "the hook did not run")
	assert.False(t, ok)
	assert.Equal(t, "escrow: reentrant call", reason)

	// during a claim's payout, the token calls reclaim, then claim
	for i, call := range [][]byte{
		pack(t, e.escrowABI, "reclaim", id),
		pack(t, e.escrowABI, "claim", id, bi(900), e.sig(id, 900)),
	} {
		arm(call)
		paid := int64(100 * (i + 1))
		res := e.claim(e.payee.addr, id, paid, e.sig(id, paid))
		require.NoError(t, res.Err, res.Revert)
		_, ok, reason = hook()
		assert.False(t, ok)
		assert.Equal(t, "escrow: reentrant call", reason)
	}
	// during close's payout, the token calls startClose
	arm(pack(t, e.escrowABI, "startClose", id))
	require.NoError(t, e.close(e.payee.addr, id, 500, e.sig(id, 500)).Err)
	_, ok, reason = hook()
	assert.False(t, ok)
	assert.Equal(t, "escrow: reentrant call", reason)
	assert.Equal(t, [4]int64{999_500, 500, 1_000_000, 0}, e.balances())
}

// TestCloseWithARefusingToken (issue 30 item 4): a token that will not
// credit the payer, armed by the payer itself, reverting or burning all the
// gas it is given. close pays the payee all the same and holds the refund
// (RefundHeld), at a bounded cost to the payee (REFUND_GAS); the payer
// withdraws it once the token credits it.
func TestCloseWithARefusingToken(t *testing.T) {
	for _, mode := range []uint8{1, 2} {
		name := map[uint8]string{1: "reverts", 2: "burns gas"}[mode]
		t.Run(name, func(t *testing.T) {
			e := newEnvWithToken(t, tronMainnetChainID, mustBin(t, refusingTokenBin))
			rt := parseTestABI(t, refusingTokenABIJSON)
			id := e.mustOpen(1000, 3600)
			e.mustSend(e.payer.addr, e.token, pack(t, rt, "refuse", mode))

			res := e.close(e.payee.addr, id, 600, e.sig(id, 600))
			require.NoError(t, res.Err, "close reverted: %q", res.Revert)
			assert.Less(t, res.Gas, uint64(150_000+300_000), "the payee pays close, the held refund and at most REFUND_GAS for the refusal")
			assert.Equal(t, [4]int64{999_000, 600, 1_000_000, 400}, e.balances())
			assert.Equal(t, int64(400), e.refund(e.payer.addr))
			evs := e.escrowEvents(res)
			require.Len(t, evs, 2)
			assert.Equal(t, "RefundHeld", evs[1].Name)
			assert.Equal(t, e.payer.addr, evs[1].Args["payer"])

			if mode == 1 {
				requireRevert(t, e.withdraw(e.payer.addr), "escrow: token transfer failed")
			}
			e.mustSend(e.payer.addr, e.token, pack(t, rt, "refuse", uint8(0)))
			w := e.withdraw(e.payer.addr)
			require.NoError(t, w.Err, w.Revert)
			assert.Equal(t, [4]int64{999_400, 600, 1_000_000, 0}, e.balances())
			evs = e.escrowEvents(w)
			require.Len(t, evs, 1)
			assert.Equal(t, "Withdrawn", evs[0].Name)
		})
	}
}
