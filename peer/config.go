package peer

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"time"

	"golang.org/x/time/rate"

	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/peer/discovery"
)

// Config configures a Client. The zero value works: every zero field takes
// the default documented on it.
type Config struct {
	// ListenAddr is the TCP address to accept peers on (default ":0", any
	// free port on every interface; tests use "127.0.0.1:0"). Set
	// NoListen to accept none.
	ListenAddr string
	NoListen   bool
	// Listener, if set, is what the client accepts peers on instead of
	// a TCP listener on ListenAddr (NoListen does not apply); the client
	// closes it, and its address is the client's Addr.
	Listener net.Listener
	// Dial, if set, connects to peers instead of TCP: with peertest's
	// in-memory network, say. It must return once ctx ends (which bounds
	// the dial and the handshake).
	Dial func(ctx context.Context, addr netip.AddrPort) (net.Conn, error)
	// PeerIDPrefix starts our 20-byte peer id (default "-BS0100-", Azureus
	// style); the rest is random.
	PeerIDPrefix string
	// DataDir is where torrents store data unless their spec names a
	// directory (default: the current directory).
	DataDir string
	// CompletionDir, if set, is where every torrent keeps its record of
	// which pieces are verified: one database for the client however
	// many torrents it has, which is what lets a thousand torrents start
	// in well under a second. Empty: each torrent keeps it in its data
	// directory, under .bttspeed (torrents of one directory share it).
	CompletionDir string
	// Logger receives the engine's logs; nil discards them.
	Logger *slog.Logger
	// Policy makes each torrent's choking policy; nil means
	// choker.TitForTat with its defaults.
	Policy func() (choker.Policy, error)
	// Extensions are BEP 10 extensions offered to every peer.
	Extensions []Extension
	// DHT, if set, finds peers for every torrent (the node is the
	// caller's, shared, and not closed by the client).
	DHT *discovery.DHT
	// Tracker configures the tracker clients of every torrent.
	Tracker discovery.TrackerConfig

	// AllowPrivateWebSeeds lets the web seeds a .torrent's url-list or a
	// magnet link's ws= names reach loopback, private and link-local
	// addresses, as TorrentSpec.WebSeeds always may (a LAN deployment).
	// Off, such a stranger's URL could have us send requests into our own
	// network (the cloud metadata address among them).
	AllowPrivateWebSeeds bool

	// RechokeInterval is how often the policy runs (default 10 s).
	RechokeInterval time.Duration
	// HandshakeTimeout bounds dialing and the handshake (default 10 s).
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection that sends nothing, not even a
	// keep-alive (default 3 min).
	IdleTimeout time.Duration
	// KeepAliveInterval is how long our side may be silent before sending
	// a keep-alive (default 90 s).
	KeepAliveInterval time.Duration
	// RequestTimeout is how long a block request may go unanswered before
	// it is asked of another peer (default 30 s).
	RequestTimeout time.Duration
	// MaxConnsPerTorrent and MaxConns cap connections (defaults 80 and
	// 400); MaxHalfOpen caps dials in progress per torrent (default 25).
	// MaxConns also caps incoming connections still in their handshake.
	// In a torrent at MaxConnsPerTorrent, a new peer replaces one that
	// has been connected for 10 s without sending or receiving any
	// payload, so that idle connections cannot lock honest peers out.
	MaxConnsPerTorrent int
	MaxConns           int
	MaxHalfOpen        int
	// MaxQueuedRequests is how many requests a peer may have queued with
	// us (default 2048); past it, BEP 6 peers get rejects and others are
	// disconnected.
	MaxQueuedRequests int
	// MaxRequestsPerPeer caps the requests we keep in flight to one peer
	// (default 500), and so does the queue depth a peer advertises in
	// its BEP 10 handshake (reqq) when it is smaller. The pipeline starts
	// at 64 and grows by one with each block received for the
	// connection's first two rate ticks (about its first one to two
	// seconds), as a TCP slow start does; after that it is two seconds of
	// the peer's last second's rate, at least 64.
	MaxRequestsPerPeer int
	// DisableFast turns off BEP 6.
	DisableFast bool
	// Encryption is the policy for encrypted (MSE/PE) handshakes (default
	// EncryptionPreferPlain: accept both, dial plaintext first); see
	// Encryption for each policy.
	Encryption Encryption
	// Protocols are the transports to accept and dial peers on (default
	// ProtocolTCP; ProtocolTCP|ProtocolUTP listens on TCP and UDP on the
	// same port and dials TCP first); see Protocols. uTP is off with
	// Listener or Dial set.
	Protocols Protocols
	// DisablePEX turns off peer exchange (BEP 11, ut_pex), which is on
	// for every torrent that is not private.
	DisablePEX bool
	// UploadRate caps the payload the client uploads, in bytes per
	// second over all torrents and peers (zero: no cap).
	UploadRate int64
	// DownloadRate caps the payload the client downloads, in bytes per
	// second over all torrents and peers (zero: no cap); a connection's
	// reader waits, so TCP slows the sender. Torrent.SetRateLimits caps
	// one torrent more.
	DownloadRate int64
	// CloseTimeout bounds how long closing a torrent (or the client)
	// waits for extension handlers to finish work their peers are owed
	// (see Settler: btt_speed's last voucher) and for the connections
	// concerned to send what it queued (default 3 s). A torrent with no
	// such work closes at once.
	CloseTimeout time.Duration

	// downLimit enforces DownloadRate (set by setDefaults; nil: no cap).
	downLimit *rate.Limiter

	// minEvictAge is how long a peer must have been connected, with no
	// payload either way, before a new peer may replace it in a full
	// torrent (default 10 s; tests shorten it).
	minEvictAge time.Duration
	// pexInterval is the least time between two ut_pex messages to one
	// peer (default a minute; tests shorten it).
	pexInterval time.Duration
}

