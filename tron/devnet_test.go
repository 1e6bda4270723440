package tron

import (
	"context"
	"crypto/ecdsa"
	"math/big"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/tron/contracts"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

// genesis is the devnet's start: a whole multiple of the 3 s block time.
var genesis = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// testConfig is a client configuration for the devnet: short timeouts and
// fast polling, so fault tests end quickly.
func testConfig(addr string, s Signer) Config {
	return Config{
		Addr:           addr,
		Insecure:       true,
		Signer:         s,
		Timeout:        2 * time.Second,
		ReceiptTimeout: 300 * time.Millisecond,
		PollInterval:   5 * time.Millisecond,
		Retry:          Retry{Attempts: 3, Base: 10 * time.Millisecond, Max: 40 * time.Millisecond},
	}
}

type env struct {
	node             *devnet.Node
	payerKey, payee  *KeySigner
	payerC, payeeC   *Client
	payerE, payeeE   *Escrow
	token, escrow    btt.Address
	startTRX         int64
	payerTok, payeeT btt.Amount
}

func startNode(t testing.TB, cfg devnet.Config) *devnet.Node {
	t.Helper()
	if cfg.Seed == "" {
		cfg.Seed = "tron-test"
	}
	if cfg.GenesisTime.IsZero() {
		cfg.GenesisTime = genesis
	}
	cfg.DeployContracts = true
	node, err := devnet.Start(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { node.Close() })
	return node
}

func dialKey(t testing.TB, node *devnet.Node, key *ecdsa.PrivateKey, mod func(*Config)) (*KeySigner, *Client) {
	t.Helper()
	s, err := NewKeySigner(key)
	require.NoError(t, err)
	cfg := testConfig(node.Addr(), s)
	if mod != nil {
		mod(&cfg)
	}
	c, err := Dial(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return s, c
}

func newEnv(t testing.TB, cfg devnet.Config, mod func(*Config), opts ...EscrowOption) *env {
	t.Helper()
	e := &env{node: startNode(t, cfg)}
	keys := e.node.Keys()
	require.GreaterOrEqual(t, len(keys), 2)
	e.token, e.escrow = e.node.Token(), e.node.Escrow()
	e.payerKey, e.payerC = dialKey(t, e.node, keys[0], mod)
	e.payee, e.payeeC = dialKey(t, e.node, keys[1], mod)
	var err error
	e.payerE, err = NewEscrow(e.payerC, e.escrow, opts...)
	require.NoError(t, err)
	e.payeeE, err = NewEscrow(e.payeeC, e.escrow, opts...)
	require.NoError(t, err)
	e.startTRX = e.node.TRXBalance(e.payerKey.Address())
	e.payerTok = e.node.TokenBalance(e.payerKey.Address())
	e.payeeT = e.node.TokenBalance(e.payee.Address())
	return e
}

// voucher signs a voucher of the payer's for channel id.
func (e *env) voucher(t testing.TB, id paychan.ChannelID, amount uint64) paychan.SignedVoucher {
	t.Helper()
	sv, err := paychan.Sign(e.payerKey, paychan.Voucher{ChainID: e.node.ChainID(), Escrow: e.escrow, Channel: id, Amount: btt.NewAmount(amount)})
	require.NoError(t, err)
	return sv
}

func (e *env) open(t testing.TB, deposit uint64, life time.Duration) paychan.Channel {
	t.Helper()
	ch, err := e.payerE.Open(context.Background(), e.payee.Address(), btt.NewAmount(deposit), e.node.Now().Add(life))
	require.NoError(t, err)
	return ch
}

func amt(n uint64) btt.Amount { return btt.NewAmount(n) }

func add(a btt.Amount, n uint64) btt.Amount {
	r, _ := a.Add(btt.NewAmount(n))
	return r
}

func sub(a btt.Amount, n uint64) btt.Amount {
	r, err := a.Sub(btt.NewAmount(n))
	if err != nil {
		panic(err)
	}
	return r
}

func TestDevnetChainIDAndTime(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil)
	id, err := e.payerC.ChainID(ctx)
	require.NoError(t, err)
	assert.Equal(t, e.node.ChainID(), id, "the genesis block id's last 4 bytes are the EVM's chain id")
	now, err := e.payerC.Now(ctx)
	require.NoError(t, err)
	assert.Equal(t, e.node.Now().UTC(), now)
	e.node.Advance(time.Hour)
	now, err = e.payerE.Now(ctx)
	require.NoError(t, err)
	assert.Equal(t, e.node.Now().UTC(), now, "Advance mines a block at the new time")

	dom, err := e.payeeE.Domain(ctx)
	require.NoError(t, err)
	assert.Equal(t, paychan.Domain{ChainID: id, Escrow: e.escrow, Token: e.token}, dom)
	period, err := e.payerE.ChallengePeriod(ctx)
	require.NoError(t, err)
	assert.Equal(t, devnet.DefaultChallengePeriod, period)

	bal, err := e.payerC.TRXBalance(ctx, e.payerKey.Address())
	require.NoError(t, err)
	assert.Equal(t, e.node.TRXBalance(e.payerKey.Address()), bal)
	fresh := testSigner(t, 77).Address()
	bal, err = e.payerC.TRXBalance(ctx, fresh)
	require.NoError(t, err)
	assert.Zero(t, bal, "an account the chain never saw")

	// A chain whose id is set explicitly.
	node := startNode(t, devnet.Config{ChainID: 0x2b6653dc})
	_, c := dialKey(t, node, node.Keys()[0], nil)
	id, err = c.ChainID(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(0x2b6653dc), id)
	esc, err := NewEscrow(c, node.Escrow())
	require.NoError(t, err)
	_, err = esc.Domain(ctx)
	require.NoError(t, err, "the contract's digest agrees with paychan's for mainnet's id too")
}

func TestDevnetVoucherDigestMatchesContract(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil)
	for i, a := range []btt.Amount{btt.Zero, amt(1), btt.BTT(123_456), maxAmount} {
		id := paychan.ChannelID(crypto.Keccak256Hash([]byte{byte(i)}))
		v := paychan.Voucher{ChainID: e.node.ChainID(), Escrow: e.escrow, Channel: id, Amount: a}
		got, err := e.payerE.VoucherDigest(ctx, id, a)
		require.NoError(t, err)
		assert.Equal(t, v.Digest(), got, "amount %s", a)
	}

	ch := e.open(t, 1000, time.Hour)
	sv := e.voucher(t, ch.ID, 600)
	signer, err := e.payeeE.CheckVoucher(ctx, sv)
	require.NoError(t, err)
	assert.Equal(t, e.payerKey.Address(), signer, "checkVoucher recovers the payer")
	// v as 27/28 is accepted too.
	sv27 := sv
	sv27.Sig[64] += 27
	signer, err = e.payeeE.CheckVoucher(ctx, sv27)
	require.NoError(t, err)
	assert.Equal(t, e.payerKey.Address(), signer)

	forged, err := paychan.Sign(testSigner(t, 9), sv.Voucher)
	require.NoError(t, err)
	_, err = e.payeeE.CheckVoucher(ctx, forged)
	assert.ErrorIs(t, err, paychan.ErrBadSignature)
	_, err = e.payeeE.CheckVoucher(ctx, e.voucher(t, ch.ID, 1001))
	assert.ErrorIs(t, err, paychan.ErrOverDeposit)
	_, err = e.payeeE.CheckVoucher(ctx, e.voucher(t, paychan.ChannelID{1}, 1))
	assert.ErrorIs(t, err, paychan.ErrUnknownChannel)
}

