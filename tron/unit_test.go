package tron

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	gtaddress "github.com/fbsobreira/gotron-sdk/pkg/address"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	gtsigner "github.com/fbsobreira/gotron-sdk/pkg/signer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/tron/contracts"
)

const testKeyHex = "1111111111111111111111111111111111111111111111111111111111111101"

func testSigner(t testing.TB, b byte) *KeySigner {
	t.Helper()
	d := make([]byte, 32)
	d[0], d[31] = 0x22, b
	key, err := crypto.ToECDSA(d)
	require.NoError(t, err)
	s, err := NewKeySigner(key)
	require.NoError(t, err)
	return s
}

func TestAddressConversions(t *testing.T) {
	a := btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")
	// gotron-sdk's base58 of the same bytes is what the client sends.
	assert.Equal(t, gtaddress.Address(a[:]).String(), sdkAddr(a))
	back, err := fromSDK(gtaddress.Address(a[:]))
	require.NoError(t, err)
	assert.Equal(t, a, back)
	assert.Equal(t, a, fromEVM(evmAddr(a)))
	assert.Equal(t, common.Address(a.EVM()), evmAddr(a))

	for _, tc := range []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"21 bytes", a[:], true},
		{"20 bytes (logs)", a[1:], true},
		{"wrong prefix", append([]byte{0x42}, a[1:]...), false},
		{"short", a[:10], false},
		{"empty", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := addressFromWire(tc.in)
			if !tc.ok {
				assert.ErrorIs(t, err, btt.ErrBadAddress)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, a, got)
		})
	}
	_, err = fromSDK(gtaddress.Address(a[1:]))
	assert.ErrorIs(t, err, btt.ErrBadAddress)
}

func TestContractAddress(t *testing.T) {
	owner := testSigner(t, 1).Address()
	var id TxID
	id[0], id[31] = 0xab, 0xcd
	got := ContractAddress(id, owner)
	h := crypto.Keccak256(append(id[:], owner[:]...))
	assert.Equal(t, byte(0x41), got[0])
	assert.Equal(t, h[12:], got[1:])
	id[5] = 1
	assert.NotEqual(t, got, ContractAddress(id, owner), "another tx, another address")
}

func TestTxID(t *testing.T) {
	var id TxID
	for i := range id {
		id[i] = byte(i)
	}
	back, err := ParseTxID(id.String())
	require.NoError(t, err)
	assert.Equal(t, id, back)
	back, err = ParseTxID("0x" + id.String())
	require.NoError(t, err)
	assert.Equal(t, id, back)
	for _, bad := range []string{"", "zz", id.String()[:62], id.String() + "00"} {
		_, err := ParseTxID(bad)
		assert.Error(t, err, bad)
	}
}

func revertData(t testing.TB, reason string) []byte {
	t.Helper()
	str, _ := abi.NewType("string", "", nil)
	enc, err := abi.Arguments{{Type: str}}.Pack(reason)
	require.NoError(t, err)
	return append([]byte{0x08, 0xc3, 0x79, 0xa0}, enc...)
}

func TestRevertReason(t *testing.T) {
	u256, _ := abi.NewType("uint256", "", nil)
	panicEnc, err := abi.Arguments{{Type: u256}}.Pack(big.NewInt(0x11))
	require.NoError(t, err)
	for _, tc := range []struct {
		name    string
		data    []byte
		nodeMsg string
		want    string
	}{
		{"Error(string)", revertData(t, "escrow: over deposit"), "REVERT opcode executed", "escrow: over deposit"},
		{"Panic(uint256)", append([]byte{0x4e, 0x48, 0x7b, 0x71}, panicEnc...), "", "arithmetic underflow or overflow"},
		{"empty data, java-tron's message", nil, "REVERT opcode executed", ""},
		{"no data, node message", nil, "Not enough energy", "Not enough energy"},
		{"hex in the message", nil, fmt.Sprintf("%x", revertData(t, "escrow: not payee")), "escrow: not payee"},
		{"garbage", []byte{1, 2, 3, 4, 5}, "", ""},
		{"truncated Error(string)", revertData(t, "escrow: bad signature")[:40], "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, revertReason(tc.data, tc.nodeMsg))
		})
	}
}

func FuzzRevertReason(f *testing.F) {
	f.Add(revertData(f, "escrow: over deposit"), "REVERT opcode executed")
	f.Add([]byte{0x08, 0xc3, 0x79, 0xa0, 0xff}, "")
	f.Add([]byte{}, "08c379a0")
	f.Fuzz(func(t *testing.T, data []byte, msg string) {
		_ = revertReason(data, msg)
	})
}

