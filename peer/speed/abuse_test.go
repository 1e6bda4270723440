package speed_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/paychan/paychantest"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/speed"
	"github.com/bttspeed/bttspeed/peer/speedwire"
)

// rogue is a btt_speed buyer the test drives by hand: it sends what the
// test says and records what the seeder answers.
type rogue struct {
	hs    speedwire.Handshake
	peers chan peer.ExtPeer
	msgs  chan speedwire.Message
	// nonce is the seeder's challenge, once it came.
	nonce atomic.Pointer[[32]byte]
	// closed is closed when the rogue's first connection closes.
	closed     chan struct{}
	closedOnce sync.Once
	first      peer.ExtPeer
}

func (r *rogue) Name() string                               { return speedwire.Name }
func (r *rogue) HandshakeKeys(*peer.Torrent) map[string]any { return r.hs.Keys() }
func (r *rogue) Attach(p peer.ExtPeer, _ map[string]bencode.Bytes) (peer.ExtHandler, error) {
	if r.first == nil {
		r.first = p
	}
	select {
	case r.peers <- p:
	default: // a peer beyond the seeder: never block the loop
	}
	return rogueHandler{r, p}, nil
}

type rogueHandler struct {
	r *rogue
	p peer.ExtPeer
}

func (h rogueHandler) Message(b []byte) error {
	m, err := speedwire.Decode(b)
	if err != nil {
		return err
	}
	if c, ok := m.(speedwire.Challenge); ok {
		h.r.nonce.CompareAndSwap(nil, &c.Nonce)
	}
	select {
	case h.r.msgs <- m:
	default:
	}
	return nil
}
func (h rogueHandler) Closed() {
	if h.r.closed != nil && h.p == h.r.first {
		h.r.closedOnce.Do(func() { close(h.r.closed) })
	}
}

// dialRogue connects a rogue buyer, closed when the test ends, to the
// seeder at addr for mi's torrent, on m's network, and returns it and its btt_speed peer
// (the seeder).
func dialRogue(t *testing.T, m *market, addr netip.AddrPort, mi *metainfo.MetaInfo) (*rogue, peer.ExtPeer) {
	t.Helper()
	dom := m.dom
	r := &rogue{hs: speedwire.Handshake{Version: speedwire.Version, ChainID: dom.ChainID, Escrow: dom.Escrow}, peers: make(chan peer.ExtPeer, 1), msgs: make(chan speedwire.Message, 64), closed: make(chan struct{})}
	// No peer exchange: the rogue talks to the seeder alone, not to the
	// other rogues the seeder's PEX would name.
	cl, err := peer.NewClient(m.cfg(peer.Config{ListenAddr: "127.0.0.1:0", Extensions: []peer.Extension{r}, DisablePEX: true}))
	require.NoError(t, err)
	t.Cleanup(func() { cl.Close() })
	_, err = cl.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: mi, Dir: t.TempDir(), Peers: []netip.AddrPort{addr}})
	require.NoError(t, err)
	select {
	case p := <-r.peers:
		return r, p
	case <-time.After(10 * time.Second):
		t.Fatal("no btt_speed connection")
		return nil, nil
	}
}

// winAndAnnounce bids price, waits for the award, and announces ch,
// proving it with k, the channel's payer key.
func winAndAnnounce(t *testing.T, r *rogue, p peer.ExtPeer, price btt.Amount, dom paychan.Domain, ch paychan.Channel, k paychan.Signer) {
	t.Helper()
	sendMsg(t, p, speedwire.Bid{Price: price})
	waitMsg[speedwire.Award](t, r.msgs)
	announceChannel(t, r, p, dom, ch, k)
}

// announceChannel announces ch to the seeder on p, with a channel proof
// signed by k over the seeder's challenge.
func announceChannel(t *testing.T, r *rogue, p peer.ExtPeer, dom paychan.Domain, ch paychan.Channel, k paychan.Signer) {
	t.Helper()
	sendMsg(t, p, speedwire.Channel{ID: ch.ID, Escrow: dom.Escrow, Deposit: ch.Deposit, Expiry: ch.Expiry.Unix(), Proof: proveChannel(t, r, p, dom, ch.ID, k)})
}

// proveChannel signs, with k, the channel proof of channel id for the
// rogue's connection p.
func proveChannel(t *testing.T, r *rogue, p peer.ExtPeer, dom paychan.Domain, id paychan.ChannelID, k paychan.Signer) [65]byte {
	t.Helper()
	require.Eventually(t, func() bool { return r.nonce.Load() != nil }, 10*time.Second, time.Millisecond, "the seeder's challenge")
	ids := p.(peer.PeerIDs)
	sig, err := paychan.SignProof(k, paychan.Proof{ChainID: dom.ChainID, Escrow: dom.Escrow, Scheme: dom.Scheme, Channel: id, Nonce: *r.nonce.Load(),
		Seller: ids.PeerID(), Buyer: ids.LocalPeerID(), InfoHash: p.Torrent().InfoHash()})
	require.NoError(t, err)
	return sig
}

