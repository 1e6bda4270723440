package tron

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

// slowBroadcast is a gRPC interceptor that, armed, holds a broadcast past
// its caller's context: by the devnet's latency (the node never gets it),
// or by a lost answer (the node has it, the client hears nothing).
type slowBroadcast struct {
	node *devnet.Node
	mu   sync.Mutex
	mode string // "", "latency" or "lost answer"
	seen map[TxID]int
}

func (s *slowBroadcast) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if method != "/protocol.Wallet/BroadcastTransaction" {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	id, _ := TxIDOf(req.(*core.Transaction))
	s.mu.Lock()
	mode := s.mode
	s.mode = ""
	s.seen[id]++
	s.mu.Unlock()
	switch mode {
	case "latency":
		s.node.SetLatency(time.Hour)
		defer s.node.SetLatency(0)
		return invoker(ctx, method, req, reply, cc, opts...)
	case "lost answer":
		if err := invoker(context.WithoutCancel(ctx), method, req, reply, cc, opts...); err != nil {
			return err
		}
		<-ctx.Done()
		return status.FromContextError(ctx.Err()).Err()
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// TestDevnetBroadcastPastTheContext (issue 30 item 2): a context that ends
// while the broadcast is in flight — the node slower than the context, or
// its answer lost — leaves the transaction's outcome unknown: a *TxError
// with the signed transaction, kept pending by the Escrow, and the next
// call finds it instead of signing another. Before, it was a plain context
// error: nothing pending, and the same close was signed again.
func TestDevnetBroadcastPastTheContext(t *testing.T) {
	for _, mode := range []string{"latency", "lost answer"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, devnet.Config{}, nil)
			s := &slowBroadcast{node: e.node, seen: make(map[TxID]int)}
			_, payeeC := dialKey(t, e.node, e.node.Keys()[1], func(c *Config) {
				c.DialOptions = append(c.DialOptions, grpc.WithUnaryInterceptor(s.intercept))
			})
			payeeE, err := NewEscrow(payeeC, e.escrow)
			require.NoError(t, err)
			ch := e.open(t, 1000, time.Hour)
			sv := e.voucher(t, ch.ID, 250)
			_, err = payeeE.Domain(context.Background())
			require.NoError(t, err)

			s.mu.Lock()
			s.mode = mode
			s.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			_, err = payeeE.Close(ctx, sv)
			cancel()
			var te *TxError
			require.ErrorAs(t, err, &te, "the outcome of a broadcast cut short is unknown: %v", err)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			require.NotNil(t, payeeE.Pending())
			assert.Equal(t, te.Tx.ID, payeeE.Pending().ID)

			got, err := payeeE.Close(context.Background(), sv)
			require.NoError(t, err, "the pending close is settled, not signed again")
			assert.Equal(t, paychan.ChannelClosed, got.State)
			assert.Nil(t, payeeE.Pending())
			s.mu.Lock()
			assert.Len(t, s.seen, 1, "one transaction signed in all")
			s.mu.Unlock()
			assert.Equal(t, add(e.payeeT, 250), e.node.TokenBalance(e.payee.Address()), "paid once")
		})
	}
}

// failingReceipts is a gRPC interceptor that, armed, fails every receipt
// read with Unavailable.
type failingReceipts struct{ on atomic.Bool }

func (f *failingReceipts) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if f.on.Load() && method == "/protocol.Wallet/GetTransactionInfoById" {
		return status.Error(codes.Unavailable, "receipt lookup failed (fault injection)")
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// TestDevnetLastLookFails (issue 30 item 2): a transaction mined while its
// receipt cannot be read, past its expiration by the time Confirm takes
// its last look, which fails too: the outcome is unknown (*TxError), not
// ErrTxExpired. Before, the last look's error was ignored and a mined
// transaction was reported expired, safe to sign again.
func TestDevnetLastLookFails(t *testing.T) {
	ctx := context.Background()
	f := &failingReceipts{}
	e := newEnv(t, devnet.Config{}, func(c *Config) {
		c.Rebroadcasts = -1
		c.DialOptions = append(c.DialOptions, grpc.WithUnaryInterceptor(f.intercept))
	})
	data, err := trc20ABI().Pack("approve", evmAddr(e.escrow), amt(77).Big())
	require.NoError(t, err)
	tx, err := e.payerC.Send(ctx, e.token, data)
	require.NoError(t, err)
	f.on.Store(true)
	e.node.Advance(2 * time.Minute) // mined, and past its expiration
	_, err = e.payerC.Confirm(ctx, tx)
	var te *TxError
	require.ErrorAs(t, err, &te, "a failed last look proves nothing: %v", err)
	assert.NotErrorIs(t, err, ErrTxExpired)
	assert.ErrorIs(t, err, paychan.ErrChainUnavailable)
	assert.Equal(t, tx.ID, te.Tx.ID)

	f.on.Store(false)
	r, err := e.payerC.Confirm(ctx, tx)
	require.NoError(t, err, "it was mined")
	assert.Equal(t, tx.ID, r.TxID)
}