func TestRevertMapping(t *testing.T) {
	for _, tc := range []struct {
		reason string
		want   error
	}{
		{"escrow: unknown channel", paychan.ErrUnknownChannel},
		{"escrow: channel closed", paychan.ErrChannelClosed},
		{"escrow: channel not open", paychan.ErrChannelClosed},
		{"escrow: redeem window over", paychan.ErrExpired},
		{"escrow: expiry in the past", paychan.ErrExpired},
		{"escrow: over deposit", paychan.ErrOverDeposit},
		{"escrow: bad signature", paychan.ErrBadSignature},
		{"escrow: not increasing", paychan.ErrNotIncreasing},
		{"escrow: not payee", paychan.ErrWrongPayee},
		{"escrow: not payer", ErrNotPayer},
		{"escrow: zero deposit", ErrInvalidArgument},
		{"escrow: bad payee", ErrInvalidArgument},
		{"escrow: expiry may only extend", ErrExpiryShortened},
		{"escrow: expiry too far", ErrExpiryTooFar},
		{"escrow: bad challenge period", ErrChallengePeriod},
		{"escrow: not expired", ErrNotExpired},
		{"escrow: token transfer failed", ErrTokenTransfer},
		{"token: insufficient balance", ErrInsufficientToken},
		{"token: insufficient allowance", ErrInsufficientToken},
		{"token: not owner", ErrNotOwner},
		{"token: zero address", ErrInvalidArgument},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			var err error = &RevertError{Reason: tc.reason, TxID: "ab"}
			err = fmt.Errorf("tron: open: %w", err)
			assert.ErrorIs(t, err, tc.want)
			var re *RevertError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tc.reason, re.Reason)
			assert.Contains(t, err.Error(), tc.reason)
			assert.Contains(t, err.Error(), revertKinds[tc.reason].Hint, "says what to do")
		})
	}
	// Every revert string of the contract's source is mapped.
	src, err := os.ReadFile(filepath.Join("contracts", "BttSpeedEscrow.sol"))
	require.NoError(t, err)
	for _, part := range strings.Split(string(src), `"escrow: `)[1:] {
		reason := "escrow: " + part[:strings.IndexByte(part, '"')]
		if reason == "escrow: reentrant call" || strings.HasSuffix(reason, "...") {
			continue // only a malicious token gets there; a comment
		}
		_, ok := revertKinds[reason]
		assert.True(t, ok, "revert reason %q of the contract is not mapped", reason)
	}
	unknown := &RevertError{Reason: "something else"}
	assert.Nil(t, unknown.Unwrap())
	assert.Contains(t, unknown.Error(), `"something else"`)
	assert.Contains(t, (&RevertError{}).Error(), "without a reason")
}

func TestErrorTypes(t *testing.T) {
	oe := &OutOfEnergyError{TxID: "ab", FeeLimit: 5 * SunPerTRX, EnergyUsed: 23_809, Fee: 5 * SunPerTRX}
	assert.ErrorIs(t, oe, ErrOutOfEnergy)
	assert.Contains(t, oe.Error(), "fee limit of 5 TRX")
	assert.Contains(t, oe.Error(), "raise Config.FeeLimit")
	assert.NotErrorIs(t, oe, ErrInsufficientTRX, "all of the fee limit burnt: the limit ran out")
	poor := &OutOfEnergyError{TxID: "ab", FeeLimit: 100 * SunPerTRX, EnergyUsed: 13_000, Fee: 3 * SunPerTRX}
	assert.ErrorIs(t, poor, ErrInsufficientTRX, "less than the fee limit burnt: the balance ran out")
	assert.Contains(t, poor.Error(), "send TRX")
	oe2 := &OutOfEnergyError{FeeLimit: 1, Need: 1_500_000}
	assert.Contains(t, oe2.Error(), "needs about 1.5 TRX")

	it := &InsufficientTRXError{Account: "TX", Need: 3 * SunPerTRX, Have: SunPerTRX / 2}
	assert.ErrorIs(t, fmt.Errorf("wrapped: %w", it), ErrInsufficientTRX)
	assert.Equal(t, int64(2_500_000), it.Shortfall())
	assert.Contains(t, it.Error(), "2.5 TRX short")
	assert.Contains(t, it.Error(), "send TRX")
	unknown := &InsufficientTRXError{Detail: "Account resource insufficient error."}
	assert.Zero(t, unknown.Shortfall())
	assert.Contains(t, unknown.Error(), "Account resource insufficient")

	rej := &TxRejectedError{TxID: "ab", Code: "SIGERROR", Message: "bad"}
	assert.ErrorIs(t, rej, ErrRejected)

	tx := &Tx{ID: TxID{1}, Expiration: time.Unix(100, 0)}
	te := &TxError{Tx: tx, Err: fmt.Errorf("%w: down", paychan.ErrChainUnavailable)}
	assert.ErrorIs(t, te, paychan.ErrChainUnavailable)
	assert.Contains(t, te.Error(), tx.ID.String())
	assert.Contains(t, te.Error(), "rebroadcast")

	assert.Equal(t, "0 TRX", formatSun(0))
	assert.Equal(t, "100 TRX", formatSun(100*SunPerTRX))
	assert.Equal(t, "0.000001 TRX", formatSun(1))
	assert.Equal(t, "-1.25 TRX", formatSun(-1_250_000))
}

