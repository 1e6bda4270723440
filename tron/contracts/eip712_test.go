package contracts

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// bttcMainnetChainID is BitTorrent Chain's mainnet chain id.
const bttcMainnetChainID = 199

// typedVoucher is v as the EIP-712 typed data a wallet signs
// (eth_signTypedData_v4), hashed by go-ethereum's apitypes.
func typedVoucherHash(t testing.TB, v paychan.Voucher) [32]byte {
	t.Helper()
	evm := v.Escrow.EVM()
	td := apitypes.TypedData{
		Types: apitypes.Types{
			"EIP712Domain": {
				{Name: "name", Type: "string"},
				{Name: "version", Type: "string"},
				{Name: "chainId", Type: "uint256"},
				{Name: "verifyingContract", Type: "address"},
			},
			"Voucher": {{Name: "channelId", Type: "bytes32"}, {Name: "amount", Type: "uint256"}},
		},
		PrimaryType: "Voucher",
		Domain: apitypes.TypedDataDomain{
			Name:              paychan.EIP712Name,
			Version:           paychan.EIP712Version,
			ChainId:           math.NewHexOrDecimal256(int64(v.ChainID)),
			VerifyingContract: common.Address(evm).Hex(),
		},
		Message: apitypes.TypedDataMessage{"channelId": hexutil.Encode(v.Channel[:]), "amount": v.Amount.Big().String()},
	}
	h, _, err := apitypes.TypedDataAndHash(td)
	require.NoError(t, err)
	return [32]byte(h)
}

// TestEIP712Digest: an EIP-712 escrow's voucherDigest is paychan's
// Voucher.Digest() in SchemeEIP712 and go-ethereum's apitypes hash of the
// typed data, on BTTC's chain ids and others; its domainSeparator() is
// paychan.DomainSeparator; and a TIP-191 escrow still gives the TIP-191
// digest.
func TestEIP712Digest(t *testing.T) {
	for _, chainID := range []uint64{bttcMainnetChainID, 1029, 1337, tronMainnetChainID} {
		e := newEnvScheme(t, chainID, TokenDeployData(), SchemeEIP712)
		res := e.view(e.escrow, pack(t, e.escrowABI, "voucherScheme"))
		require.NoError(t, res.Err)
		assert.Equal(t, SchemeEIP712, unpack(t, e.escrowABI, "voucherScheme", res.Ret)[0])
		res = e.view(e.escrow, pack(t, e.escrowABI, "domainSeparator"))
		require.NoError(t, res.Err)
		assert.Equal(t, paychan.DomainSeparator(chainID, btt.AddressFromEVM(e.escrow)), unpack(t, e.escrowABI, "domainSeparator", res.Ret)[0])

		for _, amount := range []int64{0, 1, 1e18} {
			id := [32]byte{1, 2, 31: byte(amount)}
			v := e.voucher(id, amount)
			res := e.view(e.escrow, pack(t, e.escrowABI, "voucherDigest", id, big.NewInt(amount)))
			require.NoError(t, res.Err)
			got := unpack(t, e.escrowABI, "voucherDigest", res.Ret)[0].([32]byte)
			assert.Equal(t, v.Digest(), got, "chain %d amount %d", chainID, amount)
			assert.Equal(t, typedVoucherHash(t, v), got, "chain %d amount %d", chainID, amount)
		}
	}
	tron := newEnv(t, tronMainnetChainID)
	res := tron.view(tron.escrow, pack(t, tron.escrowABI, "voucherScheme"))
	require.NoError(t, res.Err)
	assert.Equal(t, SchemeTIP191, unpack(t, tron.escrowABI, "voucherScheme", res.Ret)[0])
}

