package piece

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDeclineDuplicate walks a seeder's serve ledger through the cases a
// capped seeder meets: it sends a piece to the first peer that asks,
// declines it to the others while that copy is out or once a peer has
// announced it, for at most the window, and forgets a copy that was
// never sent (a choke) or whose peer left without announcing it.
func TestDeclineDuplicate(t *testing.T) {
	const a, b, c PeerID = 1, 2, 3
	const window = 5 * time.Second
	l := Layout{PieceLength: BlockSize, Length: 4 * BlockSize}
	type step struct {
		name string
		do   func(p *Picker)
		// ask is who asks for which piece when, and want whether the
		// seeder declines.
		who   PeerID
		piece int
		at    time.Duration
		want  bool
		// copies is Copies(piece) after the step.
		copies int
	}
	served := func(id PeerID, i int) func(*Picker) { return func(p *Picker) { p.Served(id, i) } }
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"first copy goes, a second waits out the window", []step{
			{name: "a asks first", who: a, piece: 0, want: false, copies: 0},
			{name: "a is sent it", do: served(a, 0), who: a, piece: 0, want: false, copies: 1},
			{name: "b is declined", who: b, piece: 0, want: true, copies: 1},
			{name: "b again, inside the window", who: b, piece: 0, at: window - time.Millisecond, want: true, copies: 1},
			{name: "b after the window", who: b, piece: 0, at: window, want: false, copies: 1},
			{name: "b is sent it", do: served(b, 0), who: b, piece: 0, at: window, want: false, copies: 2},
			{name: "a piece nobody has goes to c", who: c, piece: 1, want: false, copies: 0},
		}},
		{"a peer that has the piece makes a request for it a duplicate", []step{
			{name: "c announces piece 2", do: func(p *Picker) { p.PeerHave(c, 2) }, who: b, piece: 2, want: true, copies: 0},
		}},
		{"served twice to one peer is one copy", []step{
			{name: "block 0 and block 1", do: func(p *Picker) { p.Served(a, 3); p.Served(a, 3) }, who: a, piece: 3, want: false, copies: 1},
		}},
		{"a copy dropped on a choke is no copy", []step{
			{name: "a is sent 0 and 1, and announces 1", do: func(p *Picker) { p.Served(a, 0); p.Served(a, 1); p.PeerHave(a, 1) }, who: b, piece: 0, want: true, copies: 1},
			{name: "a is choked, its blocks dropped", do: func(p *Picker) { p.Unserved(a) }, who: b, piece: 0, at: time.Millisecond, want: false, copies: 0},
			{name: "the piece it announced stays a copy", who: b, piece: 1, at: time.Millisecond, want: true, copies: 1},
			{name: "served again after the choke", do: served(a, 0), who: c, piece: 0, at: time.Millisecond, want: true, copies: 1},
		}},
		{"a peer that leaves without announcing takes its copy along", []step{
			{name: "a is sent it", do: served(a, 0), who: b, piece: 0, want: true, copies: 1},
			{name: "a leaves", do: func(p *Picker) { p.RemovePeer(a) }, who: b, piece: 0, at: time.Millisecond, want: false, copies: 0},
		}},
		{"a peer that leaves having announced leaves its copy in the swarm", []step{
			{name: "a is sent it and announces it", do: func(p *Picker) { p.Served(a, 0); p.PeerHave(a, 0) }, who: b, piece: 0, want: true, copies: 1},
			{name: "a leaves", do: func(p *Picker) { p.RemovePeer(a) }, who: b, piece: 0, at: time.Millisecond, want: true, copies: 1},
		}},
		{"unknown peers and pieces are never declined", []step{
			{name: "unknown peer", do: func(p *Picker) { p.Served(a, 0); p.Unserved(99) }, who: 99, piece: 0, want: false, copies: 1},
			{name: "no such piece", who: b, piece: 4, want: false, copies: 0},
			{name: "negative piece", do: served(a, -1), who: b, piece: -1, want: false, copies: 0},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			have := NewBitfield(l.NumPieces())
			have.SetAll()
			p, err := NewPicker(l, have, PickerConfig{})
			require.NoError(t, err)
			for _, id := range []PeerID{a, b, c} {
				p.AddPeer(id, NewBitfield(l.NumPieces()))
			}
			for _, s := range tc.steps {
				if s.do != nil {
					s.do(p)
				}
				assert.Equal(t, s.want, p.DeclineDuplicate(s.who, s.piece, t0.Add(s.at), window), "%s: declined", s.name)
				assert.Equal(t, s.copies, p.Copies(s.piece), "%s: copies", s.name)
			}
		})
	}
}
