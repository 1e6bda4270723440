package escrowtest_test

import (
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/paychan/escrowtest"
	"github.com/bttspeed/bttspeed/paychan/paychantest"
)

// memChain is paychantest's in-memory escrow under the suite: the
// reference rules pass the behaviours that need no faults. (Its faults
// model an escrow without a transaction journal, so the fault tests are
// the real backends'.)
type memChain struct {
	c            *paychantest.Chain
	payer, payee paychan.Escrow
	signer       *paychan.KeySigner
	payeeAddr    btt.Address
}

func (m *memChain) Payer() paychan.Escrow                 { return m.payer }
func (m *memChain) Payee() paychan.Escrow                 { return m.payee }
func (m *memChain) PayerSigner() paychan.Signer           { return m.signer }
func (m *memChain) PayeeAddress() btt.Address             { return m.payeeAddr }
func (m *memChain) Pending(paychan.Escrow) bool           { return false }
func (m *memChain) Advance(_ testing.TB, d time.Duration) { m.c.Advance(d) }

func TestSuiteOnPaychantest(t *testing.T) {
	escrowtest.Run(t, func(t *testing.T) escrowtest.Chain {
		payerKey, err := crypto.GenerateKey()
		require.NoError(t, err)
		payeeKey, err := crypto.GenerateKey()
		require.NoError(t, err)
		s, err := paychan.NewKeySigner(payerKey)
		require.NoError(t, err)
		payee := paychan.AddressOf(&payeeKey.PublicKey)
		dom := paychan.Domain{ChainID: 199, Escrow: btt.AddressFromEVM([20]byte{1}), Token: btt.AddressFromEVM([20]byte{2}), Scheme: paychan.SchemeEIP712}
		c := paychantest.New(dom, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		c.Mint(s.Address(), btt.NewAmount(1_000_000))
		return &memChain{c: c, payer: c.As(s.Address()), payee: c.As(payee), signer: s, payeeAddr: payee}
	})
}
