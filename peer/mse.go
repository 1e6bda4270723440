package peer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/mse"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// Encryption is the client's policy for Message Stream Encryption (MSE/PE,
// the "obfuscated" handshake with optional RC4), matching the settings of
// the same names in libtorrent and Transmission.
//
// | policy       | we dial with               | we accept                         | we choose (as receiver)  |
// |--------------|----------------------------|-----------------------------------|--------------------------|
// | PreferPlain  | plaintext, then MSE        | plaintext and MSE                 | plaintext if offered     |
// | Prefer       | MSE (plain or RC4), then plaintext | plaintext and MSE         | RC4 if offered           |
// | Require      | MSE offering RC4 only      | MSE with RC4 only                 | RC4, else refuse         |
// | Never        | plaintext only             | plaintext only                    | (MSE refused)            |
//
// "Then" is the fallback when the peer hangs up during the first
// handshake, as a peer of the opposite policy does; a dial that times out
// or is refused is not retried.
type Encryption int

// The policies; the zero value is EncryptionPreferPlain.
const (
	EncryptionPreferPlain Encryption = iota
	EncryptionPrefer
	EncryptionRequire
	EncryptionNever
)

var encryptionNames = [...]string{"prefer-plain", "prefer", "require", "never"}

func (e Encryption) String() string {
	if e < 0 || int(e) >= len(encryptionNames) {
		return fmt.Sprintf("Encryption(%d)", int(e))
	}
	return encryptionNames[e]
}

// ParseEncryption parses a policy's name as String writes it.
func ParseEncryption(s string) (Encryption, error) {
	for i, n := range encryptionNames {
		if n == s {
			return Encryption(i), nil
		}
	}
	return 0, fmt.Errorf("%w: encryption %q is not one of prefer-plain, prefer, require, never", ErrConfig, s)
}

func (e Encryption) valid() bool { return e >= 0 && int(e) < len(encryptionNames) }

// ErrEncryption says a connection was refused because of the encryption
// policy (ours or the peer's).
var ErrEncryption = errors.New("peer: encryption policy")

// selectCrypto is our choice, as the receiver of an MSE handshake, among
// the methods the initiator provides; 0 refuses.
func (e Encryption) selectCrypto(provided mse.CryptoMethod) mse.CryptoMethod {
	plain := provided&mse.CryptoMethodPlaintext != 0
	rc4 := provided&mse.CryptoMethodRC4 != 0
	switch {
	case e == EncryptionRequire:
		if rc4 {
			return mse.CryptoMethodRC4
		}
	case e == EncryptionPrefer && rc4, !plain && rc4:
		return mse.CryptoMethodRC4
	case plain:
		return mse.CryptoMethodPlaintext
	}
	return 0
}

// cryptoProvides is what we offer when we initiate MSE.
func (e Encryption) cryptoProvides() mse.CryptoMethod {
	if e == EncryptionRequire {
		return mse.CryptoMethodRC4
	}
	return mse.AllSupportedCrypto
}

// mseConn is a connection whose stream runs through an MSE handshake's
// result: RC4 both ways, or plaintext after a replayed initial payload.
// Deadlines and Close go to the socket.
type mseConn struct {
	net.Conn
	rw     io.ReadWriter
	method mse.CryptoMethod // what the handshake chose: plaintext or RC4
}

func (c *mseConn) Read(b []byte) (int, error)  { return c.rw.Read(b) }
func (c *mseConn) Write(b []byte) (int, error) { return c.rw.Write(b) }

// replayConn reads prefix before the rest of the socket: the bytes read to
// tell a plaintext handshake from an MSE one.
type replayConn struct {
	net.Conn
	r io.Reader
}