func TestDevnetChannelLifecycle(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil)
	payer, payee := e.payerKey.Address(), e.payee.Address()

	start := time.Now()
	expiry := e.node.Now().Add(24 * time.Hour)
	ch, err := e.payerE.Open(ctx, payee, amt(1000), expiry)
	require.NoError(t, err)
	t.Logf("open (approve + open): %v", time.Since(start))
	assert.Equal(t, payer, ch.Payer)
	assert.Equal(t, payee, ch.Payee)
	assert.Equal(t, e.token, ch.Token)
	assert.Equal(t, amt(1000), ch.Deposit)
	assert.Equal(t, paychan.ChannelOpen, ch.State)
	assert.Equal(t, expiry, ch.Expiry)
	assert.Equal(t, sub(e.payerTok, 1000), e.node.TokenBalance(payer))
	assert.Equal(t, amt(1000), e.node.TokenBalance(e.escrow))
	read, err := e.payeeE.Channel(ctx, ch.ID)
	require.NoError(t, err)
	assert.Equal(t, ch, read, "the channel from the event is the one on chain")

	// The id is what paychantest (and the spec) compute: nonce 1.
	esc, pay, pee := e.escrow.EVM(), payer.EVM(), payee.EVM()
	wantID := crypto.Keccak256Hash(esc[:], pay[:], pee[:], []byte{0, 0, 0, 0, 0, 0, 0, 1})
	assert.Equal(t, paychan.ChannelID(wantID), ch.ID)

	exp := ch.Expiry.Add(time.Hour)
	ch, err = e.payerE.TopUp(ctx, ch.ID, amt(500), exp)
	require.NoError(t, err)
	assert.Equal(t, amt(1500), ch.Deposit)
	assert.Equal(t, exp, ch.Expiry)
	ch, err = e.payerE.TopUp(ctx, ch.ID, btt.Zero, exp.Add(time.Hour))
	require.NoError(t, err, "a zero top-up only extends")
	assert.Equal(t, amt(1500), ch.Deposit)

	start = time.Now()
	trx0 := e.node.TRXBalance(payee)
	ch, err = e.payeeE.Claim(ctx, e.voucher(t, ch.ID, 300))
	require.NoError(t, err)
	trx1 := e.node.TRXBalance(payee)
	t.Logf("claim: %v, %s", time.Since(start), formatSun(trx0-trx1))
	assert.Equal(t, amt(300), ch.Paid)
	assert.Equal(t, paychan.ChannelOpen, ch.State)
	assert.Equal(t, add(e.payeeT, 300), e.node.TokenBalance(payee))

	start = time.Now()
	ch, err = e.payeeE.Close(ctx, e.voucher(t, ch.ID, 700))
	require.NoError(t, err)
	t.Logf("close: %v, %s", time.Since(start), formatSun(trx1-e.node.TRXBalance(payee)))
	assert.Equal(t, paychan.ChannelClosed, ch.State)
	assert.Equal(t, amt(700), ch.Paid)
	assert.Equal(t, add(e.payeeT, 700), e.node.TokenBalance(payee), "the payee got exactly the voucher")
	assert.Equal(t, sub(e.payerTok, 700), e.node.TokenBalance(payer), "the payer got the rest back")
	assert.True(t, e.node.TokenBalance(e.escrow).IsZero())

	_, err = e.payeeE.Close(ctx, e.voucher(t, ch.ID, 800))
	assert.ErrorIs(t, err, paychan.ErrChannelClosed)
	_, err = e.payerE.Reclaim(ctx, ch.ID)
	assert.ErrorIs(t, err, paychan.ErrChannelClosed)
	spent := e.startTRX - e.node.TRXBalance(payer)
	assert.Positive(t, spent, "fees were paid in TRX")
	t.Logf("payer's fees for approve, open and two top-ups: %s", formatSun(spent))
}

func TestDevnetReclaimAfterExpiry(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil)
	ch := e.open(t, 1000, time.Hour)
	ch, err := e.payeeE.Claim(ctx, e.voucher(t, ch.ID, 100))
	require.NoError(t, err)
	_, err = e.payerE.Reclaim(ctx, ch.ID)
	assert.ErrorIs(t, err, ErrNotExpired)
	e.node.Advance(time.Hour + 3*time.Second)
	_, err = e.payeeE.Claim(ctx, e.voucher(t, ch.ID, 200))
	assert.ErrorIs(t, err, paychan.ErrExpired, "the payee's window is over")
	var re *RevertError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "escrow: redeem window over", re.Reason)
	ch, err = e.payerE.Reclaim(ctx, ch.ID)
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelClosed, ch.State)
	assert.Equal(t, sub(e.payerTok, 100), e.node.TokenBalance(e.payerKey.Address()))
	assert.Equal(t, add(e.payeeT, 100), e.node.TokenBalance(e.payee.Address()))
}

func TestDevnetEarlyClose(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{ChallengePeriod: 10 * time.Minute}, nil)
	ch := e.open(t, 1000, 24*time.Hour)
	sv := e.voucher(t, ch.ID, 400)
	ch, err := e.payerE.StartClose(ctx, ch.ID)
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelClosing, ch.State)
	assert.Equal(t, e.node.Now().Add(10*time.Minute).Unix(), ch.ChallengeEnd.Unix())
	_, err = e.payerE.StartClose(ctx, ch.ID)
	assert.ErrorIs(t, err, paychan.ErrChannelClosed, "already closing")
	_, err = e.payerE.TopUp(ctx, ch.ID, amt(1), ch.Expiry)
	assert.ErrorIs(t, err, paychan.ErrChannelClosed, "no top-up while closing")
	_, err = e.payerE.Reclaim(ctx, ch.ID)
	assert.ErrorIs(t, err, ErrNotExpired, "not before the window ends")

	e.node.Advance(5 * time.Minute)
	ch, err = e.payeeE.Claim(ctx, sv)
	require.NoError(t, err, "the payee redeems inside the window")
	assert.Equal(t, amt(400), ch.Paid)
	e.node.Advance(6 * time.Minute)
	_, err = e.payeeE.Claim(ctx, e.voucher(t, ch.ID, 500))
	assert.ErrorIs(t, err, paychan.ErrExpired, "the window is over")
	ch, err = e.payerE.Reclaim(ctx, ch.ID)
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelClosed, ch.State)
	assert.Equal(t, add(e.payeeT, 400), e.node.TokenBalance(e.payee.Address()))
	assert.Equal(t, sub(e.payerTok, 400), e.node.TokenBalance(e.payerKey.Address()))
}

