package speed

import (
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/speedwire"
)

// handler is one btt_speed peer; its methods run on the torrent's loop.
type handler struct {
	e      *Extension
	p      peer.ExtPeer
	theirs speedwire.Handshake
	sell   *sellState // we sell to this peer
	buy    *buyState  // we buy from this peer
	closed bool
}

var (
	_ peer.ChokeStatter  = (*handler)(nil)
	_ peer.ServeGate     = (*handler)(nil)
	_ peer.PieceObserver = (*handler)(nil)
	_ peer.Settler       = (*handler)(nil)
	_ peer.BlockObserver = (*handler)(nil)
)

type sellState struct {
	bid       btt.Amount
	paidSlot  bool
	price     btt.Amount
	credit    paychan.Credit
	channel   *paychan.Channel
	accepting bool
	meter     meter      // what was sent in a paid slot, and what it cost
	paid      btt.Amount // what this connection's vouchers added to the channel's total
	nonce     [32]byte   // our challenge: the payer signs it to attach its channel
	// The terms bytes are charged at change where an award or reject is
	// written (sendTerms, accrue): charging is in force, pending sent and
	// not yet written, marks the counters where they were.
	marked      bool // the engine marks where messages are written (peer.MarkedSender)
	charging    terms
	pending     []terms
	marks       marks
	lastRead    time.Time           // when its channel was last read from the chain for it
	deferred    *speedwire.Channel  // a channel announced before a paid slot: read once it wins one
	badChannels int                 // channels announced that failed their check on chain
	refused     error               // a bad voucher: choked for good
	ending      bool                // its channel takes no more vouchers: no credit until a new one (channelEnds)
	lapsed      bool                // lost its paid slot owing, for not paying: over its credit until it pays
	receiving   int                 // vouchers being verified and stored
	vq          chan inVoucher      // to the worker that stores vouchers, in order
	queued      []speedwire.Voucher // vouchers that came while the channel was being checked
	reread      *speedwire.Channel  // the channel announced again while being read
	overflow    *inVoucher          // the highest voucher that found vq full
	last        *btt.Amount         // the amount of this connection's last voucher
	lastPay     time.Time
	unpaidBytes int64         // the channel's debt in bytes at our price, as last counted (see unpaid)
	capBytes    int64         // what the channel's deposit can still pay, in bytes at our price, as last counted (recount)
	gate        gate          // the credit gate's bookkeeping (see MayServe)
	heldSince   time.Time     // when the gate began holding the payer back
	heldFor     time.Duration // how long the gate held it back before, in all

	// Pieces paid for before are served again free (see MayServe).
	paidFor  map[int]bool  // pieces of this torrent its channel paid for, as its vouchers listed them
	whole    map[int]bool  // pieces this connection sold whole, not yet listed as paid for
	freeSent map[int]int64 // bytes of each paid-for piece served again free on this connection
	lastFree int64         // UploadedFree as accrue last read it
}

// inVoucher is a voucher on its way to the store, with the pieces it
// lists that this connection sold whole, and the price they were sold at.
type inVoucher struct {
	sv     paychan.SignedVoucher
	pieces []paychan.PieceSize
	price  btt.Amount
}

type buyState struct {
	bid, bidPrev     btt.Amount // our bid, and the one before it (awardCeiling)
	loweredAt        time.Time  // when we last lowered our bid
	won              bool
	wins, losses     int
	clearing         btt.Amount
	beat             btt.Amount
	lastDown         int64
	lastAt           time.Time
	rate             int64
	nonce            *[32]byte        // the seller's challenge, once it came
	unannounced      *paychan.Channel // a channel to announce once the challenge comes
	announced        bool             // we told the seeder our channel
	announcedDeposit btt.Amount       // the deposit we told it
	announcedExpiry  time.Time        // and the expiry
	pending          []pendingPay
	inflight         int   // vouchers being signed
	credit           int64 // the seeder's credit window, from its last award
	payTimer         bool  // a payDelay timer is running
	due              []paychan.PiecePayment
	dueBytes         int64
	bought           int64 // bytes of the pieces paid for
	// winDown and winBought are Downloaded and bought when we last won
	// a paid slot: what came and what we paid for since (unpaid).
	winDown, winBought int64
	spent              btt.Amount   // what we signed for them
	whole              map[int]bool // pieces bought whole from the peer, to list in the voucher that pays for them
	// priced holds, per piece not yet verified, the price each of its
	// blocks came at (piecePrices); prices the distinct prices they
	// refer to, priceIdx their indexes, curPrice the clearing price's.
	priced   map[int]piecePrices
	prices   []btt.Amount
	priceIdx map[btt.Amount]uint16
	curPrice uint16
}

type pendingPay struct {
	piece  int
	bytes  int64
	amount btt.Amount
}

func (h *handler) send(m speedwire.Message) {
	b, err := m.Append(nil)
	if err != nil {
		h.e.log.Error("encoding btt_speed message", "err", err)
		return
	}
	h.p.Send(b)
}

