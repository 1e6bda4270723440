package speed_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/paychan/paychantest"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/peertest"
	"github.com/bttspeed/bttspeed/peer/speed"
)

// market is the in-memory escrow the tests' sellers and buyers meet on.
type market struct {
	t     *testing.T
	chain *paychantest.Chain
	dom   paychan.Domain
	// client, if set, adjusts every client's config, sellers' and
	// buyers' (after sellerOpts.client).
	client func(*peer.Config)
	// started, if set, is called with each buyer's client before it
	// adds its torrent: to subscribe to its events from the first.
	started func(*peer.Client)
	// spec, if set, adjusts each buyer's TorrentSpec.
	spec func(*peer.TorrentSpec)
	// net is the in-memory network the clients are on, unless client
	// is changed.
	net *peertest.Network
}

// newMarket returns a market whose clients are all on one in-memory
// network (onNetwork): inside a testing/synctest bubble (synctest.Test),
// nothing of it waits on the machine.
func newMarket(t *testing.T) *market {
	dom := paychan.Domain{ChainID: 1, Escrow: btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")}
	n := peertest.NewNetwork()
	return &market{t: t, chain: paychantest.New(dom, time.Now()), dom: dom, net: n, client: onNetwork(t, n)}
}

// cfg returns c adjusted by m.client: for a client the test starts itself.
func (m *market) cfg(c peer.Config) peer.Config {
	if m.client != nil {
		m.client(&c)
	}
	return c
}

// store opens a bbolt store in a temp dir, closed when the test ends.
func (m *market) store(name string) (*paychan.Store, string) {
	path := filepath.Join(m.t.TempDir(), name)
	st, err := paychan.OpenStore(path)
	require.NoError(m.t, err)
	m.t.Cleanup(func() { st.Close() })
	return st, path
}

// sellSide is a seeder of a generated file that sells its slots.
type sellSide struct {
	key    *paychan.KeySigner
	st     *paychan.Store
	dbPath string
	payee  *paychan.Payee
	seller *speed.Extension // the selling extension (s.ext), for its figures
	ext    *speed.Extension
	client *peer.Client
	tor    *peer.Torrent
	mi     *metainfo.MetaInfo
	dir    string
	sum    [32]byte
}

// sellerOpts adjust a seller before it starts: its Seller, its client's
// config, and its BidDriven auction (by default 2 slots, one of them free,
// paid slots left idle when nobody wins them, the reserve at the price).
type sellerOpts struct {
	payee   func(*paychan.PayeeConfig)
	seller  func(*speed.Seller)
	client  func(*peer.Config)
	auction func(*choker.BidDrivenConfig)
}

// seller starts a seeder of size bytes selling at price.
func (m *market) seller(price btt.Amount, size int64, o sellerOpts) *sellSide {
	s := &sellSide{key: key(m.t, 1)}
	s.st, s.dbPath = m.store("payee.db")
	s.dir, s.mi, s.sum = fixture(m.t, size)
	return m.startSeller(s, price, o)
}

// restartSeller is s's process started again, over the same store and
// data, at a new address.
func (m *market) restartSeller(s *sellSide, price btt.Amount, o sellerOpts) *sellSide {
	s.client.Close()
	require.NoError(m.t, s.st.Close())
	st, err := paychan.OpenStore(s.dbPath)
	require.NoError(m.t, err)
	m.t.Cleanup(func() { st.Close() })
	return m.startSeller(&sellSide{key: s.key, st: st, dbPath: s.dbPath, mi: s.mi, dir: s.dir, sum: s.sum}, price, o)
}

func (m *market) startSeller(s *sellSide, price btt.Amount, o sellerOpts) *sellSide {
	t := m.t
	var err error
	pc := paychan.PayeeConfig{Self: s.key.Address()}
	if o.payee != nil {
		o.payee(&pc)
	}
	s.payee, err = paychan.NewPayee(context.Background(), s.st, m.chain.As(s.key.Address()), pc)
	require.NoError(t, err)
	sc := speed.Seller{Payee: s.payee, Self: s.key.Address(), Ask: price}
	if o.seller != nil {
		o.seller(&sc)
	}
	s.ext, err = speed.New(speed.Config{Domain: m.dom, Sell: &sc})
	require.NoError(t, err)
	s.seller = s.ext
	auction := choker.BidDrivenConfig{Slots: 2, Reserve: price, LeaveIdle: true}
	if o.auction != nil {
		o.auction(&auction)
	}
	cfg := peer.Config{ListenAddr: "127.0.0.1:0", RechokeInterval: 100 * time.Millisecond, Extensions: []peer.Extension{s.ext},
		Policy: func() (choker.Policy, error) { return choker.NewBidDriven(auction) }}
	if o.client != nil {
		o.client(&cfg)
	}
	if m.client != nil {
		m.client(&cfg)
	}
	s.client, err = peer.NewClient(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { s.client.Close() })
	s.tor, err = s.client.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: s.mi, Dir: s.dir, Verify: true})
	require.NoError(t, err)
	return s
}

