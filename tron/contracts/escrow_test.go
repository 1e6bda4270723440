package contracts

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// amt is how decodeEvents renders a uint256 argument of n.
func amt(n int64) string { return big.NewInt(n).String() }

func bi(n int64) *big.Int { return big.NewInt(n) }

// requireRevert checks that res reverted with exactly reason and emitted
// nothing.
func requireRevert(t testing.TB, res txResult, reason string) {
	t.Helper()
	require.Error(t, res.Err, "expected revert %q", reason)
	assert.Equal(t, reason, res.Revert)
	assert.Empty(t, res.Logs, "a reverted call left logs")
}

func TestEscrowConstructorAndViews(t *testing.T) {
	e := newEnv(t, tronMainnetChainID)
	res := e.view(e.escrow, pack(t, e.escrowABI, "token"))
	require.NoError(t, res.Err)
	assert.Equal(t, e.token, unpack(t, e.escrowABI, "token", res.Ret)[0])
	res = e.view(e.escrow, pack(t, e.escrowABI, "challengePeriod"))
	require.NoError(t, res.Err)
	assert.Equal(t, uint64(testChallengePeriod), unpack(t, e.escrowABI, "challengePeriod", res.Ret)[0])
	res = e.view(e.escrow, pack(t, e.escrowABI, "nonce"))
	require.NoError(t, res.Err)
	assert.Equal(t, uint64(0), unpack(t, e.escrowABI, "nonce", res.Ret)[0])
	assert.Equal(t, onChain{}, e.channel([32]byte{1}), "an unknown channel reads as all zero")
}

