package speed

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/piece"
)

// fakePeer is the little of a peer the seller's accounting touches.
type fakePeer struct {
	tor        *peer.Torrent // nil unless a test needs piece sizes
	uploaded   int64
	downloaded int64
	requested  int64
	sent       int
	served     int
}

func (p *fakePeer) ID() peer.PeerID        { return 1 }
func (p *fakePeer) Addr() netip.AddrPort   { return netip.MustParseAddrPort("127.0.0.1:1") }
func (p *fakePeer) Torrent() *peer.Torrent { return p.tor }
func (p *fakePeer) Send([]byte)            { p.sent++ }
func (p *fakePeer) Close(error)            {}
func (p *fakePeer) Uploaded() int64        { return p.uploaded }
func (p *fakePeer) UploadedFree() int64    { return 0 }
func (p *fakePeer) Downloaded() int64      { return p.downloaded }
func (p *fakePeer) RequestRechoke()        {}
func (p *fakePeer) PeerHas(int) bool       { return false }
func (p *fakePeer) Requested() int64       { return p.requested }
func (p *fakePeer) ServeHeld()             { p.served++ }
func (p *fakePeer) Do(func()) bool         { return false }
func (p *fakePeer) Post(func()) bool       { return false }

func (p *fakePeer) Go(func(ctx context.Context)) bool { return false }

// TestCreditBeforeAccrual: a voucher counted before the bytes it pays for
// (sent, but not yet accrued: the connection was held at its window and
// made no request since) leaves the payer owing nothing once they are
// counted. The gate used to clamp the debt at zero at the voucher and
// then add the bytes: the payer owed a window it had paid for, had
// nothing left to pay, and was held until it lost its paid slot.
func TestCreditBeforeAccrual(t *testing.T) {
	price := btt.NewAmount(3)
	const window = 512 << 10
	ch := paychan.Channel{ID: paychan.ChannelID{9}, Deposit: btt.BTT(1)}
	e := &Extension{sell: &seller{}, log: slog.New(slog.DiscardHandler)}
	p := &fakePeer{}
	h := &handler{e: e, p: p, sell: &sellState{paidSlot: true, price: price, credit: paychan.NewCredit(window, window, 0), capBytes: maxBytes, channel: &ch}}
	e.sell.addSale(ch, 0, btt.Zero)
	pay := func(bytes int64) {
		t.Helper()
		amount, err := price.MulUint64(uint64(bytes))
		require.NoError(t, err)
		h.credit(paychan.SignedVoucher{Voucher: paychan.Voucher{Channel: ch.ID}}, amount)
	}
	for _, tc := range []struct {
		name       string
		send, paid int64 // bytes sent since the last step, bytes a voucher pays now
		accrueBy   bool  // a request (MayServe) counts what was sent before the voucher
		want       int64 // what the payer owes after the next accrual
	}{
		{"sent and counted, then paid", window, window, true, 0},
		{"sent, paid before it is counted", window, window, false, 0},
		{"paid for half of what was sent, before it is counted", window, window / 2, false, window / 2},
		{"sent, counted, not paid", window / 4, 0, true, window/2 + window/4},
		{"paid for more than was counted", window / 4, window, false, 0},
	} {
		p.uploaded += tc.send
		if tc.accrueBy {
			h.accrue()
		}
		if tc.paid > 0 {
			pay(tc.paid)
		}
		h.accrue()
		assert.Equal(t, tc.want, max(0, h.unpaid()), tc.name)
		h.recount()
		assert.Equal(t, tc.want, max(0, h.unpaid()), "%s: counted again", tc.name)
	}
}

// TestClosedAccrues: what was sent on a connection after its last request
// is charged to the channel when the connection closes. It was not, and a
// payer that paid for all it got showed as having paid for more, the
// bytes sent last; its next connection on the channel got them as credit
// (CI: a reused channel served 1.85 MB on a 1 MiB window).
func TestClosedAccrues(t *testing.T) {
	price := btt.NewAmount(2)
	ch := paychan.Channel{ID: paychan.ChannelID{7}, Deposit: btt.BTT(1)}
	e := &Extension{sell: &seller{}, log: slog.New(slog.DiscardHandler)}
	e.sell.addSale(ch, 0, btt.Zero)
	p := &fakePeer{}
	h := &handler{e: e, p: p, sell: &sellState{paidSlot: true, price: price, credit: paychan.NewCredit(1<<20, 1<<20, 0), capBytes: maxBytes, channel: &ch}}
	p.uploaded = 300 << 10
	h.accrue() // a request counted the first 300 KiB
	p.uploaded += 200 << 10
	h.Closed() // the last 200 KiB were sent after it

	owed, credited, ok := e.sell.channelAccount(ch.ID)
	require.True(t, ok)
	want, err := price.MulUint64(500 << 10)
	require.NoError(t, err)
	assert.Equal(t, want, owed, "all 500 KiB sent charged to the channel")
	assert.True(t, credited.IsZero())
}

