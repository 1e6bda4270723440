package paychan

import (
	"crypto/ecdsa"
	"encoding/hex"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
)

// The channel proof test vector of docs/PROTOCOL.md ("Channel proofs"):
// the voucher vector's key, chain, escrow and channel, with a nonce of 32
// bytes of 02, peer ids "-BS0100-" followed by 12 bytes of 0x11 (seller)
// and of 0x22 (buyer), and an info hash of 20 bytes of 0x33.
const (
	proofVectorTypeHash = "3794a809acb2f0849b0829039d42f2ec5e0b103ce793ae5f630ac420df788fa3"
	proofVectorInner    = "68940f084f402c51ad973a22999189033d140629de65e8977dae9046373bb7b6"
	proofVectorDigest   = "4da3ba3721323a28b83c337d6a3a8d32089853b16b67bfbf38ae94c04d03c7a7"
	proofVectorSig      = "46111b299746d0b64e4e37f7e2f7dd5fd722eda9bcf7ee8cf4f3ca7761b9c2e2" +
		"185012d0fd74eb750bf1d09b81da31f2c5eb1fcf0da8e8f9924f8787edb820de01"
)

func vectorProof(t testing.TB) (Proof, *KeySigner) {
	t.Helper()
	v, s := vectorVoucher(t)
	p := Proof{ChainID: v.ChainID, Escrow: v.Escrow, Channel: v.Channel}
	for i := range p.Nonce {
		p.Nonce[i] = 0x02
	}
	copy(p.Seller[:], "-BS0100-")
	copy(p.Buyer[:], "-BS0100-")
	for i := 8; i < 20; i++ {
		p.Seller[i], p.Buyer[i] = 0x11, 0x22
	}
	for i := range p.InfoHash {
		p.InfoHash[i] = 0x33
	}
	return p, s
}

// TestProofVector checks the vector, and the inner hash against go-ethereum's
// own ABI encoder: the encoding is abi.encode of the eight words.
func TestProofVector(t *testing.T) {
	p, s := vectorProof(t)
	assert.Equal(t, proofVectorTypeHash, hex.EncodeToString(proofTypeHash[:]))

	b32, _ := abi.NewType("bytes32", "", nil)
	u256, _ := abi.NewType("uint256", "", nil)
	addr, _ := abi.NewType("address", "", nil)
	b20, _ := abi.NewType("bytes20", "", nil)
	args := abi.Arguments{{Type: b32}, {Type: u256}, {Type: addr}, {Type: b32}, {Type: b32}, {Type: b20}, {Type: b20}, {Type: b20}}
	packed, err := args.Pack(proofTypeHash, new(big.Int).SetUint64(p.ChainID), common.Address(p.Escrow.EVM()),
		[32]byte(p.Channel), p.Nonce, p.Seller, p.Buyer, p.InfoHash)
	require.NoError(t, err)
	inner := p.InnerHash()
	assert.Equal(t, crypto.Keccak256Hash(packed), common.Hash(inner))
	assert.Equal(t, proofVectorInner, hex.EncodeToString(inner[:]))
	d := p.Digest()
	assert.Equal(t, proofVectorDigest, hex.EncodeToString(d[:]))
	sig, err := SignProof(s, p)
	require.NoError(t, err)
	assert.Equal(t, proofVectorSig, hex.EncodeToString(sig[:]))
	require.NoError(t, VerifyProof(p, sig, s.Address()))
}

// TestProofBinds: a proof signed for one connection proves nothing for any
// other: each field it binds, changed, fails it; so does another key's
// signature, or a malleable twin.
func TestProofBinds(t *testing.T) {
	p, s := vectorProof(t)
	sig, err := SignProof(s, p)
	require.NoError(t, err)
	tests := map[string]func(p *Proof){
		"another chain":            func(p *Proof) { p.ChainID++ },
		"another escrow":           func(p *Proof) { p.Escrow = btt.MustParseAddress("TE2H9hWjzYdwzDFRJfx9BFhr4MmjH1CHaz") },
		"another channel":          func(p *Proof) { p.Channel[0] ^= 1 },
		"another nonce":            func(p *Proof) { p.Nonce[31] ^= 1 },
		"another seller":           func(p *Proof) { p.Seller[19] ^= 1 },
		"another buyer":            func(p *Proof) { p.Buyer[19] ^= 1 },
		"another torrent":          func(p *Proof) { p.InfoHash[0] ^= 1 },
		"seller and buyer swapped": func(p *Proof) { p.Seller, p.Buyer = p.Buyer, p.Seller },
	}
	for name, change := range tests {
		t.Run(name, func(t *testing.T) {
			q := p
			change(&q)
			assert.ErrorIs(t, VerifyProof(q, sig, s.Address()), ErrBadSignature)
		})
	}
	t.Run("another key", func(t *testing.T) {
		other, err := NewKeySigner(mustKey(t))
		require.NoError(t, err)
		osig, err := SignProof(other, p)
		require.NoError(t, err)
		assert.ErrorIs(t, VerifyProof(p, osig, s.Address()), ErrBadSignature)
	})
	t.Run("high s", func(t *testing.T) {
		twin := sig
		sVal := new(big.Int).Sub(crypto.S256().Params().N, new(big.Int).SetBytes(sig[32:64]))
		sVal.FillBytes(twin[32:64])
		twin[64] ^= 1
		assert.ErrorIs(t, VerifyProof(p, twin, s.Address()), ErrBadSignature)
	})
}

// TestProofIsNoVoucher: the proof's signing domain is apart from vouchers':
// a proof's digest is no voucher's, so a seller that collects proofs cannot
// redeem one — the signature recovers to a stranger as a voucher.
func TestProofIsNoVoucher(t *testing.T) {
	p, s := vectorProof(t)
	sig, err := SignProof(s, p)
	require.NoError(t, err)
	v := Voucher{ChainID: p.ChainID, Escrow: p.Escrow, Channel: p.Channel, Amount: btt.AmountFromBytes32(p.Nonce)}
	assert.NotEqual(t, v.Digest(), p.Digest())
	signer, err := Recover(SignedVoucher{Voucher: v, Sig: sig})
	if err == nil {
		assert.NotEqual(t, s.Address(), signer)
	}
}

func mustKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey()
	require.NoError(t, err)
	return k
}
