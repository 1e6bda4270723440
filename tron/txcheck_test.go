package tron

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/bttspeed/bttspeed/tron/contracts"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

// tamperer is a malicious node between the client and the devnet: it
// changes the transactions the node builds (TriggerContract,
// DeployContract, CreateTransaction2) with tamper and counts broadcasts.
type tamperer struct {
	tamper     atomic.Pointer[func(raw *core.TransactionRaw)]
	broadcasts atomic.Int64
}

func (tp *tamperer) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if strings.HasSuffix(method, "/BroadcastTransaction") {
		tp.broadcasts.Add(1)
	}
	err := invoker(ctx, method, req, reply, cc, opts...)
	if f := tp.tamper.Load(); f != nil && err == nil {
		if ext, ok := reply.(*api.TransactionExtention); ok && ext.GetTransaction().GetRawData() != nil &&
			(strings.HasSuffix(method, "/TriggerContract") || strings.HasSuffix(method, "/DeployContract") || strings.HasSuffix(method, "/CreateTransaction2")) {
			(*f)(ext.Transaction.RawData)
		}
	}
	return err
}

// TestNodeBuiltTransactionChecked (issue 30 item 6): a node that adds a
// memo (a 400 KB one burns up to ~500 TRX of bandwidth), a permission id,
// scripts, or an expiration far from its head block (24 h freezes every
// later call under the pending rule) to a transaction it builds gets it
// refused with ErrBadResponse, never signed nor broadcast, for every kind
// the client signs: a contract call, a deployment, a TRX transfer.
func TestNodeBuiltTransactionChecked(t *testing.T) {
	ctx := context.Background()
	tp := &tamperer{}
	e := newEnv(t, devnet.Config{}, func(c *Config) {
		c.DialOptions = append(c.DialOptions, grpc.WithUnaryInterceptor(tp.intercept))
		c.FeeLimit = 1000 * SunPerTRX
	})
	mint, err := contracts.TokenABI().Pack("approve", evmAddr(e.escrow), amt(1).Big())
	require.NoError(t, err)

	tampers := []struct {
		name string
		f    func(raw *core.TransactionRaw)
	}{
		{"a memo", func(raw *core.TransactionRaw) { raw.Data = []byte("pay me") }},
		{"a 400 KB memo", func(raw *core.TransactionRaw) { raw.Data = make([]byte, 400<<10) }},
		{"a permission id", func(raw *core.TransactionRaw) { raw.Contract[0].PermissionId = 2 }},
		{"scripts", func(raw *core.TransactionRaw) { raw.Scripts = []byte{1} }},
		{"auths", func(raw *core.TransactionRaw) { raw.Auths = []*core.Authority{{PermissionName: []byte("x")}} }},
		{"an expiration 24 h ahead", func(raw *core.TransactionRaw) { raw.Expiration += (24 * time.Hour).Milliseconds() }},
		{"an expiration 20 min ahead", func(raw *core.TransactionRaw) { raw.Expiration += (20 * time.Minute).Milliseconds() }},
		{"an expiration before the head block", func(raw *core.TransactionRaw) { raw.Expiration -= (2 * time.Minute).Milliseconds() }},
	}
	kinds := []struct {
		name string
		send func() error
	}{
		{"contract call", func() error { _, err := e.payerC.Transact(ctx, e.token, mint); return err }},
		{"deployment", func() error {
			_, _, err := e.payerC.Deploy(ctx, contracts.TokenABIJSON(), contracts.TokenDeployData(), "TestToken")
			return err
		}},
		{"TRX transfer", func() error { _, err := e.payerC.TransferTRX(ctx, e.payee.Address(), SunPerTRX); return err }},
	}
	for _, tm := range tampers {
		for _, k := range kinds {
			t.Run(tm.name+"/"+k.name, func(t *testing.T) {
				tp.tamper.Store(&tm.f)
				defer tp.tamper.Store(nil)
				trx := e.node.TRXBalance(e.payerKey.Address())
				before := tp.broadcasts.Load()
				err := k.send()
				require.ErrorIs(t, err, ErrBadResponse)
				assert.Zero(t, tp.broadcasts.Load()-before, "nothing broadcast")
				assert.Equal(t, trx, e.node.TRXBalance(e.payerKey.Address()), "nothing spent")
			})
		}
	}
	// Untampered, all three go through.
	for _, k := range kinds {
		require.NoError(t, k.send(), k.name)
	}
}