// buySide is a leecher of ours that buys with a Buyer.
type buySide struct {
	key    *paychan.KeySigner
	store  *paychan.Store
	payer  *paychan.Payer
	buyer  *speed.Extension // the buying extension (l.ext), for its figures
	ext    *speed.Extension
	client *peer.Client
	tor    *peer.Torrent
	dir    string
}

// buyer starts a leecher of s's torrent with key n, minted mint tokens,
// bidding price with a budget (b adjusts its Buyer).
func (m *market) buyer(s *sellSide, n byte, mint, price, budget btt.Amount, b func(*speed.Buyer)) *buySide {
	t := m.t
	l := &buySide{key: key(t, n), dir: t.TempDir()}
	m.chain.Mint(l.key.Address(), mint)
	l.store, _ = m.store("payer.db")
	return m.start(s, l, price, budget, b)
}

// restart is l's process started again: a new Buyer and client over the
// same key and payer store, downloading s's torrent into a new directory.
func (m *market) restart(s *sellSide, l *buySide, price, budget btt.Amount, b func(*speed.Buyer)) *buySide {
	l.client.Close()
	return m.start(s, &buySide{key: l.key, store: l.store, dir: m.t.TempDir()}, price, budget, b)
}

func (m *market) start(s *sellSide, l *buySide, price, budget btt.Amount, b func(*speed.Buyer)) *buySide {
	t := m.t
	var err error
	l.payer, err = paychan.NewPayer(context.Background(), l.store, m.chain.As(l.key.Address()), l.key)
	require.NoError(t, err)
	bc := speed.Buyer{Payer: l.payer, Strategy: bidding.Fixed{Price: price}, Budget: budget}
	if b != nil {
		b(&bc)
	}
	l.ext, err = speed.New(speed.Config{Domain: m.dom, Buy: &bc})
	require.NoError(t, err)
	l.buyer = l.ext
	cfg := peer.Config{ListenAddr: "127.0.0.1:0", Extensions: []peer.Extension{l.ext}}
	if m.client != nil {
		m.client(&cfg)
	}
	l.client, err = peer.NewClient(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { l.client.Close() })
	if m.started != nil {
		m.started(l.client)
	}
	spec := peer.TorrentSpec{MetaInfo: s.mi, Dir: l.dir, Peers: []netip.AddrPort{s.client.Addr()}}
	if m.spec != nil {
		m.spec(&spec)
	}
	l.tor, err = l.client.AddTorrent(context.Background(), spec)
	require.NoError(t, err)
	return l
}

// channelTo mints 1 BTT to k and opens, through a payer over a store of
// its own, a channel of deposit to s, for a day: for tests that pay by
// hand (a rogue buyer).
func (m *market) channelTo(s *sellSide, k *paychan.KeySigner, deposit btt.Amount) paychan.Channel {
	m.t.Helper()
	return m.openTo(m.payer(k), s, deposit)
}

// payer is a Payer for key k, minted 1 BTT, over a store of its own.
func (m *market) payer(k *paychan.KeySigner) *paychan.Payer {
	m.t.Helper()
	m.chain.Mint(k.Address(), btt.BTT(1))
	st, _ := m.store("payer.db")
	payer, err := paychan.NewPayer(context.Background(), st, m.chain.As(k.Address()), k)
	require.NoError(m.t, err)
	return payer
}

// openTo opens a channel of payer's to s, for a day.
func (m *market) openTo(payer *paychan.Payer, s *sellSide, deposit btt.Amount) paychan.Channel {
	m.t.Helper()
	ch, err := payer.Open(context.Background(), s.key.Address(), deposit, time.Now().Add(24*time.Hour))
	require.NoError(m.t, err)
	return ch
}

// waitDone waits for a download to complete.
func waitDone(t *testing.T, tor *peer.Torrent, within time.Duration) {
	t.Helper()
	select {
	case <-tor.Done():
	case <-time.After(within):
		st, _ := tor.Stats(context.Background())
		t.Fatalf("did not complete in %v: %+v", within, st)
	}
}
