package speed

import (
	"context"
	"crypto/rand"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/piece"
)

// buyerFixture returns a buying handler over a fake peer whose torrent
// has 64 KiB pieces (four blocks), and no channel yet: what it pays for
// waits in its pending list.
func buyerFixture(t *testing.T) *handler {
	t.Helper()
	tor := seededTorrent(t, 256<<10)
	e := &Extension{buy: &buyer{Buyer: Buyer{Budget: btt.BTT(1), Deposit: btt.BTT(1), Lifetime: time.Hour, Now: time.Now}}, log: slog.New(slog.DiscardHandler)}
	e.buy.channels = make(map[btt.Address]*buyChannel)
	return &handler{e: e, p: &fakePeer{tor: tor}, buy: &buyState{}}
}

// seededTorrent returns a torrent of size random bytes in 64 KiB pieces
// (four blocks each), complete, in a client of its own that the test
// closes.
func seededTorrent(t *testing.T, size int) *peer.Torrent {
	t.Helper()
	dir := t.TempDir()
	data := make([]byte, size)
	_, _ = rand.Read(data)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data.bin"), data, 0o644))
	info := metainfo.Info{PieceLength: 64 << 10}
	require.NoError(t, info.BuildFromFilePath(filepath.Join(dir, "data.bin")))
	ib, err := bencode.Marshal(info)
	require.NoError(t, err)
	cl, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0"})
	require.NoError(t, err)
	t.Cleanup(func() { cl.Close() })
	tor, err := cl.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: &metainfo.MetaInfo{InfoBytes: ib}, Dir: dir, Verify: true})
	require.NoError(t, err)
	return tor
}

// TestBuyerPricesBlocksAsTheyCome: a buyer pays for a verified piece what
// each of its blocks cost when it came — the paid slot's price, or nothing
// in a free slot — never more than it bid, and never at the price of the
// slot the piece happened to finish in (issue 23, case 1).
func TestBuyerPricesBlocksAsTheyCome(t *testing.T) {
	const block = piece.BlockSize
	type step struct {
		award, reject, fail bool
		later               bool   // bidGrace passes after this step
		bid                 uint64 // a new bid, if not 0
		price               uint64 // the award's price
		blocks              []uint32
	}
	tests := []struct {
		name    string
		steps   []step
		want    uint64 // what piece 0 is paid
		dropped bool   // an award was a violation
	}{
		{"a free slot is never paid", []step{{blocks: []uint32{0, 1, 2, 3}}}, 0, false},
		{"a paid slot pays its price for each byte", []step{
			{bid: 5}, {award: true, price: 5, blocks: []uint32{0, 1, 2, 3}},
		}, 5 * 4 * block, false},
		{"blocks before a reject at the slot's price, after it free", []step{
			{bid: 5}, {award: true, price: 5, blocks: []uint32{0, 1}}, {reject: true, blocks: []uint32{2, 3}},
		}, 5 * 2 * block, false},
		{"a price change mid-piece: each block at its own", []step{
			{bid: 7}, {award: true, price: 5, blocks: []uint32{0, 1}}, {award: true, price: 7, blocks: []uint32{2, 3}},
		}, (5 + 7) * 2 * block, false},
		{"an award above the bid is a violation and pays nothing", []step{
			{bid: 5}, {award: true, price: 9, blocks: []uint32{0, 1, 2, 3}},
		}, 0, true},
		{"an award may cross a lowered bid: the bid before it stands", []step{
			{bid: 9}, {bid: 5}, {award: true, price: 9, blocks: []uint32{0, 1, 2, 3}},
		}, 9 * 4 * block, false},
		{"but not the one before that", []step{
			{bid: 9}, {bid: 5}, {bid: 4}, {award: true, price: 9, blocks: []uint32{0}},
		}, 0, true},
		{"nor the bid before, once the grace is over", []step{
			// A seller that awarded 5, having seen the lower bid, goes
			// back to the old 9 later: refused.
			{bid: 9}, {bid: 5}, {award: true, price: 5, later: true}, {award: true, price: 9, blocks: []uint32{0}},
		}, 0, true},
		{"a piece that failed is priced again as it comes again", []step{
			{bid: 5}, {award: true, price: 5, blocks: []uint32{0, 1, 2, 3}}, {fail: true}, {reject: true, blocks: []uint32{0, 1, 2, 3}},
		}, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := buyerFixture(t)
			now := time.Now()
			h.e.buy.Now = func() time.Time { return now }
			dropped := false
			for _, s := range tc.steps {
				if s.bid != 0 {
					if btt.NewAmount(s.bid).Lt(h.buy.bid) {
						h.buy.loweredAt = now
					}
					h.buy.bidPrev, h.buy.bid = h.buy.bid, btt.NewAmount(s.bid)
				}
				if s.later {
					now = now.Add(bidGrace)
				}
				if s.award && h.onAward(btt.NewAmount(s.price), 1<<20) != nil {
					dropped = true
				}
				if s.reject {
					h.buy.leftPaid()
				}
				if s.fail {
					h.PieceFailed(0)
				}
				for _, i := range s.blocks {
					h.BlockReceived(piece.Block{Piece: 0, Begin: i * block, Length: block})
				}
			}
			h.PieceVerified(0, 64<<10)
			assert.Equal(t, tc.dropped, dropped, "dropped")
			var paid btt.Amount
			for _, p := range h.buy.pending {
				paid, _ = paid.Add(p.amount)
			}
			assert.Equal(t, btt.NewAmount(tc.want), paid)
			assert.Empty(t, h.buy.priced, "nothing priced is kept past its piece")
		})
	}
}