// Message implements peer.ExtHandler.
func (h *handler) Message(payload []byte) error {
	m, err := speedwire.Decode(payload)
	if err != nil {
		return err
	}
	switch m := m.(type) {
	case speedwire.Bid:
		if h.sell != nil {
			h.sell.bid = m.Price
			h.p.RequestRechoke()
		}
	case speedwire.Channel:
		if h.sell != nil {
			h.onChannel(m)
		}
	case speedwire.Voucher:
		if h.sell != nil {
			h.onVoucher(m)
		}
	case speedwire.Award:
		if h.buy != nil {
			return h.onAward(m.Price, m.Credit)
		}
	case speedwire.Reject:
		if h.buy != nil {
			b := h.buy
			if b.won {
				h.event(BidLost{InfoHash: h.ih(), Seller: h.p.Addr(), Beat: m.Price})
			}
			b.leftPaid()
			b.wins, b.losses, b.beat = 0, b.losses+1, m.Price
		}
	case speedwire.Challenge:
		if h.buy != nil {
			h.onChallenge(m.Nonce)
		}
	case speedwire.Error:
		h.e.log.Debug("btt_speed error from peer", "peer", h.p.Addr(), "code", m.Code, "reason", m.Reason) // Debug: a peer could flood the log
		if h.buy != nil {
			if m.Code == CodeChannelEnding {
				h.replaceChannel()
				break
			}
			h.buy.leftPaid()
		}
	}
	return nil
}

// sellGrace is how long after a payer's last voucher a seller keeps a
// finished peer's connection open, for vouchers still on the way.
const sellGrace = 5 * time.Second

// Busy implements peer.Busy: vouchers are being signed, or pieces wait
// for a channel to pay them from; or, selling, a channel or voucher is being
// checked, or the peer still owes us and paid recently.
func (h *handler) Busy() bool {
	if b := h.buy; b != nil {
		h.flushDue()
		if b.inflight > 0 || len(b.due) > 0 || (len(b.pending) > 0 && b.won) {
			return true
		}
	}
	if s := h.sell; s != nil {
		if s.accepting || s.receiving > 0 {
			return true
		}
		// A payer that paid lately may have vouchers on the way.
		if !s.lastPay.IsZero() && time.Since(s.lastPay) < sellGrace {
			return true
		}
	}
	return false
}

// Unsettled implements peer.Settler: as a payer, we have pieces due, a
// voucher being signed, or one signed and not yet sent — what the seller
// is owed and would otherwise get only on our next connection to it (a
// leecher closed as soon as it completes). It pays what is due now.
func (h *handler) Unsettled() bool {
	b := h.buy
	if b == nil || h.closed {
		return false
	}
	h.flushDue()
	return b.inflight > 0 || len(b.due) > 0
}

// Closed implements peer.ExtHandler.
func (h *handler) Closed() {
	h.closed = true
	h.e.mu.Lock()
	delete(h.e.handlers, h)
	h.e.mu.Unlock()
	if s := h.sell; s != nil {
		// Charge what was sent since the last request: the channel's
		// account would otherwise count it as never sold, and credit
		// the payer's next connection with it as paid for.
		h.accrue()
		if s.channel != nil {
			h.e.sell.leave(s.channel.ID, h)
		}
		if s.vq != nil {
			close(s.vq) // the worker stores what is in it, then ends
		}
		if s.overflow != nil && s.channel != nil {
			h.storeLate(s.channel.ID, false, []inVoucher{*s.overflow})
		}
	}
}

// figures returns the peer's live figures (zero once it closed).
func (h *handler) figures() PeerFigures {
	if h.closed {
		return PeerFigures{}
	}
	f := PeerFigures{Addr: h.p.Addr(), Torrent: h.p.Torrent().InfoHash()}
	if s := h.sell; s != nil {
		h.accrue()
		sf := &SellFigures{Bid: s.bid, PaidSlot: s.paidSlot, Sold: s.meter.sold, Free: h.p.UploadedFree(), Owed: s.meter.owed, Paid: s.paid, Credit: s.credit.Window, Held: !s.heldSince.IsZero(), HeldFor: s.heldFor}
		if !s.heldSince.IsZero() {
			sf.HeldFor += time.Since(s.heldSince)
		}
		if s.paidSlot {
			sf.Price = s.price
		}
		if s.channel != nil {
			sf.Channel = s.channel.ID
		}
		if s.refused != nil {
			sf.Refused = s.refused.Error()
		}
		f.Sell = sf
	}
	if b := h.buy; b != nil {
		f.Buy = &BuyFigures{Bid: b.bid, Clearing: b.clearing, Won: b.won, Bought: b.bought, Spent: b.spent, Due: b.dueBytes}
	}
	return f
}

func trim(s string) string {
	if len(s) > 200 {
		return s[:200]
	}
	return s
}

// peerIDs returns the peer ids of the connection's two ends, ours first
// (zero where the ExtPeer cannot tell them: a test's fake).
func peerIDs(p peer.ExtPeer) (local, remote [20]byte) {
	if ids, ok := p.(peer.PeerIDs); ok {
		return ids.LocalPeerID(), ids.PeerID()
	}
	return local, remote
}
