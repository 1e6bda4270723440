package tron

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

// nileSigner reads the key TestNile runs with from the environment.
func nileSigner(t *testing.T) *KeySigner {
	t.Helper()
	if hexKey := os.Getenv("BTTSPEED_TRON_KEY"); hexKey != "" {
		s, err := ParseKeyHex(hexKey)
		require.NoError(t, err, "BTTSPEED_TRON_KEY")
		return s
	}
	if path := os.Getenv("BTTSPEED_TRON_KEYSTORE"); path != "" {
		s, err := LoadKeystore(path, os.Getenv("BTTSPEED_TRON_PASSPHRASE"))
		require.NoError(t, err, "BTTSPEED_TRON_KEYSTORE")
		return s
	}
	t.Fatal("BTTSPEED_TRON_NODE is set but no key: set BTTSPEED_TRON_KEY (hex) or BTTSPEED_TRON_KEYSTORE and BTTSPEED_TRON_PASSPHRASE")
	return nil
}

// TestNile runs the channel's life cycle on a real TRON node (see the
// package documentation): it deploys a TestToken and an escrow there, funds
// a fresh payee key with a little TRX, opens, tops up, claims and closes;
// then it measures what each escrow call costs there — the energy TVM
// charges — and logs it beside what the same calls cost on the devnet,
// whose energy is go-ethereum's gas table (see tron/devnet's doc).
func TestNile(t *testing.T) {
	addr := os.Getenv("BTTSPEED_TRON_NODE")
	if addr == "" {
		t.Skip("set BTTSPEED_TRON_NODE (gRPC host:port, e.g. grpc.nile.trongrid.io:50051) and BTTSPEED_TRON_KEY, or BTTSPEED_TRON_KEYSTORE and BTTSPEED_TRON_PASSPHRASE, to run the life cycle on a real TRON node")
	}
	// Every transaction waits for its block to solidify, about a minute
	// on a real chain.
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	payerKey := nileSigner(t)
	cfg := Config{
		Addr:           addr,
		Insecure:       os.Getenv("BTTSPEED_TRON_INSECURE") == "1",
		APIKey:         os.Getenv("BTTSPEED_TRON_APIKEY"),
		FeeLimit:       1000 * SunPerTRX,
		ReceiptTimeout: time.Minute,
		PollInterval:   2 * time.Second,
		Signer:         payerKey,
		SolidityAddr:   os.Getenv("BTTSPEED_TRON_SOLIDITY"),
	}
	payerLog, payeeLog := &txLog{}, &txLog{}
	cfg.DialOptions = []grpc.DialOption{grpc.WithUnaryInterceptor(payerLog.intercept)}
	payerC, err := Dial(ctx, cfg)
	require.NoError(t, err)
	defer payerC.Close()
	chainID, err := payerC.ChainID(ctx)
	require.NoError(t, err)
	trx, err := payerC.TRXBalance(ctx, payerKey.Address())
	require.NoError(t, err)
	t.Logf("node %s, chain id %#x, account %s with %s", addr, chainID, payerKey.Address(), formatSun(trx))
	if trx < 700*SunPerTRX {
		t.Fatalf("%s has %s; the test needs about 700 TRX of fees (Nile's faucet: https://nileex.io/join/getJoinPage)", payerKey.Address(), formatSun(trx))
	}

	token, err := DeployTestToken(ctx, payerC)
	require.NoError(t, err)
	t.Logf("TestToken at %s", token)
	_, err = MintTestToken(ctx, payerC, token, payerKey.Address(), btt.BTT(1))
	require.NoError(t, err)
	esc, err := DeployEscrow(ctx, payerC, token, time.Minute)
	require.NoError(t, err)
	t.Logf("BttSpeedEscrow at %s", esc.Address())

	k, err := crypto.GenerateKey()
	require.NoError(t, err)
	payeeKey, err := NewKeySigner(k)
	require.NoError(t, err)
	_, err = payerC.TransferTRX(ctx, payeeKey.Address(), 80*SunPerTRX)
	require.NoError(t, err)
	pcfg := cfg
	pcfg.Signer, pcfg.FeeLimit = payeeKey, 100*SunPerTRX
	pcfg.DialOptions = []grpc.DialOption{grpc.WithUnaryInterceptor(payeeLog.intercept)}
	payeeC, err := Dial(ctx, pcfg)
	require.NoError(t, err)
	defer payeeC.Close()

	lifecycle(t, ctx, payerC, payeeC, esc.Address())
	real := measureCosts(t, ctx, payerC, payeeC, payerLog, payeeLog, esc.Address(), nileWait)
	dev := devnetCosts(t, ctx)
	t.Logf("energy and fees of the escrow's calls: %s (TVM) beside the devnet (go-ethereum's gas table):\n%s", addr, costTable(real, dev))

	// Give the payee's TRX back (it used free bandwidth or a little TRX).
	if left, err := payeeC.TRXBalance(ctx, payeeKey.Address()); err == nil && left > 2*SunPerTRX {
		if _, err := payeeC.TransferTRX(ctx, payerKey.Address(), left-2*SunPerTRX); err != nil {
			t.Logf("returning the payee's TRX: %v", err)
		}
	}
	after, err := payerC.TRXBalance(ctx, payerKey.Address())
	require.NoError(t, err)
	t.Logf("spent %s in all", formatSun(trx-after))
}