func TestUnavailableClassification(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		err       error
		transient bool
	}{
		{"unavailable", status.Error(codes.Unavailable, "connection refused"), true},
		{"deadline", status.Error(codes.DeadlineExceeded, "slow"), true},
		{"rate limited", status.Error(codes.ResourceExhausted, "quota"), true},
		{"wrapped by the sdk", fmt.Errorf("Get block now: %w", status.Error(codes.Unavailable, "x")), true},
		{"context deadline of one rpc", context.DeadlineExceeded, true},
		{"unimplemented", status.Error(codes.Unimplemented, "no"), false},
		{"invalid argument", status.Error(codes.InvalidArgument, "no"), false},
		{"plain", errors.New("account not found"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := unavailable(ctx, "read", tc.err)
			assert.Equal(t, tc.transient, errors.Is(err, paychan.ErrChainUnavailable), "%v", err)
			if tc.transient {
				assert.Contains(t, err.Error(), "check that the node is running")
			}
		})
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err := unavailable(cctx, "read", status.Error(codes.Unavailable, "x"))
	assert.ErrorIs(t, err, context.Canceled, "the caller's own end is not the node's fault")
	assert.NotErrorIs(t, err, paychan.ErrChainUnavailable)
	assert.NoError(t, unavailable(ctx, "read", nil))
}

func TestRetry(t *testing.T) {
	cfg := Config{Retry: Retry{Attempts: 4, Base: time.Millisecond, Max: 4 * time.Millisecond}}
	cfg.setDefaults()
	c := &Client{cfg: cfg}
	down := fmt.Errorf("%w: x", paychan.ErrChainUnavailable)

	calls := 0
	err := c.retry(context.Background(), "op", func() error { calls++; return down })
	assert.ErrorIs(t, err, paychan.ErrChainUnavailable)
	assert.Contains(t, err.Error(), "gave up after 4 attempts")
	assert.Equal(t, 4, calls)

	calls = 0
	err = c.retry(context.Background(), "op", func() error {
		calls++
		if calls < 3 {
			return down
		}
		return nil
	})
	assert.NoError(t, err)
	assert.Equal(t, 3, calls, "succeeds once the node is back")

	calls = 0
	final := errors.New("answer")
	err = c.retry(context.Background(), "op", func() error { calls++; return final })
	assert.Equal(t, final, err)
	assert.Equal(t, 1, calls, "an answer is not retried")

	c.cfg.Retry = Retry{Attempts: 100, Base: time.Hour, Max: time.Hour}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = c.retry(ctx, "op", func() error { return down })
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), time.Second, "the back-off ends with ctx")
}

func TestConfigDefaults(t *testing.T) {
	var cfg Config
	cfg.setDefaults()
	assert.Equal(t, int64(DefaultFeeLimit), cfg.FeeLimit)
	assert.Equal(t, DefaultReceiptTimeout, cfg.ReceiptTimeout)
	assert.Equal(t, DefaultRebroadcasts, cfg.Rebroadcasts)
	assert.Equal(t, 5, cfg.Retry.Attempts)
	assert.Equal(t, FinalitySolid, cfg.Finality, "receipts count once solid unless asked otherwise")
	assert.Equal(t, DefaultSolidTimeout, cfg.SolidTimeout)
	assert.Equal(t, "solid", FinalitySolid.String())
	assert.Equal(t, "head", FinalityHead.String())
	assert.Equal(t, "Finality(9)", Finality(9).String())
	cfg = Config{Rebroadcasts: -1}
	cfg.setDefaults()
	assert.Zero(t, cfg.Rebroadcasts)
	_, err := Dial(context.Background(), Config{})
	assert.ErrorContains(t, err, "Addr is empty")
}

