package tron

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
)

// ErrBadKeystore: a key file that is not a version-3 Web3 secret storage
// file with an AES-128-CTR cipher and a scrypt or PBKDF2 key derivation of
// at least the minimum strength, with every field of the right type.
var ErrBadKeystore = errors.New("tron: bad keystore file")

// Bounds on a keystore's key derivation. The minimum scrypt N is
// KDFLight's (2^12; KDFStandard writes 2^18); the maximum keeps the memory
// a file can make LoadKeystore take (128·N·r·p bytes) under 1 GiB.
const (
	MinScryptN     = 1 << 12
	maxScryptN     = 1 << 20
	maxScryptP     = 16
	scryptR        = 8
	MinPBKDF2Iters = 1 << 18
	maxPBKDF2Iters = 1 << 24
)

// jsonInt is an integer field as written: a JSON number (a string or a
// fraction is an error when read, not a zero or a truncation).
type jsonInt json.Number

func (j *jsonInt) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || b[0] == '"' {
		*j = "x" // not a number: intField refuses it
		return nil
	}
	*j = jsonInt(b)
	return nil
}

// keystoreFile is the part of a version-3 key file LoadKeystore checks.
type keystoreFile struct {
	Version jsonInt `json:"version"`
	Crypto  *struct {
		Cipher       string `json:"cipher"`
		CipherText   string `json:"ciphertext"`
		CipherParams struct {
			IV string `json:"iv"`
		} `json:"cipherparams"`
		KDF       string `json:"kdf"`
		KDFParams *struct {
			N     jsonInt `json:"n"`
			R     jsonInt `json:"r"`
			P     jsonInt `json:"p"`
			C     jsonInt `json:"c"`
			PRF   string  `json:"prf"`
			DKLen jsonInt `json:"dklen"`
			Salt  string  `json:"salt"`
		} `json:"kdfparams"`
		MAC string `json:"mac"`
	} `json:"crypto"`
}

// checkKeystore validates a key file before gotron-sdk decrypts it (which
// panics on a missing or mistyped parameter and takes any KDF strength).
// Its errors wrap ErrBadKeystore and never quote secret fields.
func checkKeystore(js []byte) error {
	var f keystoreFile
	if err := json.Unmarshal(js, &f); err != nil {
		return fmt.Errorf("%w: not a JSON key file of the expected shape: %s", ErrBadKeystore, typeOnly(err))
	}
	if v, err := intField(f.Version, "version", 3, 3); err != nil || v != 3 {
		return fmt.Errorf("%w: want version 3", ErrBadKeystore)
	}
	c := f.Crypto
	if c == nil || c.KDFParams == nil {
		return fmt.Errorf("%w: no crypto or kdfparams object", ErrBadKeystore)
	}
	if c.Cipher != "aes-128-ctr" {
		return fmt.Errorf("%w: cipher %q, want aes-128-ctr", ErrBadKeystore, c.Cipher)
	}
	if err := hexField(c.CipherParams.IV, "cipherparams.iv", 16, 16); err != nil {
		return err
	}
	if err := hexField(c.CipherText, "ciphertext", 32, 32); err != nil {
		return err
	}
	if err := hexField(c.MAC, "mac", 32, 32); err != nil {
		return err
	}
	k := c.KDFParams
	if _, err := intField(k.DKLen, "kdfparams.dklen", 32, 32); err != nil {
		return err
	}
	if err := hexField(k.Salt, "kdfparams.salt", 16, 64); err != nil {
		return err
	}
	switch c.KDF {
	case "scrypt":
		n, err := intField(k.N, "kdfparams.n", MinScryptN, maxScryptN)
		if err != nil {
			return err
		}
		if bits.OnesCount64(uint64(n)) != 1 {
			return fmt.Errorf("%w: kdfparams.n %d is not a power of two", ErrBadKeystore, n)
		}
		if _, err := intField(k.R, "kdfparams.r", scryptR, scryptR); err != nil {
			return err
		}
		if _, err := intField(k.P, "kdfparams.p", 1, maxScryptP); err != nil {
			return err
		}
	case "pbkdf2":
		if _, err := intField(k.C, "kdfparams.c", MinPBKDF2Iters, maxPBKDF2Iters); err != nil {
			return err
		}
		if k.PRF != "hmac-sha256" {
			return fmt.Errorf("%w: kdfparams.prf %q, want hmac-sha256", ErrBadKeystore, k.PRF)
		}
	default:
		return fmt.Errorf("%w: kdf %q, want scrypt or pbkdf2", ErrBadKeystore, c.KDF)
	}
	return nil
}

// intField reads an integer field and checks it is within [lo, hi].
func intField(n jsonInt, name string, lo, hi int64) (int64, error) {
	if n == "" || n == "null" {
		return 0, fmt.Errorf("%w: %s missing", ErrBadKeystore, name)
	}
	v, err := json.Number(n).Int64()
	if err != nil {
		return 0, fmt.Errorf("%w: %s is not an integer", ErrBadKeystore, name)
	}
	if v < lo || v > hi {
		return v, fmt.Errorf("%w: %s %d, want %d to %d", ErrBadKeystore, name, v, lo, hi)
	}
	return v, nil
}

// hexField checks a hex field decodes to lo..hi bytes.
func hexField(s, name string, lo, hi int) error {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) < lo || len(b) > hi {
		return fmt.Errorf("%w: %s is not %d to %d bytes of hex", ErrBadKeystore, name, lo, hi)
	}
	return nil
}

// typeOnly keeps a JSON error's kind, not the input it quotes.
func typeOnly(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %s: want %s", te.Field, te.Type)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at offset %d", se.Offset)
	}
	return "malformed"
}