// TestDevnetRejections: every refusal of the contract, with its reason, as
// the paychan error it maps to; none of them costs a fee (the simulation
// refuses them before anything is signed).
func TestDevnetRejections(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil)
	ch := e.open(t, 1000, time.Hour)
	closing := e.open(t, 10, time.Hour)
	_, err := e.payerE.StartClose(ctx, closing.ID)
	require.NoError(t, err)
	unknown := paychan.ChannelID{0xde, 0xad}
	open := func(deposit uint64, payee btt.Address, exp time.Time) ([]byte, error) {
		return e.payerE.abi.Pack("open", evmAddr(payee), amt(deposit).Big(), uint64(exp.Unix()))
	}
	now := e.node.Now()
	third := testSigner(t, 3).Address()
	forged, err := paychan.Sign(testSigner(t, 9), e.voucher(t, ch.ID, 10).Voucher)
	require.NoError(t, err)
	highS := e.voucher(t, ch.ID, 10)
	// s' = n - s with v flipped: the same signer, refused as malleable.
	sBig := new(big.Int).SetBytes(highS.Sig[32:64])
	sBig.Sub(crypto.S256().Params().N, sBig)
	sBig.FillBytes(highS.Sig[32:64])
	highS.Sig[64] ^= 1

	type call struct {
		name   string
		run    func() error
		reason string
		is     error
	}
	payerTRX, payeeTRX := e.node.TRXBalance(e.payerKey.Address()), e.node.TRXBalance(e.payee.Address())
	for _, tc := range []call{
		{"open with a zero deposit", func() error {
			d, _ := open(0, e.payee.Address(), now.Add(time.Hour))
			_, err := e.payerC.Send(ctx, e.escrow, d)
			return err
		}, "escrow: zero deposit", ErrInvalidArgument},
		{"open to oneself", func() error {
			d, _ := open(1, e.payerKey.Address(), now.Add(time.Hour))
			_, err := e.payerC.Send(ctx, e.escrow, d)
			return err
		}, "escrow: bad payee", ErrInvalidArgument},
		{"open expiring in the past", func() error {
			d, _ := open(1, e.payee.Address(), now.Add(-time.Second))
			_, err := e.payerC.Send(ctx, e.escrow, d)
			return err
		}, "escrow: expiry in the past", paychan.ErrExpired},
		{"open without allowance", func() error {
			d, _ := open(5, e.payee.Address(), now.Add(time.Hour))
			_, err := e.payerC.Send(ctx, e.escrow, d)
			return err
		}, "escrow: token transfer failed", ErrTokenTransfer},
		{"top up by the payee", func() error {
			_, err := e.payeeE.TopUp(ctx, ch.ID, btt.Zero, ch.Expiry)
			return err
		}, "escrow: not payer", ErrNotPayer},
		{"top up shortening the expiry", func() error {
			_, err := e.payerE.TopUp(ctx, ch.ID, btt.Zero, ch.Expiry.Add(-time.Second))
			return err
		}, "escrow: expiry may only extend", ErrExpiryShortened},
		{"top up of an unknown channel", func() error {
			_, err := e.payerE.TopUp(ctx, unknown, btt.Zero, ch.Expiry)
			return err
		}, "escrow: unknown channel", paychan.ErrUnknownChannel},
		{"top up of a closing channel", func() error {
			_, err := e.payerE.TopUp(ctx, closing.ID, btt.Zero, closing.Expiry)
			return err
		}, "escrow: channel not open", paychan.ErrChannelClosed},
		{"claim by the payer", func() error {
			_, err := e.payerE.Claim(ctx, e.voucher(t, ch.ID, 10))
			return err
		}, "escrow: not payee", paychan.ErrWrongPayee},
		{"claim over the deposit", func() error {
			_, err := e.payeeE.Claim(ctx, e.voucher(t, ch.ID, 1001))
			return err
		}, "escrow: over deposit", paychan.ErrOverDeposit},
		{"claim with another key's signature", func() error {
			_, err := e.payeeE.Claim(ctx, forged)
			return err
		}, "escrow: bad signature", paychan.ErrBadSignature},
		{"claim with a high-s signature", func() error {
			_, err := e.payeeE.Claim(ctx, highS)
			return err
		}, "escrow: bad signature", paychan.ErrBadSignature},
		{"claim of nothing", func() error {
			_, err := e.payeeE.Claim(ctx, e.voucher(t, ch.ID, 0))
			return err
		}, "escrow: not increasing", paychan.ErrNotIncreasing},
		{"claim on an unknown channel", func() error {
			_, err := e.payeeE.Claim(ctx, e.voucher(t, unknown, 1))
			return err
		}, "escrow: unknown channel", paychan.ErrUnknownChannel},
		{"start close by the payee", func() error {
			_, err := e.payeeE.StartClose(ctx, ch.ID)
			return err
		}, "escrow: not payer", ErrNotPayer},
		{"reclaim by the payee", func() error {
			_, err := e.payeeE.Reclaim(ctx, ch.ID)
			return err
		}, "escrow: not payer", ErrNotPayer},
		{"reclaim before expiry", func() error {
			_, err := e.payerE.Reclaim(ctx, ch.ID)
			return err
		}, "escrow: not expired", ErrNotExpired},
		{"reclaim of an unknown channel", func() error {
			_, err := e.payerE.Reclaim(ctx, unknown)
			return err
		}, "escrow: unknown channel", paychan.ErrUnknownChannel},
		{"token transfer over the balance (raw)", func() error {
			d, _ := trc20ABI().Pack("transfer", evmAddr(third), add(e.node.TokenBalance(e.payerKey.Address()), 1).Big())
			_, err := e.payerC.Send(ctx, e.token, d)
			return err
		}, "token: insufficient balance", ErrInsufficientToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.is)
			var re *RevertError
			require.ErrorAs(t, err, &re, "%v", err)
			assert.Equal(t, tc.reason, re.Reason)
			assert.Empty(t, re.TxID, "refused by the simulation, never sent")
		})
	}
	assert.Equal(t, payerTRX, e.node.TRXBalance(e.payerKey.Address()), "rejections cost the payer nothing")
	assert.Equal(t, payeeTRX, e.node.TRXBalance(e.payee.Address()), "rejections cost the payee nothing")

	// Checked before the chain sees them.
	_, err = e.payerE.Channel(ctx, unknown)
	assert.ErrorIs(t, err, paychan.ErrUnknownChannel)
	_, err = e.payerE.Open(ctx, e.payee.Address(), btt.Zero, now.Add(time.Hour))
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = e.payerE.Open(ctx, e.payerKey.Address(), amt(1), now.Add(time.Hour))
	assert.ErrorIs(t, err, ErrInvalidArgument)
	wrong := e.voucher(t, ch.ID, 5)
	wrong.ChainID++
	_, err = e.payeeE.Claim(ctx, wrong)
	assert.ErrorIs(t, err, paychan.ErrWrongChain)
	wrong = e.voucher(t, ch.ID, 5)
	wrong.Escrow = third
	_, err = e.payeeE.Close(ctx, wrong)
	assert.ErrorIs(t, err, paychan.ErrWrongEscrow)
	_, err = e.payerE.Open(ctx, e.payee.Address(), amt(1), now.Add(-time.Second))
	assert.ErrorIs(t, err, paychan.ErrExpired, "checked against the chain's time before approving")
	assert.Equal(t, payerTRX, e.node.TRXBalance(e.payerKey.Address()), "nothing spent")
	// A voucher signed for another chain is refused by the contract too.
	wrongSig, err := paychan.Sign(e.payerKey, paychan.Voucher{ChainID: e.node.ChainID() + 1, Escrow: e.escrow, Channel: ch.ID, Amount: amt(5)})
	require.NoError(t, err)
	raw, err := e.payeeE.abi.Pack("claim", [32]byte(ch.ID), amt(5).Big(), wrongSig.Sig[:])
	require.NoError(t, err)
	_, err = e.payeeC.Send(ctx, e.escrow, raw)
	assert.ErrorIs(t, err, paychan.ErrBadSignature)
}

