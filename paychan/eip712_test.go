package paychan

import (
	"encoding/hex"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
)

// typedDomain is the EIP-712 domain of an escrow as go-ethereum's apitypes
// takes it.
func typedDomain(chainID uint64, escrow btt.Address) apitypes.TypedDataDomain {
	evm := escrow.EVM()
	return apitypes.TypedDataDomain{
		Name:              EIP712Name,
		Version:           EIP712Version,
		ChainId:           math.NewHexOrDecimal256(int64(chainID)),
		VerifyingContract: common.Address(evm).Hex(),
	}
}

var typedDomainType = []apitypes.Type{
	{Name: "name", Type: "string"},
	{Name: "version", Type: "string"},
	{Name: "chainId", Type: "uint256"},
	{Name: "verifyingContract", Type: "address"},
}

// voucherTypedData is v as the EIP-712 typed data a wallet is asked to
// sign (eth_signTypedData_v4).
func voucherTypedData(v Voucher) apitypes.TypedData {
	return apitypes.TypedData{
		Types: apitypes.Types{
			"EIP712Domain": typedDomainType,
			"Voucher":      {{Name: "channelId", Type: "bytes32"}, {Name: "amount", Type: "uint256"}},
		},
		PrimaryType: "Voucher",
		Domain:      typedDomain(v.ChainID, v.Escrow),
		Message: apitypes.TypedDataMessage{
			"channelId": hexutil.Encode(v.Channel[:]),
			"amount":    v.Amount.Big().String(),
		},
	}
}

func proofTypedData(p Proof) apitypes.TypedData {
	return apitypes.TypedData{
		Types: apitypes.Types{
			"EIP712Domain": typedDomainType,
			"ChannelProof": {
				{Name: "channelId", Type: "bytes32"},
				{Name: "nonce", Type: "bytes32"},
				{Name: "sellerPeerId", Type: "bytes20"},
				{Name: "buyerPeerId", Type: "bytes20"},
				{Name: "infoHash", Type: "bytes20"},
			},
		},
		PrimaryType: "ChannelProof",
		Domain:      typedDomain(p.ChainID, p.Escrow),
		Message: apitypes.TypedDataMessage{
			"channelId":    hexutil.Encode(p.Channel[:]),
			"nonce":        hexutil.Encode(p.Nonce[:]),
			"sellerPeerId": hexutil.Encode(p.Seller[:]),
			"buyerPeerId":  hexutil.Encode(p.Buyer[:]),
			"infoHash":     hexutil.Encode(p.InfoHash[:]),
		},
	}
}

// TestEIP712AgreesWithAPITypes: paychan's EIP-712 digests of vouchers and
// channel proofs are go-ethereum's apitypes hash of the same typed data,
// for chain ids and amounts across their ranges.
func TestEIP712AgreesWithAPITypes(t *testing.T) {
	max256, err := btt.AmountFromBig(new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1)))
	require.NoError(t, err)
	amounts := []btt.Amount{btt.Zero, btt.NewAmount(1), btt.NewAmount(1e18), max256}
	chains := []uint64{1, 199, 1029, 1337, 0x2b6653dc, 1<<63 - 1}
	escrows := []btt.Address{btt.AddressFromEVM([20]byte{19: 1}), btt.MustParseAddress(vectorEscrow), btt.AddressFromEVM([20]byte{0: 0xff, 19: 0xee})}
	for _, chainID := range chains {
		for _, esc := range escrows {
			for i, amt := range amounts {
				v := Voucher{ChainID: chainID, Escrow: esc, Channel: ChannelID{byte(i), 2, 31: 3}, Amount: amt, Scheme: SchemeEIP712}
				want, _, err := apitypes.TypedDataAndHash(voucherTypedData(v))
				require.NoError(t, err)
				d := v.Digest()
				assert.Equal(t, want, d[:], "voucher chain %d escrow %s amount %s", chainID, esc, amt)

				sep := DomainSeparator(chainID, esc)
				td := voucherTypedData(v)
				wantSep, err := td.HashStruct("EIP712Domain", td.Domain.Map())
				require.NoError(t, err)
				assert.Equal(t, []byte(wantSep), sep[:])

				p := Proof{ChainID: chainID, Escrow: esc, Channel: v.Channel, Nonce: [32]byte{9, 31: byte(i)},
					Seller: [20]byte{1, 19: 2}, Buyer: [20]byte{3, 19: 4}, InfoHash: [20]byte{5, 19: byte(i)}, Scheme: SchemeEIP712}
				want, _, err = apitypes.TypedDataAndHash(proofTypedData(p))
				require.NoError(t, err)
				d = p.Digest()
				assert.Equal(t, want, d[:], "proof chain %d escrow %s", chainID, esc)
			}
		}
	}
}

