package tron

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/ethereum/go-ethereum/crypto"
	gtaddress "github.com/fbsobreira/gotron-sdk/pkg/address"
	"github.com/fbsobreira/gotron-sdk/pkg/keystore"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"github.com/fbsobreira/gotron-sdk/pkg/signer"
	"google.golang.org/protobuf/proto"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// Signer holds a secp256k1 key and signs 32-byte digests with it: TRON
// transactions (the digest is sha256 of the transaction's raw_data, its id)
// and payment vouchers alike. It has paychan.Signer's method set, so one
// key serves a Client and a paychan.Payer; a *paychan.KeySigner is a
// Signer. Implementations never reveal the key, in String or errors.
type Signer interface {
	// Address is the key's TRON address.
	Address() btt.Address
	// SignDigest returns r || s || v with v in {0, 1} and a low s.
	SignDigest(digest [32]byte) ([65]byte, error)
}

var (
	_ Signer         = (*paychan.KeySigner)(nil)
	_ Signer         = (*KeySigner)(nil)
	_ paychan.Signer = (*KeySigner)(nil)
	_ signer.Signer  = sdkSigner{}
)

// KeySigner is a Signer over an in-memory private key. Its String and
// every fmt verb show only its address.
type KeySigner struct {
	key  *ecdsa.PrivateKey
	addr btt.Address
	// from names where the key came from (a keystore file), for String.
	from string
}

// NewKeySigner returns a Signer for key, which must be a secp256k1 key.
func NewKeySigner(key *ecdsa.PrivateKey) (*KeySigner, error) {
	if key == nil {
		return nil, errors.New("tron: nil private key")
	}
	// Re-derive through go-ethereum: checks the range and the curve.
	b, ok := keyBytes(key)
	k, err := crypto.ToECDSA(b)
	clear(b)
	if !ok || err != nil {
		return nil, errors.New("tron: private key is not a valid secp256k1 key")
	}
	return &KeySigner{key: k, addr: paychan.AddressOf(&k.PublicKey)}, nil
}

// keyBytes serializes a key; an incomplete key (no scalar) is not ok.
func keyBytes(key *ecdsa.PrivateKey) (b []byte, ok bool) {
	defer func() {
		if recover() != nil {
			b, ok = nil, false
		}
	}()
	return crypto.FromECDSA(key), true
}