func TestEscrowOpenTopUpClaimClose(t *testing.T) {
	e := newEnv(t, tronMainnetChainID)
	expiry := e.now + 86400

	// open
	id, res := e.open(e.payer.addr, e.payee.addr, 1000, expiry)
	require.NoError(t, res.Err, res.Revert)
	assert.Equal(t, channelID(e.escrow, e.payer.addr, e.payee.addr, 1), id, "id = keccak256(escrow, payer, payee, nonce 1)")
	assert.Equal(t, []event{{Name: "ChannelOpened", Args: map[string]any{
		"id": id, "payer": e.payer.addr, "payee": e.payee.addr, "deposit": amt(1000), "expiry": expiry,
	}}}, e.escrowEvents(res))
	assert.Equal(t, [4]int64{999_000, 0, 1_000_000, 1000}, e.balances())
	assert.Equal(t, onChain{Payer: e.payer.addr, Payee: e.payee.addr, Deposit: 1000, Expiry: expiry, State: paychan.ChannelOpen}, e.channel(id))

	// a second channel between the same parties gets nonce 2
	id2, res := e.open(e.payer.addr, e.payee.addr, 10, expiry)
	require.NoError(t, res.Err, res.Revert)
	assert.Equal(t, channelID(e.escrow, e.payer.addr, e.payee.addr, 2), id2)
	assert.NotEqual(t, id, id2)

	// top up: more tokens and a later expiry
	expiry += 3600
	res = e.topUp(e.payer.addr, id, 500, expiry)
	require.NoError(t, res.Err, res.Revert)
	assert.Equal(t, []event{{Name: "ToppedUp", Args: map[string]any{"id": id, "amount": amt(500), "deposit": amt(1500), "expiry": expiry}}}, e.escrowEvents(res))
	// top up of nothing, only extending; then of the same expiry
	expiry += 60
	res = e.topUp(e.payer.addr, id, 0, expiry)
	require.NoError(t, res.Err, res.Revert)
	assert.Equal(t, []event{{Name: "ToppedUp", Args: map[string]any{"id": id, "amount": amt(0), "deposit": amt(1500), "expiry": expiry}}}, e.escrowEvents(res))
	res = e.topUp(e.payer.addr, id, 0, expiry)
	require.NoError(t, res.Err, res.Revert)
	assert.Equal(t, [4]int64{998_490, 0, 1_000_000, 1510}, e.balances())
	assert.Equal(t, onChain{Payer: e.payer.addr, Payee: e.payee.addr, Deposit: 1500, Expiry: expiry, State: paychan.ChannelOpen}, e.channel(id))

	// claim 300: the payee gets 300, the channel stays open
	res = e.claim(e.payee.addr, id, 300, e.sig(id, 300))
	require.NoError(t, res.Err, res.Revert)
	assert.Equal(t, []event{{Name: "Claimed", Args: map[string]any{"id": id, "amount": amt(300), "paid": amt(300)}}}, e.escrowEvents(res))
	assert.Equal(t, [4]int64{998_490, 300, 1_000_000, 1210}, e.balances())
	// claim 700 with v as 27/28: pays the 400 more
	sig := e.sig(id, 700)
	sig[64] += 27
	res = e.claim(e.payee.addr, id, 700, sig)
	require.NoError(t, res.Err, res.Revert)
	assert.Equal(t, []event{{Name: "Claimed", Args: map[string]any{"id": id, "amount": amt(400), "paid": amt(700)}}}, e.escrowEvents(res))
	assert.Equal(t, [4]int64{998_490, 700, 1_000_000, 810}, e.balances())
	assert.Equal(t, onChain{Payer: e.payer.addr, Payee: e.payee.addr, Deposit: 1500, Paid: 700, Expiry: expiry, State: paychan.ChannelOpen}, e.channel(id))

	// close with 1000: the payee gets 300 more, the payer 500 back
	res = e.close(e.payee.addr, id, 1000, e.sig(id, 1000))
	require.NoError(t, res.Err, res.Revert)
	assert.Equal(t, []event{{Name: "Closed", Args: map[string]any{"id": id, "paid": amt(1000), "refund": amt(500)}}}, e.escrowEvents(res))
	assert.Equal(t, [4]int64{998_990, 1000, 1_000_000, 10}, e.balances())
	assert.Equal(t, onChain{Payer: e.payer.addr, Payee: e.payee.addr, Deposit: 1500, Paid: 1000, Expiry: expiry, State: paychan.ChannelClosed}, e.channel(id))

	// a closed channel takes nothing more
	requireRevert(t, e.close(e.payee.addr, id, 1000, e.sig(id, 1000)), "escrow: channel closed")
	requireRevert(t, e.claim(e.payee.addr, id, 1200, e.sig(id, 1200)), "escrow: channel closed")
	requireRevert(t, e.topUp(e.payer.addr, id, 1, expiry), "escrow: channel closed")
	requireRevert(t, e.startClose(e.payer.addr, id), "escrow: channel closed")
	requireRevert(t, e.reclaim(e.payer.addr, id), "escrow: channel closed")
	requireRevert(t, e.checkVoucher(id, 1000, e.sig(id, 1000)), "escrow: channel closed")
	assert.Equal(t, [4]int64{998_990, 1000, 1_000_000, 10}, e.balances())
}

