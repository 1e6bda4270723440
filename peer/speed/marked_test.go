package speed

import (
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer/speedwire"
	"github.com/bttspeed/bttspeed/piece"
)

// markedPeer: Send goes straight to the wire (ahead of queued blocks, as
// the engine's takeBatch does); SendMarked waits in queue until write().
type markedPeer struct {
	fakePeer
	wire   []speedwire.Message
	queue  []func(up, free int64)
	queued []speedwire.Message
	race   func() // called inside Uploaded(), once
}

func (p *markedPeer) Send(b []byte) {
	m, err := speedwire.Decode(b)
	if err == nil {
		p.wire = append(p.wire, m)
	}
}
func (p *markedPeer) SendMarked(b []byte, written func(up, free int64)) {
	m, _ := speedwire.Decode(b)
	p.queued = append(p.queued, m)
	p.queue = append(p.queue, written)
}
func (p *markedPeer) Uploaded() int64 {
	if r := p.race; r != nil {
		p.race = nil
		r()
	}
	return p.uploaded
}

// writeMark writes the first queued marked message.
func (p *markedPeer) writeMark() {
	p.wire = append(p.wire, p.queued[0])
	p.queue[0](p.uploaded, 0)
	p.queue, p.queued = p.queue[1:], p.queued[1:]
}

func sellerFixture(mp *markedPeer, ch *paychan.Channel, paid bool, price btt.Amount) *handler {
	e := &Extension{sell: &seller{}, log: slog.New(slog.DiscardHandler)}
	e.sell.addSale(*ch, 0, btt.Zero)
	return &handler{e: e, p: mp, sell: &sellState{paidSlot: paid, price: price, credit: paychan.NewCredit(256<<10, 256<<20, 0),
		capBytes: maxBytes, channel: ch, marked: true, charging: terms{paid, price}}}
}

// A plain award (credit(): the window grew) overtakes the marked award
// of a price change: the buyer prices the blocks queued before the mark
// at the new price, the seller charges them at the old one.
func TestMarkedPlainAwardOvertakesMarked(t *testing.T) {
	p1, p2 := btt.NewAmount(2), btt.NewAmount(5)
	ch := &paychan.Channel{ID: paychan.ChannelID{1}, Deposit: btt.BTT(1000)}
	mp := &markedPeer{}
	h := sellerFixture(mp, ch, true, p1)

	// 4 blocks (one 64 KiB piece) admitted at P1, queued, not written yet.
	h.Decided(choker.Outcome{Unchoke: true, Slot: choker.Paid, Price: p2}, p2) // marked award P2 behind them
	require.Len(t, mp.queued, 1)
	h.credit(paychan.SignedVoucher{Voucher: paychan.Voucher{Channel: ch.ID}}, btt.NewAmount(1000)) // window grows: plain award
	mp.uploaded += 64 << 10                                                                        // the 4 blocks are written
	mp.writeMark()
	h.accrue()
	sellerOwed := h.sell.meter.owed

	// The buyer sees the wire in order: plain award(s), the 4 blocks, the marked award.
	b := buyerFixture(t)
	b.buy.bid = btt.NewAmount(5)
	b.buy.won, b.buy.clearing = true, p1 // it was in the paid slot at P1
	var blocksAt int
	for i, m := range mp.wire {
		if a, ok := m.(speedwire.Award); ok && a.Price == p2 && i < len(mp.wire)-1 {
			require.NoError(t, b.onAward(a.Price, a.Credit))
			blocksAt = i
		}
	}
	t.Logf("wire: %d messages; plain award P2 at %d before the blocks", len(mp.wire), blocksAt)
	for j := range uint32(4) {
		b.BlockReceived(piece.Block{Piece: 0, Begin: j * piece.BlockSize, Length: piece.BlockSize})
	}
	require.NoError(t, b.onAward(p2, 1<<20)) // the marked one
	b.PieceVerified(0, 64<<10)
	var buyerPays btt.Amount
	for _, pp := range b.buy.pending {
		buyerPays, _ = buyerPays.Add(pp.amount)
	}
	t.Logf("seller charged %s, buyer pays %s for the same 64 KiB", sellerOwed, buyerPays)
	assert.Equal(t, sellerOwed, buyerPays, "seller and buyer split the stream at the same byte")
}

