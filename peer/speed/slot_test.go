package speed

import (
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/piece"
)

// TestChargedBySlotAtAdmission: a block is charged, or not, by the slot
// the peer held when the gate passed it, not when the engine got round
// to sending it. Under load a peer's queued blocks go out after a rechoke
// has moved it: blocks passed in a free slot and sent once it won the
// paid slot back were charged as sold (TestStopPaying saw 320 KiB sold on
// a 256 KiB window), and blocks passed in the paid slot and sent after it
// lost it were never charged.
func TestChargedBySlotAtAdmission(t *testing.T) {
	price := btt.NewAmount(1)
	ch := paychan.Channel{ID: paychan.ChannelID{7}, Deposit: btt.BTT(1)}
	e := &Extension{cfg: Config{Sell: &Seller{}}, log: slog.New(slog.DiscardHandler)}
	p := &fakePeer{tor: testTorrent(t)}
	h := &handler{e: e, p: p, sell: &sellState{paidSlot: true, price: price, credit: paychan.NewCredit(1<<20, 1<<20, 0), channel: &ch, bid: price}}
	e.cfg.Sell.addSale(ch, 0, btt.Zero)
	const blk = piece.BlockSize
	block := func(i int) piece.Block { return piece.Block{Piece: 0, Begin: uint32(i * blk), Length: blk} }
	send := func(v peer.Verdict) { // the engine sends a block it queued
		p.uploaded += blk
		if v == peer.ServeFree {
			p.free += blk
		}
	}
	leave := func() { h.Decided(choker.Outcome{Slot: choker.Optimistic, Unchoke: true}, price) }
	win := func() { h.Decided(choker.Outcome{Slot: choker.Paid, Unchoke: true, Price: price}, price) }
	sold := func() int64 { h.accrue(); return h.sell.sold }

	v1 := h.MayServe(block(0))
	require.Equal(t, peer.Serve, v1, "in the paid slot")
	send(v1)
	assert.Equal(t, int64(blk), sold(), "sent in the paid slot: charged")

	// Passed in the paid slot, sent after the peer lost it.
	v2 := h.MayServe(block(1))
	require.Equal(t, peer.Serve, v2)
	leave()
	send(v2)
	assert.Equal(t, int64(2*blk), sold(), "passed in the paid slot, sent after: charged")

	// Passed in a free slot, sent after the peer won the paid slot back.
	v3 := h.MayServe(block(2))
	assert.Equal(t, peer.ServeFree, v3, "out of the paid slot: not charged")
	win()
	send(v3)
	assert.Equal(t, int64(2*blk), sold(), "passed in a free slot, sent after: not charged")
	assert.Zero(t, h.sell.freeServed, "and not counted as a paid-for piece served again")
}