func TestEscrowCloseEdges(t *testing.T) {
	t.Run("close at the amount already claimed pays only the refund", func(t *testing.T) {
		e := newEnv(t, tronMainnetChainID)
		id := e.mustOpen(1000, 3600)
		require.NoError(t, e.claim(e.payee.addr, id, 400, e.sig(id, 400)).Err)
		res := e.close(e.payee.addr, id, 400, e.sig(id, 400))
		require.NoError(t, res.Err, res.Revert)
		assert.Equal(t, []event{{Name: "Closed", Args: map[string]any{"id": id, "paid": amt(400), "refund": amt(600)}}}, e.escrowEvents(res))
		assert.Equal(t, [4]int64{999_600, 400, 1_000_000, 0}, e.balances())
	})
	t.Run("close of the whole deposit refunds nothing", func(t *testing.T) {
		e := newEnv(t, tronMainnetChainID)
		id := e.mustOpen(1000, 3600)
		res := e.close(e.payee.addr, id, 1000, e.sig(id, 1000))
		require.NoError(t, res.Err, res.Revert)
		assert.Equal(t, []event{{Name: "Closed", Args: map[string]any{"id": id, "paid": amt(1000), "refund": amt(0)}}}, e.escrowEvents(res))
		assert.Equal(t, [4]int64{999_000, 1000, 1_000_000, 0}, e.balances())
	})
	t.Run("close with a zero voucher refunds everything", func(t *testing.T) {
		e := newEnv(t, tronMainnetChainID)
		id := e.mustOpen(1000, 3600)
		res := e.close(e.payee.addr, id, 0, e.sig(id, 0))
		require.NoError(t, res.Err, res.Revert)
		assert.Equal(t, []event{{Name: "Closed", Args: map[string]any{"id": id, "paid": amt(0), "refund": amt(1000)}}}, e.escrowEvents(res))
		assert.Equal(t, [4]int64{1_000_000, 0, 1_000_000, 0}, e.balances())
	})
	t.Run("close below the amount claimed", func(t *testing.T) {
		e := newEnv(t, tronMainnetChainID)
		id := e.mustOpen(1000, 3600)
		require.NoError(t, e.claim(e.payee.addr, id, 400, e.sig(id, 400)).Err)
		requireRevert(t, e.close(e.payee.addr, id, 399, e.sig(id, 399)), "escrow: not increasing")
	})
}

func TestEscrowReclaimAfterExpiry(t *testing.T) {
	e := newEnv(t, tronMainnetChainID)
	id := e.mustOpen(1000, 3600)
	require.NoError(t, e.claim(e.payee.addr, id, 250, e.sig(id, 250)).Err)

	requireRevert(t, e.reclaim(e.payer.addr, id), "escrow: not expired")
	e.advance(3599)
	requireRevert(t, e.reclaim(e.payer.addr, id), "escrow: not expired")
	// the last second of the window still redeems
	require.NoError(t, e.claim(e.payee.addr, id, 300, e.sig(id, 300)).Err)

	e.advance(1) // now == expiry
	requireRevert(t, e.claim(e.payee.addr, id, 400, e.sig(id, 400)), "escrow: redeem window over")
	requireRevert(t, e.close(e.payee.addr, id, 400, e.sig(id, 400)), "escrow: redeem window over")
	requireRevert(t, e.checkVoucher(id, 400, e.sig(id, 400)), "escrow: redeem window over")
	requireRevert(t, e.reclaim(e.payee.addr, id), "escrow: not payer")
	requireRevert(t, e.reclaim(e.other.addr, id), "escrow: not payer")

	res := e.reclaim(e.payer.addr, id)
	require.NoError(t, res.Err, res.Revert)
	assert.Equal(t, []event{{Name: "Reclaimed", Args: map[string]any{"id": id, "refund": amt(700)}}}, e.escrowEvents(res))
	assert.Equal(t, [4]int64{999_700, 300, 1_000_000, 0}, e.balances())
	assert.Equal(t, paychan.ChannelClosed, e.channel(id).State)
	assert.Equal(t, int64(300), e.channel(id).Paid)
	requireRevert(t, e.reclaim(e.payer.addr, id), "escrow: channel closed")
}

func TestEscrowTopUpRevivesAnExpiredChannel(t *testing.T) {
	// An open channel past its expiry (not reclaimed yet) may be extended
	// by its payer: the payee can then redeem again.
	e := newEnv(t, tronMainnetChainID)
	id := e.mustOpen(1000, 60)
	e.advance(60)
	requireRevert(t, e.claim(e.payee.addr, id, 10, e.sig(id, 10)), "escrow: redeem window over")
	require.NoError(t, e.topUp(e.payer.addr, id, 0, e.now+60).Err)
	require.NoError(t, e.claim(e.payee.addr, id, 10, e.sig(id, 10)).Err)
}