func openStore(t testing.TB, name string) *paychan.Store {
	t.Helper()
	st, err := paychan.OpenStore(filepath.Join(t.TempDir(), name))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

// ledgers are paychan's payer and payee, on the devnet's escrow.
func (e *env) ledgers(t testing.TB) (*paychan.Payer, *paychan.Payee, *paychan.Store) {
	t.Helper()
	ctx := context.Background()
	payer, err := paychan.NewPayer(ctx, openStore(t, "payer.db"), e.payerE, e.payerKey)
	require.NoError(t, err)
	payeeStore := openStore(t, "payee.db")
	// No floors (MinRedeem, MinDeposit): these tests trade in a few
	// thousand base units.
	payee, err := paychan.NewPayee(ctx, payeeStore, e.payeeE, paychan.PayeeConfig{Self: e.payee.Address(), Now: e.node.Now, MinRedeem: amt(1), MinDeposit: amt(1)})
	require.NoError(t, err)
	return payer, payee, payeeStore
}

// TestDevnetPaymentFlow drives paychan's Payer and Payee with the TRON
// escrow: the payee's token balance rises by exactly what the vouchers say
// and the payer gets the rest back.
func TestDevnetPaymentFlow(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil)
	payer, payee, _ := e.ledgers(t)
	ch, err := payer.Open(ctx, e.payee.Address(), amt(10_000), e.node.Now().Add(24*time.Hour))
	require.NoError(t, err)
	_, err = payee.Accept(ctx, ch.ID)
	require.NoError(t, err)

	ih := [20]byte{7}
	var credited btt.Amount
	for i := range 5 {
		sv, err := payer.PayFor(ch.ID, ih, i, amt(1000))
		require.NoError(t, err)
		d, err := payee.Receive(sv)
		require.NoError(t, err)
		credited, _ = credited.Add(d)
	}
	assert.Equal(t, amt(5000), credited)
	_, err = payer.PayFor(ch.ID, ih, 9, amt(6000))
	var ife *paychan.InsufficientFundsError
	require.ErrorAs(t, err, &ife, "never past the deposit")

	got, err := payee.Redeem(ctx, ch.ID, false)
	require.NoError(t, err)
	assert.Equal(t, amt(5000), got)
	assert.Equal(t, add(e.payeeT, 5000), e.node.TokenBalance(e.payee.Address()))

	sv, err := payer.PayFor(ch.ID, ih, 5, amt(500))
	require.NoError(t, err)
	_, err = payee.Receive(sv)
	require.NoError(t, err)
	got, err = payee.Redeem(ctx, ch.ID, true)
	require.NoError(t, err)
	assert.Equal(t, amt(500), got)
	assert.Equal(t, add(e.payeeT, 5500), e.node.TokenBalance(e.payee.Address()), "exactly what the vouchers say")
	assert.Equal(t, sub(e.payerTok, 5500), e.node.TokenBalance(e.payerKey.Address()), "the payer gets the rest back")
	tot, err := payee.Totals()
	require.NoError(t, err)
	assert.True(t, tot.Redeemable.IsZero())
	onChain, err := e.payerE.Channel(ctx, ch.ID)
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelClosed, onChain.State)
}

// TestDevnetChainDownAtOpen: the node is down when the payer opens a
// channel: a clear error wrapping ErrChainUnavailable after bounded
// retries, nothing spent; when the node comes back during the retries, the
// open goes through.
func TestDevnetChainDownAtOpen(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil)
	payer, _, _ := e.ledgers(t)
	e.node.SetUnavailable(true)
	start := time.Now()
	_, err := payer.Open(ctx, e.payee.Address(), amt(1000), e.node.Now().Add(time.Hour))
	require.ErrorIs(t, err, paychan.ErrChainUnavailable)
	assert.Contains(t, err.Error(), "check that the node is running")
	assert.Contains(t, err.Error(), "gave up after 3 attempts")
	assert.Less(t, time.Since(start), 2*time.Second, "bounded")
	t.Logf("error: %v", err)
	e.node.SetUnavailable(false)
	assert.Equal(t, e.payerTok, e.node.TokenBalance(e.payerKey.Address()))
	assert.Equal(t, e.startTRX, e.node.TRXBalance(e.payerKey.Address()))

	// Down again, back after 150 ms: the retries (up to ~1.5 s) ride it
	// out.
	_, patient := dialKey(t, e.node, e.node.Keys()[0], func(c *Config) {
		c.Retry = Retry{Attempts: 12, Base: 20 * time.Millisecond, Max: 150 * time.Millisecond}
	})
	esc, err := NewEscrow(patient, e.escrow)
	require.NoError(t, err)
	_, err = esc.Domain(ctx)
	require.NoError(t, err)
	e.node.SetUnavailable(true)
	up := time.AfterFunc(150*time.Millisecond, func() { e.node.SetUnavailable(false) })
	defer up.Stop()
	ch, err := esc.Open(ctx, e.payee.Address(), amt(1000), e.node.Now().Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, amt(1000), ch.Deposit)
}

// TestDevnetChainDownAtClose: the node is down when the payee redeems: a
// clear error, the voucher stays in the payee's store, and the payee
// redeems it once the node is back, before expiry.
func TestDevnetChainDownAtClose(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil)
	payer, payee, store := e.ledgers(t)
	ch, err := payer.Open(ctx, e.payee.Address(), amt(10_000), e.node.Now().Add(24*time.Hour))
	require.NoError(t, err)
	_, err = payee.Accept(ctx, ch.ID)
	require.NoError(t, err)
	for i := range 3 {
		sv, err := payer.PayFor(ch.ID, [20]byte{1}, i, amt(1000))
		require.NoError(t, err)
		_, err = payee.Receive(sv)
		require.NoError(t, err)
	}
	e.node.SetUnavailable(true)
	_, err = payee.Redeem(ctx, ch.ID, true)
	require.ErrorIs(t, err, paychan.ErrChainUnavailable)
	t.Logf("error: %v", err)
	rec, err := store.Payee(ch.ID)
	require.NoError(t, err)
	assert.Equal(t, amt(3000), rec.Best.Amount, "no voucher lost")
	tot, err := payee.Totals()
	require.NoError(t, err)
	assert.Equal(t, amt(3000), tot.Redeemable)

	e.node.Advance(12 * time.Hour)
	e.node.SetUnavailable(false)
	got, err := payee.Redeem(ctx, ch.ID, true)
	require.NoError(t, err)
	assert.Equal(t, amt(3000), got)
	assert.Equal(t, add(e.payeeT, 3000), e.node.TokenBalance(e.payee.Address()))
	assert.Equal(t, sub(e.payerTok, 3000), e.node.TokenBalance(e.payerKey.Address()))
}

