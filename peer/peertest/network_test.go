package peertest_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer/peertest"
)

// TestNetwork: a dial reaches the listener at its address and carries
// bytes both ways, with the hosts' addresses at each end; dials fail with
// ErrRefused where nothing listens (or no longer does) and with
// ErrUnreachable across a partition, which also closes the connections
// across it; Heal restores the link.
func TestNetwork(t *testing.T) {
	ctx := t.Context()
	n := peertest.NewNetwork()
	a, b := n.Host(), n.Host()
	require.NotEqual(t, a.Addr(), b.Addr())
	assert.True(t, a.Addr().IsLoopback())

	ln, err := b.Listen(0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	addr := netip.MustParseAddrPort(ln.Addr().String())
	assert.Equal(t, b.Addr(), addr.Addr())
	_, err = b.Listen(addr.Port())
	require.Error(t, err, "the port is taken")

	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	ca, err := a.Dial(ctx, addr)
	require.NoError(t, err)
	cb := <-accepted
	assert.Equal(t, addr.String(), ca.RemoteAddr().String())
	assert.Equal(t, ca.LocalAddr().String(), cb.RemoteAddr().String())
	assert.Equal(t, a.Addr(), netip.MustParseAddrPort(cb.RemoteAddr().String()).Addr())

	go func() { _, _ = ca.Write([]byte("ping")) }()
	buf := make([]byte, 4)
	_, err = io.ReadFull(cb, buf)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(buf))

	for _, tc := range []struct {
		name string
		to   netip.AddrPort
		want error
	}{
		{"no listener on the port", netip.AddrPortFrom(b.Addr(), addr.Port()+1), peertest.ErrRefused},
		{"no such host", netip.MustParseAddrPort("127.9.9.9:6881"), peertest.ErrRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.Dial(ctx, tc.to)
			require.ErrorIs(t, err, tc.want)
		})
	}

	n.Partition(a, b)
	_, err = cb.Read(buf)
	require.Error(t, err, "the partition closed the connection")
	_, err = a.Dial(ctx, addr)
	require.ErrorIs(t, err, peertest.ErrUnreachable)
	n.Heal(a, b)

	// Nobody accepts: the dial waits for its context.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err = a.Dial(short, addr)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	require.NoError(t, ln.Close())
	_, err = ln.Accept()
	require.ErrorIs(t, err, net.ErrClosed)
	_, err = a.Dial(ctx, addr)
	require.True(t, errors.Is(err, peertest.ErrRefused), "closed listener: %v", err)
}
