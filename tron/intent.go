package tron

import (
	"context"
	"fmt"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/internal/evmescrow"
	"github.com/bttspeed/bttspeed/paychan"
)

var _ paychan.OpenFinder = (*Escrow)(nil)

// MaxFindScan bounds the channels FindOpen reads: the channels opened on
// the escrow, by anyone, since the open it looks for.
const MaxFindScan = 100_000

// ChannelID is the id BttSpeedEscrow at escrow gives the nonce-th channel
// if payer opened it to payee: keccak256(abi.encodePacked(escrow, payer,
// payee, uint64 nonce)). Nonces count every account's channels.
func ChannelID(escrow, payer, payee btt.Address, nonce uint64) paychan.ChannelID {
	return evmescrow.ChannelID(escrow, payer, payee, nonce)
}

// Nonce reads the escrow's channel counter: how many channels it has
// opened, the last one's nonce.
func (e *Escrow) Nonce(ctx context.Context) (uint64, error) { return e.calls().Nonce(ctx) }

// OpenMark implements paychan.OpenFinder: the nonce the next channel will
// have.
func (e *Escrow) OpenMark(ctx context.Context) (uint64, error) { return e.calls().OpenMark(ctx) }

// FindOpen implements paychan.OpenFinder. It looks first among the opens
// this account signed (kept in the journal, the last 16) for one with
// in's arguments that is in a block; then, for every nonce from in.Mark to
// the escrow's current one (at most MaxFindScan), it reads the channel
// this account would have opened to in.Payee with that nonce. An id the
// escrow does not know is another account's channel and is passed over;
// the first known one with in.Expiry, not reported by known, is returned.
func (e *Escrow) FindOpen(ctx context.Context, in paychan.Intent, known func(paychan.ChannelID) bool) (paychan.Channel, bool, error) {
	c := e.calls()
	if err := c.CheckIntent(in); err != nil {
		return paychan.Channel{}, false, err
	}
	// The opens this account signed first, by their receipts.
	exp, err := unixSeconds(in.Expiry)
	if err != nil {
		return paychan.Channel{}, false, fmt.Errorf("tron: find open: %w", err)
	}
	data, err := escrowCodec.Open(in.Payee, in.Deposit, exp)
	if err != nil {
		return paychan.Channel{}, false, fmt.Errorf("tron: find open: encode: %w", err)
	}
	if ch, ok, err := e.findRecorded(ctx, data, known); err != nil || ok {
		return ch, ok, err
	}
	return c.FindByNonce(ctx, in, known, MaxFindScan, "read them with Escrow.Channel and tron.ChannelID")
}
