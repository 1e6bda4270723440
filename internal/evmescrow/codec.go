package evmescrow

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/tron/contracts"
)

// Codec encodes the escrow's calls and decodes its answers and events.
// Every decoding error wraps Bad, the chain's ErrBadResponse: an answer
// that does not decode is the node's (or the contract's) fault.
type Codec struct {
	ABI abi.ABI
	Bad error
}

// NewCodec returns the codec of the embedded BttSpeedEscrow's ABI, whose
// decoding errors wrap bad.
func NewCodec(bad error) *Codec { return &Codec{ABI: contracts.EscrowABI(), Bad: bad} }

// Open encodes open(payee, deposit, expiry).
func (c *Codec) Open(payee btt.Address, deposit btt.Amount, expiry uint64) ([]byte, error) {
	return c.ABI.Pack("open", common.Address(payee.EVM()), deposit.Big(), expiry)
}

// TopUp encodes topUp(id, amount, expiry).
func (c *Codec) TopUp(id paychan.ChannelID, amount btt.Amount, expiry uint64) ([]byte, error) {
	return c.ABI.Pack("topUp", [32]byte(id), amount.Big(), expiry)
}

// Redeem encodes method ("claim" or "close") with the voucher.
func (c *Codec) Redeem(method string, sv paychan.SignedVoucher) ([]byte, error) {
	if method != "claim" && method != "close" {
		return nil, fmt.Errorf("evmescrow: %q is not a redeem", method)
	}
	return c.ABI.Pack(method, [32]byte(sv.Channel), sv.Amount.Big(), sv.Sig[:])
}

// OfChannel encodes method ("startClose", "reclaim") of channel id.
func (c *Codec) OfChannel(method string, id paychan.ChannelID) ([]byte, error) {
	if method != "startClose" && method != "reclaim" {
		return nil, fmt.Errorf("evmescrow: %q is not a call of one channel", method)
	}
	return c.ABI.Pack(method, [32]byte(id))
}

// IsOpen reports whether data is a call of open.
func (c *Codec) IsOpen(data []byte) bool {
	return len(data) >= 4 && bytes.Equal(data[:4], c.ABI.Methods["open"].ID)
}

// Channel decodes channels(id)'s outputs. A channel the escrow does not
// know comes back with State paychan.ChannelUnknown and no error.
func (c *Codec) Channel(id paychan.ChannelID, out []any) (paychan.Channel, error) {
	if len(out) != 7 {
		return paychan.Channel{}, fmt.Errorf("%w: channels() returned %d values", c.Bad, len(out))
	}
	payer, ok1 := out[0].(common.Address)
	payee, ok2 := out[1].(common.Address)
	dep, ok3 := out[2].(*big.Int)
	paid, ok4 := out[3].(*big.Int)
	exp, ok5 := out[4].(uint64)
	cend, ok6 := out[5].(uint64)
	st, ok7 := out[6].(uint8)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !ok7 || st > uint8(paychan.ChannelClosed) {
		return paychan.Channel{}, fmt.Errorf("%w: channels() returned %v", c.Bad, out)
	}
	deposit, err := btt.AmountFromBig(dep)
	if err != nil {
		return paychan.Channel{}, fmt.Errorf("%w: deposit: %v", c.Bad, err)
	}
	p, err := btt.AmountFromBig(paid)
	if err != nil {
		return paychan.Channel{}, fmt.Errorf("%w: paid: %v", c.Bad, err)
	}
	ch := paychan.Channel{ID: id, Deposit: deposit, Paid: p, State: paychan.ChannelState(st)}
	if ch.State == paychan.ChannelUnknown {
		return ch, nil
	}
	ch.Payer, ch.Payee = btt.AddressFromEVM(payer), btt.AddressFromEVM(payee)
	ch.Expiry = ChainTime(exp)
	if cend != 0 {
		ch.ChallengeEnd = ChainTime(cend)
	}
	return ch, nil
}

// Log is an event log as the chain packages read it from a receipt.
type Log struct {
	Address btt.Address
	Topics  [][32]byte
	Data    []byte
}

