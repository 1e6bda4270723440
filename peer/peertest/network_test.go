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

// pair returns the two ends of a new connection.
func pair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	n := peertest.NewNetwork()
	a, b := n.Host(), n.Host()
	ln, err := b.Listen(0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	ca, err := a.Dial(t.Context(), netip.MustParseAddrPort(ln.Addr().String()))
	require.NoError(t, err)
	cb := <-accepted
	t.Cleanup(func() { _ = ca.Close(); _ = cb.Close() })
	return ca, cb
}

// TestConnLikeTCP: a connection buffers as a socket does (both ends may
// write before either reads, as two peers' handshakes do), a write past
// the buffer waits for the reader, deadlines give net.Error timeouts,
// and a close gives the other end EOF once it has read what was sent.
func TestConnLikeTCP(t *testing.T) {
	t.Run("both write first", func(t *testing.T) {
		a, b := pair(t)
		for _, c := range []net.Conn{a, b} {
			_, err := c.Write(make([]byte, 68))
			require.NoError(t, err)
		}
		buf := make([]byte, 68)
		for _, c := range []net.Conn{a, b} {
			_, err := io.ReadFull(c, buf)
			require.NoError(t, err)
		}
	})
	t.Run("a write past the buffer waits for the reader", func(t *testing.T) {
		a, b := pair(t)
		data := make([]byte, 1<<20)
		for i := range data {
			data[i] = byte(i * 7)
		}
		wrote := make(chan error, 1)
		go func() { _, err := a.Write(data); wrote <- err }()
		select {
		case err := <-wrote:
			t.Fatalf("a 1 MiB write returned before any read: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		got := make([]byte, len(data))
		_, err := io.ReadFull(b, got)
		require.NoError(t, err)
		require.NoError(t, <-wrote)
		assert.Equal(t, data, got)
	})
	t.Run("deadlines", func(t *testing.T) {
		a, b := pair(t)
		require.NoError(t, a.SetReadDeadline(time.Now().Add(10*time.Millisecond)))
		_, err := a.Read(make([]byte, 1))
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		assert.True(t, ne.Timeout())
		require.NoError(t, a.SetReadDeadline(time.Time{}))
		go func() { _, _ = b.Write([]byte{1}) }()
		_, err = a.Read(make([]byte, 1))
		require.NoError(t, err, "the deadline cleared")

		require.NoError(t, b.SetWriteDeadline(time.Now().Add(10*time.Millisecond)))
		_, err = b.Write(make([]byte, 1<<20)) // more than the buffer, nobody reads
		require.ErrorAs(t, err, &ne)
		assert.True(t, ne.Timeout())
	})
	t.Run("close", func(t *testing.T) {
		a, b := pair(t)
		_, err := a.Write([]byte("bye"))
		require.NoError(t, err)
		require.NoError(t, a.Close())
		got, err := io.ReadAll(b)
		require.NoError(t, err, "EOF after what was sent")
		assert.Equal(t, "bye", string(got))
		_, err = b.Write([]byte("x"))
		require.Error(t, err, "writing to a closed peer")
		_, err = a.Read(make([]byte, 1))
		require.ErrorIs(t, err, net.ErrClosed)
	})
}
