package speed_test

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/speed"
	"github.com/bttspeed/bttspeed/peer/speedwire"
)

// rogueSeller is a seeder with a btt_speed extension the test drives by
// hand: it serves the torrent with plain tit-for-tat, and says what the test
// tells it to.
func rogueSeller(t *testing.T, m *market, size int64, policy ...func() (choker.Policy, error)) (*rogue, *sellSide) {
	t.Helper()
	s := &sellSide{key: key(t, 9)}
	s.dir, s.mi, s.sum = fixture(t, size)
	r := &rogue{hs: speedwire.Handshake{Version: speedwire.Version, ChainID: m.dom.ChainID, Escrow: m.dom.Escrow, Payee: s.key.Address(), Ask: btt.NewAmount(1)},
		peers: make(chan peer.ExtPeer, 16), msgs: make(chan speedwire.Message, 256)}
	var err error
	cfg := peer.Config{ListenAddr: "127.0.0.1:0", RechokeInterval: 100 * time.Millisecond, UploadRate: 1 << 20, Extensions: []peer.Extension{r}}
	if len(policy) > 0 {
		cfg.Policy = policy[0]
	}
	s.client, err = peer.NewClient(m.cfg(cfg))
	require.NoError(t, err)
	t.Cleanup(func() { s.client.Close() })
	s.tor, err = s.client.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: s.mi, Dir: s.dir, Verify: true})
	require.NoError(t, err)
	return r, s
}