// A mark written between accrue's marks.take() and its Uploaded() read:
// the block written after the award is charged at the terms before it.
func TestMarkedMarkRace(t *testing.T) {
	price := btt.NewAmount(3)
	ch := &paychan.Channel{ID: paychan.ChannelID{2}, Deposit: btt.BTT(1000)}
	mp := &markedPeer{}
	h := sellerFixture(mp, ch, false, price)
	mp.uploaded = 1 << 20 // sent in the free slot
	h.Decided(choker.Outcome{Unchoke: true, Slot: choker.Paid, Price: price}, price)
	require.Len(t, mp.queue, 1)
	mp.race = func() {
		mp.writeMark()           // the writer writes the award...
		mp.uploaded += 256 << 10 // ...and 16 paid blocks after it
	}
	h.accrue()
	h.accrue()
	assert.Equal(t, int64(256<<10), h.sell.meter.sold, "the bytes after the award are charged")
}

// A reject into a free slot (unchoked) publishes 0 for the connection
// while the blocks it had admitted in the paid slot are still queued
// before the reject, to be charged at the paid terms: the channel's other
// connections no longer leave room for them.
func TestMarkedLeavePaidHidesQueued(t *testing.T) {
	price := btt.NewAmount(1)
	ch := &paychan.Channel{ID: paychan.ChannelID{5}, Deposit: btt.NewAmount(4 << 20)}
	ma, mb := &markedPeer{}, &markedPeer{}
	ha := sellerFixture(ma, ch, true, price)
	hb := &handler{e: ha.e, p: mb, sell: &sellState{paidSlot: true, price: price, credit: paychan.NewCredit(4<<20, 4<<20, 0), capBytes: maxBytes, channel: ch, marked: true, charging: terms{true, price}}}
	ha.recount()
	hb.recount()
	ha.sell.gate.admitted = 4 << 20 // A admitted the whole deposit, queued
	ha.publish()
	t.Logf("B's room with A's 4 MiB queued: %d", hb.channelRoom())
	ha.Decided(choker.Outcome{Unchoke: true, Slot: choker.Optimistic}, price) // moved to a free slot
	roomAfter := hb.channelRoom()
	ma.uploaded += 4 << 20 // A's queued blocks go out, before the reject
	ma.writeMark()
	ha.accrue()
	owed, _, _ := ha.e.sell.channelAccount(ch.ID)
	t.Logf("B's room after A's reject: %d; A's queued then charged: owed %s", roomAfter, owed)
	assert.Equal(t, int64(0), roomAfter, "A's queued paid bytes still count against the deposit")
}

// A payer that wins the paid slot back before its reject is written keeps
// what it admitted since counted: those blocks are queued after the
// reject, to be charged at the new award's terms.
func TestMarkedRewonBeforeRejectWritten(t *testing.T) {
	price := btt.NewAmount(1)
	ch := &paychan.Channel{ID: paychan.ChannelID{6}, Deposit: btt.BTT(1)}
	mp := &markedPeer{}
	h := sellerFixture(mp, ch, true, price)
	h.Decided(choker.Outcome{Slot: choker.NoSlot, Reason: choker.ReasonLostAuction}, price) // a reject, queued
	h.Decided(choker.Outcome{Unchoke: true, Slot: choker.Paid, Price: price}, price)        // an award behind it
	h.sell.gate.admitted = 1 << 20                                                          // admitted after the award, queued
	mp.writeMark()                                                                          // the reject goes out
	h.accrue()
	assert.Equal(t, int64(1<<20), h.sell.gate.admitted-h.sell.gate.sent, "still counted as queued")
}
