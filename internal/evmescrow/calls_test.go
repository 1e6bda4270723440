package evmescrow

import (
	"context"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

var errNoSigner = errors.New("no signer")

// ledger is a chain of one escrow in memory: it records what the calls
// sent and answers channels() from what it holds.
type ledger struct {
	self     btt.Address
	dom      paychan.Domain
	now      time.Time
	owed     bool
	funded   []btt.Amount
	sent     [][]byte
	sendErr  error
	channels map[paychan.ChannelID]paychan.Channel
	opened   paychan.Channel
	nonce    uint64
}

func (l *ledger) Self() btt.Address                              { return l.self }
func (l *ledger) Domain(context.Context) (paychan.Domain, error) { return l.dom, nil }
func (l *ledger) Now(context.Context) (time.Time, error)         { return l.now, nil }
func (l *ledger) Owed([]byte) bool                               { return l.owed }
func (l *ledger) Opened(string) (paychan.Channel, error)         { return l.opened, nil }
func (l *ledger) TxName(r string) string                         { return r }
func (l *ledger) Failed(_ context.Context, op string, _ btt.Address, _ btt.Amount, err error) error {
	return errors.Join(errors.New(op), err)
}
func (l *ledger) Fund(_ context.Context, _ btt.Address, amount btt.Amount) error {
	l.funded = append(l.funded, amount)
	return nil
}
func (l *ledger) Transact(_ context.Context, data []byte) (string, error) {
	if l.sendErr != nil {
		return "", l.sendErr
	}
	l.sent = append(l.sent, data)
	return "tx1", nil
}
func (l *ledger) View(_ context.Context, method string, args ...any) ([]any, error) {
	if method == "nonce" {
		return []any{l.nonce}, nil
	}
	if method != "channels" {
		return nil, errors.New("no view " + method)
	}
	ch, ok := l.channels[paychan.ChannelID(args[0].([32]byte))]
	if !ok {
		return []any{common.Address{}, common.Address{}, big.NewInt(0), big.NewInt(0), uint64(0), uint64(0), uint8(0)}, nil
	}
	return []any{common.Address(ch.Payer.EVM()), common.Address(ch.Payee.EVM()), ch.Deposit.Big(), ch.Paid.Big(),
		uint64(ch.Expiry.Unix()), uint64(0), uint8(ch.State)}, nil
}

func testCalls(l *ledger) *Calls[string] {
	return &Calls[string]{Chain: l, Codec: NewCodec(errBad), Address: addr(3), Name: "chain", Escrow: "the escrow",
		NoSigner: errNoSigner, InvalidArgument: errInvalidArgument, ExpiryTooFar: errExpiryTooFar, ChainIDVerb: "%d", CheckScheme: true}
}

func TestCallsOpen(t *testing.T) {
	ctx := context.Background()
	self, payee, tok := addr(1), addr(2), addr(9)
	now := time.Unix(1_800_000_000, 0).UTC()
	newLedger := func() *ledger {
		return &ledger{self: self, now: now, dom: paychan.Domain{ChainID: 7, Escrow: addr(3), Token: tok},
			opened: paychan.Channel{ID: paychan.ChannelID{5}, Payer: self, Payee: payee, State: paychan.ChannelOpen}}
	}
	for _, tc := range []struct {
		name    string
		change  func(l *ledger)
		payee   btt.Address
		deposit btt.Amount
		expiry  time.Time
		err     error
		funded  bool
	}{
		{"opens", nil, payee, amt(10), now.Add(time.Hour), nil, true},
		{"owed: no second funding", func(l *ledger) { l.owed = true }, payee, amt(10), now.Add(time.Hour), nil, false},
		{"no key", func(l *ledger) { l.self = btt.Address{} }, payee, amt(10), now.Add(time.Hour), errNoSigner, false},
		{"zero deposit", nil, payee, btt.Amount{}, now.Add(time.Hour), errInvalidArgument, false},
		{"zero payee", nil, btt.Address{}, amt(10), now.Add(time.Hour), errInvalidArgument, false},
		{"to itself", nil, self, amt(10), now.Add(time.Hour), errInvalidArgument, false},
		{"no expiry", nil, payee, amt(10), time.Time{}, errInvalidArgument, false},
		{"expiry at the chain's time", nil, payee, amt(10), now, paychan.ErrExpired, false},
		{"expiry too far", nil, payee, amt(10), now.Add(MaxChannelLifetime + time.Second), errExpiryTooFar, false},
		{"send fails", func(l *ledger) { l.sendErr = paychan.ErrChainUnavailable }, payee, amt(10), now.Add(time.Hour), paychan.ErrChainUnavailable, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLedger()
			if tc.change != nil {
				tc.change(l)
			}
			ch, err := testCalls(l).Open(ctx, tc.payee, tc.deposit, tc.expiry)
			assert.Equal(t, tc.funded, len(l.funded) == 1, "funded")
			if tc.err != nil {
				assert.ErrorIs(t, err, tc.err)
				assert.Empty(t, l.sent, "nothing sent")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tok, ch.Token)
			require.Len(t, l.sent, 1)
			assert.True(t, NewCodec(errBad).IsOpen(l.sent[0]))
		})
	}
}