func trigger(t testing.TB, owner, contract btt.Address, data []byte, callValue, feeLimit int64) *api.TransactionExtention {
	t.Helper()
	param, err := anypb.New(&core.TriggerSmartContract{OwnerAddress: owner[:], ContractAddress: contract[:], Data: data, CallValue: callValue})
	require.NoError(t, err)
	return &api.TransactionExtention{
		Result: &api.Return{Result: true},
		Transaction: &core.Transaction{RawData: &core.TransactionRaw{
			Contract:   []*core.Transaction_Contract{{Type: core.Transaction_Contract_TriggerSmartContract, Parameter: param}},
			FeeLimit:   feeLimit,
			Expiration: 1_000_000,
		}},
	}
}

func TestSDKSafe(t *testing.T) {
	err := sdkSafe(func() error {
		var ext *api.TransactionExtention
		_ = ext.Result.Code // what gotron-sdk does with an answer without a result
		return nil
	})
	assert.ErrorIs(t, err, ErrBadResponse)
	assert.ErrorIs(t, refused(err), ErrBadResponse)
	assert.NoError(t, sdkSafe(func() error { return nil }))
	var rej *TxRejectedError
	assert.ErrorAs(t, refused(errors.New("Contract validate error : No contract")), &rej)
	assert.True(t, isTransient(refused(status.Error(codes.Unavailable, "x"))))
}

func TestCheckTrigger(t *testing.T) {
	me, other := testSigner(t, 1).Address(), testSigner(t, 2).Address()
	esc := testSigner(t, 3).Address()
	data := []byte{1, 2, 3, 4}
	assert.NoError(t, checkTrigger(trigger(t, me, esc, data, 0, 7), me, esc, data, 7))
	for name, ext := range map[string]*api.TransactionExtention{
		"another owner":     trigger(t, other, esc, data, 0, 7),
		"another contract":  trigger(t, me, other, data, 0, 7),
		"other data":        trigger(t, me, esc, []byte{1, 2, 3, 5}, 0, 7),
		"TRX attached":      trigger(t, me, esc, data, 1, 7),
		"another fee limit": trigger(t, me, esc, data, 0, 8),
	} {
		err := checkTrigger(ext, me, esc, data, 7)
		assert.ErrorIs(t, err, ErrBadResponse, name)
	}
	refused := trigger(t, me, esc, data, 0, 7)
	refused.Result = &api.Return{Code: api.Return_CONTRACT_VALIDATE_ERROR, Message: []byte("No contract")}
	var rej *TxRejectedError
	assert.ErrorAs(t, checkTrigger(refused, me, esc, data, 7), &rej)
	transfer := trigger(t, me, esc, data, 0, 7)
	transfer.Transaction.RawData.Contract[0].Type = core.Transaction_Contract_TransferContract
	assert.ErrorIs(t, checkTrigger(transfer, me, esc, data, 7), ErrBadResponse)
	assert.ErrorIs(t, checkTrigger(&api.TransactionExtention{}, me, esc, data, 7), ErrBadResponse)
}

func TestConstantResult(t *testing.T) {
	ok := []byte{0, 0, 1}
	rev := revertData(t, "escrow: unknown channel")
	for _, tc := range []struct {
		name   string
		ext    *api.TransactionExtention
		want   []byte
		reason string // a *RevertError with it
		kind   error
	}{
		{"success", &api.TransactionExtention{Result: &api.Return{Result: true}, ConstantResult: [][]byte{ok}}, ok, "", nil},
		{"java-tron revert", &api.TransactionExtention{
			Result:         &api.Return{Result: true, Message: []byte("REVERT opcode executed")},
			ConstantResult: [][]byte{rev},
			Transaction:    &core.Transaction{Ret: []*core.Transaction_Result{{Ret: core.Transaction_Result_FAILED}}},
		}, nil, "escrow: unknown channel", paychan.ErrUnknownChannel},
		{"revert seen only in ret", &api.TransactionExtention{
			Result:         &api.Return{Result: true},
			ConstantResult: [][]byte{rev},
			Transaction:    &core.Transaction{Ret: []*core.Transaction_Result{{ContractRet: core.Transaction_Result_REVERT}}},
		}, nil, "escrow: unknown channel", paychan.ErrUnknownChannel},
		{"older node: CONTRACT_EXE_ERROR", &api.TransactionExtention{
			Result:         &api.Return{Code: api.Return_CONTRACT_EXE_ERROR, Message: []byte("REVERT opcode executed")},
			ConstantResult: [][]byte{rev},
		}, nil, "escrow: unknown channel", paychan.ErrUnknownChannel},
		{"no contract", &api.TransactionExtention{
			Result: &api.Return{Code: api.Return_CONTRACT_VALIDATE_ERROR, Message: []byte("No contract or not a valid smart contract")},
		}, nil, "", ErrRejected},
		{"out of energy", &api.TransactionExtention{
			Result:      &api.Return{Result: true},
			Transaction: &core.Transaction{Ret: []*core.Transaction_Result{{Ret: core.Transaction_Result_FAILED, ContractRet: core.Transaction_Result_OUT_OF_ENERGY}}},
		}, nil, "", ErrTxFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := constantResult(tc.ext)
			if tc.kind == nil && tc.reason == "" {
				require.NoError(t, err)
				assert.Equal(t, tc.want, out)
				return
			}
			require.Error(t, err)
			if tc.reason != "" {
				var re *RevertError
				require.ErrorAs(t, err, &re)
				assert.Equal(t, tc.reason, re.Reason)
			}
			if tc.kind != nil {
				assert.ErrorIs(t, err, tc.kind)
			}
		})
	}
}

