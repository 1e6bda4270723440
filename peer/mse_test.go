package peer

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/mse"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// acceptLoopForTest runs our incoming side on each connection ln accepts, as
// handleIncoming does, and sends what it returned on results; a successful
// one then echoes a line back through the (possibly encrypted) stream.
func acceptLoopForTest(t *testing.T, ln net.Listener, policy Encryption, ih metainfo.Hash, results chan<- error) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer nc.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			stop := deadlineFromContext(ctx, nc)
			c, res, err := acceptHandshake(ctx, nc, policy, func() []metainfo.Hash { return []metainfo.Hash{{1}, ih} })
			if err == nil {
				err = writeHandshake(c, ourExtensions(true), res.infoHash, [20]byte{'s'})
			}
			if err == nil {
				_, err = readPeerID(c)
			}
			if err == nil {
				var line [5]byte
				if _, err = io.ReadFull(c, line[:]); err == nil {
					_, err = c.Write(bytes.ToUpper(line[:]))
				}
			}
			stop()
			results <- err
		}()
	}
}

func TestEncryptionPolicies(t *testing.T) {
	const (
		none  = mse.CryptoMethod(0) // a plaintext handshake
		plain = mse.CryptoMethodPlaintext
		rc4   = mse.CryptoMethodRC4
		fail  = mse.CryptoMethod(99)
	)
	pp, p, r, n := EncryptionPreferPlain, EncryptionPrefer, EncryptionRequire, EncryptionNever
	for _, tc := range []struct {
		dialer, acceptor Encryption
		want             mse.CryptoMethod
	}{
		{pp, pp, none}, {pp, p, none}, {pp, r, rc4}, {pp, n, none},
		{p, pp, plain}, {p, p, rc4}, {p, r, rc4}, {p, n, none},
		{r, pp, rc4}, {r, p, rc4}, {r, r, rc4}, {r, n, fail},
		{n, pp, none}, {n, p, none}, {n, r, fail}, {n, n, none},
	} {
		t.Run(tc.dialer.String()+"-to-"+tc.acceptor.String(), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			ih := metainfo.Hash{7, 7, 7}
			results := make(chan error, 4)
			go acceptLoopForTest(t, ln, tc.acceptor, ih, results)
			defer ln.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			dial := func(ctx context.Context) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp", ln.Addr().String())
			}
			c, res, err := connectPeer(ctx, dial, tc.dialer, ourExtensions(true), ih, [20]byte{'d'})
			if tc.want == fail {
				require.Error(t, err)
				// The acceptor says why it refused.
				require.ErrorIs(t, <-results, ErrEncryption)
				return
			}
			require.NoError(t, err)
			defer c.Close()
			assert.Equal(t, tc.want, res.crypto)
			assert.Equal(t, [20]byte{'s'}, res.peerID)
			_, err = c.Write([]byte("hello"))
			require.NoError(t, err)
			var back [5]byte
			_, err = io.ReadFull(c, back[:])
			require.NoError(t, err)
			assert.Equal(t, "HELLO", string(back[:]))
			// Any refused first attempt came before the one that worked.
			for {
				err := <-results
				if err == nil {
					break
				}
				assert.ErrorIs(t, err, ErrEncryption)
			}
		})
	}
}

func TestParseEncryption(t *testing.T) {
	for _, e := range []Encryption{EncryptionPreferPlain, EncryptionPrefer, EncryptionRequire, EncryptionNever} {
		got, err := ParseEncryption(e.String())
		require.NoError(t, err)
		assert.Equal(t, e, got)
	}
	_, err := ParseEncryption("always")
	assert.ErrorIs(t, err, ErrConfig)
	assert.Equal(t, "Encryption(9)", Encryption(9).String())
}

// streamConn is a net.Conn that reads a fixed stream and discards writes.
type streamConn struct {
	io.Reader
	read int64
}