// TestHostileSellers: a seller that speaks the wire perfectly and wants
// more BTT than the buyer agreed to, against an honest buyer. The bound: a
// buyer pays at most the price it bid × the bytes it received in a paid
// slot, for pieces that verified, never past its budget.
func TestHostileSellers(t *testing.T) {
	t.Run("awards the budget's worth to a bid of one unit", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			// Case 1: the buyer copied the award's price, and a seller that
			// awarded budget ÷ size a byte to a bid of 1 was paid the
			// whole budget for a 2 MiB torrent.
			m := newMarket(t)
			const size = 2 << 20
			r, s := rogueSeller(t, m, size)
			budget := btt.BTT(1)
			k := key(t, 2)
			m.chain.Mint(k.Address(), budget)
			st, _ := m.store("payer.db")
			payer, err := paychan.NewPayer(context.Background(), st, m.chain.As(k.Address()), k)
			require.NoError(t, err)
			buyer := &speed.Buyer{Payer: payer, Strategy: bidding.Fixed{Price: btt.NewAmount(1)}, Budget: budget}
			ext, err := speed.New(speed.Config{Domain: m.dom, Buy: buyer})
			require.NoError(t, err)
			cl, err := peer.NewClient(m.cfg(peer.Config{ListenAddr: "127.0.0.1:0", Extensions: []peer.Extension{ext}}))
			require.NoError(t, err)
			t.Cleanup(func() { cl.Close() })
			tor, err := cl.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: s.mi, Dir: t.TempDir(), Peers: []netip.AddrPort{s.client.Addr()}})
			require.NoError(t, err)

			greedy := budget.DivUint64(size)
			deadline := time.After(4 * time.Second)
			awards := 0
			for done := false; !done; {
				select {
				case p := <-r.peers:
					// Each connection: the challenge, then an award at the
					// greedy price as soon as the buyer bids.
					var nonce [32]byte
					nonce[0] = byte(awards)
					sendMsg(t, p, speedwire.Challenge{Nonce: nonce})
					go func() {
						for m := range r.msgs {
							if _, ok := m.(speedwire.Bid); ok {
								b, err := speedwire.Award{Price: greedy, Credit: 1 << 30}.Append(nil)
								if err == nil {
									p.Send(b)
								}
								return
							}
						}
					}()
					awards++
				case <-tor.Done():
					done = true
				case <-deadline:
					done = true
				}
			}
			assert.GreaterOrEqual(t, awards, 1)
			assert.True(t, ext.Spent().IsZero(), "paid %s at a price it never bid", ext.Spent())
			figs, err := ext.Peers(context.Background())
			require.NoError(t, err)
			for _, f := range figs {
				if f.Buy != nil {
					assert.False(t, f.Buy.Clearing.Gt(btt.NewAmount(1)), "no clearing price above the bid")
				}
			}
		})
	})

	t.Run("awards, then goes silent", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			// It takes the buyer's channel and serves nothing: the buyer
			// pays nothing; what it risks is its deposit locked until it
			// reclaims it, never more than Buyer.Deposit.
			m := newMarket(t)
			r, s := rogueSeller(t, m, 2<<20, func() (choker.Policy, error) { return chokeAll{}, nil })
			budget, deposit := btt.BTT(1), btt.BTT(1).DivUint64(4)
			k := key(t, 3)
			m.chain.Mint(k.Address(), budget)
			st, _ := m.store("payer.db")
			payer, err := paychan.NewPayer(context.Background(), st, m.chain.As(k.Address()), k)
			require.NoError(t, err)
			buyer := &speed.Buyer{Payer: payer, Strategy: bidding.Fixed{Price: btt.NewAmount(5)}, Budget: budget, Deposit: deposit}
			ext, err := speed.New(speed.Config{Domain: m.dom, Buy: buyer})
			require.NoError(t, err)
			cl, err := peer.NewClient(m.cfg(peer.Config{ListenAddr: "127.0.0.1:0", Extensions: []peer.Extension{ext}}))
			require.NoError(t, err)
			t.Cleanup(func() { cl.Close() })
			_, err = cl.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: s.mi, Dir: t.TempDir(), Peers: []netip.AddrPort{s.client.Addr()}})
			require.NoError(t, err)
			p := <-r.peers
			sendMsg(t, p, speedwire.Challenge{Nonce: [32]byte{7}})
			waitMsg[speedwire.Bid](t, r.msgs)
			sendMsg(t, p, speedwire.Award{Price: btt.NewAmount(5), Credit: 1 << 20})
			ch := waitMsg[speedwire.Channel](t, r.msgs)
			time.Sleep(time.Second) // silence
			assert.True(t, ext.Spent().IsZero(), "paid %s for nothing", ext.Spent())
			recs, err := payer.Channels()
			require.NoError(t, err)
			require.Len(t, recs, 1)
			assert.Equal(t, ch.ID, recs[0].Channel.ID)
			assert.Equal(t, deposit, recs[0].Channel.Deposit, "locked: one deposit, no more")
			assert.Equal(t, budget.SubFloor(deposit), m.chain.Balance(k.Address()))
		})
	})

	t.Run("says every channel is ending", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			// Code 4 makes the buyer open a new channel. A seller that sends
			// it falsely, again and again, can have the buyer lock deposits
			// only as far as its budget: Budget ÷ Deposit channels.
			m := newMarket(t)
			r, s := rogueSeller(t, m, 2<<20, func() (choker.Policy, error) { return chokeAll{}, nil })
			budget, deposit := btt.BTT(1), btt.BTT(1).DivUint64(4)
			k := key(t, 4)
			m.chain.Mint(k.Address(), budget)
			st, _ := m.store("payer.db")
			payer, err := paychan.NewPayer(context.Background(), st, m.chain.As(k.Address()), k)
			require.NoError(t, err)
			buyer := &speed.Buyer{Payer: payer, Strategy: bidding.Fixed{Price: btt.NewAmount(5)}, Budget: budget, Deposit: deposit}
			ext, err := speed.New(speed.Config{Domain: m.dom, Buy: buyer})
			require.NoError(t, err)
			cl, err := peer.NewClient(m.cfg(peer.Config{ListenAddr: "127.0.0.1:0", Extensions: []peer.Extension{ext}}))
			require.NoError(t, err)
			t.Cleanup(func() { cl.Close() })
			_, err = cl.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: s.mi, Dir: t.TempDir(), Peers: []netip.AddrPort{s.client.Addr()}})
			require.NoError(t, err)
			p := <-r.peers
			sendMsg(t, p, speedwire.Challenge{Nonce: [32]byte{8}})
			waitMsg[speedwire.Bid](t, r.msgs)
			sendMsg(t, p, speedwire.Award{Price: btt.NewAmount(5), Credit: 1 << 20})
			announced := map[paychan.ChannelID]bool{}
			for quiet := time.After(2 * time.Second); ; {
				select {
				case msg := <-r.msgs:
					if ch, ok := msg.(speedwire.Channel); ok && !announced[ch.ID] {
						announced[ch.ID] = true
						quiet = time.After(2 * time.Second)
						// Once the buyer has recorded it (a seller says so in
						// answer to a voucher, which comes after).
						time.Sleep(100 * time.Millisecond)
						sendMsg(t, p, speedwire.Error{Code: speed.CodeChannelEnding, Reason: "ending"})
					}
					continue
				case <-quiet:
				}
				break
			}
			assert.Greater(t, len(announced), 1, "the buyer replaced its channel")
			recs, err := payer.Channels()
			require.NoError(t, err)
			t.Logf("%d channels opened", len(recs))
			assert.LessOrEqual(t, len(recs), 4, "at most Budget ÷ Deposit channels")
			assert.True(t, ext.Spent().IsZero())
			locked := budget.SubFloor(m.chain.Balance(k.Address()))
			assert.False(t, locked.Gt(budget), "never past the budget: %s locked", locked)
		})
	})
}

// chokeAll is a policy that unchokes no one.
type chokeAll struct{}

func (chokeAll) Rechoke(time.Time, choker.Snapshot) choker.Decision { return choker.Decision{} }