// TestSchemesDiffer: the same voucher has different digests in the two
// schemes, a signature in one does not recover the payer in the other,
// and an unknown scheme is neither signed nor recovered nor encoded.
func TestSchemesDiffer(t *testing.T) {
	v, s := vectorVoucher(t)
	e := v
	e.Scheme = SchemeEIP712
	assert.NotEqual(t, v.Digest(), e.Digest())

	sv, err := Sign(s, e)
	require.NoError(t, err)
	got, err := Recover(sv)
	require.NoError(t, err)
	assert.Equal(t, s.Address(), got)
	sv.Scheme = SchemeTIP191
	got, err = Recover(sv)
	if err == nil {
		assert.NotEqual(t, s.Address(), got, "an EIP-712 signature recovers someone else as TIP-191")
	}

	bad := v
	bad.Scheme = 2
	_, err = Sign(s, bad)
	require.Error(t, err)
	_, err = Recover(SignedVoucher{Voucher: bad, Sig: sv.Sig})
	require.ErrorIs(t, err, ErrBadSignature)
	_, err = SignedVoucher{Voucher: bad}.MarshalBinary()
	require.Error(t, err)
	_, err = SignProof(s, Proof{Scheme: 7})
	require.Error(t, err)
	require.ErrorIs(t, VerifyProof(Proof{Scheme: 7}, sv.Sig, s.Address()), ErrBadSignature)
	assert.Equal(t, "scheme(2)", bad.Scheme.String())
}

// TestEncodingKeepsScheme: the encoding's version byte carries the scheme,
// so a voucher decodes to the digest it was signed over.
func TestEncodingKeepsScheme(t *testing.T) {
	v, s := vectorVoucher(t)
	for _, scheme := range []DigestScheme{SchemeTIP191, SchemeEIP712} {
		v.Scheme = scheme
		sv, err := Sign(s, v)
		require.NoError(t, err)
		b, err := sv.MarshalBinary()
		require.NoError(t, err)
		assert.Equal(t, byte(scheme)+1, b[0])
		var back SignedVoucher
		require.NoError(t, back.UnmarshalBinary(b))
		assert.Equal(t, sv, back)
	}
}

func TestEIP712Vector(t *testing.T) {
	v, s := vectorVoucher(t)
	v.ChainID = vectorEIP712ChainID
	v.Scheme = SchemeEIP712
	sep := DomainSeparator(v.ChainID, v.Escrow)
	sh := v.StructHash()
	d := v.Digest()
	sv, err := Sign(s, v)
	require.NoError(t, err)
	assert.Equal(t, vectorEIP712TypeHash, hex.EncodeToString(eip712VoucherTypeHash[:]))
	assert.Equal(t, vectorEIP712Separator, hex.EncodeToString(sep[:]))
	assert.Equal(t, vectorEIP712Struct, hex.EncodeToString(sh[:]))
	assert.Equal(t, vectorEIP712Digest, hex.EncodeToString(d[:]))
	assert.Equal(t, vectorEIP712Sig, hex.EncodeToString(sv.Sig[:]))
	want, _, err := apitypes.TypedDataAndHash(voucherTypedData(v))
	require.NoError(t, err)
	assert.Equal(t, vectorEIP712Digest, hex.EncodeToString(want))
	signer, err := Recover(sv)
	require.NoError(t, err)
	assert.Equal(t, s.Address(), signer)
}

// TestVerifyScheme: a payee accepts a voucher in its escrow's scheme and
// refuses one in the other (ErrWrongChain: the payer signs for another
// kind of chain), before checking any signature.
func TestVerifyScheme(t *testing.T) {
	payer, payee := testSigner(t, 1), testSigner(t, 2)
	dom := Domain{ChainID: 199, Escrow: btt.AddressFromEVM([20]byte{19: 7}), Scheme: SchemeEIP712}
	ch := Channel{ID: ChannelID{1}, Payer: payer.Address(), Payee: payee.Address(), Deposit: btt.NewAmount(100),
		Expiry: t0.Add(time.Hour), State: ChannelOpen}
	c := Check{Domain: dom, Payee: payee.Address(), Channel: ch, Now: t0}

	sv, err := Sign(payer, dom.Voucher(ch.ID, btt.NewAmount(40)))
	require.NoError(t, err)
	delta, err := Verify(c, sv)
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(40), delta)

	tip := dom
	tip.Scheme = SchemeTIP191
	sv, err = Sign(payer, tip.Voucher(ch.ID, btt.NewAmount(40)))
	require.NoError(t, err)
	_, err = Verify(c, sv)
	require.ErrorIs(t, err, ErrWrongChain)

	// Claimed as EIP-712 but signed over the TIP-191 digest: a bad
	// signature.
	sv.Scheme = SchemeEIP712
	_, err = Verify(c, sv)
	require.ErrorIs(t, err, ErrBadSignature)
}