func (c *streamConn) Read(b []byte) (int, error) {
	n, err := c.Reader.Read(b)
	c.read += int64(n)
	return n, err
}
func (c *streamConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c *streamConn) Close() error                     { return nil }
func (c *streamConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *streamConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *streamConn) SetDeadline(time.Time) error      { return nil }
func (c *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (c *streamConn) SetWriteDeadline(time.Time) error { return nil }

// endless is a peer that never stops sending random bytes.
type endless struct{}

func (endless) Read(b []byte) (int, error) { return rand.Read(b) }

// A peer that opens an MSE handshake and then pads forever is cut off after
// the spec's 512 bytes of padding, not when the timeout ends it.
func TestMSEEndlessPadding(t *testing.T) {
	c := &streamConn{Reader: endless{}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, _, err := acceptHandshake(ctx, c, EncryptionPreferPlain, func() []metainfo.Hash { return []metainfo.Hash{{1}} })
	require.ErrorIs(t, err, ErrHandshake)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.LessOrEqual(t, c.read, int64(20+96+512+20+4096), "read %d bytes", c.read)
}

// A peer whose crypto_provide names nothing we take is refused, and says so.
func TestMSEBadCryptoProvide(t *testing.T) {
	for _, tc := range []struct {
		policy   Encryption
		provides mse.CryptoMethod
	}{
		{EncryptionRequire, mse.CryptoMethodPlaintext},
		{EncryptionRequire, 0},
		{EncryptionPreferPlain, 0},
		{EncryptionPrefer, 0x80},
		{EncryptionPreferPlain, 0xffff0000},
	} {
		a, b := net.Pipe()
		ih := metainfo.Hash{9}
		go func() {
			_, _, _ = mse.InitiateHandshake(b, ih[:], nil, tc.provides)
			b.Close()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		stop := deadlineFromContext(ctx, a)
		_, _, err := acceptHandshake(ctx, a, tc.policy, func() []metainfo.Hash { return []metainfo.Hash{ih} })
		stop()
		cancel()
		a.Close()
		assert.ErrorIs(t, err, ErrEncryption, "%v provides %#x", tc.policy, tc.provides)
	}
}

// An MSE handshake for a torrent we do not have is refused as such.
func TestMSEUnknownTorrent(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		_, _, _ = mse.InitiateHandshake(b, []byte("0123456789abcdefghij"), nil, mse.AllSupportedCrypto)
		b.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := acceptHandshake(ctx, a, EncryptionPrefer, func() []metainfo.Hash { return []metainfo.Hash{{1}, {2}} })
	require.ErrorIs(t, err, ErrUnknownTorrent)
}

func TestRefusedKind(t *testing.T) {
	assert.True(t, refusedKind(errors.Join(ErrHandshake, io.EOF)))
	_, err := readHandshakeStart(bytes.NewReader(make([]byte, 96)))
	assert.True(t, refusedKind(err), "an MSE key in answer to plaintext")
	assert.False(t, refusedKind(context.DeadlineExceeded))
}

// FuzzAcceptHandshake feeds any bytes to the incoming handshake, plaintext
// or MSE: it must return, with an error or a result, never panic or hang.
func FuzzAcceptHandshake(f *testing.F) {
	ih := metainfo.Hash{3}
	var plain bytes.Buffer
	_ = writeHandshake(&plain, ourExtensions(true), ih, [20]byte{})
	f.Add(plain.Bytes())
	f.Add(make([]byte, 200))
	f.Add(bytes.Repeat([]byte{0xff}, 700))
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, p := range []Encryption{EncryptionPreferPlain, EncryptionRequire} {
			c := &streamConn{Reader: bytes.NewReader(data)}
			_, res, err := acceptHandshake(ctx, c, p, func() []metainfo.Hash { return []metainfo.Hash{ih} })
			if err == nil && res.infoHash != ih && res.crypto != 0 {
				t.Fatalf("encrypted handshake accepted for %x", res.infoHash)
			}
		}
	})
}

// FuzzDecodePEX feeds any payload to the ut_pex decoder: an error or at
// most pexMaxDelta valid addresses, never a panic.
func FuzzDecodePEX(f *testing.F) {
	f.Add([]byte("d5:added6:\x7f\x00\x00\x01\x1a\xe17:added.f1:\x10e"))
	f.Add([]byte("d6:added618:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe1e"))
	f.Add([]byte("d5:addedi3ee"))
	f.Fuzz(func(t *testing.T, payload []byte) {
		addrs, err := decodePEX(payload)
		if err != nil {
			return
		}
		if len(addrs) > pexMaxDelta {
			t.Fatalf("%d addresses", len(addrs))
		}
		for _, a := range addrs {
			if !a.IsValid() || a.Port() == 0 {
				t.Fatalf("invalid %v", a)
			}
		}
	})
}
