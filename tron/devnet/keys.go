package devnet

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"fmt"
	"strconv"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bttspeed/bttspeed/btt"
)

// deriveKey returns the devnet key named name under seed, or a random key
// when seed is empty. The scalar is sha256("bttspeed/devnet/v1/" + seed +
// "/" + name), rehashed in the (2^-128) case it is not a valid key.
func deriveKey(seed, name string) (*ecdsa.PrivateKey, error) {
	if seed == "" {
		k, err := crypto.GenerateKey()
		if err != nil {
			return nil, fmt.Errorf("devnet: generate key: %w", err)
		}
		return k, nil
	}
	h := sha256.Sum256([]byte("bttspeed/devnet/v1/" + seed + "/" + name))
	for {
		if k, err := crypto.ToECDSA(h[:]); err == nil {
			return k, nil
		}
		h = sha256.Sum256(h[:])
	}
}

// deriveKeys returns the n funded keys.
func deriveKeys(seed string, n int) ([]*ecdsa.PrivateKey, error) {
	keys := make([]*ecdsa.PrivateKey, n)
	for i := range keys {
		k, err := deriveKey(seed, strconv.Itoa(i))
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	return keys, nil
}

// addressOf is the TRON address of a key.
func addressOf(k *ecdsa.PrivateKey) btt.Address {
	return btt.AddressFromEVM(crypto.PubkeyToAddress(k.PublicKey))
}
