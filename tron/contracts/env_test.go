package contracts

// A deployed token and escrow on an evmChain, with typed helpers for every
// escrow and token call the tests make.

import (
	"crypto/ecdsa"
	_ "embed"
	"encoding/binary"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// Test-only tokens with a quirk each (testdata/QuirkyTokens.sol).
var (
	//go:embed testdata/artifacts/FalseReturnToken.bin
	falseReturnTokenBin string
	//go:embed testdata/artifacts/NoReturnToken.bin
	noReturnTokenBin string
	//go:embed testdata/artifacts/FeeOnTransferToken.bin
	feeOnTransferTokenBin string
	//go:embed testdata/artifacts/ReentrantToken.bin
	reentrantTokenBin string
	//go:embed testdata/artifacts/ReentrantToken.abi.json
	reentrantTokenABIJSON string
	//go:embed testdata/artifacts/RefusingToken.bin
	refusingTokenBin string
	//go:embed testdata/artifacts/RefusingToken.abi.json
	refusingTokenABIJSON string
)

// testChallengePeriod is the escrow's challenge window in the tests (1 h).
const testChallengePeriod = 3600

// account is a test key: its EVM address and a paychan signer.
type account struct {
	key    *ecdsa.PrivateKey
	addr   common.Address
	signer *paychan.KeySigner
}

func newAccount(t testing.TB, seed string) account {
	t.Helper()
	key, err := crypto.ToECDSA(crypto.Keccak256([]byte("bttspeed test key " + seed)))
	require.NoError(t, err)
	s, err := paychan.NewKeySigner(key)
	require.NoError(t, err)
	return account{key: key, addr: crypto.PubkeyToAddress(key.PublicKey), signer: s}
}

// env is a chain with a token and an escrow deployed, and three funded
// accounts.
type env struct {
	*evmChain
	escrowABI, tokenABI abi.ABI
	owner               account // deployer of both contracts
	payer, payee, other account
	token, escrow       common.Address
	scheme              uint8 // the escrow's voucherScheme
}

// newEnv deploys TestToken and an escrow over it on a chain with the given
// id, mints 1e6 tokens to payer and other, and approves the escrow for all
// of them.
func newEnv(t testing.TB, chainID uint64) *env {
	t.Helper()
	return newEnvWithToken(t, chainID, TokenDeployData())
}

// newEnvWithToken is newEnv with another token's creation code (one whose
// mint anyone may call, or TestToken).
func newEnvWithToken(t testing.TB, chainID uint64, tokenCode []byte) *env {
	t.Helper()
	return newEnvScheme(t, chainID, tokenCode, SchemeTIP191)
}

// newEnvScheme is newEnvWithToken with an escrow checking vouchers in
// scheme.
func newEnvScheme(t testing.TB, chainID uint64, tokenCode []byte, scheme uint8) *env {
	t.Helper()
	e := &env{
		scheme:    scheme,
		evmChain:  newEVMChain(t, chainID),
		escrowABI: EscrowABI(),
		tokenABI:  TokenABI(),
		owner:     newAccount(t, "owner"),
		payer:     newAccount(t, "payer"),
		payee:     newAccount(t, "payee"),
		other:     newAccount(t, "other"),
	}
	e.token, _ = e.deploy(e.owner.addr, tokenCode)
	e.escrow, _ = e.deploy(e.owner.addr, EscrowDeployDataFor(EscrowParams{Token: e.token, ChallengePeriod: testChallengePeriod, Scheme: scheme}))
	for _, a := range []account{e.payer, e.other} {
		e.mustSend(e.owner.addr, e.token, pack(t, e.tokenABI, "mint", a.addr, big.NewInt(1_000_000)))
		e.mustSend(a.addr, e.token, pack(t, e.tokenABI, "approve", e.escrow, new(big.Int).Lsh(big.NewInt(1), 255)))
	}
	return e
}

func (e *env) mustSend(from, to common.Address, data []byte) txResult {
	e.t.Helper()
	res := e.send(from, to, data)
	require.NoError(e.t, res.Err, "reverted: %q", res.Revert)
	return res
}

func (e *env) balance(who common.Address) int64 {
	e.t.Helper()
	res := e.view(e.token, pack(e.t, e.tokenABI, "balanceOf", who))
	require.NoError(e.t, res.Err)
	b := unpack(e.t, e.tokenABI, "balanceOf", res.Ret)[0].(*big.Int)
	require.True(e.t, b.IsInt64())
	return b.Int64()
}

// balances returns the token balances of payer, payee, other and the
// escrow.
func (e *env) balances() [4]int64 {
	return [4]int64{e.balance(e.payer.addr), e.balance(e.payee.addr), e.balance(e.other.addr), e.balance(e.escrow)}
}

func (e *env) open(from common.Address, payee common.Address, deposit int64, expiry uint64) ([32]byte, txResult) {
	e.t.Helper()
	res := e.send(from, e.escrow, pack(e.t, e.escrowABI, "open", payee, big.NewInt(deposit), expiry))
	var id [32]byte
	if res.ok() {
		id = unpack(e.t, e.escrowABI, "open", res.Ret)[0].([32]byte)
	}
	return id, res
}

// mustOpen opens a channel from payer to payee expiring in `ttl` seconds.
func (e *env) mustOpen(deposit int64, ttl uint64) [32]byte {
	e.t.Helper()
	id, res := e.open(e.payer.addr, e.payee.addr, deposit, e.now+ttl)
	require.NoError(e.t, res.Err, "open reverted: %q", res.Revert)
	return id
}

func (e *env) topUp(from common.Address, id [32]byte, amount int64, expiry uint64) txResult {
	e.t.Helper()
	return e.send(from, e.escrow, pack(e.t, e.escrowABI, "topUp", id, big.NewInt(amount), expiry))
}

func (e *env) claim(from common.Address, id [32]byte, amount int64, sig []byte) txResult {
	e.t.Helper()
	return e.send(from, e.escrow, pack(e.t, e.escrowABI, "claim", id, big.NewInt(amount), sig))
}

func (e *env) close(from common.Address, id [32]byte, amount int64, sig []byte) txResult {
	e.t.Helper()
	return e.send(from, e.escrow, pack(e.t, e.escrowABI, "close", id, big.NewInt(amount), sig))
}

func (e *env) startClose(from common.Address, id [32]byte) txResult {
	e.t.Helper()
	return e.send(from, e.escrow, pack(e.t, e.escrowABI, "startClose", id))
}

func (e *env) reclaim(from common.Address, id [32]byte) txResult {
	e.t.Helper()
	return e.send(from, e.escrow, pack(e.t, e.escrowABI, "reclaim", id))
}

func (e *env) checkVoucher(id [32]byte, amount int64, sig []byte) txResult {
	e.t.Helper()
	return e.view(e.escrow, pack(e.t, e.escrowABI, "checkVoucher", id, big.NewInt(amount), sig))
}

// onChain is a channel as the escrow's channels() view returns it.
type onChain struct {
	Payer, Payee  common.Address
	Deposit, Paid int64
	Expiry        uint64
	ChallengeEnd  uint64
	State         paychan.ChannelState
}

func (e *env) channel(id [32]byte) onChain {
	e.t.Helper()
	res := e.view(e.escrow, pack(e.t, e.escrowABI, "channels", id))
	require.NoError(e.t, res.Err)
	out := unpack(e.t, e.escrowABI, "channels", res.Ret)
	require.Len(e.t, out, 7)
	return onChain{
		Payer:        out[0].(common.Address),
		Payee:        out[1].(common.Address),
		Deposit:      out[2].(*big.Int).Int64(),
		Paid:         out[3].(*big.Int).Int64(),
		Expiry:       out[4].(uint64),
		ChallengeEnd: out[5].(uint64),
		State:        paychan.ChannelState(out[6].(uint8)),
	}
}

// voucher returns the paychan voucher of amount on channel id of this
// chain's escrow.
func (e *env) voucher(id [32]byte, amount int64) paychan.Voucher {
	return paychan.Voucher{
		ChainID: e.config.ChainID.Uint64(),
		Escrow:  btt.AddressFromEVM(e.escrow),
		Channel: paychan.ChannelID(id),
		Amount:  btt.NewAmount(uint64(amount)),
		Scheme:  paychan.DigestScheme(e.scheme),
	}
}

// sign signs v with paychan.Sign and returns the 65-byte signature.
func sign(t testing.TB, by account, v paychan.Voucher) []byte {
	t.Helper()
	sv, err := paychan.Sign(by.signer, v)
	require.NoError(t, err)
	return sv.Sig[:]
}

// sig is the payer's signature of a voucher for amount on channel id.
func (e *env) sig(id [32]byte, amount int64) []byte {
	e.t.Helper()
	return sign(e.t, e.payer, e.voucher(id, amount))
}

// escrowEvents decodes the escrow's logs in res.
func (e *env) escrowEvents(res txResult) []event {
	e.t.Helper()
	return decodeEvents(e.t, e.escrowABI, e.escrow, res.Logs)
}

// channelID derives a channel id as paychantest does: keccak256 of the
// escrow, payer and payee addresses and the 8-byte big-endian nonce.
func channelID(escrow, payer, payee common.Address, nonce uint64) [32]byte {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], nonce)
	return crypto.Keccak256Hash(escrow[:], payer[:], payee[:], n[:])
}

// mustBin decodes embedded test creation code.
func mustBin(t testing.TB, hx string) []byte {
	t.Helper()
	b, err := decodeBin(hx)
	require.NoError(t, err)
	return b
}
