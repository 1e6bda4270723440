package tron

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

// solidLag is the devnet's solidity lag in these tests: blocks are mined
// on demand, so a transaction's block solidifies only once the test has
// mined that many more.
const solidLag = 3

// miner mines a block every few milliseconds (each one 3 s of chain time
// later) until stopped: the chain moving on, for what waits for solidity.
func miner(t testing.TB, node *devnet.Node) (stop func()) {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				node.Advance(devnet.BlockTime)
			}
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { close(done); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// finalEnv is a devnet whose blocks solidify solidLag blocks behind the
// head, with clients of the given finality.
func finalEnv(t testing.TB, f Finality) *env {
	t.Helper()
	return newEnv(t, devnet.Config{SolidLag: solidLag}, func(c *Config) {
		c.Finality = f
		c.SolidTimeout = 10 * time.Second
	})
}

// TestDevnetConfirmWaitsForSolid (issue 30 item 10): with FinalitySolid a
// receipt comes only once its block is solidified, and reads see the
// solidified state; with FinalityHead both come from the head block.
func TestDevnetConfirmWaitsForSolid(t *testing.T) {
	for _, f := range []Finality{FinalitySolid, FinalityHead} {
		t.Run(f.String(), func(t *testing.T) {
			ctx := context.Background()
			e := finalEnv(t, f)
			data, err := trc20ABI().Pack("approve", evmAddr(e.escrow), amt(77).Big())
			require.NoError(t, err)
			tx, err := e.payerC.Send(ctx, e.token, data)
			require.NoError(t, err)
			head, _ := e.node.Head()
			require.Less(t, e.node.SolidHead(), head, "the approve's block is not solid yet")

			allowed, err := e.payerC.Allowance(ctx, e.token, e.payerKey.Address(), e.escrow)
			require.NoError(t, err)
			if f == FinalitySolid {
				assert.True(t, allowed.IsZero(), "the solidified state has no approve yet")
			} else {
				assert.Equal(t, amt(77), allowed)
			}

			type result struct {
				r   *Receipt
				err error
			}
			got := make(chan result, 1)
			go func() {
				r, err := e.payerC.Confirm(ctx, tx)
				got <- result{r, err}
			}()
			stop := func() {}
			if f == FinalitySolid {
				select {
				case res := <-got:
					t.Fatalf("a receipt before its block solidified: %+v", res)
				case <-time.After(100 * time.Millisecond):
				}
				stop = miner(t, e.node)
			}
			res := <-got
			stop()
			require.NoError(t, res.err)
			if f == FinalitySolid {
				assert.LessOrEqual(t, res.r.BlockNumber, e.node.SolidHead(), "solidified when it came")
				allowed, err = e.payerC.Allowance(ctx, e.token, e.payerKey.Address(), e.escrow)
				require.NoError(t, err)
				assert.Equal(t, amt(77), allowed, "the solidified state has it now")
			}
			n, _, err := e.payerC.SolidHead(ctx)
			require.NoError(t, err)
			want := e.node.SolidHead()
			if f == FinalityHead {
				want, _ = e.node.Head() // the head counts
			}
			assert.Equal(t, want, n)
		})
	}
}

// TestDevnetDroppedClaimRetried (issue 30 item 10): the payee's claim is
// mined, and its block dropped before it solidifies. paychan.Payee.Redeem
// records the redemption (Redeemed) only once the claim is solid: a
// dropped claim is rebroadcast while it has not expired, and one that
// expired fails — nothing recorded — and is signed anew by the next
// redeem. The payee is paid exactly what its vouchers say. With
// FinalityHead the first check fails: Redeem returns, and records, as soon
// as the claim is in the head block that is then dropped.
func TestDevnetDroppedClaimRetried(t *testing.T) {
	ctx := context.Background()
	sent := &txLog{} // every broadcast, by either party
	e := newEnv(t, devnet.Config{SolidLag: solidLag}, func(c *Config) {
		c.SolidTimeout = 10 * time.Second
		c.DialOptions = append(c.DialOptions, grpc.WithUnaryInterceptor(sent.intercept))
	})
	payer, payee, payeeStore := e.ledgers(t)
	stop := miner(t, e.node)
	ch, err := payer.Open(ctx, e.payee.Address(), amt(10_000), e.node.Now().Add(24*time.Hour))
	require.NoError(t, err)
	_, err = payee.Accept(ctx, ch.ID)
	require.NoError(t, err)
	stop()
	ih := [20]byte{7}
	pay := func(i int, n uint64) {
		t.Helper()
		sv, err := payer.PayFor(ch.ID, ih, i, amt(n))
		require.NoError(t, err)
		_, err = payee.Receive(sv)
		require.NoError(t, err)
	}
	redeemed := func() btt.Amount {
		t.Helper()
		r, err := payeeStore.Payee(ch.ID)
		require.NoError(t, err)
		return r.Redeemed
	}
	type result struct {
		got btt.Amount
		err error
	}
	redeem := func() chan result {
		out := make(chan result, 1)
		go func() {
			got, err := payee.Redeem(ctx, ch.ID, false)
			out <- result{got, err}
		}()
		return out
	}
	inHead := func(want btt.Amount) {
		t.Helper()
		require.Eventually(t, func() bool { return e.node.TokenBalance(e.payee.Address()) == want }, 5*time.Second, time.Millisecond, "the claim is mined")
	}

	// 1. Dropped, rebroadcast, solidified: recorded once.
	pay(0, 250)
	mark := sent.mark()
	res := redeem()
	inHead(add(e.payeeT, 250))
	time.Sleep(50 * time.Millisecond) // the payee's poll sees it in the head block
	select {
	case r := <-res:
		t.Fatalf("Redeem returned before the claim solidified: %v, %v", r.got, r.err)
	default:
	}
	assert.True(t, redeemed().IsZero(), "nothing recorded before the claim is solid")
	require.NoError(t, e.node.DropBlocks(1))
	assert.Equal(t, e.payeeT, e.node.TokenBalance(e.payee.Address()), "the claim left the chain with its block")
	inHead(add(e.payeeT, 250)) // rebroadcast, the same signed claim
	stop = miner(t, e.node)
	r := <-res
	stop()
	require.NoError(t, r.err)
	assert.Equal(t, amt(250), r.got)
	assert.Equal(t, amt(250), redeemed())
	assert.Equal(t, add(e.payeeT, 250), e.node.TokenBalance(e.payee.Address()), "paid once")
	assert.Len(t, sent.since(mark), 1, "one claim signed, broadcast again after the drop")

	// 2. Dropped after it expired: the redeem fails with nothing
	// recorded; the next one signs a new claim.
	pay(1, 150)
	mark = sent.mark()
	res = redeem()
	inHead(add(e.payeeT, 400))
	time.Sleep(50 * time.Millisecond)
	e.node.Advance(2 * time.Minute) // past the claim's expiration (60 s)
	require.NoError(t, e.node.DropBlocks(2))
	r = <-res
	require.ErrorIs(t, r.err, ErrTxExpired, "the claim can never be included: %v", r.err)
	assert.Equal(t, amt(250), redeemed(), "the dropped claim is not recorded")
	assert.Equal(t, add(e.payeeT, 250), e.node.TokenBalance(e.payee.Address()))
	stop = miner(t, e.node)
	got, err := payee.Redeem(ctx, ch.ID, false)
	stop()
	require.NoError(t, err, "retried, not lost")
	assert.Equal(t, amt(150), got)
	assert.Equal(t, amt(400), redeemed())
	assert.Equal(t, add(e.payeeT, 400), e.node.TokenBalance(e.payee.Address()))
	assert.Len(t, sent.since(mark), 2, "the expired claim, and the one signed anew")
	onChain, err := e.payeeE.Channel(ctx, ch.ID)
	require.NoError(t, err)
	assert.Equal(t, amt(400), onChain.Paid, "the solidified channel agrees with the store")
}

// TestDialWithoutSolidityAPI: a node that does not serve WalletSolidity
// (a java-tron full node's main port) is refused at Dial with what to set,
// unless the client asks for FinalityHead.
func TestDialWithoutSolidityAPI(t *testing.T) {
	node := startNode(t, devnet.Config{})
	noSolid := grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if strings.HasPrefix(method, "/protocol.WalletSolidity/") {
			return status.Error(codes.Unimplemented, "unknown service protocol.WalletSolidity")
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	})
	cfg := testConfig(node.Addr(), nil)
	cfg.DialOptions = []grpc.DialOption{noSolid}
	_, err := Dial(context.Background(), cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "SolidityAddr")

	cfg.Finality = FinalityHead
	c, err := Dial(context.Background(), cfg)
	require.NoError(t, err)
	require.NoError(t, c.Close())

	cfg.Finality = Finality(7)
	_, err = Dial(context.Background(), cfg)
	assert.Error(t, err)
}