func TestBroadcastResult(t *testing.T) {
	c := &Client{signer: testSigner(t, 1)}
	tx := &Tx{ID: TxID{9}, Expiration: time.Unix(1000, 0)}
	for _, tc := range []struct {
		ret  *api.Return
		want error // nil: accepted
	}{
		{&api.Return{Result: true}, nil},
		{&api.Return{Code: api.Return_DUP_TRANSACTION_ERROR, Message: []byte("Transaction already exists.")}, nil},
		{&api.Return{Code: api.Return_SERVER_BUSY}, paychan.ErrChainUnavailable},
		{&api.Return{Code: api.Return_NO_CONNECTION}, paychan.ErrChainUnavailable},
		{&api.Return{Code: api.Return_BANDWITH_ERROR, Message: []byte("Account resource insufficient error.")}, ErrInsufficientTRX},
		{&api.Return{Code: api.Return_CONTRACT_VALIDATE_ERROR, Message: []byte("Contract validate error : balance is not sufficient.")}, ErrInsufficientTRX},
		{&api.Return{Code: api.Return_TRANSACTION_EXPIRATION_ERROR, Message: []byte("Transaction expired")}, ErrTxExpired},
		{&api.Return{Code: api.Return_SIGERROR, Message: []byte("bad sig")}, ErrRejected},
		{&api.Return{Code: api.Return_TAPOS_ERROR}, ErrRejected},
		{&api.Return{Code: api.Return_SUCCESS, Result: false}, ErrRejected},
		{nil, ErrBadResponse},
	} {
		name := "nil"
		if tc.ret != nil {
			name = tc.ret.GetCode().String()
		}
		t.Run(name, func(t *testing.T) {
			err := c.broadcastResult(tx, tc.ret)
			if tc.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tc.want)
		})
	}
}

