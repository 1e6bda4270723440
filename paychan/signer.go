package paychan

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bttspeed/bttspeed/btt"
)

// Signer signs voucher digests with a key it never reveals. Keys stay
// behind this interface: they are never logged or put in an error.
type Signer interface {
	// Address is the signer's TRON address.
	Address() btt.Address
	// SignDigest signs a 32-byte digest, returning r || s || v with v in
	// {0, 1} and a low s.
	SignDigest(digest [32]byte) ([65]byte, error)
}

// KeySigner is a Signer over an in-memory secp256k1 key.
type KeySigner struct {
	key  *ecdsa.PrivateKey
	addr btt.Address
}

// NewKeySigner returns a Signer for key.
func NewKeySigner(key *ecdsa.PrivateKey) (*KeySigner, error) {
	if key == nil {
		return nil, errors.New("paychan: nil key")
	}
	return &KeySigner{key: key, addr: AddressOf(&key.PublicKey)}, nil
}

// Address implements Signer.
func (s *KeySigner) Address() btt.Address { return s.addr }

// SignDigest implements Signer.
func (s *KeySigner) SignDigest(d [32]byte) ([65]byte, error) {
	var out [65]byte
	sig, err := crypto.Sign(d[:], s.key)
	if err != nil {
		return out, fmt.Errorf("paychan: sign: %w", err)
	}
	copy(out[:], sig)
	return out, nil
}

// String hides the key.
func (s *KeySigner) String() string { return "KeySigner(" + s.addr.String() + ")" }

// AddressOf returns the TRON address of a public key: 0x41 followed by the
// last 20 bytes of keccak256 of the uncompressed key without its 0x04.
func AddressOf(pub *ecdsa.PublicKey) btt.Address {
	return btt.AddressFromEVM(crypto.PubkeyToAddress(*pub))
}

// secp256k1n/2: signatures with s above it are malleable twins.
var halfN = new(big.Int).Rsh(crypto.S256().Params().N, 1)

// Sign signs a voucher, over its Digest in its Scheme.
func Sign(s Signer, v Voucher) (SignedVoucher, error) {
	if !v.Scheme.Valid() {
		return SignedVoucher{}, fmt.Errorf("paychan: sign: unknown digest %s", v.Scheme)
	}
	sig, err := s.SignDigest(v.Digest())
	if err != nil {
		return SignedVoucher{}, err
	}
	return SignedVoucher{Voucher: v, Sig: sig}, nil
}

// Recover returns the address that signed the voucher, in its Scheme. It
// rejects a high-s (malleable) signature and accepts v as 0/1 or 27/28.
func Recover(sv SignedVoucher) (btt.Address, error) {
	if !sv.Scheme.Valid() {
		return btt.Address{}, fmt.Errorf("%w: unknown digest %s", ErrBadSignature, sv.Scheme)
	}
	return recoverDigest(sv.Digest(), sv.Sig)
}

// recoverDigest returns the address that signed digest d.
func recoverDigest(d [32]byte, sig [65]byte) (btt.Address, error) {
	v := sig[64]
	switch sig[64] {
	case 0, 1:
	case 27, 28:
		sig[64] -= 27
	default:
		return btt.Address{}, fmt.Errorf("%w: v = %d", ErrBadSignature, v)
	}
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:64])
	if r.Sign() == 0 || s.Sign() == 0 || s.Cmp(halfN) > 0 {
		return btt.Address{}, fmt.Errorf("%w: r or s out of range (high s is refused)", ErrBadSignature)
	}
	pub, err := crypto.SigToPub(d[:], sig[:])
	if err != nil {
		return btt.Address{}, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	return AddressOf(pub), nil
}