func TestEscrowEarlyClose(t *testing.T) {
	e := newEnv(t, tronMainnetChainID)
	id := e.mustOpen(1000, 86400)
	require.NoError(t, e.claim(e.payee.addr, id, 100, e.sig(id, 100)).Err)

	requireRevert(t, e.startClose(e.payee.addr, id), "escrow: not payer")
	requireRevert(t, e.startClose(e.other.addr, id), "escrow: not payer")
	res := e.startClose(e.payer.addr, id)
	require.NoError(t, res.Err, res.Revert)
	end := e.now + testChallengePeriod
	assert.Equal(t, []event{{Name: "CloseStarted", Args: map[string]any{"id": id, "challengeEnd": end}}}, e.escrowEvents(res))
	ch := e.channel(id)
	assert.Equal(t, paychan.ChannelClosing, ch.State)
	assert.Equal(t, end, ch.ChallengeEnd)

	requireRevert(t, e.startClose(e.payer.addr, id), "escrow: channel not open")
	requireRevert(t, e.topUp(e.payer.addr, id, 10, ch.Expiry+1), "escrow: channel not open")
	requireRevert(t, e.reclaim(e.payer.addr, id), "escrow: not expired")

	// the payee redeems inside the window
	e.advance(testChallengePeriod - 1)
	requireRevert(t, e.reclaim(e.payer.addr, id), "escrow: not expired")
	res = e.claim(e.payee.addr, id, 400, e.sig(id, 400))
	require.NoError(t, res.Err, res.Revert)
	assert.Equal(t, []event{{Name: "Claimed", Args: map[string]any{"id": id, "amount": amt(300), "paid": amt(400)}}}, e.escrowEvents(res))
	assert.Equal(t, paychan.ChannelClosing, e.channel(id).State, "a claim leaves the channel closing")

	// after the window: no more redeeming, the payer reclaims the rest
	e.advance(1)
	requireRevert(t, e.claim(e.payee.addr, id, 500, e.sig(id, 500)), "escrow: redeem window over")
	requireRevert(t, e.close(e.payee.addr, id, 500, e.sig(id, 500)), "escrow: redeem window over")
	requireRevert(t, e.reclaim(e.payee.addr, id), "escrow: not payer")
	res = e.reclaim(e.payer.addr, id)
	require.NoError(t, res.Err, res.Revert)
	assert.Equal(t, []event{{Name: "Reclaimed", Args: map[string]any{"id": id, "refund": amt(600)}}}, e.escrowEvents(res))
	assert.Equal(t, [4]int64{999_600, 400, 1_000_000, 0}, e.balances())
	assert.Equal(t, paychan.ChannelClosed, e.channel(id).State)
}

func TestEscrowEarlyCloseThenPayeeCloses(t *testing.T) {
	e := newEnv(t, tronMainnetChainID)
	id := e.mustOpen(1000, 86400)
	require.NoError(t, e.startClose(e.payer.addr, id).Err)
	e.advance(10)
	res := e.close(e.payee.addr, id, 800, e.sig(id, 800))
	require.NoError(t, res.Err, res.Revert)
	assert.Equal(t, []event{{Name: "Closed", Args: map[string]any{"id": id, "paid": amt(800), "refund": amt(200)}}}, e.escrowEvents(res))
	assert.Equal(t, [4]int64{999_200, 800, 1_000_000, 0}, e.balances())
}

