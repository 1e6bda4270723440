package paychan

import (
	"encoding/binary"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/ethereum/go-ethereum/crypto"
)

// VoucherTypeString is the type string whose keccak256 is the first word of
// every voucher's inner hash. See docs/PROTOCOL.md, "Vouchers".
const VoucherTypeString = "BttSpeedVoucher(uint256 chainId,address escrow,bytes32 channelId,uint256 amount)"

// tronMessagePrefix is TIP-191's prefix for a 32-byte message.
const tronMessagePrefix = "\x19TRON Signed Message:\n32"

var voucherTypeHash = crypto.Keccak256Hash([]byte(VoucherTypeString))

// Voucher promises the payee of Channel a cumulative Amount.
type Voucher struct {
	ChainID uint64
	Escrow  btt.Address
	Channel ChannelID
	Amount  btt.Amount
}

// SignedVoucher is a voucher and the payer's 65-byte secp256k1 signature
// (r || s || v) over its Digest.
type SignedVoucher struct {
	Voucher
	Sig [65]byte
}

// InnerHash is keccak256(abi.encode(keccak256(VoucherTypeString), chainId,
// escrow, channelId, amount)), with escrow as the 20-byte EVM address.
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

// Digest is the 32-byte hash the payer signs: the TIP-191 hash
// keccak256("\x19TRON Signed Message:\n32" || InnerHash()). The escrow
// contract computes the same digest and recovers the signer with ecrecover.
func (v Voucher) Digest() [32]byte {
	inner := v.InnerHash()
	return crypto.Keccak256Hash([]byte(tronMessagePrefix), inner[:])
}