func TestReceipt(t *testing.T) {
	c := &Client{cfg: Config{FeeLimit: 7 * SunPerTRX}}
	id := TxID{7}
	esc := testSigner(t, 3).Address()
	topic := make([]byte, 32)
	topic[0] = 0xaa
	good := &core.TransactionInfo{
		Id: id[:], BlockNumber: 12, BlockTimeStamp: 3000, Fee: 420,
		ContractResult: [][]byte{{1}},
		Receipt:        &core.ResourceReceipt{EnergyUsageTotal: 2, NetUsage: 300, Result: core.Transaction_Result_SUCCESS},
		Log:            []*core.TransactionInfo_Log{{Address: esc[1:], Topics: [][]byte{topic}, Data: []byte{5}}},
	}
	r, err := c.receipt(id, good)
	require.NoError(t, err)
	assert.Equal(t, int64(12), r.BlockNumber)
	assert.Equal(t, time.UnixMilli(3000).UTC(), r.BlockTime)
	assert.Equal(t, int64(2), r.EnergyUsed)
	assert.Equal(t, int64(300), r.NetUsage)
	require.Len(t, r.Logs, 1)
	assert.Equal(t, esc, r.Logs[0].Address, "20-byte log address")
	assert.Equal(t, [32]byte(topic), r.Logs[0].Topics[0])

	reverted := proto.Clone(good).(*core.TransactionInfo)
	reverted.Result = core.TransactionInfo_FAILED
	reverted.Receipt.Result = core.Transaction_Result_REVERT
	reverted.ResMessage = []byte("REVERT opcode executed")
	reverted.ContractResult = [][]byte{revertData(t, "escrow: redeem window over")}
	r, err = c.receipt(id, reverted)
	require.NotNil(t, r, "a failed transaction still has its receipt (and fee)")
	assert.ErrorIs(t, err, paychan.ErrExpired)
	var re *RevertError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, id.String(), re.TxID)

	oe := proto.Clone(good).(*core.TransactionInfo)
	oe.Result = core.TransactionInfo_FAILED
	oe.Receipt.Result = core.Transaction_Result_OUT_OF_ENERGY
	oe.Receipt.EnergyUsageTotal = 33_333
	_, err = c.receipt(id, oe)
	var oerr *OutOfEnergyError
	require.ErrorAs(t, err, &oerr)
	assert.Equal(t, int64(7*SunPerTRX), oerr.FeeLimit)
	assert.Contains(t, err.Error(), "7 TRX")

	other := proto.Clone(good).(*core.TransactionInfo)
	other.Result = core.TransactionInfo_FAILED
	other.Receipt.Result = core.Transaction_Result_BAD_JUMP_DESTINATION
	_, err = c.receipt(id, other)
	assert.ErrorIs(t, err, ErrTxFailed)

	bad := proto.Clone(good).(*core.TransactionInfo)
	bad.Log[0].Topics = [][]byte{{1, 2}}
	_, err = c.receipt(id, bad)
	assert.ErrorIs(t, err, ErrBadResponse)
	bad = proto.Clone(good).(*core.TransactionInfo)
	bad.ContractAddress = []byte{1, 2, 3}
	_, err = c.receipt(id, bad)
	assert.ErrorIs(t, err, ErrBadResponse)
}

// FuzzReceipt feeds receipt() what a node could send.
func FuzzReceipt(f *testing.F) {
	info := &core.TransactionInfo{Id: []byte{1}, Result: core.TransactionInfo_FAILED, Receipt: &core.ResourceReceipt{Result: core.Transaction_Result_REVERT},
		ContractResult: [][]byte{revertData(f, "escrow: over deposit")}, Log: []*core.TransactionInfo_Log{{Address: make([]byte, 20), Topics: [][]byte{make([]byte, 32)}}}}
	b, err := proto.Marshal(info)
	require.NoError(f, err)
	f.Add(b)
	f.Add([]byte{})
	c := &Client{}
	f.Fuzz(func(t *testing.T, b []byte) {
		var info core.TransactionInfo
		if proto.Unmarshal(b, &info) != nil {
			return
		}
		r, err := c.receipt(TxID{}, &info)
		if err == nil && r == nil {
			t.Fatal("no receipt and no error")
		}
	})
}

func TestDecodeChannel(t *testing.T) {
	a, b := testSigner(t, 1).Address(), testSigner(t, 2).Address()
	id := paychan.ChannelID{4}
	out := []any{evmAddr(a), evmAddr(b), big.NewInt(100), big.NewInt(30), uint64(1_800_000_000), uint64(0), uint8(1)}
	ch, err := decodeChannel(id, out)
	require.NoError(t, err)
	assert.Equal(t, paychan.Channel{ID: id, Payer: a, Payee: b, Deposit: btt.NewAmount(100), Paid: btt.NewAmount(30),
		Expiry: time.Unix(1_800_000_000, 0).UTC(), State: paychan.ChannelOpen}, ch)

	out[5], out[6] = uint64(1_800_000_100), uint8(2)
	ch, err = decodeChannel(id, out)
	require.NoError(t, err)
	assert.Equal(t, time.Unix(1_800_000_100, 0).UTC(), ch.ChallengeEnd)

	unknown := []any{common.Address{}, common.Address{}, big.NewInt(0), big.NewInt(0), uint64(0), uint64(0), uint8(0)}
	ch, err = decodeChannel(id, unknown)
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelUnknown, ch.State)
	assert.True(t, ch.Payer.IsZero())

	bad := append([]any(nil), out...)
	bad[6] = uint8(4)
	_, err = decodeChannel(id, bad)
	assert.ErrorIs(t, err, ErrBadResponse, "no state 4")
	bad = append([]any(nil), out...)
	bad[2] = big.NewInt(-1)
	_, err = decodeChannel(id, bad)
	assert.ErrorIs(t, err, ErrBadResponse)
	_, err = decodeChannel(id, out[:6])
	assert.ErrorIs(t, err, ErrBadResponse)
}