// liar is a gRPC interceptor that lets broadcasts through to the node but
// answers Unavailable to the client, as a connection lost right after
// sending would: the transaction's outcome is unknown to the client.
type liar struct {
	mu   sync.Mutex
	lies int
	ids  map[TxID]int
}

func (l *liar) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	if method != "/protocol.Wallet/BroadcastTransaction" {
		return err
	}
	id, _ := TxIDOf(req.(*core.Transaction))
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ids[id]++
	if l.lies > 0 {
		l.lies--
		return status.Error(codes.Unavailable, "connection reset by peer")
	}
	return err
}

// TestDevnetUnknownOutcomeNeverResigned: the payee's close was broadcast
// but the client never heard back. The next redeem looks the transaction
// up and rebroadcasts the same bytes (the node answers DUP_TRANSACTION)
// instead of signing a second one.
func TestDevnetUnknownOutcomeNeverResigned(t *testing.T) {
	ctx := context.Background()
	l := &liar{ids: make(map[TxID]int)}
	e := newEnv(t, devnet.Config{}, nil)
	_, payeeC := dialKey(t, e.node, e.node.Keys()[1], func(c *Config) {
		c.DialOptions = append(c.DialOptions, grpc.WithUnaryInterceptor(l.intercept))
	})
	payeeE, err := NewEscrow(payeeC, e.escrow)
	require.NoError(t, err)
	ch := e.open(t, 1000, time.Hour)
	sv := e.voucher(t, ch.ID, 250)

	l.lies = 3 // every broadcast attempt of the close
	_, err = payeeE.Close(ctx, sv)
	require.ErrorIs(t, err, paychan.ErrChainUnavailable)
	var te *TxError
	require.ErrorAs(t, err, &te)
	t.Logf("error: %v", err)
	assert.Equal(t, 3, l.ids[te.Tx.ID], "the same signed bytes, retried")

	assert.Equal(t, te.Tx.ID, payeeE.Pending().ID)
	ch2, err := payeeE.Close(ctx, sv)
	require.NoError(t, err, "the earlier close is found, not signed again")
	assert.Nil(t, payeeE.Pending())
	assert.Equal(t, paychan.ChannelClosed, ch2.State)
	assert.Len(t, l.ids, 1, "one transaction signed in all")
	assert.Equal(t, add(e.payeeT, 250), e.node.TokenBalance(e.payee.Address()), "paid once")

	// An unknown outcome, then a different call: the old transaction is
	// settled first, and the new call sees its effect.
	ch = e.open(t, 1000, time.Hour)
	l.lies = 3
	_, err = payeeE.Close(ctx, e.voucher(t, ch.ID, 100))
	require.ErrorAs(t, err, &te)
	_, err = payeeE.Claim(ctx, e.voucher(t, ch.ID, 200))
	assert.ErrorIs(t, err, paychan.ErrChannelClosed, "the close went through before")
	assert.Len(t, l.ids, 2)
	assert.Equal(t, add(e.payeeT, 350), e.node.TokenBalance(e.payee.Address()))
}

// TestDevnetDroppedTransaction: a broadcast the node accepted but never
// mined gives a receipt timeout; rebroadcasting the same signed
// transaction recovers, by hand or by Confirm's own rebroadcasts.
func TestDevnetDroppedTransaction(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, func(c *Config) { c.Rebroadcasts = -1 })
	data, err := trc20ABI().Pack("approve", evmAddr(e.escrow), amt(77).Big())
	require.NoError(t, err)
	e.node.DropNext(1)
	tx, err := e.payerC.Send(ctx, e.token, data)
	require.NoError(t, err)
	_, err = e.payerC.WaitReceipt(ctx, tx.ID)
	require.ErrorIs(t, err, ErrReceiptTimeout)
	_, err = e.payerC.Confirm(ctx, tx)
	var te *TxError
	require.ErrorAs(t, err, &te)
	assert.ErrorIs(t, err, ErrReceiptTimeout)
	assert.Contains(t, err.Error(), "rebroadcast")
	require.NoError(t, e.payerC.Rebroadcast(ctx, te.Tx))
	r, err := e.payerC.WaitReceipt(ctx, tx.ID)
	require.NoError(t, err)
	assert.Equal(t, tx.ID, r.TxID)
	allowed, err := e.payerC.Allowance(ctx, e.token, e.payerKey.Address(), e.escrow)
	require.NoError(t, err)
	assert.Equal(t, amt(77), allowed)

	// With rebroadcasts on, Open rides out a drop of its approve and of
	// its open.
	_, c := dialKey(t, e.node, e.node.Keys()[0], nil)
	esc, err := NewEscrow(c, e.escrow)
	require.NoError(t, err)
	e.node.DropNext(2)
	start := time.Now()
	ch, err := esc.Open(ctx, e.payee.Address(), amt(500), e.node.Now().Add(time.Hour))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 2*c.Config().ReceiptTimeout)
	assert.Equal(t, amt(500), ch.Deposit)
}

// TestDevnetExpiredTransactionSignedAnew: a dropped open whose transaction
// expires is signed again on the next call — once: one channel.
func TestDevnetExpiredTransactionSignedAnew(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, func(c *Config) { c.Rebroadcasts = -1 })
	exp := e.node.Now().Add(24 * time.Hour)
	// Approve first, so that the open is the only transaction.
	_, err := e.payerC.Approve(ctx, e.token, e.escrow, amt(1000))
	require.NoError(t, err)
	e.node.DropNext(1)
	_, err = e.payerE.Open(ctx, e.payee.Address(), amt(1000), exp)
	require.ErrorIs(t, err, ErrReceiptTimeout)
	e.node.Advance(2 * time.Minute) // past the transaction's expiration
	ch, err := e.payerE.Open(ctx, e.payee.Address(), amt(1000), exp)
	require.NoError(t, err)
	esc, pay, pee := e.escrow.EVM(), e.payerKey.Address().EVM(), e.payee.Address().EVM()
	assert.Equal(t, paychan.ChannelID(crypto.Keccak256Hash(esc[:], pay[:], pee[:], []byte{0, 0, 0, 0, 0, 0, 0, 1})), ch.ID, "the first channel: the dropped open never ran")
	assert.Equal(t, sub(e.payerTok, 1000), e.node.TokenBalance(e.payerKey.Address()))

	// Expired, seen by Confirm.
	e.node.DropNext(1)
	d, err := trc20ABI().Pack("approve", evmAddr(e.escrow), amt(1).Big())
	require.NoError(t, err)
	tx, err := e.payerC.Send(ctx, e.token, d)
	require.NoError(t, err)
	e.node.Advance(2 * time.Minute)
	_, err = e.payerC.Confirm(ctx, tx)
	assert.ErrorIs(t, err, ErrTxExpired)
	assert.ErrorIs(t, e.payerC.Rebroadcast(ctx, tx), ErrTxExpired)
}

