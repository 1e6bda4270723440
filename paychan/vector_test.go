package paychan

import (
	"encoding/hex"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
)

// The test vector of docs/PROTOCOL.md ("Vouchers"), cross-checked with
// ethers v6 (AbiCoder.encode, keccak256, SigningKey.sign): if this test
// fails, the digest changed, and so must the spec and the escrow contract.
const (
	vectorKey      = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
	vectorPayer    = "412c7536e3605d9c16a7a3d7b1898e529396a65c23" // EVM 0x2c7536E3605D9C16a7a3D7b1898e529396a65c23
	vectorChainID  = 0x2b6653dc
	vectorEscrow   = "TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4"
	vectorChannel  = "0101010101010101010101010101010101010101010101010101010101010101"
	vectorAmount   = "1000000000000000000"
	vectorTypeHash = "5382153b1c222c21dc70692114d641983dc2947cdc2d8b83a167c967b6a71c8d"
	vectorInner    = "bbe21e7a79e738c6c86a706c38473c71f65ff10847d8970d97744edafde84faa"
	vectorDigest   = "e672ddef3e691edb684bcde43b95fc87512b1a21b01e9973504b0018ea918a8e"
	vectorSig      = "ef3b343ddf1244a74029c61ec5454c66ec9235f55440d353f35feea2ba7f4155" +
		"45360304508a0f28b57111bcf5fe12fa17c902fb0e55f3890942ddc46284db3a01"
)

func vectorVoucher(t testing.TB) (Voucher, *KeySigner) {
	t.Helper()
	key, err := crypto.HexToECDSA(vectorKey)
	require.NoError(t, err)
	s, err := NewKeySigner(key)
	require.NoError(t, err)
	ch, err := hex.DecodeString(vectorChannel)
	require.NoError(t, err)
	amt, err := btt.ParseAmount(vectorAmount)
	require.NoError(t, err)
	return Voucher{ChainID: vectorChainID, Escrow: btt.MustParseAddress(vectorEscrow), Channel: ChannelID(ch), Amount: amt}, s
}

func TestVector(t *testing.T) {
	v, s := vectorVoucher(t)
	assert.Equal(t, vectorPayer, s.Address().Hex())
	assert.Equal(t, vectorTypeHash, hex.EncodeToString(voucherTypeHash[:]))
	inner := v.InnerHash()
	assert.Equal(t, vectorInner, hex.EncodeToString(inner[:]))
	digest := v.Digest()
	assert.Equal(t, vectorDigest, hex.EncodeToString(digest[:]))
	sv, err := Sign(s, v)
	require.NoError(t, err)
	assert.Equal(t, vectorSig, hex.EncodeToString(sv.Sig[:]))
	signer, err := Recover(sv)
	require.NoError(t, err)
	assert.Equal(t, s.Address(), signer)
}

// The EIP-712 test vector of docs/PROTOCOL.md ("Vouchers", SchemeEIP712):
// the same key, escrow, channel and amount on BTTC mainnet (chain id 199),
// checked against go-ethereum's apitypes in TestEIP712Vector.
const (
	vectorEIP712ChainID   = 199
	vectorEIP712TypeHash  = "f23ca052209b228f18e6af20dc64ab34698ce1acc52d94b2a5ef4e8cc6faee44"
	vectorEIP712Separator = "0d20cf17c133ab8394006988a394c13a6285c4fc84b0e8ff465e67fb9e7d3c1b"
	vectorEIP712Struct    = "f5b052358c5bcdc86a837da52478d1c73f224bb18e84690366127a2f1bfb1ffc"
	vectorEIP712Digest    = "de7772b323fb1c64e638664c76c7fc283ca8ffd3478ba5646085e2ec15c12fbd"
	vectorEIP712Sig       = "e9186391ac2838caf29de5023b3f89404148cb1760811a872d6496ea9fd8730e" +
		"16b02bc727ad082307e3a7d09207c1d3a0eedf25b2458fa30e26ec9f64a654b701"
)