// TestDecodeChannelFarTimes (issue 30 item 3): the decoder reads every
// expiry and challenge end a contract's uint64 can hold; one past what
// time.Time takes in Unix seconds reads as MaxChainTime, never an error.
func TestDecodeChannelFarTimes(t *testing.T) {
	a, b := testSigner(t, 1).Address(), testSigner(t, 2).Address()
	id := paychan.ChannelID{5}
	for _, tc := range []struct {
		name   string
		secs   uint64
		expect time.Time
	}{
		{"in a year", 1_800_000_000, time.Unix(1_800_000_000, 0).UTC()},
		{"at MaxChainTime", uint64(MaxChainTime.Unix()), MaxChainTime},
		{"a second after MaxChainTime", uint64(MaxChainTime.Unix()) + 1, MaxChainTime},
		{"2^63-1", math.MaxInt64, MaxChainTime},
		{"2^63", uint64(math.MaxInt64) + 1, MaxChainTime},
		{"2^64-1", math.MaxUint64, MaxChainTime},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := []any{evmAddr(a), evmAddr(b), big.NewInt(100), big.NewInt(30), tc.secs, tc.secs, uint8(2)}
			ch, err := decodeChannel(id, out)
			require.NoError(t, err)
			assert.Equal(t, tc.expect, ch.Expiry)
			assert.Equal(t, tc.expect, ch.ChallengeEnd)

			e := &Escrow{addr: a, abi: contracts.EscrowABI()}
			ev := e.abi.Events["ChannelOpened"]
			data, err := ev.Inputs.NonIndexed().Pack(big.NewInt(500), tc.secs)
			require.NoError(t, err)
			log := Log{Address: a, Topics: [][32]byte{ev.ID, {1}, {2}, {3}}, Data: data}
			got, err := e.opened(&Receipt{Logs: []Log{log}})
			require.NoError(t, err)
			assert.Equal(t, tc.expect, got.Expiry)
		})
	}
}

func TestOpenedEvent(t *testing.T) {
	esc := testSigner(t, 3).Address()
	payer, payee := testSigner(t, 1).Address(), testSigner(t, 2).Address()
	e := &Escrow{addr: esc, abi: contracts.EscrowABI()}
	ev := e.abi.Events["ChannelOpened"]
	data, err := ev.Inputs.NonIndexed().Pack(big.NewInt(500), uint64(1_900_000_000))
	require.NoError(t, err)
	id := [32]byte{0xee}
	pad := func(a btt.Address) (w [32]byte) { copy(w[12:], a[1:]); return }
	log := Log{Address: esc, Topics: [][32]byte{ev.ID, id, pad(payer), pad(payee)}, Data: data}
	other := log
	other.Address = payer // the same event from another contract is ignored
	ch, err := e.opened(&Receipt{Logs: []Log{other, log}})
	require.NoError(t, err)
	assert.Equal(t, paychan.Channel{ID: id, Payer: payer, Payee: payee, Deposit: btt.NewAmount(500), Expiry: time.Unix(1_900_000_000, 0).UTC(), State: paychan.ChannelOpen}, ch)
	_, err = e.opened(&Receipt{Logs: []Log{other}})
	assert.ErrorIs(t, err, ErrBadResponse)
	log.Data = data[:40]
	_, err = e.opened(&Receipt{Logs: []Log{log}})
	assert.ErrorIs(t, err, ErrBadResponse)
}

func TestSignerHidesKey(t *testing.T) {
	s, err := ParseKeyHex(testKeyHex)
	require.NoError(t, err)
	s2, err := ParseKeyHex("0x" + strings.ToUpper(testKeyHex))
	require.NoError(t, err)
	assert.Equal(t, s.Address(), s2.Address())
	key := strings.TrimLeft(testKeyHex, "0")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		out := fmt.Sprintf(verb, s)
		assert.NotContains(t, strings.ToLower(out), key[:16], verb)
		assert.Contains(t, out, s.Address().String(), verb)
	}
	// Nor as a field of something printed.
	out := fmt.Sprintf("%+v %#v", struct{ S *KeySigner }{s}, Config{Signer: s})
	assert.NotContains(t, out, key[:16])

	for _, bad := range []string{"", "12", testKeyHex[:63] + "g", testKeyHex + "00", strings.Repeat("0", 64), strings.Repeat("f", 64)} {
		_, err := ParseKeyHex(bad)
		require.Error(t, err, bad)
		if len(bad) > 8 {
			assert.NotContains(t, err.Error(), bad[:8], "the error does not repeat the key")
		}
	}
	_, err = NewKeySigner(nil)
	assert.Error(t, err)
	_, err = NewKeySigner(&ecdsa.PrivateKey{})
	assert.Error(t, err, "no scalar: an error, not a panic")
}