func sendMsg(t *testing.T, p peer.ExtPeer, m speedwire.Message) {
	t.Helper()
	b, err := m.Append(nil)
	require.NoError(t, err)
	p.Send(b)
}

// waitMsg returns the next message of type M from the seeder.
func waitMsg[M speedwire.Message](t *testing.T, msgs chan speedwire.Message) M {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-msgs:
			if m, ok := m.(M); ok {
				return m
			}
		case <-deadline:
			var m M
			t.Fatalf("no %s message from the seeder", m.Type())
		}
	}
}

// TestBadVouchers: a buyer that wins a paid slot and announces a real
// channel, then pays with a bad voucher. A forged one, one for another
// channel, escrow or chain, one over the deposit: each is refused with its
// error, the buyer is told (an error message) and choked, and nothing is
// credited. So is a voucher replayed, or not above the last, on the same
// connection (once the one before it was credited). (Across connections
// sharing a channel, vouchers can cross honestly: TestTopUpSharedChannel.)
func TestBadVouchers(t *testing.T) {
	dom := paychan.Domain{ChainID: 7, Escrow: btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")}
	other := btt.MustParseAddress("TE2H9hWjzYdwzDFRJfx9BFhr4MmjH1CHaz")
	const deposit = 1_000_000
	tests := []struct {
		name    string
		voucher func(ch paychan.Channel, payer, stranger paychan.Signer) []paychan.SignedVoucher
		want    error // nil: not refused
		credit  uint64
		// wait, if not 0, is how many vouchers to send, and see credited,
		// before the rest.
		wait int
	}{
		{"forged: signed by another key", func(ch paychan.Channel, _, stranger paychan.Signer) []paychan.SignedVoucher {
			return signAll(t, stranger, paychan.Voucher{ChainID: dom.ChainID, Escrow: dom.Escrow, Channel: ch.ID, Amount: btt.NewAmount(1000)})
		}, paychan.ErrBadSignature, 0, 0},
		{"for another channel", func(ch paychan.Channel, payer, _ paychan.Signer) []paychan.SignedVoucher {
			return signAll(t, payer, paychan.Voucher{ChainID: dom.ChainID, Escrow: dom.Escrow, Channel: paychan.ChannelID{9}, Amount: btt.NewAmount(1000)})
		}, paychan.ErrWrongChannel, 0, 0},
		{"for another escrow", func(ch paychan.Channel, payer, _ paychan.Signer) []paychan.SignedVoucher {
			return signAll(t, payer, paychan.Voucher{ChainID: dom.ChainID, Escrow: other, Channel: ch.ID, Amount: btt.NewAmount(1000)})
		}, paychan.ErrWrongEscrow, 0, 0},
		{"for another chain", func(ch paychan.Channel, payer, _ paychan.Signer) []paychan.SignedVoucher {
			return signAll(t, payer, paychan.Voucher{ChainID: 8, Escrow: dom.Escrow, Channel: ch.ID, Amount: btt.NewAmount(1000)})
		}, paychan.ErrWrongChain, 0, 0},
		{"over the deposit", func(ch paychan.Channel, payer, _ paychan.Signer) []paychan.SignedVoucher {
			return signAll(t, payer, paychan.Voucher{ChainID: dom.ChainID, Escrow: dom.Escrow, Channel: ch.ID, Amount: btt.NewAmount(deposit + 1)})
		}, paychan.ErrOverDeposit, 0, 0},
		{"good, then a bad signature after it", func(ch paychan.Channel, payer, stranger paychan.Signer) []paychan.SignedVoucher {
			good := signAll(t, payer, paychan.Voucher{ChainID: dom.ChainID, Escrow: dom.Escrow, Channel: ch.ID, Amount: btt.NewAmount(1000)})
			bad := signAll(t, stranger, paychan.Voucher{ChainID: dom.ChainID, Escrow: dom.Escrow, Channel: ch.ID, Amount: btt.NewAmount(5000)})
			return append(good, bad...)
		}, paychan.ErrBadSignature, 1000, 0},
		{"replayed", func(ch paychan.Channel, payer, _ paychan.Signer) []paychan.SignedVoucher {
			v := paychan.Voucher{ChainID: dom.ChainID, Escrow: dom.Escrow, Channel: ch.ID, Amount: btt.NewAmount(1000)}
			return signAll(t, payer, v, v)
		}, paychan.ErrNotIncreasing, 1000, 1},
		{"decreasing", func(ch paychan.Channel, payer, _ paychan.Signer) []paychan.SignedVoucher {
			v := paychan.Voucher{ChainID: dom.ChainID, Escrow: dom.Escrow, Channel: ch.ID}
			v1000, v500 := v, v
			v1000.Amount, v500.Amount = btt.NewAmount(1000), btt.NewAmount(500)
			return signAll(t, payer, v1000, v500)
		}, paychan.ErrNotIncreasing, 1000, 1},
		{"increasing", func(ch paychan.Channel, payer, _ paychan.Signer) []paychan.SignedVoucher {
			v := paychan.Voucher{ChainID: dom.ChainID, Escrow: dom.Escrow, Channel: ch.ID}
			v500, v1000 := v, v
			v500.Amount, v1000.Amount = btt.NewAmount(500), btt.NewAmount(1000)
			return signAll(t, payer, v500, v1000)
		}, nil, 1000, 0},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				m := newMarket(t)
				m.dom = dom
				chain := paychantest.New(dom, time.Now())
				sk := key(t, 1)
				pst, err := paychan.OpenStore(filepath.Join(t.TempDir(), "payee.db"))
				require.NoError(t, err)
				defer pst.Close()
				payee, err := paychan.NewPayee(ctx, pst, chain.As(sk.Address()), paychan.PayeeConfig{Self: sk.Address()})
				require.NoError(t, err)
				price := btt.NewAmount(1)
				sell, err := speed.New(speed.Config{Domain: dom, Sell: &speed.Seller{Payee: payee, Self: sk.Address(), Ask: price}})
				require.NoError(t, err)
				seeder, err := peer.NewClient(m.cfg(peer.Config{ListenAddr: "127.0.0.1:0", RechokeInterval: 50 * time.Millisecond, UploadRate: 256 << 10, Extensions: []peer.Extension{sell},
					Policy: func() (choker.Policy, error) {
						return choker.NewBidDriven(choker.BidDrivenConfig{Slots: 2, Reserve: price, LeaveIdle: true})
					}}))
				require.NoError(t, err)
				defer seeder.Close()
				dir, mi, _ := fixture(t, 4<<20)
				seedTor, err := seeder.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: dir, Verify: true})
				require.NoError(t, err)

				payerKey, stranger := key(t, byte(40+i)), key(t, 99)
				chain.Mint(payerKey.Address(), btt.NewAmount(deposit))
				st, err := paychan.OpenStore(filepath.Join(t.TempDir(), "payer.db"))
				require.NoError(t, err)
				defer st.Close()
				payer, err := paychan.NewPayer(ctx, st, chain.As(payerKey.Address()), payerKey)
				require.NoError(t, err)
				r, p := dialRogue(t, m, seeder.Addr(), mi)

				sendMsg(t, p, speedwire.Bid{Price: btt.NewAmount(3)})
				waitMsg[speedwire.Award](t, r.msgs)
				ch, err := payer.Open(ctx, sk.Address(), btt.NewAmount(deposit), time.Now().Add(24*time.Hour))
				require.NoError(t, err)
				announceChannel(t, r, p, dom, ch, payerKey)
				sellFigs := func() *speed.SellFigures {
					figs, err := sell.Peers(ctx)
					require.NoError(t, err)
					require.Len(t, figs, 1)
					return figs[0].Sell
				}
				for j, sv := range tc.voucher(ch, payerKey, stranger) {
					if j > 0 && j == tc.wait {
						require.Eventually(t, func() bool { return sellFigs().Paid == btt.NewAmount(tc.credit) }, 10*time.Second, 10*time.Millisecond, "the first credited")
					}
					sendMsg(t, p, speedwire.Voucher{Signed: sv})
				}
				if tc.want != nil {
					m := waitMsg[speedwire.Error](t, r.msgs)
					assert.Equal(t, speed.CodeBadVoucher, m.Code)
					assert.Contains(t, m.Reason, tc.want.Error())
					require.Eventually(t, func() bool { return sellFigs().Refused != "" }, 10*time.Second, 10*time.Millisecond)
					f := sellFigs()
					assert.True(t, strings.Contains(f.Refused, tc.want.Error()), "refused for %q, want %v", f.Refused, tc.want)
					require.Eventually(t, func() bool {
						ps, err := seedTor.Peers(ctx)
						return err == nil && len(ps) == 1 && ps[0].AmChoking
					}, 10*time.Second, 10*time.Millisecond, "the buyer is choked")
				} else {
					time.Sleep(300 * time.Millisecond) // let every voucher be handled
					assert.Empty(t, sellFigs().Refused)
				}
				require.Eventually(t, func() bool { return sellFigs().Paid == btt.NewAmount(tc.credit) }, 10*time.Second, 10*time.Millisecond)
				time.Sleep(100 * time.Millisecond)
				assert.Equal(t, btt.NewAmount(tc.credit), sellFigs().Paid, "credited")
				tot, err := payee.Totals()
				require.NoError(t, err)
				assert.Equal(t, btt.NewAmount(tc.credit), tot.Earned, "stored")
			})
		})
	}
}

func signAll(t *testing.T, s paychan.Signer, vs ...paychan.Voucher) []paychan.SignedVoucher {
	t.Helper()
	out := make([]paychan.SignedVoucher, len(vs))
	for i, v := range vs {
		sv, err := paychan.Sign(s, v)
		require.NoError(t, err)
		out[i] = sv
	}
	return out
}