// TestBuyerPaysAtMostItsBids is a property over random schedules a hostile
// seller could choose — awards at any price, above the bid or not,
// rejects, errors, blocks in any order, pieces that fail — against a model:
// a piece is paid the sum, over its blocks received in a paid slot since
// it last failed, of the price of the award in force; an award above the
// higher of the bid and the bid before it is refused. The buyer pays what
// the model says, and never more than its highest bid × the bytes it
// received in paid slots.
func TestBuyerPaysAtMostItsBids(t *testing.T) {
	const block = piece.BlockSize
	h := buyerFixture(t)
	for seed := uint64(1); seed <= 300; seed++ {
		r := mrand.New(mrand.NewPCG(seed, 23))
		*h.buy = buyState{}
		model := map[int]map[uint32]uint64{} // piece → begin → price (0: free)
		var won bool
		var price uint64
		var want, paidBytesBound btt.Amount
		var maxBid uint64
		for range 200 {
			switch r.IntN(8) {
			case 0: // a new bid
				nb := uint64(r.IntN(20) + 1)
				if btt.NewAmount(nb).Lt(h.buy.bid) {
					h.buy.loweredAt = h.e.buy.Now()
				}
				h.buy.bidPrev, h.buy.bid = h.buy.bid, btt.NewAmount(nb)
				maxBid = max(maxBid, nb)
			case 1: // an award, at any price
				p := uint64(r.IntN(40))
				ceil := mustU64(h.buy.awardCeiling(h.e.buy.Now()))
				err := h.onAward(btt.NewAmount(p), 1<<20)
				if p > ceil {
					require.Error(t, err, "seed %d: award %d over %d", seed, p, ceil)
					won = false
				} else {
					require.NoError(t, err)
					won, price = true, p
				}
			case 2: // a reject or an error
				h.buy.leftPaid()
				won = false
			case 3, 4, 5: // a block
				i, b := r.IntN(4), uint32(r.IntN(4))
				h.BlockReceived(piece.Block{Piece: i, Begin: b * block, Length: block})
				if model[i] == nil {
					model[i] = map[uint32]uint64{}
				}
				if won {
					model[i][b] = price
				} else {
					model[i][b] = 0
				}
			case 6: // a piece fails
				i := r.IntN(4)
				h.PieceFailed(i)
				delete(model, i)
			case 7: // a piece verifies (if all its blocks came)
				i := r.IntN(4)
				if len(model[i]) < 4 {
					continue
				}
				h.PieceVerified(i, 64<<10)
				for _, p := range model[i] {
					want, _ = want.Add(btt.NewAmount(p * block))
					if p > 0 {
						paidBytesBound, _ = paidBytesBound.Add(btt.NewAmount(maxBid * block))
					}
				}
				delete(model, i)
			}
		}
		var got btt.Amount
		for _, p := range h.buy.pending {
			got, _ = got.Add(p.amount)
		}
		require.Equal(t, want, got, "seed %d", seed)
		require.False(t, got.Gt(paidBytesBound), "seed %d: paid %s, more than the highest bid × the bytes received in paid slots (%s)", seed, got, paidBytesBound)
	}
}

func mustU64(a btt.Amount) uint64 {
	n, _ := a.Uint64()
	return n
}

// TestPriceTableCompacts: a seller that changes its price at every award
// cannot grow the buyer's price table without bound: past maxPrices it is
// rebuilt from the pieces in progress, which keep their prices.
func TestPriceTableCompacts(t *testing.T) {
	const block = piece.BlockSize
	h := buyerFixture(t)
	h.buy.bid = btt.NewAmount(1 << 40)
	require.NoError(t, h.onAward(btt.NewAmount(7), 1<<20))
	h.BlockReceived(piece.Block{Piece: 0, Begin: 0, Length: block})
	for p := range uint64(maxPrices) {
		h.buy.priceIndex(btt.NewAmount(1000 + p))
	}
	assert.LessOrEqual(t, len(h.buy.prices), maxPrices)
	for j := uint32(1); j < 4; j++ {
		h.BlockReceived(piece.Block{Piece: 0, Begin: j * block, Length: block})
	}
	h.PieceVerified(0, 64<<10)
	require.Len(t, h.buy.pending, 1)
	assert.Equal(t, btt.NewAmount(7*64<<10), h.buy.pending[0].amount, "the price each block came at, across the rebuild")
}