func TestEscrowChallengeWindowPastExpiry(t *testing.T) {
	// An early close started near the expiry: the payee's window is the
	// challenge window, even past the expiry, and reclaim waits for it.
	e := newEnv(t, tronMainnetChainID)
	id := e.mustOpen(1000, 60)
	require.NoError(t, e.startClose(e.payer.addr, id).Err)
	e.advance(120) // past expiry, inside the challenge window
	requireRevert(t, e.reclaim(e.payer.addr, id), "escrow: not expired")
	require.NoError(t, e.claim(e.payee.addr, id, 10, e.sig(id, 10)).Err)
	e.advance(testChallengePeriod)
	require.NoError(t, e.reclaim(e.payer.addr, id).Err)
	assert.Equal(t, [4]int64{999_990, 10, 1_000_000, 0}, e.balances())
}

// highS returns the malleable twin of a low-s signature: s' = n - s, v
// flipped. It recovers the same key.
func highS(sig []byte) []byte {
	n := crypto.S256().Params().N
	s := new(big.Int).SetBytes(sig[32:64])
	out := append([]byte(nil), sig...)
	new(big.Int).Sub(n, s).FillBytes(out[32:64])
	out[64] ^= 1
	return out
}

func TestEscrowRejections(t *testing.T) {
	type tc struct {
		name string
		// do runs the rejected call on a fresh env where e.payer has an
		// open channel id to e.payee (deposit 1000, expiry in 1 h) and
		// e.payee has claimed 100 on it.
		do     func(e *env, id [32]byte) txResult
		reason string
	}
	sigWith := func(mutate func(sig []byte) []byte) func(e *env, id [32]byte) txResult {
		return func(e *env, id [32]byte) txResult {
			return e.claim(e.payee.addr, id, 200, mutate(e.sig(id, 200)))
		}
	}
	cases := []tc{
		// open
		{"open zero deposit", func(e *env, _ [32]byte) txResult {
			_, r := e.open(e.payer.addr, e.payee.addr, 0, e.now+60)
			return r
		}, "escrow: zero deposit"},
		{"open zero payee", func(e *env, _ [32]byte) txResult {
			_, r := e.open(e.payer.addr, common.Address{}, 10, e.now+60)
			return r
		}, "escrow: bad payee"},
		{"open to oneself", func(e *env, _ [32]byte) txResult {
			_, r := e.open(e.payer.addr, e.payer.addr, 10, e.now+60)
			return r
		}, "escrow: bad payee"},
		{"open to the escrow", func(e *env, _ [32]byte) txResult {
			_, r := e.open(e.payer.addr, e.escrow, 10, e.now+60)
			return r
		}, "escrow: bad payee"},
		{"open expiring now", func(e *env, _ [32]byte) txResult {
			_, r := e.open(e.payer.addr, e.payee.addr, 10, e.now)
			return r
		}, "escrow: expiry in the past"},
		{"open expired", func(e *env, _ [32]byte) txResult {
			_, r := e.open(e.payer.addr, e.payee.addr, 10, e.now-1)
			return r
		}, "escrow: expiry in the past"},
		{"open without allowance", func(e *env, _ [32]byte) txResult {
			_, r := e.open(e.payee.addr, e.other.addr, 10, e.now+60) // payee has no tokens nor allowance
			return r
		}, "escrow: token transfer failed"},
		{"open over the payer's balance", func(e *env, _ [32]byte) txResult {
			_, r := e.open(e.payer.addr, e.payee.addr, 2_000_000, e.now+60)
			return r
		}, "escrow: token transfer failed"},

		// topUp
		{"topUp unknown channel", func(e *env, _ [32]byte) txResult {
			return e.topUp(e.payer.addr, [32]byte{9}, 10, e.now+7200)
		}, "escrow: unknown channel"},
		{"topUp by the payee", func(e *env, id [32]byte) txResult {
			return e.topUp(e.payee.addr, id, 10, e.now+7200)
		}, "escrow: not payer"},
		{"topUp by another", func(e *env, id [32]byte) txResult {
			return e.topUp(e.other.addr, id, 10, e.now+7200)
		}, "escrow: not payer"},
		{"topUp shortening the expiry", func(e *env, id [32]byte) txResult {
			return e.topUp(e.payer.addr, id, 10, e.now+3599)
		}, "escrow: expiry may only extend"},
		{"topUp over the payer's balance", func(e *env, id [32]byte) txResult {
			return e.topUp(e.payer.addr, id, 2_000_000, e.now+7200)
		}, "escrow: token transfer failed"},

		// claim: who, which channel, when
		{"claim unknown channel", func(e *env, _ [32]byte) txResult {
			return e.claim(e.payee.addr, [32]byte{9}, 200, e.sig([32]byte{9}, 200))
		}, "escrow: unknown channel"},
		{"claim by the payer", func(e *env, id [32]byte) txResult {
			return e.claim(e.payer.addr, id, 200, e.sig(id, 200))
		}, "escrow: not payee"},
		{"claim by another", func(e *env, id [32]byte) txResult {
			return e.claim(e.other.addr, id, 200, e.sig(id, 200))
		}, "escrow: not payee"},
		{"close by the payer", func(e *env, id [32]byte) txResult {
			return e.close(e.payer.addr, id, 200, e.sig(id, 200))
		}, "escrow: not payee"},
		{"claim after expiry", func(e *env, id [32]byte) txResult {
			e.advance(3600)
			return e.claim(e.payee.addr, id, 200, e.sig(id, 200))
		}, "escrow: redeem window over"},

		// claim: amounts
		{"claim over the deposit", func(e *env, id [32]byte) txResult {
			return e.claim(e.payee.addr, id, 1001, e.sig(id, 1001))
		}, "escrow: over deposit"},
		{"close over the deposit", func(e *env, id [32]byte) txResult {
			return e.close(e.payee.addr, id, 1001, e.sig(id, 1001))
		}, "escrow: over deposit"},
		{"claim the amount already claimed", func(e *env, id [32]byte) txResult {
			return e.claim(e.payee.addr, id, 100, e.sig(id, 100))
		}, "escrow: not increasing"},
		{"claim below the amount claimed", func(e *env, id [32]byte) txResult {
			return e.claim(e.payee.addr, id, 50, e.sig(id, 50))
		}, "escrow: not increasing"},

		// claim: signatures
		{"forged: signed by another key", func(e *env, id [32]byte) txResult {
			return e.claim(e.payee.addr, id, 200, sign(t, e.other, e.voucher(id, 200)))
		}, "escrow: bad signature"},
		{"forged: signed by the payee", func(e *env, id [32]byte) txResult {
			return e.claim(e.payee.addr, id, 200, sign(t, e.payee, e.voucher(id, 200)))
		}, "escrow: bad signature"},
		{"amount raised after signing", func(e *env, id [32]byte) txResult {
			return e.claim(e.payee.addr, id, 201, e.sig(id, 200))
		}, "escrow: bad signature"},
		{"voucher of another channel", func(e *env, id [32]byte) txResult {
			next := channelID(e.escrow, e.payer.addr, e.payee.addr, 2) // the parties' next channel
			return e.claim(e.payee.addr, id, 200, e.sig(next, 200))
		}, "escrow: bad signature"},
		{"voucher for another chain id", func(e *env, id [32]byte) txResult {
			v := e.voucher(id, 200)
			v.ChainID++
			return e.claim(e.payee.addr, id, 200, sign(t, e.payer, v))
		}, "escrow: bad signature"},
		{"voucher for another escrow", func(e *env, id [32]byte) txResult {
			v := e.voucher(id, 200)
			v.Escrow = btt.AddressFromEVM(e.token)
			return e.claim(e.payee.addr, id, 200, sign(t, e.payer, v))
		}, "escrow: bad signature"},
		{"high-s malleable twin", sigWith(highS), "escrow: bad signature"},
		{"high-s twin with v as 27/28", sigWith(func(s []byte) []byte { s = highS(s); s[64] += 27; return s }), "escrow: bad signature"},
		{"v = 2", sigWith(func(s []byte) []byte { s[64] = 2; return s }), "escrow: bad signature"},
		{"v = 26", sigWith(func(s []byte) []byte { s[64] = 26; return s }), "escrow: bad signature"},
		{"v = 29", sigWith(func(s []byte) []byte { s[64] = 29; return s }), "escrow: bad signature"},
		{"v flipped", sigWith(func(s []byte) []byte { s[64] ^= 1; return s }), "escrow: bad signature"},
		{"r = 0", sigWith(func(s []byte) []byte { clear(s[:32]); return s }), "escrow: bad signature"},
		{"s = 0", sigWith(func(s []byte) []byte { clear(s[32:64]); return s }), "escrow: bad signature"},
		{"r = n", sigWith(func(s []byte) []byte { crypto.S256().Params().N.FillBytes(s[:32]); return s }), "escrow: bad signature"},
		{"64-byte signature", sigWith(func(s []byte) []byte { return s[:64] }), "escrow: bad signature"},
		{"66-byte signature", sigWith(func(s []byte) []byte { return append(s, 0) }), "escrow: bad signature"},
		{"empty signature", sigWith(func([]byte) []byte { return nil }), "escrow: bad signature"},

		// startClose, reclaim
		{"startClose unknown channel", func(e *env, _ [32]byte) txResult {
			return e.startClose(e.payer.addr, [32]byte{9})
		}, "escrow: unknown channel"},
		{"startClose by the payee", func(e *env, id [32]byte) txResult {
			return e.startClose(e.payee.addr, id)
		}, "escrow: not payer"},
		{"reclaim unknown channel", func(e *env, _ [32]byte) txResult {
			return e.reclaim(e.payer.addr, [32]byte{9})
		}, "escrow: unknown channel"},
		{"reclaim before expiry", func(e *env, id [32]byte) txResult {
			e.advance(3599)
			return e.reclaim(e.payer.addr, id)
		}, "escrow: not expired"},
		{"reclaim by the payee after expiry", func(e *env, id [32]byte) txResult {
			e.advance(3600)
			return e.reclaim(e.payee.addr, id)
		}, "escrow: not payer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, tronMainnetChainID)
			id := e.mustOpen(1000, 3600)
			require.NoError(t, e.claim(e.payee.addr, id, 100, e.sig(id, 100)).Err)
			before, chBefore := e.balances(), e.channel(id)
			requireRevert(t, c.do(e, id), c.reason)
			assert.Equal(t, before, e.balances(), "a rejected call moved tokens")
			assert.Equal(t, chBefore, e.channel(id), "a rejected call changed the channel")
		})
	}
}