// TestDevnetInsufficientTRX: an account without the TRX for the energy is
// told how much it lacks before anything is burnt; a fee limit too low for
// the energy is refused the same way. It depends on TRON's costs: 1 TRX
// and 0.1 TRX are below what an approve and an open cost at 210 sun per
// energy, here the devnet's energy (go-ethereum's gas table; TVM's figures
// differ, and TestNile logs them beside the devnet's).
func TestDevnetInsufficientTRX(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil)
	poorKey, err := crypto.ToECDSA(crypto.Keccak256([]byte("poor")))
	require.NoError(t, err)
	poor := paychan.AddressOf(&poorKey.PublicKey)
	require.NoError(t, e.node.FundTRX(poor, SunPerTRX))
	require.NoError(t, e.node.MintTokens(poor, amt(10_000)))
	_, c := dialKey(t, e.node, poorKey, nil)
	esc, err := NewEscrow(c, e.escrow)
	require.NoError(t, err)
	_, err = esc.Open(ctx, e.payee.Address(), amt(1000), e.node.Now().Add(time.Hour))
	require.ErrorIs(t, err, ErrInsufficientTRX)
	var it *InsufficientTRXError
	require.ErrorAs(t, err, &it)
	assert.Equal(t, int64(SunPerTRX), it.Have)
	assert.Positive(t, it.Shortfall())
	assert.Contains(t, err.Error(), poor.String())
	t.Logf("error: %v", err)
	assert.Equal(t, int64(SunPerTRX), e.node.TRXBalance(poor), "nothing burnt")

	// With the shortfall sent, the approve goes through; then the open
	// says what it lacks; with that sent too, it opens.
	require.NoError(t, e.node.FundTRX(poor, it.Shortfall()))
	_, err = esc.Open(ctx, e.payee.Address(), amt(1000), e.node.Now().Add(time.Hour))
	require.ErrorAs(t, err, &it)
	t.Logf("error: %v", err)
	require.NoError(t, e.node.FundTRX(poor, it.Shortfall()))
	_, err = esc.Open(ctx, e.payee.Address(), amt(1000), e.node.Now().Add(time.Hour))
	require.NoError(t, err, "the estimate leaves the margin the inner token call needs")
	t.Logf("left after approve and open: %s", formatSun(e.node.TRXBalance(poor)))

	_, low := dialKey(t, e.node, e.node.Keys()[2], func(c *Config) { c.FeeLimit = SunPerTRX / 10 })
	_, err = low.Approve(ctx, e.token, e.escrow, amt(1))
	require.ErrorIs(t, err, ErrOutOfEnergy)
	var oe *OutOfEnergyError
	require.ErrorAs(t, err, &oe)
	assert.Greater(t, oe.Need, oe.FeeLimit)
	t.Logf("error: %v", err)
}

// TestDevnetInsufficientTokens: a balance or an allowance short of the
// deposit gives *paychan.InsufficientFundsError with the shortfall.
func TestDevnetInsufficientTokens(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil)
	exp := e.node.Now().Add(time.Hour)
	bal := e.node.TokenBalance(e.payerKey.Address())
	_, err := e.payerE.Open(ctx, e.payee.Address(), add(bal, 50), exp)
	var ife *paychan.InsufficientFundsError
	require.ErrorAs(t, err, &ife)
	assert.Equal(t, amt(50), ife.Shortfall)
	assert.Contains(t, err.Error(), "get more tokens")
	_, err = e.payerC.Transfer(ctx, e.token, e.payee.Address(), add(bal, 7))
	require.ErrorAs(t, err, &ife)
	assert.Equal(t, amt(7), ife.Shortfall)

	manual, err := NewEscrow(e.payerC, e.escrow, WithApprove(ApproveNever))
	require.NoError(t, err)
	_, err = manual.Open(ctx, e.payee.Address(), amt(100), exp)
	require.ErrorAs(t, err, &ife)
	assert.Equal(t, amt(100), ife.Shortfall)
	assert.Contains(t, err.Error(), "approve")
	_, err = e.payerC.Approve(ctx, e.token, e.escrow, amt(60))
	require.NoError(t, err)
	_, err = manual.Open(ctx, e.payee.Address(), amt(100), exp)
	require.ErrorAs(t, err, &ife)
	assert.Equal(t, amt(40), ife.Shortfall)
	ch, err := manual.Open(ctx, e.payee.Address(), amt(60), exp)
	require.NoError(t, err)
	assert.Equal(t, amt(60), ch.Deposit)

	// A failed transfer into the escrow is explained with the shortfall.
	revert := &RevertError{Reason: "escrow: token transfer failed"}
	err = manual.fail(ctx, "open", e.token, amt(30), revert)
	require.ErrorAs(t, err, &ife)
	assert.Equal(t, amt(30), ife.Shortfall, "the allowance is spent")
	assert.ErrorIs(t, err, ErrTokenTransfer)

	unlimited, err := NewEscrow(e.payerC, e.escrow, WithApprove(ApproveUnlimited))
	require.NoError(t, err)
	for range 2 {
		_, err = unlimited.Open(ctx, e.payee.Address(), amt(10), exp)
		require.NoError(t, err)
		allowed, err := e.payerC.Allowance(ctx, e.token, e.payerKey.Address(), e.escrow)
		require.NoError(t, err)
		assert.Equal(t, maxAmount, allowed)
	}
}

func TestDevnetTRC20(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil)
	d, err := e.payerC.Decimals(ctx, e.token)
	require.NoError(t, err)
	assert.Equal(t, uint8(18), d)
	third := testSigner(t, 33).Address()
	r, err := e.payerC.Transfer(ctx, e.token, third, amt(12345))
	require.NoError(t, err)
	require.Len(t, r.Logs, 1, "one Transfer event")
	assert.Equal(t, e.token, r.Logs[0].Address)
	assert.Equal(t, trc20ABI().Events["Transfer"].ID, common.Hash(r.Logs[0].Topics[0]))
	got, err := e.payerC.BalanceOf(ctx, e.token, third)
	require.NoError(t, err)
	assert.Equal(t, amt(12345), got)
	assert.Equal(t, amt(12345), e.node.TokenBalance(third))
	_, err = e.payerC.Approve(ctx, e.token, third, amt(9))
	require.NoError(t, err)
	got, err = e.payeeC.Allowance(ctx, e.token, e.payerKey.Address(), third)
	require.NoError(t, err)
	assert.Equal(t, amt(9), got)
	assert.Positive(t, r.BlockNumber)
	assert.Positive(t, r.EnergyUsed)

	_, err = e.payerC.TransferTRX(ctx, third, 3*SunPerTRX)
	require.NoError(t, err)
	trx, err := e.payerC.TRXBalance(ctx, third)
	require.NoError(t, err)
	assert.Equal(t, int64(3*SunPerTRX), trx)

	// A read-only client reads but does not send.
	ro, err := Dial(ctx, testConfig(e.node.Addr(), nil))
	require.NoError(t, err)
	defer ro.Close()
	got, err = ro.BalanceOf(ctx, e.token, third)
	require.NoError(t, err)
	assert.Equal(t, amt(12345), got)
	_, err = ro.Transfer(ctx, e.token, third, amt(1))
	assert.ErrorIs(t, err, ErrNoSigner)
	roE, err := NewEscrow(ro, e.escrow)
	require.NoError(t, err)
	_, err = roE.Open(ctx, third, amt(1), e.node.Now().Add(time.Hour))
	assert.ErrorIs(t, err, ErrNoSigner)

	// A call of an address without code is the node's refusal.
	_, err = e.payerC.BalanceOf(ctx, third, third)
	assert.Error(t, err)
	t.Logf("no contract: %v", err)
}