// TestNileOnDevnet runs TestNile's code against the devnet, through the
// same environment variables (the key from a keystore file), so that it
// cannot rot while no one has a Nile account at hand.
func TestNileOnDevnet(t *testing.T) {
	node := startNode(t, devnet.Config{})
	path := filepath.Join(t.TempDir(), "key.json")
	require.NoError(t, SaveKeystore(path, node.Keys()[3], "pass", KDFLight))
	t.Setenv("BTTSPEED_TRON_NODE", node.Addr())
	t.Setenv("BTTSPEED_TRON_INSECURE", "1")
	t.Setenv("BTTSPEED_TRON_KEY", "")
	t.Setenv("BTTSPEED_TRON_KEYSTORE", path)
	t.Setenv("BTTSPEED_TRON_PASSPHRASE", "pass")
	nileWait = node.Advance
	defer func() { nileWait = time.Sleep }()
	TestNile(t)
}

// nileWait lets d of chain time pass on TestNile's node: real time on a
// real chain; TestNileOnDevnet advances its devnet's clock instead.
var nileWait = time.Sleep

// txLog is a gRPC interceptor that records the transactions a client
// broadcast, so their receipts can be read after an Escrow call.
type txLog struct {
	mu  sync.Mutex
	ids []TxID
}

func (l *txLog) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	if method == "/protocol.Wallet/BroadcastTransaction" {
		if id, ierr := TxIDOf(req.(*core.Transaction)); ierr == nil {
			l.mu.Lock()
			if len(l.ids) == 0 || l.ids[len(l.ids)-1] != id {
				l.ids = append(l.ids, id)
			}
			l.mu.Unlock()
		}
	}
	return err
}

func (l *txLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ids)
}

func (l *txLog) since(n int) []TxID {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]TxID(nil), l.ids[n:]...)
}

// opCost is what one escrow call cost: the energy and fees (sun) of its
// transactions.
type opCost struct {
	op          string
	energy, fee int64
}