func TestSignTx(t *testing.T) {
	s := testSigner(t, 1)
	ext := trigger(t, s.Address(), testSigner(t, 3).Address(), []byte{1}, 0, 5)
	tx := ext.Transaction
	id, err := SignTx(s, tx)
	require.NoError(t, err)
	raw, err := proto.Marshal(tx.RawData)
	require.NoError(t, err)
	assert.Equal(t, TxID(sha256.Sum256(raw)), id, "the id is sha256(raw_data)")
	require.Len(t, tx.Signature, 1)
	pub, err := crypto.SigToPub(id[:], tx.Signature[0])
	require.NoError(t, err)
	assert.Equal(t, s.Address(), paychan.AddressOf(pub))

	// The same signature as gotron-sdk's own private-key signer (RFC 6979
	// nonces are deterministic).
	tx2 := proto.Clone(ext.Transaction).(*core.Transaction)
	tx2.Signature = nil
	gs, err := gtsigner.NewPrivateKeySigner(s.key)
	require.NoError(t, err)
	_, err = gs.Sign(tx2)
	require.NoError(t, err)
	assert.Equal(t, tx2.Signature[0], tx.Signature[0])

	tx3 := proto.Clone(ext.Transaction).(*core.Transaction)
	tx3.Signature = nil
	sdk := SDKSigner(s)
	assert.Equal(t, gs.Address().String(), sdk.Address().String())
	_, err = sdk.Sign(tx3)
	require.NoError(t, err)
	assert.Equal(t, tx.Signature[0], tx3.Signature[0])

	_, err = SignTx(s, &core.Transaction{})
	assert.ErrorIs(t, err, ErrBadResponse)

	// A paychan.KeySigner is a Signer too: one key for vouchers and
	// transactions.
	ps, err := paychan.NewKeySigner(s.key)
	require.NoError(t, err)
	tx4 := proto.Clone(ext.Transaction).(*core.Transaction)
	tx4.Signature = nil
	_, err = SignTx(ps, tx4)
	require.NoError(t, err)
	assert.Equal(t, tx.Signature[0], tx4.Signature[0])
}

func TestKeystore(t *testing.T) {
	dir := t.TempDir()
	s := testSigner(t, 5)
	path := filepath.Join(dir, "key.json")
	const pass = "correct horse battery staple"
	require.NoError(t, SaveKeystore(path, s.key, pass, KDFLight))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	assert.Error(t, SaveKeystore(path, s.key, pass, KDFLight), "never overwrites a key file")

	got, err := LoadKeystore(path, pass)
	require.NoError(t, err)
	assert.Equal(t, s.Address(), got.Address())
	assert.Contains(t, got.String(), path)
	d := [32]byte{1}
	sig1, err := s.SignDigest(d)
	require.NoError(t, err)
	sig2, err := got.SignDigest(d)
	require.NoError(t, err)
	assert.Equal(t, sig1, sig2)

	_, err = LoadKeystore(path, "wrong")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "wrong passphrase")
	assert.NotContains(t, err.Error(), "wrong\"")

	require.NoError(t, os.Chmod(path, 0o644))
	_, err = LoadKeystore(path, pass)
	assert.ErrorContains(t, err, "chmod 600", "a key file others can read is refused")

	// geth writes the 20-byte address: the same file loads.
	js, err := os.ReadFile(path)
	require.NoError(t, err)
	a := s.Address()
	geth := strings.Replace(string(js), fmt.Sprintf("%x", a[:]), fmt.Sprintf("%x", a[1:]), 1)
	require.NotEqual(t, string(js), geth)
	gethPath := filepath.Join(dir, "geth.json")
	require.NoError(t, os.WriteFile(gethPath, []byte(geth), 0o600))
	got, err = LoadKeystore(gethPath, pass)
	require.NoError(t, err)
	assert.Equal(t, s.Address(), got.Address())

	junk := filepath.Join(dir, "junk.json")
	require.NoError(t, os.WriteFile(junk, []byte(`{"version":3,"crypto":{}}`), 0o600))
	_, err = LoadKeystore(junk, pass)
	assert.Error(t, err)
	_, err = LoadKeystore(filepath.Join(dir, "missing.json"), pass)
	assert.ErrorIs(t, err, os.ErrNotExist)
}