// lifecycle opens, tops up, claims and closes a channel of escrow between
// two clients' accounts, checking token balances through the clients. It
// is the life cycle TestNile runs on a real chain.
func lifecycle(t *testing.T, ctx context.Context, payerC, payeeC *Client, escrow btt.Address) {
	payerE, err := NewEscrow(payerC, escrow)
	require.NoError(t, err)
	payeeE, err := NewEscrow(payeeC, escrow)
	require.NoError(t, err)
	dom, err := payerE.Domain(ctx)
	require.NoError(t, err)
	payer, payee := payerC.Address(), payeeC.Address()
	bal := func(a btt.Address) btt.Amount {
		b, err := payerC.BalanceOf(ctx, dom.Token, a)
		require.NoError(t, err)
		return b
	}
	payer0, payee0 := bal(payer), bal(payee)
	now, err := payerE.Now(ctx)
	require.NoError(t, err)

	start := time.Now()
	ch, err := payerE.Open(ctx, payee, amt(1000), now.Add(2*time.Hour))
	require.NoError(t, err)
	t.Logf("open: %v", time.Since(start))
	start = time.Now()
	ch, err = payerE.TopUp(ctx, ch.ID, amt(500), ch.Expiry.Add(time.Hour))
	require.NoError(t, err)
	t.Logf("top up: %v", time.Since(start))
	assert.Equal(t, amt(1500), ch.Deposit)
	sign := func(a uint64) paychan.SignedVoucher {
		sv, err := paychan.Sign(payerC.Signer(), paychan.Voucher{ChainID: dom.ChainID, Escrow: escrow, Channel: ch.ID, Amount: amt(a)})
		require.NoError(t, err)
		return sv
	}
	signer, err := payeeE.CheckVoucher(ctx, sign(400))
	require.NoError(t, err)
	assert.Equal(t, payer, signer)
	start = time.Now()
	ch, err = payeeE.Claim(ctx, sign(400))
	require.NoError(t, err)
	t.Logf("claim: %v", time.Since(start))
	assert.Equal(t, amt(400), ch.Paid)
	_, err = payeeE.Claim(ctx, sign(400))
	assert.ErrorIs(t, err, paychan.ErrNotIncreasing)
	_, err = payeeE.Claim(ctx, sign(1501))
	assert.ErrorIs(t, err, paychan.ErrOverDeposit)
	start = time.Now()
	ch, err = payeeE.Close(ctx, sign(900))
	require.NoError(t, err)
	t.Logf("close: %v", time.Since(start))
	assert.Equal(t, paychan.ChannelClosed, ch.State)
	assert.Equal(t, add(payee0, 900), bal(payee))
	assert.Equal(t, sub(payer0, 900), bal(payer))
	_, err = payerE.Reclaim(ctx, ch.ID)
	assert.ErrorIs(t, err, paychan.ErrChannelClosed)
}

// TestDevnetDeployAndLifecycle deploys a token and an escrow through the
// client (as TestNile does on a real chain) and runs the life cycle on
// them. Its fee limit of 1,000 TRX depends on TRON's costs: the escrow's
// deployment takes about 1.6 M energy (340 TRX at 210 sun) on the devnet.
func TestDevnetDeployAndLifecycle(t *testing.T) {
	ctx := context.Background()
	node := startNode(t, devnet.Config{})
	_, payerC := dialKey(t, node, node.Keys()[2], func(c *Config) { c.FeeLimit = 1000 * SunPerTRX })
	_, payeeC := dialKey(t, node, node.Keys()[3], nil)
	token, err := DeployTestToken(ctx, payerC)
	require.NoError(t, err)
	_, err = MintTestToken(ctx, payerC, token, payerC.Address(), btt.BTT(10))
	require.NoError(t, err)
	_, err = MintTestToken(ctx, payeeC, token, payeeC.Address(), btt.BTT(10))
	assert.ErrorIs(t, err, ErrNotOwner)
	esc, err := DeployEscrow(ctx, payerC, token, time.Minute)
	require.NoError(t, err)
	period, err := esc.ChallengePeriod(ctx)
	require.NoError(t, err)
	assert.Equal(t, time.Minute, period)
	dom, err := esc.Domain(ctx)
	require.NoError(t, err)
	assert.Equal(t, token, dom.Token)
	lifecycle(t, ctx, payerC, payeeC, esc.Address())

	_, err = DeployEscrow(ctx, payerC, token, 1500*time.Millisecond)
	assert.Error(t, err)
	_, _, err = payerC.Deploy(ctx, contracts.EscrowABIJSON(), nil, "empty")
	assert.Error(t, err)
}

// TestDevnetConcurrentChannels: one payer's Escrow used from several
// goroutines (calls are serialized), and a reader alongside.
func TestDevnetConcurrentChannels(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil, WithApprove(ApproveUnlimited))
	var wg sync.WaitGroup
	var opened atomic.Int32
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.payerE.Open(ctx, e.payee.Address(), amt(10), e.node.Now().Add(time.Hour)); err == nil {
				opened.Add(1)
			} else {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(4), opened.Load())
	assert.Equal(t, sub(e.payerTok, 40), e.node.TokenBalance(e.payerKey.Address()))
	out, err := e.payerC.callABI(ctx, e.escrow, e.payerE.abi, "nonce")
	require.NoError(t, err)
	assert.Equal(t, uint64(4), out[0])
}

// BenchmarkDevnetChannel times a channel's open, claim and close on the
// devnet, with receipts and reads from solidified blocks (the default) and
// from the head block side by side: on the devnet, whose blocks are solid
// at once, the difference is the solidity API's round trips alone.
func BenchmarkDevnetChannel(b *testing.B) {
	for _, f := range []Finality{FinalitySolid, FinalityHead} {
		b.Run(f.String(), func(b *testing.B) {
			ctx := context.Background()
			e := newEnv(b, devnet.Config{}, func(c *Config) { c.Finality = f }, WithApprove(ApproveUnlimited))
			var open, claim, closing time.Duration
			for b.Loop() {
				t0 := time.Now()
				ch, err := e.payerE.Open(ctx, e.payee.Address(), amt(100), e.node.Now().Add(time.Hour))
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if _, err := e.payeeE.Claim(ctx, e.voucher(b, ch.ID, 10)); err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				if _, err := e.payeeE.Close(ctx, e.voucher(b, ch.ID, 20)); err != nil {
					b.Fatal(err)
				}
				open, claim, closing = open+t1.Sub(t0), claim+t2.Sub(t1), closing+time.Since(t2)
			}
			n := float64(b.N)
			b.ReportMetric(float64(open.Microseconds())/n, "µs/open")
			b.ReportMetric(float64(claim.Microseconds())/n, "µs/claim")
			b.ReportMetric(float64(closing.Microseconds())/n, "µs/close")
		})
	}
}

