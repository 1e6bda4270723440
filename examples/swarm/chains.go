package main

import (
	"context"
	"fmt"
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/bttc"
	"github.com/bttspeed/bttspeed/examples/internal/chain"
	"github.com/bttspeed/bttspeed/examples/internal/chain/devbttc"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/tron"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

// Chains the swarm runs on (-chain).
const (
	ChainTRON = "tron"
	ChainBTTC = "bttc"
)

// chainNet is the chain the swarm's channels are on, in process: TRON's
// devnet or a BTTC dev chain, the same escrow contract on both.
type chainNet interface {
	// Token and Escrow are the deployed contracts.
	Token() btt.Address
	Escrow() btt.Address
	// account dials the chain as funded account i.
	account(ctx context.Context, i int) (paychan.Signer, chain.Escrow, error)
	// balanceOf reads who's token balance; call calls a contract
	// read-only.
	balanceOf(ctx context.Context, token, who btt.Address) (btt.Amount, error)
	call(ctx context.Context, contract btt.Address, data []byte) ([]byte, error)
	// advance moves the chain's clock d ahead, and past a block.
	advance(d time.Duration) error
	// describe says what the chain is, for the first line; via how
	// balances are read.
	describe() string
	via() string
	// addr writes an address as the chain does.
	addr(a btt.Address) string
	close()
}

// tronNet is TRON's devnet.
type tronNet struct {
	node    *devnet.Node
	reader  *tron.Client // reads balances: no key
	clients []*tron.Client
}

func startTRON(ctx context.Context, accounts int, seed string) (*tronNet, error) {
	node, err := devnet.Start(ctx, devnet.Config{
		Accounts: accounts, Seed: seed, DeployContracts: true, ChallengePeriod: challengePeriod,
	})
	if err != nil {
		return nil, fmt.Errorf("devnet: %w", err)
	}
	n := &tronNet{node: node}
	if n.reader, err = tron.Dial(ctx, n.config(nil)); err != nil {
		node.Close()
		return nil, fmt.Errorf("devnet client: %w", err)
	}
	return n, nil
}

// config is a client of the devnet on loopback.
func (n *tronNet) config(signer tron.Signer) tron.Config {
	return tron.Config{
		Addr: n.node.Addr(), Insecure: true, Signer: signer,
		Timeout: 10 * time.Second, ReceiptTimeout: 10 * time.Second, PollInterval: 20 * time.Millisecond,
	}
}

func (n *tronNet) Token() btt.Address  { return n.node.Token() }
func (n *tronNet) Escrow() btt.Address { return n.node.Escrow() }

func (n *tronNet) account(ctx context.Context, i int) (paychan.Signer, chain.Escrow, error) {
	key, err := tron.NewKeySigner(n.node.Keys()[i])
	if err != nil {
		return nil, nil, err
	}
	c, err := tron.Dial(ctx, n.config(key))
	if err != nil {
		return nil, nil, fmt.Errorf("dial the devnet as %s: %w", key.Address(), err)
	}
	n.clients = append(n.clients, c)
	esc, err := tron.NewEscrow(c, n.node.Escrow())
	if err != nil {
		return nil, nil, err
	}
	return key, esc, nil
}

func (n *tronNet) balanceOf(ctx context.Context, token, who btt.Address) (btt.Amount, error) {
	return n.reader.BalanceOf(ctx, token, who)
}

func (n *tronNet) call(ctx context.Context, contract btt.Address, data []byte) ([]byte, error) {
	return n.reader.Call(ctx, contract, data)
}

func (n *tronNet) advance(d time.Duration) error {
	n.node.Advance(d + devnet.BlockTime)
	return nil
}

func (n *tronNet) describe() string {
	return fmt.Sprintf("devnet: %s, chain id %#x, token %s, escrow %s (contracts executed in the EVM, reached through gotron-sdk over gRPC)",
		n.node.Addr(), n.node.ChainID(), n.node.Token(), n.node.Escrow())
}

func (n *tronNet) addr(a btt.Address) string { return chain.TRX.Address(a) }

func (n *tronNet) via() string { return "the devnet through gotron-sdk" }

func (n *tronNet) close() {
	for _, c := range n.clients {
		_ = c.Close()
	}
	_ = n.reader.Close()
	_ = n.node.Close()
}

// bttcNet is a BTTC dev chain (go-ethereum's, over JSON-RPC on loopback).
type bttcNet struct {
	n       *devbttc.Net
	clients []*bttc.Client
}

func startBTTC(ctx context.Context, accounts int, seed string) (*bttcNet, error) {
	n, err := devbttc.Start(ctx, devbttc.Config{Accounts: accounts, Seed: seed, ChallengePeriod: challengePeriod, Tokens: devnet.DefaultTokenMint})
	if err != nil {
		return nil, fmt.Errorf("BTTC dev chain: %w", err)
	}
	return &bttcNet{n: n}, nil
}

func (b *bttcNet) Token() btt.Address  { return b.n.Token }
func (b *bttcNet) Escrow() btt.Address { return b.n.Escrow }

func (b *bttcNet) account(ctx context.Context, i int) (paychan.Signer, chain.Escrow, error) {
	key := b.n.Keys[i]
	signer, err := paychan.NewKeySigner(key)
	if err != nil {
		return nil, nil, err
	}
	c, err := bttc.Dial(ctx, bttc.Config{URL: b.n.URL(), Key: key, Confirmations: 1, PollInterval: 20 * time.Millisecond,
		Timeout: 10 * time.Second, ReceiptTimeout: 10 * time.Second})
	if err != nil {
		return nil, nil, fmt.Errorf("dial the BTTC dev chain as %s: %w", signer.Address(), err)
	}
	b.clients = append(b.clients, c)
	esc, err := bttc.NewEscrow(c, b.n.Escrow, bttc.WithCreationTx(b.n.EscrowTx))
	if err != nil {
		return nil, nil, err
	}
	return signer, esc, nil
}

func (b *bttcNet) balanceOf(ctx context.Context, token, who btt.Address) (btt.Amount, error) {
	return b.n.Owner.BalanceOf(ctx, token, who)
}

func (b *bttcNet) call(ctx context.Context, contract btt.Address, data []byte) ([]byte, error) {
	return b.n.Owner.Call(ctx, contract, data)
}

func (b *bttcNet) advance(d time.Duration) error { return b.n.Chain.AdjustTime(d + time.Second) }

func (b *bttcNet) describe() string {
	return fmt.Sprintf("BTTC dev chain: %s, chain id %d, token %s, escrow %s (go-ethereum's EVM, EIP-712 vouchers, reached through ethclient over JSON-RPC)",
		b.n.URL(), b.n.Chain.ChainID(), b.addr(b.n.Token), b.n.EscrowHex())
}

func (b *bttcNet) addr(a btt.Address) string { return chain.NativeBTT.Address(a) }

func (b *bttcNet) via() string { return "the BTTC dev chain over JSON-RPC" }

func (b *bttcNet) close() {
	for _, c := range b.clients {
		_ = c.Close()
	}
	_ = b.n.Close()
}