func TestCallsRedeem(t *testing.T) {
	ctx := context.Background()
	esc := addr(3)
	id := paychan.ChannelID{5}
	dom := paychan.Domain{ChainID: 7, Escrow: esc, Token: addr(9), Scheme: paychan.SchemeEIP712}
	good := paychan.SignedVoucher{Voucher: dom.Voucher(id, amt(4))}
	held := paychan.Channel{ID: id, Payer: addr(1), Payee: addr(2), Deposit: amt(10), Paid: amt(4), Expiry: time.Unix(1_900_000_000, 0).UTC(), State: paychan.ChannelOpen}
	for _, tc := range []struct {
		name        string
		change      func(sv *paychan.SignedVoucher)
		checkScheme bool
		err         error
	}{
		{"claims", nil, true, nil},
		{"another chain", func(sv *paychan.SignedVoucher) { sv.ChainID = 8 }, true, paychan.ErrWrongChain},
		{"another escrow", func(sv *paychan.SignedVoucher) { sv.Escrow = addr(4) }, true, paychan.ErrWrongEscrow},
		{"another scheme", func(sv *paychan.SignedVoucher) { sv.Scheme = paychan.SchemeTIP191 }, true, paychan.ErrWrongChain},
		{"another scheme, left to the contract", func(sv *paychan.SignedVoucher) { sv.Scheme = paychan.SchemeTIP191 }, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &ledger{self: addr(2), dom: dom, channels: map[paychan.ChannelID]paychan.Channel{id: held}}
			sv := good
			if tc.change != nil {
				tc.change(&sv)
			}
			c := testCalls(l)
			c.CheckScheme = tc.checkScheme
			ch, err := c.Redeem(ctx, "claim", sv)
			if tc.err != nil {
				assert.ErrorIs(t, err, tc.err)
				assert.Empty(t, l.sent)
				return
			}
			require.NoError(t, err)
			require.Len(t, l.sent, 1)
			held.Token = dom.Token
			assert.Equal(t, held, ch, "the channel as read after")
		})
	}
}

func TestCallsChannel(t *testing.T) {
	ctx := context.Background()
	l := &ledger{self: addr(2), dom: paychan.Domain{Token: addr(9)}, channels: map[paychan.ChannelID]paychan.Channel{}}
	c := testCalls(l)
	ch, err := c.Channel(ctx, paychan.ChannelID{6})
	assert.ErrorIs(t, err, paychan.ErrUnknownChannel)
	assert.Equal(t, paychan.Channel{ID: paychan.ChannelID{6}}, ch)

	_, err = c.OfChannel(ctx, "reclaim", "reclaim", paychan.ChannelID{6})
	assert.ErrorIs(t, err, paychan.ErrUnknownChannel, "sent, then read: the channel is gone")
	assert.Contains(t, err.Error(), "done in tx1")
	require.Len(t, l.sent, 1)

	l.self = btt.Address{}
	_, err = c.OfChannel(ctx, "start close", "startClose", paychan.ChannelID{6})
	assert.ErrorIs(t, err, errNoSigner)
	_, err = c.TopUp(ctx, paychan.ChannelID{6}, amt(1), time.Unix(1_900_000_000, 0))
	assert.ErrorIs(t, err, errNoSigner)
	assert.Len(t, l.sent, 1, "nothing more sent without a key")
}

func TestCallsFindByNonce(t *testing.T) {
	ctx := context.Background()
	self, payee, esc := addr(1), addr(2), addr(3)
	exp := time.Unix(1_900_000_000, 0).UTC()
	in := paychan.Intent{Payee: payee, Expiry: exp, Mark: 4}
	id := ChannelID(esc, self, payee, 6)
	l := &ledger{self: self, nonce: 7, channels: map[paychan.ChannelID]paychan.Channel{
		id: {ID: id, Payer: self, Payee: payee, Deposit: amt(3), Expiry: exp, State: paychan.ChannelOpen},
	}}
	c := testCalls(l)
	mark, err := c.OpenMark(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(8), mark)

	ch, ok, err := c.FindByNonce(ctx, in, nil, 100, "")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, id, ch.ID)

	_, ok, err = c.FindByNonce(ctx, in, func(got paychan.ChannelID) bool { return got == id }, 100, "")
	require.NoError(t, err)
	assert.False(t, ok, "a known channel is not the intent's")

	_, _, err = c.FindByNonce(ctx, in, nil, 2, "read them one by one")
	assert.ErrorIs(t, err, ErrScanBound)
	assert.Contains(t, err.Error(), "; read them one by one")

	noMark := in
	noMark.Mark = 0
	_, _, err = c.FindByNonce(ctx, noMark, nil, 100, "")
	assert.ErrorIs(t, err, errInvalidArgument)
	l.self = btt.Address{}
	_, _, err = c.FindByNonce(ctx, in, nil, 100, "")
	assert.ErrorIs(t, err, errNoSigner)
}
