package speed_test

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/paychan/paychantest"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/peertest"
	"github.com/bttspeed/bttspeed/peer/speed"
	"github.com/bttspeed/bttspeed/peer/speedwire"
)

// malformedDomain is the chain both sides of TestMalformedSpeedwire name.
var malformedDomain = paychan.Domain{ChainID: 0x2b6653dc, Escrow: btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")}

// lineLog keeps a client's log lines, to find why it dropped a peer.
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *lineLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, b.String())
	l.mu.Unlock()
	return nil
}
func (l *lineLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *lineLog) WithGroup(string) slog.Handler      { return l }

// dropped returns the line saying the client dropped a peer for why: on
// the loop ("dropping peer"), or on the reader, which vets a message
// before the loop sees it ("peer gone").
func (l *lineLog) dropped(why string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.lines {
		if (strings.Contains(s, "dropping peer") || strings.Contains(s, "peer gone")) && strings.Contains(s, why) {
			return s, true
		}
	}
	return "", false
}

// wireAttacker names btt_speed in its extended handshake with the keys
// it is given, and sends its peer one raw payload as a btt_speed message.
type wireAttacker struct {
	keys    map[string]any
	payload []byte // nil: none
}

func (a *wireAttacker) Name() string                               { return speedwire.Name }
func (a *wireAttacker) HandshakeKeys(*peer.Torrent) map[string]any { return a.keys }
func (a *wireAttacker) Attach(p peer.ExtPeer, _ map[string]bencode.Bytes) (peer.ExtHandler, error) {
	if a.payload != nil {
		p.Send(a.payload)
	}
	return a, nil
}
func (a *wireAttacker) Message([]byte) error { return nil }
func (a *wireAttacker) Closed()              {}

// speedKeys is a btt_speed handshake on malformedDomain, a seller's when
// payee is set.
func speedKeys(seller bool) map[string]any {
	h := map[string]any{
		"bs_version": speedwire.Version,
		"bs_chain":   int64(malformedDomain.ChainID),
		"bs_escrow":  string(malformedDomain.Escrow[:]),
		"bs_ask":     "1",
	}
	if seller {
		payee := btt.MustParseAddress("TE2H9hWjzYdwzDFRJfx9BFhr4MmjH1CHaz")
		h["bs_payee"] = string(payee[:])
	}
	return h
}

// memClient starts a client on a new host of n, logging to log.
func memClient(t *testing.T, n *peertest.Network, log *lineLog, exts ...peer.Extension) *peer.Client {
	t.Helper()
	h := n.Host()
	ln, err := h.Listen(6881)
	require.NoError(t, err)
	cfg := peer.Config{Listener: ln, Dial: h.Dial, Extensions: exts}
	if log != nil {
		cfg.Logger = slog.New(log)
	}
	cl, err := peer.NewClient(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { cl.Close() })
	return cl
}

// sellingTarget is a seeder of mi selling through btt_speed.
func sellingTarget(t *testing.T, n *peertest.Network, dir string, mi *metainfo.MetaInfo, log *lineLog) *peer.Client {
	t.Helper()
	chain := paychantest.New(malformedDomain, time.Now())
	k := key(t, 1)
	st, err := paychan.OpenStore(t.TempDir() + "/payee.db")
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	payee, err := paychan.NewPayee(t.Context(), st, chain.As(k.Address()), paychan.PayeeConfig{Self: k.Address()})
	require.NoError(t, err)
	ext, err := speed.New(speed.Config{Domain: malformedDomain, Sell: &speed.Seller{Payee: payee, Self: k.Address(), Ask: btt.NewAmount(1)}})
	require.NoError(t, err)
	cl := memClient(t, n, log, ext)
	_, err = cl.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: mi, Dir: dir, Verify: true})
	require.NoError(t, err)
	return cl
}

// buyingTarget is a leecher of mi buying through btt_speed from the peer
// at from.
func buyingTarget(t *testing.T, n *peertest.Network, mi *metainfo.MetaInfo, from netip.AddrPort, log *lineLog) {
	t.Helper()
	chain := paychantest.New(malformedDomain, time.Now())
	k := key(t, 2)
	budget := btt.NewAmount(1 << 40)
	chain.Mint(k.Address(), budget)
	st, err := paychan.OpenStore(t.TempDir() + "/payer.db")
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	payer, err := paychan.NewPayer(t.Context(), st, chain.As(k.Address()), k)
	require.NoError(t, err)
	ext, err := speed.New(speed.Config{Domain: malformedDomain, Buy: &speed.Buyer{Payer: payer, Strategy: bidding.Fixed{Price: btt.NewAmount(5)}, Budget: budget}})
	require.NoError(t, err)
	cl := memClient(t, n, log, ext)
	_, err = cl.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: mi, Dir: t.TempDir(), Peers: []netip.AddrPort{from}})
	require.NoError(t, err)
}