// TestPaidPieceServedFreeOncePerConnection: a piece its channel paid for
// before is served again free — once on a connection. Asked for again on
// the same connection, it is charged like any other: the free path serves
// a payer that lost its data, not one that asks for a piece over and over.
func TestPaidPieceServedFreeOncePerConnection(t *testing.T) {
	// 16 pieces of 64 KiB, 4 blocks each.
	tor := seededTorrent(t, 1<<20)

	price := btt.NewAmount(1)
	ch := paychan.Channel{ID: paychan.ChannelID{5}, Deposit: btt.BTT(1)}
	e := &Extension{sell: &seller{}, log: slog.New(slog.DiscardHandler)}
	e.sell.addSale(ch, 0, btt.Zero)
	h := &handler{e: e, p: &fakePeer{tor: tor}, sell: &sellState{
		paidSlot: true, price: price, credit: paychan.NewCredit(1<<20, 1<<20, 0), capBytes: maxBytes, channel: &ch,
		paidFor: map[int]bool{3: true},
	}}
	blocks := func(i int) []piece.Block {
		var bs []piece.Block
		for off := uint32(0); off < 64<<10; off += piece.BlockSize {
			bs = append(bs, piece.Block{Piece: i, Begin: off, Length: piece.BlockSize})
		}
		return bs
	}
	for _, tc := range []struct {
		name  string
		piece int
		want  peer.Verdict
	}{
		{"a piece paid for before: free", 3, peer.ServeFree},
		{"the same piece again: charged", 3, peer.Serve},
		{"a piece not paid for: charged", 4, peer.Serve},
	} {
		for _, b := range blocks(tc.piece) {
			assert.Equal(t, tc.want, h.MayServe(b), "%s: block at %d", tc.name, b.Begin)
		}
	}
}

// TestChannelSalesCountsVouchers: ChannelSales.Vouchers counts the
// vouchers (or batches stored together) that added to what the channel
// paid — a durable write each — and not those that added nothing (below
// the best stored: overtaken by another connection's).
func TestChannelSalesCountsVouchers(t *testing.T) {
	ch := paychan.Channel{ID: paychan.ChannelID{3}, Deposit: btt.BTT(1)}
	e := &Extension{sell: &seller{}, log: slog.New(slog.DiscardHandler)}
	e.sell.addSale(ch, 0, btt.Zero)
	h := &handler{e: e, p: &fakePeer{}, sell: &sellState{paidSlot: true, price: btt.NewAmount(1), credit: paychan.NewCredit(1<<20, 1<<20, 0), capBytes: maxBytes, channel: &ch}}
	voucher := func(amount uint64) paychan.SignedVoucher {
		return paychan.SignedVoucher{Voucher: paychan.Voucher{Channel: ch.ID, Amount: btt.NewAmount(amount)}}
	}
	h.credit(voucher(100), btt.NewAmount(100))
	h.credit(voucher(100), btt.Zero) // overtaken: added nothing
	h.credit(voucher(250), btt.NewAmount(150))
	// Stored after their connection left (storeLate), straight to the
	// seller: one that added, one that did not.
	e.sell.setPaid(ch.ID, btt.NewAmount(300), btt.NewAmount(50))
	e.sell.setPaid(ch.ID, btt.NewAmount(300), btt.Zero)

	sales := e.Sales()
	require.Len(t, sales, 1)
	assert.Equal(t, 3, sales[0].Vouchers)
	assert.Equal(t, btt.NewAmount(300), sales[0].Paid)
}