// TestDevnetSlowNode: a node slower than Config.Timeout is unavailable
// (the deadline of each call), and reachable again once it is fast.
func TestDevnetSlowNode(t *testing.T) {
	ctx := context.Background()
	node := startNode(t, devnet.Config{})
	_, c := dialKey(t, node, node.Keys()[0], func(c *Config) { c.Timeout = 50 * time.Millisecond })
	node.SetLatency(200 * time.Millisecond)
	_, err := c.Now(ctx)
	require.ErrorIs(t, err, paychan.ErrChainUnavailable)
	assert.Contains(t, err.Error(), "DeadlineExceeded")
	node.SetLatency(5 * time.Millisecond)
	_, err = c.Now(ctx)
	require.NoError(t, err)
	node.SetLatency(0)

	// The caller's own deadline is its own, not the node's fault.
	node.SetLatency(time.Second)
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err = c.Now(cctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, paychan.ErrChainUnavailable)
	node.SetLatency(0)
}

// TestDevnetCongestion: blocks stop for a while. The open's transaction
// gets no receipt in time (it waits in the node, rebroadcasts answer
// DUP_TRANSACTION); the next Open with the same arguments waits for that
// transaction instead of signing another, and gets its channel.
func TestDevnetCongestion(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, func(c *Config) { c.Rebroadcasts = 1 })
	_, err := e.payerC.Approve(ctx, e.token, e.escrow, amt(5000))
	require.NoError(t, err)
	exp := e.node.Now().Add(time.Hour)
	e.node.SetBlockDelay(30 * time.Second)
	_, err = e.payerE.Open(ctx, e.payee.Address(), amt(1000), exp)
	require.ErrorIs(t, err, ErrReceiptTimeout)
	var te *TxError
	require.ErrorAs(t, err, &te)
	t.Logf("error: %v", err)
	require.NotNil(t, e.payerE.Pending())
	assert.Equal(t, te.Tx.ID, e.payerE.Pending().ID)
	e.node.SetBlockDelay(0) // the held block is mined
	ch, err := e.payerE.Open(ctx, e.payee.Address(), amt(1000), exp)
	require.NoError(t, err)
	assert.Nil(t, e.payerE.Pending())
	assert.Equal(t, amt(1000), ch.Deposit)
	assert.Equal(t, sub(e.payerTok, 1000), e.node.TokenBalance(e.payerKey.Address()), "one channel, not two")
	r, err := e.payerC.WaitReceipt(ctx, te.Tx.ID)
	require.NoError(t, err, "the channel is the first transaction's")
	ev, err := e.payerE.opened(r)
	require.NoError(t, err)
	assert.Equal(t, ev.ID, ch.ID)
}

// TestDevnetFailuresInBlock: transactions that pass their simulation but
// fail in the block, because another one got there first: the receipt
// comes with the fee paid and the mapped error. The out-of-energy case
// depends on the costs: its balance is sized from the devnet's simulation
// (go-ethereum's gas table, not TVM's).
func TestDevnetFailuresInBlock(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil)
	ch := e.open(t, 1000, time.Hour)
	pack := func(a uint64) []byte {
		sv := e.voucher(t, ch.ID, a)
		d, err := e.payeeE.abi.Pack("claim", [32]byte(ch.ID), sv.Amount.Big(), sv.Sig[:])
		require.NoError(t, err)
		return d
	}
	e.node.SetBlockDelay(30 * time.Second)
	tx1, err := e.payeeC.Send(ctx, e.escrow, pack(300))
	require.NoError(t, err)
	tx2, err := e.payeeC.Send(ctx, e.escrow, pack(200))
	require.NoError(t, err, "the simulation still sees paid = 0")
	e.node.SetBlockDelay(0)
	_, err = e.payeeC.WaitReceipt(ctx, tx1.ID)
	require.NoError(t, err)
	r, err := e.payeeC.WaitReceipt(ctx, tx2.ID)
	require.NotNil(t, r, "a failed transaction has a receipt")
	assert.ErrorIs(t, err, paychan.ErrNotIncreasing)
	var re *RevertError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, tx2.ID.String(), re.TxID)
	assert.Positive(t, r.Fee, "a revert in a block still costs its energy")
	t.Logf("error: %v (fee %s)", err, formatSun(r.Fee))

	// Two transfers that each fit the account's TRX, but not both: the
	// second runs out of energy.
	poorKey, err := crypto.ToECDSA(crypto.Keccak256([]byte("poor 2")))
	require.NoError(t, err)
	poor := paychan.AddressOf(&poorKey.PublicKey)
	require.NoError(t, e.node.MintTokens(poor, amt(10)))
	_, c := dialKey(t, e.node, poorKey, nil)
	d1, err := trc20ABI().Pack("transfer", evmAddr(testSigner(t, 41).Address()), amt(1).Big())
	require.NoError(t, err)
	d2, err := trc20ABI().Pack("transfer", evmAddr(testSigner(t, 42).Address()), amt(1).Big())
	require.NoError(t, err)
	_, energy, err := c.simulate(ctx, poor, e.token, d1)
	require.NoError(t, err)
	require.NoError(t, e.node.FundTRX(poor, energy*DefaultEnergyPrice*3/2))
	e.node.SetBlockDelay(30 * time.Second)
	tx1, err = c.Send(ctx, e.token, d1)
	require.NoError(t, err)
	tx2, err = c.Send(ctx, e.token, d2)
	require.NoError(t, err)
	e.node.SetBlockDelay(0)
	_, err = c.WaitReceipt(ctx, tx1.ID)
	require.NoError(t, err)
	r, err = c.WaitReceipt(ctx, tx2.ID)
	require.NotNil(t, r)
	t.Logf("error: %v", err)
	var oe *OutOfEnergyError
	require.ErrorAs(t, err, &oe)
	assert.ErrorIs(t, err, ErrOutOfEnergy)
	assert.Equal(t, tx2.ID.String(), oe.TxID)
	assert.Equal(t, c.Config().FeeLimit, oe.FeeLimit)
	assert.ErrorIs(t, err, ErrInsufficientTRX, "the account's TRX, not the fee limit, ran out")
	assert.Contains(t, err.Error(), "send TRX")
}

// TestDevnetTimedBlocks: blocks every 20 ms of wall time, as a real chain
// mines every 3 s: the receipts come from polling.
func TestDevnetTimedBlocks(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{BlockInterval: 20 * time.Millisecond}, func(c *Config) { c.ReceiptTimeout = 2 * time.Second })
	ch := e.open(t, 1000, time.Hour)
	start := time.Now()
	ch, err := e.payeeE.Close(ctx, e.voucher(t, ch.ID, 10))
	require.NoError(t, err)
	t.Logf("close with 20 ms blocks: %v", time.Since(start))
	assert.Equal(t, paychan.ChannelClosed, ch.State)
	assert.Equal(t, add(e.payeeT, 10), e.node.TokenBalance(e.payee.Address()))
}