// TestSolidityAddr: the solidity API may be on an endpoint of its own.
func TestSolidityAddr(t *testing.T) {
	node := startNode(t, devnet.Config{})
	other := startNode(t, devnet.Config{Seed: "other", SolidLag: 1})
	cfg := testConfig(node.Addr(), nil)
	cfg.SolidityAddr = other.Addr()
	c, err := Dial(context.Background(), cfg)
	require.NoError(t, err)
	defer c.Close()
	n, _, err := c.SolidHead(context.Background())
	require.NoError(t, err)
	assert.Equal(t, other.SolidHead(), n)
	other.SetUnavailable(true)
	_, _, err = c.SolidHead(context.Background())
	assert.ErrorIs(t, err, paychan.ErrChainUnavailable, "the solidity endpoint's own faults")
}

// TestDevnetNotSolidYet: a transaction in a block that does not solidify
// in Config.SolidTimeout has an unknown outcome (*TxError wrapping
// ErrReceiptTimeout), and Confirm finds it once it does; WaitReceipt
// reports a transaction whose block was dropped with ErrDropped.
func TestDevnetNotSolidYet(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{SolidLag: solidLag}, func(c *Config) {
		c.SolidTimeout = 50 * time.Millisecond
		c.Rebroadcasts = -1
	})
	data, err := trc20ABI().Pack("approve", evmAddr(e.escrow), amt(5).Big())
	require.NoError(t, err)
	tx, err := e.payerC.Send(ctx, e.token, data)
	require.NoError(t, err)
	_, err = e.payerC.Confirm(ctx, tx)
	var te *TxError
	require.ErrorAs(t, err, &te)
	assert.ErrorIs(t, err, ErrReceiptTimeout)
	assert.NotErrorIs(t, err, ErrTxExpired)
	assert.Contains(t, err.Error(), "not solidified")

	for range solidLag {
		e.node.Advance(devnet.BlockTime)
	}
	r, err := e.payerC.Confirm(ctx, tx)
	require.NoError(t, err)
	assert.Equal(t, tx.ID, r.TxID)

	// Dropped: WaitReceipt says so; the same bytes go again.
	data, err = trc20ABI().Pack("approve", evmAddr(e.escrow), amt(6).Big())
	require.NoError(t, err)
	tx, err = e.payerC.Send(ctx, e.token, data)
	require.NoError(t, err)
	require.NoError(t, e.node.DropBlocks(1))
	_, err = e.payerC.WaitReceipt(ctx, tx.ID)
	assert.ErrorIs(t, err, ErrReceiptTimeout, "not in a block now: %v", err)
	require.NoError(t, e.payerC.Rebroadcast(ctx, tx))
	var solidReads atomic.Int32
	_, c := dialKey(t, e.node, e.node.Keys()[0], func(c *Config) {
		c.SolidTimeout = time.Minute
		c.DialOptions = append(c.DialOptions, grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if method == "/protocol.WalletSolidity/GetTransactionInfoById" {
				solidReads.Add(1)
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		}))
	})
	got := make(chan error, 1)
	go func() { _, err := c.WaitReceipt(ctx, tx.ID); got <- err }()
	// Seen in the head block, it waits for the solidity API.
	require.Eventually(t, func() bool { return solidReads.Load() > 0 }, 10*time.Second, time.Millisecond)
	require.NoError(t, e.node.DropBlocks(1))
	assert.ErrorIs(t, <-got, ErrDropped)
}