// TestSellerArithmetic: the seller's arithmetic, pure (account.go).
func TestSellerArithmetic(t *testing.T) {
	huge := btt.AmountFromBytes32([32]byte{0: 0x80}) // 2^255
	for _, tc := range []struct {
		name  string
		price btt.Amount
		n     int64
		want  btt.Amount
		fails bool
	}{
		{"bytes at a price", btt.NewAmount(3), 1 << 20, btt.NewAmount(3 << 20), false},
		{"nothing costs nothing", btt.NewAmount(3), 0, btt.Zero, false},
		{"a negative count is an error", btt.NewAmount(3), -1, btt.Zero, true},
		{"an overflow is an error, never a zero", huge, 2, btt.Zero, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cost(tc.price, tc.n)
			if tc.fails {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	for _, tc := range []struct {
		name                 string
		deposit, best, price btt.Amount
		want                 int64
	}{
		{"what the deposit can still pay", btt.NewAmount(1000), btt.NewAmount(400), btt.NewAmount(3), 200},
		{"a best voucher at the deposit leaves nothing", btt.NewAmount(1000), btt.NewAmount(1000), btt.NewAmount(3), 0},
		{"nothing at a zero price is unbounded", btt.NewAmount(1000), btt.Zero, btt.Zero, maxBytes},
		{"held to maxBytes", btt.BTT(1000), btt.Zero, btt.NewAmount(1), maxBytes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, capacity(tc.deposit, tc.best, tc.price))
		})
	}
	assert.Equal(t, int64(-2), debtBytes(btt.NewAmount(4), btt.NewAmount(10), btt.NewAmount(3)), "paid ahead: negative")
	assert.Equal(t, int64(2), debtBytes(btt.NewAmount(10), btt.NewAmount(4), btt.NewAmount(3)))
}

// TestAccrueFailsClosed: bytes whose cost overflows are never counted as
// free (issue 23, case 3: the error was dropped and the debt stayed 0).
// Prices on the wire cannot get there (speedwire.MaxPrice); the
// accounting refuses and chokes the payer all the same.
func TestAccrueFailsClosed(t *testing.T) {
	ch := paychan.Channel{ID: paychan.ChannelID{8}, Deposit: btt.BTT(1)}
	e := &Extension{sell: &seller{}, log: slog.New(slog.DiscardHandler)}
	p := &fakePeer{}
	huge := btt.AmountFromBytes32([32]byte{0: 0x80})
	h := &handler{e: e, p: p, sell: &sellState{paidSlot: true, price: huge, credit: paychan.NewCredit(1<<20, 1<<20, 0), capBytes: maxBytes, channel: &ch}}
	p.uploaded = 16 << 10
	h.accrue()
	require.Error(t, h.sell.refused, "refused")
	assert.Contains(t, h.sell.refused.Error(), "overflow")
	assert.Equal(t, peer.Hold, h.MayServe(piece.Block{Piece: 0, Length: piece.BlockSize}), "and served nothing more")
	assert.Equal(t, 1, p.sent, "told why")
}

// TestMeter: the meter charges each byte at the terms it went out under,
// once, and counts nothing when a cost overflows (the caller fails closed).
func TestMeter(t *testing.T) {
	paid := func(p uint64) terms { return terms{true, btt.NewAmount(p)} }
	huge := terms{true, btt.AmountFromBytes32([32]byte{0: 0x80})}
	type step struct {
		charged int64
		t       terms
		n       int64 // charged in a paid slot now
		fails   bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
		sold  int64
		owed  uint64
	}{
		{"free bytes cost nothing, and are not charged later", []step{
			{100, terms{}, 0, false}, {150, paid(2), 50, false},
		}, 50, 100},
		{"each stretch at its own price", []step{
			{100, paid(2), 100, false}, {300, paid(5), 200, false}, {300, paid(9), 0, false},
		}, 300, 200 + 1000},
		{"counters that go back count nothing", []step{
			{100, paid(2), 100, false}, {50, paid(2), 0, false}, {120, paid(2), 20, false},
		}, 120, 240},
		{"a zero price is free", []step{{100, paid(0), 0, false}}, 0, 0},
		{"an overflow counts nothing, and fails", []step{
			{100, paid(1), 100, false}, {102, huge, 0, true}, {102, paid(1), 2, false},
		}, 102, 102},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m meter
			for i, s := range tc.steps {
				n, c, err := m.to(s.charged, s.t)
				if s.fails {
					require.Error(t, err, "step %d", i)
					continue
				}
				require.NoError(t, err, "step %d", i)
				assert.Equal(t, s.n, n, "step %d", i)
				want, _ := s.t.price.MulUint64(uint64(n))
				if !s.t.paid {
					want = btt.Zero
				}
				assert.Equal(t, want, c, "step %d", i)
			}
			assert.Equal(t, tc.sold, m.sold)
			assert.Equal(t, btt.NewAmount(tc.owed), m.owed)
		})
	}
}

func TestUsableWindow(t *testing.T) {
	for _, tc := range []struct {
		window, capBytes, want int64
	}{
		{256 << 10, maxBytes, 256 << 10},
		{256 << 20, 1 << 20, 1 << 20}, // the deposit bounds the window
		{256 << 10, 0, 0},             // a spent deposit: nothing on credit
	} {
		assert.Equal(t, tc.want, usableWindow(paychan.NewCredit(tc.window, tc.window, 0), tc.capBytes))
	}
}