func (c *replayConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// acceptHandshake runs the start of an incoming connection's handshake up
// to the peer's info hash, through MSE if the peer opens with it: it
// returns the connection to use from then on (decrypting if RC4 was
// chosen) and what the peer sent. torrents lists the info hashes the
// client serves, for MSE's SKEY lookup. The caller bounds it with ctx and
// a deadline on nc.
func acceptHandshake(ctx context.Context, nc net.Conn, policy Encryption, torrents func() []metainfo.Hash) (net.Conn, handshakeResult, error) {
	var res handshakeResult
	var first [20]byte
	if _, err := io.ReadFull(nc, first[:]); err != nil {
		return nc, res, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	if first[0] == 19 && string(first[1:]) == pp.Protocol[1:] {
		if policy == EncryptionRequire {
			return nc, res, fmt.Errorf("%w: plaintext handshake refused: encryption is required", ErrEncryption)
		}
		return nc, res, readHandshakeRest(nc, &res)
	}
	if policy == EncryptionNever {
		return nc, res, fmt.Errorf("%w: not the BitTorrent protocol (first byte %d), and encrypted handshakes are off", ErrEncryption, first[0])
	}
	in := &replayConn{Conn: nc, r: io.MultiReader(bytes.NewReader(first[:]), nc)}
	var (
		sk       metainfo.Hash // the torrent whose SKEY matched
		refused  bool
		provided mse.CryptoMethod
	)
	rw, method, err := mse.ReceiveHandshake(ctx, in, func(cb func([]byte) bool) {
		for _, ih := range torrents() {
			if !cb(ih[:]) {
				sk = ih
				return
			}
		}
	}, func(p mse.CryptoMethod) mse.CryptoMethod {
		provided = p
		m := policy.selectCrypto(p)
		refused = m == 0
		return m
	})
	switch {
	case errors.Is(err, mse.ErrNoSecretKeyMatch):
		return nc, res, fmt.Errorf("%w: in an encrypted handshake", ErrUnknownTorrent)
	case err != nil && refused:
		return nc, res, fmt.Errorf("%w: the peer provides crypto %#x, and %v takes none of it", ErrEncryption, uint32(provided), policy)
	case err != nil:
		return nc, res, fmt.Errorf("%w: encrypted handshake: %w", ErrHandshake, err)
	}
	c := &mseConn{Conn: nc, rw: rw, method: method}
	var b [20]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return nc, res, fmt.Errorf("%w: after the encrypted handshake: %w", ErrHandshake, err)
	}
	if b[0] != 19 || string(b[1:]) != pp.Protocol[1:] {
		return nc, res, fmt.Errorf("%w: protocol string %q after the encrypted handshake", ErrHandshake, b[1:])
	}
	if err := readHandshakeRest(c, &res); err != nil {
		return nc, res, err
	}
	if res.infoHash != sk {
		return nc, res, fmt.Errorf("%w: info hash %s is not the encrypted handshake's", ErrHandshake, res.infoHash.HexString())
	}
	res.crypto = method
	return c, res, nil
}

// readHandshakeRest reads the reserved bits and info hash that follow the
// protocol string.
func readHandshakeRest(r io.Reader, res *handshakeResult) error {
	var b [28]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	copy(res.ext[:], b[:8])
	copy(res.infoHash[:], b[8:28])
	return nil
}

// handshakeOutgoingMSE runs our side of a handshake we initiate through
// MSE: our BitTorrent handshake rides as MSE's initial payload, so it
// costs no round trip more than the key exchange.
func handshakeOutgoingMSE(ctx context.Context, nc net.Conn, provides mse.CryptoMethod, ext pp.PeerExtensionBits, ih metainfo.Hash, id [20]byte) (net.Conn, handshakeResult, error) {
	stop := deadlineFromContext(ctx, nc)
	defer stop()
	var hs bytes.Buffer
	if err := writeHandshake(&hs, ext, ih, id); err != nil {
		return nc, handshakeResult{}, err
	}
	rw, method, err := mse.InitiateHandshakeContext(ctx, nc, ih[:], hs.Bytes(), provides)
	if err != nil {
		return nc, handshakeResult{}, fmt.Errorf("%w: encrypted handshake: %w", ErrHandshake, err)
	}
	c := &mseConn{Conn: nc, rw: rw, method: method}
	res, err := readHandshakeStart(c)
	if err != nil {
		return nc, res, err
	}
	if res.infoHash != ih {
		return nc, res, fmt.Errorf("%w: peer answered for info hash %s", ErrHandshake, res.infoHash.HexString())
	}
	if res.peerID, err = readPeerID(c); err != nil {
		return nc, res, err
	}
	res.crypto = method
	return c, res, nil
}

// errNotBitTorrent is a handshake answered with something else: a peer
// that requires MSE answers our plaintext handshake with its key (as
// anacrolix's does).
var errNotBitTorrent = errors.New("not the BitTorrent protocol")

// refusedKind reports whether a handshake failed the way it does when the
// peer refuses our kind of handshake: it closed the connection, or
// answered plaintext with MSE. That is the one failure worth a second try
// with the other kind.
func refusedKind(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, errNotBitTorrent)
}

// connectPeer dials a peer with dial and runs the handshake the policy
// says, redialing once with the other kind when the peer hangs up on the
// first. It returns the connection to use and what the peer said.
func connectPeer(ctx context.Context, dial func(context.Context) (net.Conn, error), policy Encryption, ext pp.PeerExtensionBits, ih metainfo.Hash, id [20]byte) (net.Conn, handshakeResult, error) {
	attempt := func(encrypted bool) (net.Conn, handshakeResult, error) {
		nc, err := dial(ctx)
		if err != nil {
			return nil, handshakeResult{}, err
		}
		var c net.Conn
		var res handshakeResult
		if encrypted {
			c, res, err = handshakeOutgoingMSE(ctx, nc, policy.cryptoProvides(), ext, ih, id)
		} else {
			c = nc
			res, err = handshakeOutgoing(ctx, nc, ext, ih, id)
		}
		if err != nil {
			_ = nc.Close()
			return nil, res, err
		}
		return c, res, nil
	}
	switch policy {
	case EncryptionNever:
		return attempt(false)
	case EncryptionRequire:
		c, res, err := attempt(true)
		if err == nil && res.crypto != mse.CryptoMethodRC4 {
			_ = c.Close()
			return nil, res, fmt.Errorf("%w: the peer chose crypto %#x, and encryption is required", ErrEncryption, uint32(res.crypto))
		}
		return c, res, err
	}
	first := policy == EncryptionPrefer
	c, res, err := attempt(first)
	if err != nil && refusedKind(err) && ctx.Err() == nil {
		c, res, err = attempt(!first)
	}
	return c, res, err
}
