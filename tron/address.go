package tron

import (
	"encoding/hex"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	gtaddress "github.com/fbsobreira/gotron-sdk/pkg/address"

	"github.com/bttspeed/bttspeed/btt"
)

// The package takes and returns btt.Address everywhere; gotron-sdk wants
// base58 strings and go-ethereum's ABI 20-byte addresses. These convert,
// only inside the package.

// sdkAddr is the base58check string gotron-sdk's client methods take.
func sdkAddr(a btt.Address) string { return a.String() }

// evmAddr is the 20-byte address the ABI encodes.
func evmAddr(a btt.Address) common.Address { return common.Address(a.EVM()) }

// fromEVM is the TRON address of a 20-byte ABI address.
func fromEVM(a common.Address) btt.Address { return btt.AddressFromEVM(a) }

// fromSDK converts gotron-sdk's address (21 bytes) to a btt.Address.
func fromSDK(a gtaddress.Address) (btt.Address, error) { return btt.AddressFromBytes(a) }

// addressFromWire decodes an address as nodes send it: 21 bytes with the
// 0x41 prefix, or the bare 20 bytes (event logs carry those).
func addressFromWire(b []byte) (btt.Address, error) {
	switch len(b) {
	case btt.AddressLen:
		return btt.AddressFromBytes(b)
	case 20:
		return btt.AddressFromEVM([20]byte(b)), nil
	}
	return btt.Address{}, fmt.Errorf("%w: %d bytes from the node (%s)", btt.ErrBadAddress, len(b), hex.EncodeToString(b))
}

// ContractAddress is the address TRON gives a contract deployed by owner in
// the transaction with id txid: 0x41 followed by the last 20 bytes of
// keccak256(txid || owner), owner with its 0x41 prefix.
func ContractAddress(txid TxID, owner btt.Address) btt.Address {
	h := crypto.Keccak256(txid[:], owner[:])
	return btt.AddressFromEVM([20]byte(h[12:]))
}
