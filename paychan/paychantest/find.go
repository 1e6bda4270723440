package paychantest

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

var _ paychan.OpenFinder = (*account)(nil)

// SetLostAnswer makes the next call of method ("Open" or "TopUp") take
// effect on the chain while its caller gets an error wrapping
// paychan.ErrChainUnavailable, and the chain stays down after it
// (SetUnavailable(false) brings it back): a node that went away after the
// transaction was sent, the outcome unknown to the caller.
func (c *Chain) SetLostAnswer(method string) {
	c.mu.Lock()
	c.lostAnswer = method
	c.mu.Unlock()
}

// lost reports, with the chain locked, whether the answer to this call of
// method is to be lost, and forgets the fault.
func (c *Chain) lost(method string) bool {
	if c.lostAnswer != method {
		return false
	}
	c.lostAnswer, c.unavailable = "", true
	return true
}

// channelID is the id BttSpeedEscrow gives the nonce-th channel, opened
// by payer to payee.
func (c *Chain) channelID(payer, payee btt.Address, nonce uint64) paychan.ChannelID {
	esc, pay, pee := c.domain.Escrow.EVM(), payer.EVM(), payee.EVM()
	return paychan.ChannelID(crypto.Keccak256Hash(esc[:], pay[:], pee[:], binary.BigEndian.AppendUint64(nil, nonce)))
}

// OpenMark implements paychan.OpenFinder: the next channel's nonce.
func (a *account) OpenMark(context.Context) (uint64, error) {
	unlock, err := a.begin("OpenMark")
	if err != nil {
		return 0, err
	}
	defer unlock()
	return a.c.nonce + 1, nil
}

// FindOpen implements paychan.OpenFinder as tron.Escrow does: it derives
// the id of every channel opened since in.Mark as if this account had
// opened it to in.Payee; ids the escrow does not know are other accounts'.
func (a *account) FindOpen(_ context.Context, in paychan.Intent, known func(paychan.ChannelID) bool) (paychan.Channel, bool, error) {
	unlock, err := a.begin("FindOpen")
	if err != nil {
		return paychan.Channel{}, false, err
	}
	defer unlock()
	if in.Mark == 0 {
		return paychan.Channel{}, false, fmt.Errorf("paychantest: find open: no mark")
	}
	for n := in.Mark; n <= a.c.nonce; n++ {
		id := a.c.channelID(a.self, in.Payee, n)
		ch := a.c.channels[id]
		if ch == nil || known(id) || ch.Expiry.Unix() != in.Expiry.Unix() {
			continue
		}
		return *ch, true, nil
	}
	return paychan.Channel{}, false, nil
}

// InFlight implements paychan.OpenFinder: every call of the in-memory
// escrow takes effect at once or not at all, so nothing is ever in
// flight.
func (a *account) InFlight(context.Context) (bool, error) {
	unlock, err := a.begin("InFlight")
	if err != nil {
		return false, err
	}
	unlock()
	return false, nil
}
