package paychan

import (
	"encoding/binary"
	"fmt"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bttspeed/bttspeed/btt"
)

// DigestScheme says which digest a voucher (or channel proof) is signed
// over. An escrow checks one scheme, fixed when it was deployed (the
// contract's voucherScheme()): TRON's escrows SchemeTIP191, EVM chains'
// (BTTC) SchemeEIP712, so wallets of either chain can sign and display
// what they sign. See docs/PROTOCOL.md, "Vouchers".
type DigestScheme uint8

// The digest schemes; the values are the escrow contract's SCHEME_TIP191
// and SCHEME_EIP712.
const (
	// SchemeTIP191 is keccak256("\x19TRON Signed Message:\n32" ||
	// InnerHash()): what TRON wallets sign (TIP-191). The zero value.
	SchemeTIP191 DigestScheme = 0
	// SchemeEIP712 is EIP-712 typed data: keccak256("\x19\x01" ||
	// DomainSeparator || hashStruct(message)), with the domain EIP712Name,
	// EIP712Version, the chain id and the escrow as verifying contract.
	SchemeEIP712 DigestScheme = 1
)

// String names the scheme.
func (s DigestScheme) String() string {
	switch s {
	case SchemeTIP191:
		return "tip191"
	case SchemeEIP712:
		return "eip712"
	}
	return fmt.Sprintf("scheme(%d)", uint8(s))
}

// Valid reports whether s is a known scheme.
func (s DigestScheme) Valid() bool { return s == SchemeTIP191 || s == SchemeEIP712 }

// VoucherTypeString is the type string whose keccak256 is the first word of
// every voucher's inner hash (SchemeTIP191). See docs/PROTOCOL.md,
// "Vouchers".
const VoucherTypeString = "BttSpeedVoucher(uint256 chainId,address escrow,bytes32 channelId,uint256 amount)"

// The EIP-712 domain and voucher type of SchemeEIP712; the escrow contract
// hashes the same strings.
const (
	EIP712DomainType  = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
	EIP712Name        = "BttSpeed"
	EIP712Version     = "1"
	EIP712VoucherType = "Voucher(bytes32 channelId,uint256 amount)"
)

// tronMessagePrefix is TIP-191's prefix for a 32-byte message.
const tronMessagePrefix = "\x19TRON Signed Message:\n32"

var (
	voucherTypeHash       = crypto.Keccak256Hash([]byte(VoucherTypeString))
	eip712DomainTypeHash  = crypto.Keccak256Hash([]byte(EIP712DomainType))
	eip712NameHash        = crypto.Keccak256Hash([]byte(EIP712Name))
	eip712VersionHash     = crypto.Keccak256Hash([]byte(EIP712Version))
	eip712VoucherTypeHash = crypto.Keccak256Hash([]byte(EIP712VoucherType))
)

// Voucher promises the payee of Channel a cumulative Amount.
type Voucher struct {
	ChainID uint64
	Escrow  btt.Address
	Channel ChannelID
	Amount  btt.Amount
	// Scheme is the digest the signature is over: the escrow's.
	Scheme DigestScheme
}

// SignedVoucher is a voucher and the payer's 65-byte secp256k1 signature
// (r || s || v) over its Digest.
type SignedVoucher struct {
	Voucher
	Sig [65]byte
}

// Voucher returns the voucher for a cumulative amount on channel id of
// the domain's escrow, in the domain's scheme.
func (d Domain) Voucher(id ChannelID, amount btt.Amount) Voucher {
	return Voucher{ChainID: d.ChainID, Escrow: d.Escrow, Channel: id, Amount: amount, Scheme: d.Scheme}
}

// InnerHash is keccak256(abi.encode(keccak256(VoucherTypeString), chainId,
// escrow, channelId, amount)), with escrow as the 20-byte EVM address: the
// message SchemeTIP191 signs.
func (v Voucher) InnerHash() [32]byte {
	var buf [5 * 32]byte
	copy(buf[0:32], voucherTypeHash[:])
	binary.BigEndian.PutUint64(buf[32+24:64], v.ChainID)
	evm := v.Escrow.EVM()
	copy(buf[64+12:96], evm[:])
	copy(buf[96:128], v.Channel[:])
	amt := v.Amount.Bytes32()
	copy(buf[128:160], amt[:])
	return crypto.Keccak256Hash(buf[:])
}

// StructHash is EIP-712's hashStruct of the voucher as a Voucher(bytes32
// channelId,uint256 amount): keccak256(abi.encode(
// keccak256(EIP712VoucherType), channelId, amount)). The chain and the
// escrow are in the domain separator.
func (v Voucher) StructHash() [32]byte {
	var buf [3 * 32]byte
	copy(buf[0:32], eip712VoucherTypeHash[:])
	copy(buf[32:64], v.Channel[:])
	amt := v.Amount.Bytes32()
	copy(buf[64:96], amt[:])
	return crypto.Keccak256Hash(buf[:])
}

// DomainSeparator is the EIP-712 domain separator of an escrow on a chain:
// keccak256(abi.encode(keccak256(EIP712DomainType), keccak256(EIP712Name),
// keccak256(EIP712Version), chainId, escrow)). The contract's
// domainSeparator() returns the same.
func DomainSeparator(chainID uint64, escrow btt.Address) [32]byte {
	var buf [5 * 32]byte
	copy(buf[0:32], eip712DomainTypeHash[:])
	copy(buf[32:64], eip712NameHash[:])
	copy(buf[64:96], eip712VersionHash[:])
	binary.BigEndian.PutUint64(buf[96+24:128], chainID)
	evm := escrow.EVM()
	copy(buf[128+12:160], evm[:])
	return crypto.Keccak256Hash(buf[:])
}

// schemeDigest is the digest of a message in scheme s: inner is the
// TIP-191 message (an inner hash), strct the EIP-712 hashStruct. An
// unknown scheme gives ok false.
func schemeDigest(s DigestScheme, chainID uint64, escrow btt.Address, inner func() [32]byte, strct func() [32]byte) (d [32]byte, ok bool) {
	switch s {
	case SchemeTIP191:
		in := inner()
		return crypto.Keccak256Hash([]byte(tronMessagePrefix), in[:]), true
	case SchemeEIP712:
		sep := DomainSeparator(chainID, escrow)
		h := strct()
		return crypto.Keccak256Hash([]byte("\x19\x01"), sep[:], h[:]), true
	}
	return d, false
}

// Digest is the 32-byte hash the payer signs, in the voucher's Scheme:
// SchemeTIP191 keccak256("\x19TRON Signed Message:\n32" || InnerHash()),
// SchemeEIP712 keccak256("\x19\x01" || DomainSeparator(ChainID, Escrow) ||
// StructHash()). The escrow contract computes the same digest
// (voucherDigest) and recovers the signer with ecrecover. An unknown
// scheme has no digest: it gives the zero hash, which Sign and Recover
// refuse before ever using it.
func (v Voucher) Digest() [32]byte {
	d, _ := schemeDigest(v.Scheme, v.ChainID, v.Escrow, v.InnerHash, v.StructHash)
	return d
}