func (c *Config) setDefaults() error {
	if c.UploadRate < 0 {
		return fmt.Errorf("peer: UploadRate %d is negative", c.UploadRate)
	}
	if c.DownloadRate < 0 {
		return fmt.Errorf("%w: DownloadRate %d is negative", ErrConfig, c.DownloadRate)
	}
	if c.DownloadRate > 0 {
		// As the upload cap: a burst of a tenth of a second, at least a block.
		c.downLimit = rate.NewLimiter(rate.Limit(c.DownloadRate), int(max(c.DownloadRate/10, 16<<10)))
	}
	if c.RechokeInterval < 0 || c.HandshakeTimeout < 0 || c.IdleTimeout < 0 || c.KeepAliveInterval < 0 || c.RequestTimeout < 0 || c.CloseTimeout < 0 {
		return fmt.Errorf("%w: negative duration", ErrConfig)
	}
	if c.MaxConnsPerTorrent < 0 || c.MaxConns < 0 || c.MaxHalfOpen < 0 || c.MaxQueuedRequests < 0 || c.MaxRequestsPerPeer < 0 {
		return fmt.Errorf("%w: negative limit", ErrConfig)
	}
	if c.Protocols == 0 {
		c.Protocols = ProtocolTCP
	}
	if c.Protocols&^(ProtocolTCP|ProtocolUTP) != 0 {
		return fmt.Errorf("%w: Protocols %v", ErrConfig, c.Protocols)
	}
	if !c.Encryption.valid() {
		return fmt.Errorf("%w: Encryption %v", ErrConfig, c.Encryption)
	}
	if c.ListenAddr == "" {
		c.ListenAddr = ":0"
	}
	if c.PeerIDPrefix == "" {
		c.PeerIDPrefix = "-BS0100-"
	}
	if len(c.PeerIDPrefix) > 20 {
		return fmt.Errorf("%w: PeerIDPrefix %q is longer than 20 bytes", ErrConfig, c.PeerIDPrefix)
	}
	if c.DataDir == "" {
		c.DataDir = "."
	}
	if c.CompletionDir != "" {
		dir, err := filepath.Abs(c.CompletionDir)
		if err != nil {
			return fmt.Errorf("%w: CompletionDir: %w", ErrConfig, err)
		}
		c.CompletionDir = dir
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Policy == nil {
		c.Policy = func() (choker.Policy, error) { return choker.NewTitForTat(choker.TitForTatConfig{}) }
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.RechokeInterval, 10*time.Second)
	def(&c.HandshakeTimeout, 10*time.Second)
	def(&c.IdleTimeout, 3*time.Minute)
	def(&c.KeepAliveInterval, 90*time.Second)
	def(&c.RequestTimeout, 30*time.Second)
	def(&c.CloseTimeout, 3*time.Second)
	def(&c.minEvictAge, 10*time.Second)
	def(&c.pexInterval, time.Minute)
	defInt := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	defInt(&c.MaxConnsPerTorrent, 80)
	defInt(&c.MaxConns, 400)
	defInt(&c.MaxHalfOpen, 25)
	defInt(&c.MaxQueuedRequests, 2048)
	defInt(&c.MaxRequestsPerPeer, 500)
	seen := map[string]bool{"ut_metadata": true}
	for _, e := range c.Extensions {
		if e == nil || e.Name() == "" || seen[e.Name()] {
			return fmt.Errorf("%w: extension %v is nil, unnamed or registered twice", ErrConfig, e)
		}
		seen[e.Name()] = true
	}
	if len(c.Extensions) > 200 {
		return fmt.Errorf("%w: too many extensions", ErrConfig)
	}
	return nil
}

func newPeerID(prefix string) [20]byte {
	var id [20]byte
	n := copy(id[:], prefix)
	_, _ = rand.Read(id[n:])
	return id
}