// TestEIP712Redeem: an EIP-712 escrow pays EIP-712 vouchers and refuses
// the same voucher signed over the TIP-191 digest (and a TIP-191 escrow
// the reverse), with the exact revert a payee maps to ErrBadSignature.
func TestEIP712Redeem(t *testing.T) {
	e := newEnvScheme(t, bttcMainnetChainID, TokenDeployData(), SchemeEIP712)
	id := e.mustOpen(1000, 3600)

	tip := e.voucher(id, 300)
	tip.Scheme = paychan.SchemeTIP191
	res := e.claim(e.payee.addr, id, 300, sign(t, e.payer, tip))
	assert.Equal(t, "escrow: bad signature", res.Revert)
	res = e.checkVoucher(id, 300, sign(t, e.payer, tip))
	assert.Equal(t, "escrow: bad signature", res.Revert)

	res = e.checkVoucher(id, 300, e.sig(id, 300))
	require.NoError(t, res.Err, res.Revert)
	assert.Equal(t, e.payer.addr, unpack(t, e.escrowABI, "checkVoucher", res.Ret)[0])
	e.mustSend(e.payee.addr, e.escrow, pack(t, e.escrowABI, "claim", id, big.NewInt(300), e.sig(id, 300)))
	e.mustSend(e.payee.addr, e.escrow, pack(t, e.escrowABI, "close", id, big.NewInt(700), e.sig(id, 700)))
	assert.Equal(t, int64(700), e.balance(e.payee.addr))
	assert.Equal(t, paychan.ChannelClosed, e.channel(id).State)

	tr := newEnv(t, bttcMainnetChainID)
	id = tr.mustOpen(1000, 3600)
	v712 := tr.voucher(id, 300)
	v712.Scheme = paychan.SchemeEIP712
	res = tr.claim(tr.payee.addr, id, 300, sign(t, tr.payer, v712))
	assert.Equal(t, "escrow: bad signature", res.Revert)
}

// TestConstructorScheme: the constructor takes only the two schemes (the
// ABI decoder refuses another enum value, without a reason).
func TestConstructorScheme(t *testing.T) {
	c := newEVMChain(t, bttcMainnetChainID)
	owner := newAccount(t, "owner")
	for _, scheme := range []uint8{2, 255} {
		_, res := c.exec(owner.addr, nil, EscrowDeployDataFor(EscrowParams{Token: common.Address{1}, ChallengePeriod: testChallengePeriod, Scheme: scheme}))
		assert.ErrorIs(t, res.Err, vm.ErrExecutionReverted, "scheme %d", scheme)
		assert.Empty(t, res.Ret, "scheme %d", scheme)
	}
}

// TestParseEscrowScheme: deployed code of either scheme parses back to its
// constructor arguments; ParseEscrowRuntime, TRON's check, takes only
// TIP-191 escrows; a scheme word the constructor would refuse is not an
// escrow's code.
func TestParseEscrowScheme(t *testing.T) {
	for _, scheme := range []uint8{SchemeTIP191, SchemeEIP712} {
		e := newEnvScheme(t, bttcMainnetChainID, TokenDeployData(), scheme)
		code := e.state.GetCode(e.escrow)
		want := EscrowParams{Token: e.token, ChallengePeriod: testChallengePeriod, Scheme: scheme}
		assert.Equal(t, EscrowRuntimeFor(want), code)
		p, ok := ParseEscrow(code)
		require.True(t, ok)
		assert.Equal(t, want, p)
		_, _, ok = ParseEscrowRuntime(code)
		assert.Equal(t, scheme == SchemeTIP191, ok)
	}
	bad := EscrowRuntimeFor(EscrowParams{Token: [20]byte{1}, ChallengePeriod: 60, Scheme: 2})
	_, ok := ParseEscrow(bad)
	assert.False(t, ok)
	split := EscrowRuntimeFor(EscrowParams{Token: [20]byte{1}, ChallengePeriod: 60, Scheme: SchemeEIP712})
	split[escrowRuntime().scheme.Ranges[1][0]+31] = SchemeTIP191
	_, ok = ParseEscrow(split)
	assert.False(t, ok, "the scheme's copies differ")
}
