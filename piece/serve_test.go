package piece

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDeclineDuplicate walks a seeder's serve ledger (4 pieces, peers a, b
// and c knowing nothing at first) through the cases a capped seeder meets.
// Each step does something, then a peer asks for a piece at t0+at: want
// is whether the seeder declines, copies the piece's copies after, and
// uncopied the pieces with neither a copy nor a peer announcing them
// (before the first Served the ledger has not started: 0).
func TestDeclineDuplicate(t *testing.T) {
	const a, b, c, d PeerID = 1, 2, 3, 4
	const lone, window = time.Second, 5 * time.Second
	l := Layout{PieceLength: BlockSize, Length: 4 * BlockSize}
	type step struct {
		name     string
		do       func(p *Picker)
		who      PeerID
		piece    int
		at       time.Duration
		want     bool
		copies   int
		uncopied int
	}
	served := func(id PeerID, pieces ...int) func(*Picker) {
		return func(p *Picker) {
			for _, i := range pieces {
				p.Served(id, i)
			}
		}
	}
	have := func(id PeerID, i int) func(*Picker) { return func(p *Picker) { p.PeerHave(id, i) } }
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"a piece nobody has or is getting goes to whoever asks", []step{
			{name: "b asks first", who: b, piece: 0, want: false, copies: 0, uncopied: 0},
			{name: "b is sent it", do: served(b, 0), who: b, piece: 0, want: false, copies: 1, uncopied: 3},
			{name: "c asks for another", who: c, piece: 1, want: false, copies: 0, uncopied: 3},
		}},
		{"while a piece has no copy, a duplicate is declined to a lone peer for at most lone", []step{
			{name: "a is sent piece 0", do: served(a, 0), who: b, piece: 0, want: true, copies: 1, uncopied: 3},
			{name: "b, inside lone", who: b, piece: 0, at: lone - time.Millisecond, want: true, copies: 1, uncopied: 3},
			{name: "b, after lone (it may want none of the rest)", who: b, piece: 0, at: lone, want: false, copies: 1, uncopied: 3},
			{name: "c announces piece 2: a duplicate too", do: have(c, 2), who: b, piece: 2, want: true, copies: 0, uncopied: 2},
		}},
		{"once every piece has gone out, a peer only we serve gets duplicates", []step{
			{name: "a is sent all", do: served(a, 0, 1, 2, 3), who: b, piece: 0, want: false, copies: 1, uncopied: 0},
		}},
		{"once every piece has gone out, a trading peer is declined for the window", []step{
			{name: "a is sent all, b announces one we did not send it", do: func(p *Picker) { served(a, 0, 1, 2, 3)(p); p.PeerHave(b, 3) }, who: b, piece: 0, want: true, copies: 1, uncopied: 0},
			{name: "b again, inside the window", who: b, piece: 0, at: window - time.Millisecond, want: true, copies: 1, uncopied: 0},
			{name: "b after the window", who: b, piece: 0, at: window, want: false, copies: 1, uncopied: 0},
			{name: "b is sent it", do: served(b, 0), who: b, piece: 0, at: window, want: false, copies: 2, uncopied: 0},
			{name: "c does not trade", who: c, piece: 1, want: false, copies: 1, uncopied: 0},
		}},
		{"a peer that came with pieces trades", []step{
			{name: "a is sent all, d comes with piece 3", do: func(p *Picker) { served(a, 0, 1, 2, 3)(p); p.AddPeer(d, bf(4, 3)) }, who: d, piece: 0, want: true, copies: 1, uncopied: 0},
		}},
		{"a piece we sent and the peer announced is no sign of trading", []step{
			{name: "a is sent all, b is sent 3 and announces it", do: func(p *Picker) { served(a, 0, 1, 2, 3)(p); p.Served(b, 3); p.PeerHave(b, 3) }, who: b, piece: 0, want: false, copies: 1, uncopied: 0},
		}},
		{"served twice to one peer is one copy", []step{
			{name: "block 0 and block 1", do: served(a, 3, 3), who: a, piece: 3, want: false, copies: 1, uncopied: 3},
		}},
		{"a copy dropped on a choke is no copy", []step{
			{name: "a is sent 0 and 1, and announces 1", do: func(p *Picker) { served(a, 0, 1)(p); p.PeerHave(a, 1) }, who: b, piece: 0, want: true, copies: 1, uncopied: 2},
			{name: "a is choked, its blocks dropped", do: func(p *Picker) { p.Unserved(a) }, who: b, piece: 0, want: false, copies: 0, uncopied: 3},
			{name: "the piece it announced stays a copy", who: b, piece: 1, want: true, copies: 1, uncopied: 3},
			{name: "served again after the choke", do: served(a, 0), who: c, piece: 0, want: true, copies: 1, uncopied: 2},
		}},
		{"a peer that leaves without announcing takes its copy along", []step{
			{name: "a is sent it", do: served(a, 0), who: b, piece: 0, want: true, copies: 1, uncopied: 3},
			{name: "a leaves", do: func(p *Picker) { p.RemovePeer(a) }, who: b, piece: 0, want: false, copies: 0, uncopied: 4},
		}},
		{"a peer that leaves having announced takes its copy along too", []step{
			{name: "a is sent it and announces it", do: func(p *Picker) { p.Served(a, 0); p.PeerHave(a, 0) }, who: b, piece: 0, want: true, copies: 1, uncopied: 3},
			{name: "a leaves", do: func(p *Picker) { p.RemovePeer(a) }, who: b, piece: 0, want: false, copies: 0, uncopied: 4},
		}},
		{"unknown peers and pieces are never declined", []step{
			{name: "unknown peer", do: func(p *Picker) { p.Served(a, 0); p.Unserved(99) }, who: 99, piece: 0, want: false, copies: 1, uncopied: 3},
			{name: "no such piece", do: served(a, 4), who: b, piece: 4, want: false, copies: 0, uncopied: 3},
			{name: "negative piece", do: served(a, -1), who: b, piece: -1, want: false, copies: 0, uncopied: 3},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			all := NewBitfield(l.NumPieces())
			all.SetAll()
			p, err := NewPicker(l, all, PickerConfig{})
			require.NoError(t, err)
			for _, id := range []PeerID{a, b, c} {
				p.AddPeer(id, NewBitfield(l.NumPieces()))
			}
			for _, s := range tc.steps {
				if s.do != nil {
					s.do(p)
				}
				assert.Equal(t, s.want, p.DeclineDuplicate(s.who, s.piece, t0.Add(s.at), lone, window), "%s: declined", s.name)
				assert.Equal(t, s.copies, p.Copies(s.piece), "%s: copies", s.name)
				assert.Equal(t, s.uncopied, p.uncopied, "%s: uncopied", s.name)
			}
		})
	}
}