func TestEscrowVoucherDigestIsPaychans(t *testing.T) {
	// The contract's voucherDigest is paychan.Voucher.Digest() for the
	// chain id the EVM runs with, and checkVoucher recovers the payer from
	// paychan.Sign's signature, with v as 0/1 or 27/28.
	for _, chainID := range []uint64{tronMainnetChainID, 0xcd8690dc /* Nile */, 1, 1<<64 - 1} {
		e := newEnv(t, chainID)
		id := e.mustOpen(1_000_000, 3600)
		for _, amount := range []int64{0, 1, 999, 1_000_000} {
			v := e.voucher(id, amount)
			res := e.view(e.escrow, pack(t, e.escrowABI, "voucherDigest", id, bi(amount)))
			require.NoError(t, res.Err)
			assert.Equal(t, v.Digest(), unpack(t, e.escrowABI, "voucherDigest", res.Ret)[0], "chain %#x amount %d", chainID, amount)

			sig := sign(t, e.payer, v)
			require.Contains(t, []byte{0, 1}, sig[64])
			for _, add := range []byte{0, 27} {
				s := append([]byte(nil), sig...)
				s[64] += add
				res = e.checkVoucher(id, amount, s)
				require.NoError(t, res.Err, res.Revert)
				assert.Equal(t, e.payer.addr, unpack(t, e.escrowABI, "checkVoucher", res.Ret)[0])
			}
		}
	}
}