// measureCosts runs each escrow call once — the payer's approve, open,
// top-up, start-close and reclaim, the payee's claim and close — and
// returns the receipts' energy and fees. wait lets the chain's time pass
// (the challenge period before the reclaim).
func measureCosts(t *testing.T, ctx context.Context, payerC, payeeC *Client, payerLog, payeeLog *txLog, escrow btt.Address, wait func(time.Duration)) []opCost {
	t.Helper()
	payerE, err := NewEscrow(payerC, escrow)
	require.NoError(t, err)
	payeeE, err := NewEscrow(payeeC, escrow)
	require.NoError(t, err)
	dom, err := payerE.Domain(ctx)
	require.NoError(t, err)
	period, err := payerE.ChallengePeriod(ctx)
	require.NoError(t, err)
	var costs []opCost
	run := func(op string, c *Client, l *txLog, f func() error) {
		t.Helper()
		n := l.mark()
		require.NoError(t, f(), op)
		cost := opCost{op: op}
		for _, id := range l.since(n) {
			r, err := c.WaitReceipt(ctx, id)
			require.NoError(t, err, "%s: receipt of %s", op, id)
			cost.energy += r.EnergyUsed
			cost.fee += r.Fee
		}
		costs = append(costs, cost)
	}
	now, err := payerE.Now(ctx)
	require.NoError(t, err)
	var ch paychan.Channel
	sign := func(a uint64) paychan.SignedVoucher {
		sv, err := paychan.Sign(payerC.Signer(), paychan.Voucher{ChainID: dom.ChainID, Escrow: escrow, Channel: ch.ID, Amount: amt(a)})
		require.NoError(t, err)
		return sv
	}
	run("approve", payerC, payerLog, func() error { _, err := payerC.Approve(ctx, dom.Token, escrow, amt(10_000)); return err })
	run("open", payerC, payerLog, func() (err error) {
		ch, err = payerE.Open(ctx, payeeC.Address(), amt(1000), now.Add(2*time.Hour))
		return err
	})
	run("top-up", payerC, payerLog, func() (err error) { ch, err = payerE.TopUp(ctx, ch.ID, amt(500), ch.Expiry.Add(time.Hour)); return err })
	run("claim", payeeC, payeeLog, func() error { _, err := payeeE.Claim(ctx, sign(400)); return err })
	run("close", payeeC, payeeLog, func() error { _, err := payeeE.Close(ctx, sign(900)); return err })
	ch, err = payerE.Open(ctx, payeeC.Address(), amt(1000), now.Add(2*time.Hour))
	require.NoError(t, err)
	run("start-close", payerC, payerLog, func() error { _, err := payerE.StartClose(ctx, ch.ID); return err })
	wait(period + 2*devnet.BlockTime)
	run("reclaim", payerC, payerLog, func() error { _, err := payerE.Reclaim(ctx, ch.ID); return err })
	return costs
}

// devnetCosts measures the escrow's calls on a devnet with a one-minute
// challenge period, as TestNile's escrow has.
func devnetCosts(t *testing.T, ctx context.Context) []opCost {
	t.Helper()
	node, err := devnet.Start(ctx, devnet.Config{Seed: "nile-costs", DeployContracts: true, ChallengePeriod: time.Minute})
	require.NoError(t, err)
	defer node.Close()
	payerLog, payeeLog := &txLog{}, &txLog{}
	dial := func(i int, l *txLog) *Client {
		s, err := NewKeySigner(node.Keys()[i])
		require.NoError(t, err)
		cfg := testConfig(node.Addr(), s)
		cfg.DialOptions = []grpc.DialOption{grpc.WithUnaryInterceptor(l.intercept)}
		c, err := Dial(ctx, cfg)
		require.NoError(t, err)
		return c
	}
	payerC, payeeC := dial(0, payerLog), dial(1, payeeLog)
	defer payerC.Close()
	defer payeeC.Close()
	return measureCosts(t, ctx, payerC, payeeC, payerLog, payeeLog, node.Escrow(), node.Advance)
}

// costTable lays the two measurements side by side.
func costTable(real, dev []opCost) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-12s %12s %12s %8s %14s %14s\n", "call", "energy", "devnet", "ratio", "fee", "devnet fee")
	for i, r := range real {
		var d opCost
		if i < len(dev) {
			d = dev[i]
		}
		ratio := "-"
		if d.energy > 0 {
			ratio = fmt.Sprintf("%.2f", float64(r.energy)/float64(d.energy))
		}
		fmt.Fprintf(&b, "%-12s %12d %12d %8s %14s %14s\n", r.op, r.energy, d.energy, ratio, formatSun(r.fee), formatSun(d.fee))
	}
	return b.String()
}
