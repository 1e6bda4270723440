//go:build unix

package peer

import (
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The uTP socket's UDP socket gets buffers past the kernel's default (as
// far as net.core.rmem_max lets it): found under go-libutp too, whose
// socket we reach through reflect.
func TestUTPSocketBuffers(t *testing.T) {
	s, err := newUTPSocket("127.0.0.1:0")
	require.NoError(t, err)
	defer s.Close()
	uc := udpConnOfSocket(s)
	require.NotNil(t, uc, "the uTP socket's UDP socket is out of reach")
	assert.Equal(t, s.Addr().String(), uc.LocalAddr().String())

	plain, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer plain.Close()
	def := soRcvbuf(t, plain.(*net.UDPConn))
	got := soRcvbuf(t, uc)
	if v, err := os.ReadFile("/proc/sys/net/core/rmem_max"); err == nil {
		if m, _ := strconv.Atoi(strings.TrimSpace(string(v))); m*2 <= def {
			t.Skipf("net.core.rmem_max (%d) allows no more than the default", m)
		}
	}
	assert.Greater(t, got, def)
}

func soRcvbuf(t *testing.T, uc *net.UDPConn) int {
	t.Helper()
	rc, err := uc.SyscallConn()
	require.NoError(t, err)
	var n int
	var serr error
	require.NoError(t, rc.Control(func(fd uintptr) { n, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF) }))
	require.NoError(t, serr)
	return n
}