// Opened reads the new channel from the first ChannelOpened event the
// escrow emitted among logs (a receipt's); addresses compare by their 20
// EVM bytes. The channel's Token is left
// to the caller.
func (c *Codec) Opened(escrow btt.Address, logs []Log) (paychan.Channel, error) {
	ev := c.ABI.Events["ChannelOpened"]
	for _, l := range logs {
		if l.Address.EVM() != escrow.EVM() || len(l.Topics) != 4 || l.Topics[0] != ev.ID {
			continue
		}
		vals, err := ev.Inputs.NonIndexed().Unpack(l.Data)
		if err != nil || len(vals) != 2 {
			return paychan.Channel{}, fmt.Errorf("%w: ChannelOpened data: %v", c.Bad, err)
		}
		dep, ok1 := vals[0].(*big.Int)
		exp, ok2 := vals[1].(uint64)
		if !ok1 || !ok2 {
			return paychan.Channel{}, fmt.Errorf("%w: ChannelOpened data", c.Bad)
		}
		deposit, err := btt.AmountFromBig(dep)
		if err != nil {
			return paychan.Channel{}, fmt.Errorf("%w: ChannelOpened deposit: %v", c.Bad, err)
		}
		return paychan.Channel{
			ID:      paychan.ChannelID(l.Topics[1]),
			Payer:   btt.AddressFromEVM(common.BytesToAddress(l.Topics[2][12:])),
			Payee:   btt.AddressFromEVM(common.BytesToAddress(l.Topics[3][12:])),
			Deposit: deposit,
			Expiry:  ChainTime(exp),
			State:   paychan.ChannelOpen,
		}, nil
	}
	return paychan.Channel{}, fmt.Errorf("%w: no ChannelOpened event from escrow %x in the receipt", c.Bad, escrow.EVM())
}

// Uint64 is a view's one uint64 output (nonce()).
func (c *Codec) Uint64(method string, out []any) (uint64, error) {
	if len(out) != 1 {
		return 0, fmt.Errorf("%w: %s returned %d values", c.Bad, method, len(out))
	}
	n, ok := out[0].(uint64)
	if !ok {
		return 0, fmt.Errorf("%w: %s returned %T", c.Bad, method, out[0])
	}
	return n, nil
}

// Bytes32 is a view's one bytes32 output (voucherDigest()).
func (c *Codec) Bytes32(method string, out []any) ([32]byte, error) {
	if len(out) != 1 {
		return [32]byte{}, fmt.Errorf("%w: %s returned %d values", c.Bad, method, len(out))
	}
	d, ok := out[0].([32]byte)
	if !ok {
		return [32]byte{}, fmt.Errorf("%w: %s returned %T", c.Bad, method, out[0])
	}
	return d, nil
}

// Address is a view's one address output (checkVoucher(), token()).
func (c *Codec) Address(method string, out []any) (btt.Address, error) {
	if len(out) != 1 {
		return btt.Address{}, fmt.Errorf("%w: %s returned %d values", c.Bad, method, len(out))
	}
	a, ok := out[0].(common.Address)
	if !ok {
		return btt.Address{}, fmt.Errorf("%w: %s returned %T", c.Bad, method, out[0])
	}
	return btt.AddressFromEVM(a), nil
}

// ChannelID is the id BttSpeedEscrow at escrow gives the nonce-th channel
// if payer opened it to payee: keccak256(abi.encodePacked(escrow, payer,
// payee, uint64 nonce)). Nonces count every account's channels.
func ChannelID(escrow, payer, payee btt.Address, nonce uint64) paychan.ChannelID {
	e, p, q := escrow.EVM(), payer.EVM(), payee.EVM()
	return paychan.ChannelID(crypto.Keccak256Hash(e[:], p[:], q[:], binary.BigEndian.AppendUint64(nil, nonce)))
}

// Amount is a view's first output as a token amount (an ERC-20's
// balanceOf(), allowance()); an amount btt cannot hold is btt's error.
func (c *Codec) Amount(method string, out []any) (btt.Amount, error) {
	if len(out) == 0 {
		return btt.Amount{}, fmt.Errorf("%w: %s returned nothing", c.Bad, method)
	}
	v, ok := out[0].(*big.Int)
	if !ok {
		return btt.Amount{}, fmt.Errorf("%w: %s returned %T", c.Bad, method, out[0])
	}
	return btt.AmountFromBig(v)
}