func TestEscrowVoucherDigestMatchesTheProtocolVector(t *testing.T) {
	// docs/PROTOCOL.md's test vector (cross-checked with ethers): an escrow
	// at TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4 on mainnet, channel 0x0101…01,
	// amount 1e18. Put the escrow's runtime code at that address.
	e := newEnv(t, tronMainnetChainID)
	at := btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4").EVM()
	e.state.SetCode(at, e.state.GetCode(e.escrow), 0)
	var ch [32]byte
	for i := range ch {
		ch[i] = 1
	}
	amt, _ := new(big.Int).SetString("1000000000000000000", 10)
	res := e.view(at, pack(t, e.escrowABI, "voucherDigest", ch, amt))
	require.NoError(t, res.Err)
	got := unpack(t, e.escrowABI, "voucherDigest", res.Ret)[0].([32]byte)
	assert.Equal(t, "e672ddef3e691edb684bcde43b95fc87512b1a21b01e9973504b0018ea918a8e", common.Bytes2Hex(got[:]))
}

func TestEscrowCheckVoucher(t *testing.T) {
	e := newEnv(t, tronMainnetChainID)
	id := e.mustOpen(1000, 3600)
	require.NoError(t, e.claim(e.payee.addr, id, 100, e.sig(id, 100)).Err)
	cases := []struct {
		name   string
		id     [32]byte
		amount int64
		sig    []byte
		reason string // "" for success
	}{
		{"good", id, 500, e.sig(id, 500), ""},
		{"at the deposit", id, 1000, e.sig(id, 1000), ""},
		{"below paid is not its business", id, 50, e.sig(id, 50), ""},
		{"unknown channel", [32]byte{7}, 500, e.sig([32]byte{7}, 500), "escrow: unknown channel"},
		{"over deposit", id, 1001, e.sig(id, 1001), "escrow: over deposit"},
		{"forged", id, 500, sign(t, e.other, e.voucher(id, 500)), "escrow: bad signature"},
		{"high s", id, 500, highS(e.sig(id, 500)), "escrow: bad signature"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := e.checkVoucher(c.id, c.amount, c.sig)
			if c.reason == "" {
				require.NoError(t, res.Err, res.Revert)
				assert.Equal(t, e.payer.addr, unpack(t, e.escrowABI, "checkVoucher", res.Ret)[0])
				return
			}
			require.Error(t, res.Err)
			assert.Equal(t, c.reason, res.Revert)
		})
	}
	// in the challenge window and after it
	require.NoError(t, e.startClose(e.payer.addr, id).Err)
	require.NoError(t, e.checkVoucher(id, 500, e.sig(id, 500)).Err)
	e.advance(testChallengePeriod)
	assert.Equal(t, "escrow: redeem window over", e.checkVoucher(id, 500, e.sig(id, 500)).Revert)
}

func TestHighSTwinRecoversThePayer(t *testing.T) {
	// The high-s twin of a voucher signature is valid for the ecrecover
	// precompile and yields the payer: only the escrow's s range check
	// refuses it ("high-s malleable twin" in TestEscrowRejections).
	e := newEnv(t, tronMainnetChainID)
	id := e.mustOpen(1000, 3600)
	digest := e.voucher(id, 200).Digest()
	twin := highS(e.sig(id, 200))
	input := make([]byte, 128)
	copy(input[:32], digest[:])
	input[63] = twin[64] + 27
	copy(input[64:128], twin[:64])
	res := e.view(common.BytesToAddress([]byte{1}), input)
	require.NoError(t, res.Err)
	require.Len(t, res.Ret, 32)
	assert.Equal(t, e.payer.addr, common.BytesToAddress(res.Ret))
	requireRevert(t, e.claim(e.payee.addr, id, 200, twin), "escrow: bad signature")
}
