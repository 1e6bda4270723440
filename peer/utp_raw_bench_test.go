package peer

import (
	"context"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkUTPRaw moves bytes from one uTP socket to another over
// 127.0.0.1 with no BitTorrent at all: a 64 KiB writer and a reader into
// io.Discard. It bounds what a client driving the same uTP library can
// reach here (BenchmarkLoopbackTransfer's ours-utp and anacrolix-utp):
// "ours" with the UDP buffers newUTPSocket sets, "os-buffers" with the
// kernel's defaults, as anacrolix/torrent leaves them.
//
//	go test -run '^$' -bench UTPRaw ./peer/
func BenchmarkUTPRaw(b *testing.B) {
	b.Run("ours", func(b *testing.B) { benchUTPRaw(b, false) })
	b.Run("os-buffers", func(b *testing.B) { benchUTPRaw(b, true) })
}

func benchUTPRaw(b *testing.B, osBuffers bool) {
	const n = 32 << 20
	var socks [2]utpSocket
	for i := range socks {
		s, err := newUTPSocket("127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		if osBuffers {
			uc := udpConnOfSocket(s)
			r, w := sysctlInt(b, "/proc/sys/net/core/rmem_default"), sysctlInt(b, "/proc/sys/net/core/wmem_default")
			// Linux doubles what it is given: half the default gives
			// the default, the size a socket never set has.
			if uc == nil || uc.SetReadBuffer(r/2) != nil || uc.SetWriteBuffer(w/2) != nil {
				b.Fatal("cannot set the UDP buffers")
			}
		}
		socks[i] = s
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := socks[1].Accept()
		if err != nil {
			b.Error(err)
		}
		accepted <- c
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c1, err := socks[0].DialContext(ctx, "udp", socks[1].Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c1.Close()
	c2 := <-accepted
	if c2 == nil {
		b.FailNow()
	}
	defer c2.Close()
	buf := make([]byte, 64<<10)
	b.SetBytes(n)
	b.ResetTimer()
	for range b.N {
		done := make(chan error, 1)
		go func() {
			_, err := io.CopyN(io.Discard, c2, n)
			done <- err
		}()
		for left := n; left > 0; left -= len(buf) {
			if _, err := c1.Write(buf[:min(left, len(buf))]); err != nil {
				b.Fatal(err)
			}
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
}

// sysctlInt reads a number from /proc/sys, skipping b where there is none.
func sysctlInt(b *testing.B, path string) int {
	v, err := os.ReadFile(path)
	if err != nil {
		b.Skip("no", path)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(v)))
	if err != nil {
		b.Fatal(err)
	}
	return n
}