// TestMalformedSpeedwire: a peer that is malformed at the speedwire level
// — its btt_speed handshake or one of its messages — is dropped, for
// that reason, by a seller (the peer leeches from it) and by a buyer (the
// peer seeds to it). The engine's own defences against malformed BEP 10
// traffic are peer's TestHostilePeers; these are btt_speed's, on an
// in-memory network.
func TestMalformedSpeedwire(t *testing.T) {
	dir, mi, _ := fixture(t, 512<<10)
	msg := func(s string) []byte { return []byte(s) }
	for _, tc := range []struct {
		name string
		// target: "seller", "buyer" or both ("").
		target  string
		keys    func(map[string]any)
		payload []byte
		why     string
	}{
		{"handshake without bs_version", "", func(d map[string]any) { delete(d, "bs_version") }, nil, "lacks bs_version"},
		{"handshake with a 5-byte escrow", "", func(d map[string]any) { d["bs_escrow"] = "short" }, nil, "escrow"},
		{"handshake with a negative ask", "", func(d map[string]any) { d["bs_ask"] = "-1" }, nil, "ask"},
		{"handshake with a 10 KiB key", "", func(d map[string]any) { d["bs_ask"] = strings.Repeat("9", 10<<10) }, nil, "too long"},
		{"message that is not bencode", "", nil, msg("x"), "malformed"},
		{"message of an unknown type", "", nil, msg("d1:t3:fooe"), "unknown type"},
		{"message of 9000 bytes", "", nil, msg("d1:t3:bid6:reason8980:" + strings.Repeat("r", 8980) + "e"), "more than 8192"},
		{"bid with a negative price", "seller", nil, msg("d5:price2:-51:t3:bide"), "bid price"},
		{"bid of 2^256", "seller", nil, msg("d5:price78:115792089237316195423570985008687907853269984665640564039457584007913129639936" + "1:t3:bide"), "bid price"},
		{"voucher of 3 bytes", "seller", nil, msg("d1:t7:voucher1:v3:abce"), "voucher"},
		{"channel with a short id", "seller", nil, msg("d7:deposit1:16:escrow21:" + string(malformedDomain.Escrow[:]) + "6:expiryi5e2:id3:abc1:t7:channele"), "channel id"},
		{"voucher listing pieces out of order", "seller", nil, msg("d1:pli5ei1ei0ei1ee1:t7:voucher1:v3:abce"), "voucher pieces"},
		{"award with a negative credit", "buyer", nil, msg("d6:crediti-1e5:price1:11:t5:awarde"), "negative credit"},
		{"reject with a 1 KiB reason", "buyer", nil, msg("d5:price1:16:reason1024:" + strings.Repeat("r", 1024) + "1:t6:rejecte"), "reason too long"},
	} {
		for _, target := range []string{"seller", "buyer"} {
			if tc.target != "" && tc.target != target {
				continue
			}
			t.Run(target+"/"+tc.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					n := peertest.NewNetwork()
					log := &lineLog{}
					keys := speedKeys(target == "buyer")
					if tc.keys != nil {
						tc.keys(keys)
					}
					a := &wireAttacker{keys: keys, payload: tc.payload}
					attacker := memClient(t, n, nil, a)
					if target == "seller" {
						seller := sellingTarget(t, n, dir, mi, log)
						_, err := attacker.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: mi, Dir: t.TempDir(), Peers: []netip.AddrPort{seller.Addr()}})
						require.NoError(t, err)
					} else {
						_, err := attacker.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: mi, Dir: dir, Verify: true})
						require.NoError(t, err)
						buyingTarget(t, n, mi, attacker.Addr(), log)
					}
					var line string
					require.Eventually(t, func() (ok bool) {
						line, ok = log.dropped(tc.why)
						return ok
					}, 10*time.Second, 5*time.Millisecond, "dropped for %q", tc.why)
					t.Log(line)
				})
			})
		}
	}
}
