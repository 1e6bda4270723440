package bttc

import (
	"testing"
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/paychan/escrowtest"
)

// suiteChain runs paychan/escrowtest's suite on the development chain,
// through the JSON-RPC, with faults injected between each party's client
// and the node.
type suiteChain struct {
	e              *env
	payer, payee   *Escrow
	fPayer, fPayee *faults
	signer         paychan.Signer
}

var _ escrowtest.Faulty = (*suiteChain)(nil)

func (c *suiteChain) Payer() paychan.Escrow         { return c.payer }
func (c *suiteChain) Payee() paychan.Escrow         { return c.payee }
func (c *suiteChain) PayerSigner() paychan.Signer   { return c.signer }
func (c *suiteChain) PayeeAddress() btt.Address     { return addrOf("payee") }
func (c *suiteChain) Pending(e paychan.Escrow) bool { return e.(*Escrow).Pending() != nil }

func (c *suiteChain) Advance(t testing.TB, d time.Duration) {
	if err := c.e.chain.AdjustTime(d); err != nil {
		t.Fatal(err)
	}
}

func (c *suiteChain) SetDown(down bool) {
	c.fPayer.setDown(down)
	c.fPayee.setDown(down)
}

func (c *suiteChain) DropNextSend() {
	c.fPayer.mu.Lock()
	c.fPayer.drop++
	c.fPayer.mu.Unlock()
}

func (c *suiteChain) LoseNextAnswer() {
	c.fPayer.mu.Lock()
	c.fPayer.loseReply++
	c.fPayer.downAfter = true
	c.fPayer.mu.Unlock()
}

// TestEscrowSuite: the behaviours every paychan.Escrow shares, faults
// included, on BTTC's backend.
func TestEscrowSuite(t *testing.T) {
	escrowtest.Run(t, func(t *testing.T) escrowtest.Chain {
		e := newEnv(t)
		c := &suiteChain{e: e, fPayer: &faults{}, fPayee: &faults{}, signer: signer(t, "payer")}
		c.payer = e.party("payer", c.fPayer)
		c.payee = e.party("payee", c.fPayee)
		return c
	})
}
