package paychan

import (
	"encoding/binary"
	"fmt"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bttspeed/bttspeed/btt"
)

// A channel proof shows that a connection speaks for a channel's payer: a
// seller attaches a channel to a connection — serves it the channel's
// credit and the pieces the channel paid for before — only once the
// connection has signed, with the channel's payer key, a fresh nonce the
// seller chose, bound to both peer ids, the torrent, the channel, the
// escrow and the chain. A channel id is public (it is on chain); without
// the proof anyone who learned one could announce it and ride on it.
//
// The signing domain is distinct from vouchers': its own type string,
// hashed into the first word, and eight words where a voucher has five
// (SchemeTIP191), or its own EIP-712 type (SchemeEIP712), so no proof
// digest is a voucher digest and no signed proof can be redeemed on
// chain. It uses the escrow's digest scheme, so a wallet that signs
// vouchers signs proofs the same way. See docs/PROTOCOL.md, "Channel
// proofs".

// ProofTypeString is the type string whose keccak256 is the first word of
// every channel proof's inner hash.
const ProofTypeString = "BttSpeedChannelProof(uint256 chainId,address escrow,bytes32 channelId,bytes32 nonce,bytes20 sellerPeerId,bytes20 buyerPeerId,bytes20 infoHash)"

// EIP712ProofType is the EIP-712 type of a channel proof (SchemeEIP712);
// the chain and escrow are in the domain separator, as for vouchers.
const EIP712ProofType = "ChannelProof(bytes32 channelId,bytes32 nonce,bytes20 sellerPeerId,bytes20 buyerPeerId,bytes20 infoHash)"

var (
	proofTypeHash       = crypto.Keccak256Hash([]byte(ProofTypeString))
	eip712ProofTypeHash = crypto.Keccak256Hash([]byte(EIP712ProofType))
)

// Proof is what a channel proof binds.
type Proof struct {
	ChainID uint64
	Escrow  btt.Address
	Channel ChannelID
	// Nonce is the seller's fresh challenge for this connection.
	Nonce [32]byte
	// Seller and Buyer are the BitTorrent peer ids of the connection's
	// two ends; InfoHash its torrent.
	Seller, Buyer [20]byte
	InfoHash      [20]byte
	// Scheme is the digest the proof is signed over: the escrow's, as for
	// its vouchers.
	Scheme DigestScheme
}

// InnerHash is keccak256(abi.encode(keccak256(ProofTypeString), chainId,
// escrow, channelId, nonce, sellerPeerId, buyerPeerId, infoHash)), escrow as
// the 20-byte EVM address and each bytes20 left-aligned in its word.
func (p Proof) InnerHash() [32]byte {
	var buf [8 * 32]byte
	copy(buf[0:32], proofTypeHash[:])
	binary.BigEndian.PutUint64(buf[32+24:64], p.ChainID)
	evm := p.Escrow.EVM()
	copy(buf[64+12:96], evm[:])
	copy(buf[96:128], p.Channel[:])
	copy(buf[128:160], p.Nonce[:])
	copy(buf[160:180], p.Seller[:])
	copy(buf[192:212], p.Buyer[:])
	copy(buf[224:244], p.InfoHash[:])
	return crypto.Keccak256Hash(buf[:])
}

// StructHash is EIP-712's hashStruct of the proof as EIP712ProofType:
// keccak256(abi.encode(keccak256(EIP712ProofType), channelId, nonce,
// sellerPeerId, buyerPeerId, infoHash)), each bytes20 left-aligned.
func (p Proof) StructHash() [32]byte {
	var buf [6 * 32]byte
	copy(buf[0:32], eip712ProofTypeHash[:])
	copy(buf[32:64], p.Channel[:])
	copy(buf[64:96], p.Nonce[:])
	copy(buf[96:116], p.Seller[:])
	copy(buf[128:148], p.Buyer[:])
	copy(buf[160:180], p.InfoHash[:])
	return crypto.Keccak256Hash(buf[:])
}

// Digest is the hash the payer signs, in the proof's Scheme:
// SchemeTIP191 keccak256("\x19TRON Signed Message:\n32" || InnerHash()),
// SchemeEIP712 keccak256("\x19\x01" || DomainSeparator(ChainID, Escrow) ||
// StructHash()). An unknown scheme gives the zero hash, which SignProof
// and VerifyProof refuse before using it.
func (p Proof) Digest() [32]byte {
	d, _ := schemeDigest(p.Scheme, p.ChainID, p.Escrow, p.InnerHash, p.StructHash)
	return d
}

// SignProof signs a channel proof with the payer's key.
func SignProof(s Signer, p Proof) ([65]byte, error) {
	if !p.Scheme.Valid() {
		return [65]byte{}, fmt.Errorf("paychan: sign channel proof: unknown digest %s", p.Scheme)
	}
	sig, err := s.SignDigest(p.Digest())
	if err != nil {
		return sig, fmt.Errorf("paychan: sign channel proof: %w", err)
	}
	return sig, nil
}

// VerifyProof checks that sig is payer's signature of p. It rejects a
// high-s (malleable) signature and accepts v as 0/1 or 27/28, as vouchers'
// Recover does.
func VerifyProof(p Proof, sig [65]byte, payer btt.Address) error {
	if !p.Scheme.Valid() {
		return fmt.Errorf("channel proof: %w: unknown digest %s", ErrBadSignature, p.Scheme)
	}
	signer, err := recoverDigest(p.Digest(), sig)
	if err != nil {
		return fmt.Errorf("channel proof: %w", err)
	}
	if signer != payer {
		return fmt.Errorf("%w: channel proof signed by %s, not the payer %s", ErrBadSignature, signer, payer)
	}
	return nil
}

// SignProof signs a channel proof with the payer's key. The caller
// proves only channels of its own: the proof says the connection speaks
// for that channel's payer.
func (p *Payer) SignProof(pr Proof) ([65]byte, error) { return SignProof(p.signer, pr) }