// ParseKeyHex reads a private key written as 64 hex digits (optionally
// 0x-prefixed), as TronLink and `tronctl` export it. Errors never repeat
// the input.
func ParseKeyHex(s string) (*KeySigner, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(s) != 64 {
		return nil, fmt.Errorf("tron: private key: want 64 hex digits, got %d characters", len(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, errors.New("tron: private key: not hex")
	}
	key, err := crypto.ToECDSA(b)
	clear(b)
	if err != nil {
		return nil, errors.New("tron: private key: out of range for secp256k1")
	}
	return NewKeySigner(key)
}

// Address implements Signer.
func (s *KeySigner) Address() btt.Address { return s.addr }

// SignDigest implements Signer.
func (s *KeySigner) SignDigest(d [32]byte) ([65]byte, error) {
	var out [65]byte
	sig, err := crypto.Sign(d[:], s.key)
	if err != nil {
		return out, fmt.Errorf("tron: sign with %s: %w", s.addr, err)
	}
	copy(out[:], sig)
	return out, nil
}

// String shows the address only.
func (s *KeySigner) String() string {
	if s.from != "" {
		return "KeySigner(" + s.addr.String() + " from " + s.from + ")"
	}
	return "KeySigner(" + s.addr.String() + ")"
}

// GoString shows the address only.
func (s *KeySigner) GoString() string { return s.String() }

// Format makes every fmt verb (%v, %+v, %#v, %x, %d ...) print String.
func (s *KeySigner) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// KDF is the strength of a keystore file's key derivation (scrypt).
type KDF int

const (
	// KDFStandard is geth's and gotron-sdk's default: scrypt N=2^18, p=1
	// (256 MB, about a second).
	KDFStandard KDF = iota
	// KDFLight is scrypt N=2^12, p=6 (4 MB, milliseconds): for tests and
	// throw-away devnet keys only.
	KDFLight
)

// SaveKeystore encrypts key with passphrase into a new Web3 secret storage
// (version 3) file at path, as gotron-sdk's and geth's keystores write
// them, with mode 0600. It refuses to overwrite an existing file.
func SaveKeystore(path string, key *ecdsa.PrivateKey, passphrase string, kdf KDF) error {
	ks, err := NewKeySigner(key)
	if err != nil {
		return err
	}
	n, p := keystore.StandardScryptN, keystore.StandardScryptP
	if kdf == KDFLight {
		n, p = keystore.LightScryptN, keystore.LightScryptP
	}
	addr := ks.addr
	js, err := keystore.EncryptKey(&keystore.Key{Address: gtaddress.Address(addr[:]), PrivateKey: ks.key}, passphrase, n, p)
	if err != nil {
		return fmt.Errorf("tron: encrypt key for %s: %w", addr, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("tron: keystore: %w", err)
	}
	if _, err := f.Write(js); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("tron: keystore: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("tron: keystore: write %s: %w", path, err)
	}
	return nil
}

// LoadKeystore decrypts a keystore file (Web3 secret storage, as gotron-sdk
// `tronctl`, geth and most wallets write them) with passphrase. The file
// must not be readable by group or others (chmod 600). The passphrase and
// key never appear in an error.
func LoadKeystore(path, passphrase string) (*KeySigner, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tron: keystore: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("tron: keystore %s: not a regular file", path)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("tron: keystore %s: mode %04o lets others read it; run chmod 600 on it", path, fi.Mode().Perm())
	}
	if fi.Size() > 1<<20 {
		return nil, fmt.Errorf("tron: keystore %s: %d bytes is too big for a key file", path, fi.Size())
	}
	js, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tron: keystore: %w", err)
	}
	if err := checkKeystore(js); err != nil {
		return nil, fmt.Errorf("tron: keystore %s: %w", path, err)
	}
	k, err := decryptKey(js, passphrase)
	if err != nil {
		if errors.Is(err, keystore.ErrDecrypt) {
			return nil, fmt.Errorf("tron: keystore %s: wrong passphrase (or a damaged file)", path)
		}
		return nil, fmt.Errorf("tron: keystore %s: not a valid key file: %s", path, keystoreErr(err))
	}
	s, err := NewKeySigner(k.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("tron: keystore %s: %w", path, err)
	}
	s.from = path
	return s, nil
}

// decryptKey is gotron-sdk's DecryptKey, which type-asserts the file's
// fields unchecked: a panic it still has is a bad file, not a crash.
func decryptKey(js []byte, passphrase string) (k *keystore.Key, err error) {
	defer func() {
		if r := recover(); r != nil {
			k, err = nil, fmt.Errorf("%w: gotron-sdk could not read it", ErrBadKeystore)
		}
	}()
	return keystore.DecryptKey(js, passphrase)
}

// keystoreErr keeps only the kind of a keystore decoding error.
func keystoreErr(err error) string {
	msg := err.Error()
	if len(msg) > 120 {
		msg = msg[:120] + "..."
	}
	return msg
}

// TxIDOf is a transaction's id: sha256 of its serialized raw_data, the
// digest its signatures sign.
func TxIDOf(tx *core.Transaction) (TxID, error) {
	if tx == nil || tx.GetRawData() == nil {
		return TxID{}, fmt.Errorf("%w: transaction without raw_data", ErrBadResponse)
	}
	raw, err := proto.Marshal(tx.GetRawData())
	if err != nil {
		return TxID{}, fmt.Errorf("tron: serialize transaction: %w", err)
	}
	return sha256.Sum256(raw), nil
}

// SignTx appends s's signature of the transaction's id to it and returns
// the id.
func SignTx(s Signer, tx *core.Transaction) (TxID, error) {
	id, err := TxIDOf(tx)
	if err != nil {
		return TxID{}, err
	}
	sig, err := s.SignDigest(id)
	if err != nil {
		return TxID{}, err
	}
	tx.Signature = append(tx.Signature, sig[:])
	return id, nil
}

// SDKSigner adapts a Signer to gotron-sdk's signer.Signer, for code that
// builds transactions with gotron-sdk directly.
func SDKSigner(s Signer) signer.Signer { return sdkSigner{s} }

type sdkSigner struct{ s Signer }

func (a sdkSigner) Sign(tx *core.Transaction) (*core.Transaction, error) {
	if _, err := SignTx(a.s, tx); err != nil {
		return nil, err
	}
	return tx, nil
}

func (a sdkSigner) Address() gtaddress.Address {
	addr := a.s.Address()
	return gtaddress.Address(addr[:])
}
