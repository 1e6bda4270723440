package peer

import (
	"fmt"
	"math/bits"

	"github.com/bttspeed/bttspeed/piece"
)

func (t *Torrent) onHave(c *conn, i int) error {
	if t.picker == nil {
		return c.ls.early.set(i)
	}
	if i < 0 || i >= t.layout.NumPieces() {
		return fmt.Errorf("%w: have %d of %d pieces", ErrProtocol, i, t.layout.NumPieces())
	}
	if t.picker.PeerHas(piece.PeerID(c.id), i) {
		return nil // said before: a repeat must not make the peer look like a seed
	}
	t.picker.PeerHave(piece.PeerID(c.id), i)
	c.ls.have++
	c.ls.seed = c.ls.have == t.layout.NumPieces()
	t.updateInterest(c)
	t.fill(c)
	return nil
}

// maxEarlyPieces is the most pieces a torrent can have whose info we do
// not know yet: its info holds 20 bytes of hash per piece and is at most
// maxMetadataSize long.
const maxEarlyPieces = maxMetadataSize / 20

// earlyBitfield records what a peer has before we know how many pieces
// there are: a bitfield that grows to the highest piece named, at most
// maxEarlyPieces (100 KiB).
type earlyBitfield []uint64

func (e *earlyBitfield) set(i int) error {
	if i < 0 || i >= maxEarlyPieces {
		return fmt.Errorf("%w: have %d: more pieces than an info of %d bytes holds", ErrProtocol, i, maxMetadataSize)
	}
	for len(*e) <= i/64 {
		*e = append(*e, 0)
	}
	(*e)[i/64] |= 1 << (i % 64)
	return nil
}

func (e earlyBitfield) each(f func(i int)) {
	for wi, w := range e {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			f(wi*64 + b)
			w &= w - 1
		}
	}
}

// setEarly records a wire bitfield (as the decoder's bools) received
// before the info.
func (c *conn) setEarly(bools []bool) error {
	for i, v := range bools {
		if v {
			if err := c.ls.early.set(i); err != nil {
				return err
			}
		}
	}
	return nil
}

// onBitfield records a peer's bitfield (all is have-all).
func (t *Torrent) onBitfield(c *conn, bools []bool, all bool) error {
	if t.picker == nil {
		if all {
			c.ls.haveAll = true
		}
		return c.setEarly(bools)
	}
	n := t.layout.NumPieces()
	var bf piece.Bitfield
	if all {
		bf = piece.NewBitfield(n)
		bf.SetAll()
	} else if bools != nil {
		var err error
		bf, err = bitfieldFromBools(bools, n)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrProtocol, err)
		}
	} else {
		bf = piece.NewBitfield(n)
	}
	return t.addPeerBitfield(c, bf)
}

// addPeerBitfield records what a peer has.
func (t *Torrent) addPeerBitfield(c *conn, bf piece.Bitfield) error {
	n := t.layout.NumPieces()
	t.picker.AddPeer(piece.PeerID(c.id), bf)
	c.ls.have = bf.Count()
	c.ls.seed = c.ls.have == n
	if c.ls.seed && t.picker.Complete() && !c.busy() {
		return fmt.Errorf("%w: both seeds", ErrClosed)
	}
	t.updateInterest(c)
	t.fill(c)
	return nil
}

// onLateBitfield applies a bitfield that came after other messages as a
// series of haves: it can add pieces, never take them away.
func (t *Torrent) onLateBitfield(c *conn, bools []bool) error {
	if t.picker == nil {
		return c.setEarly(bools)
	}
	bf, err := bitfieldFromBools(bools, t.layout.NumPieces())
	if err != nil {
		return fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	var herr error
	bf.Each(func(i int) {
		if herr == nil && !t.picker.PeerHas(piece.PeerID(c.id), i) {
			herr = t.onHave(c, i)
		}
	})
	return herr
}

// onBitfieldLate applies what a peer said it has (a bitfield, haves,
// have-all) before we had the info.
func (t *Torrent) onBitfieldLate(c *conn) error {
	if c.ls.haveAll {
		return t.onBitfield(c, nil, true)
	}
	n := t.layout.NumPieces()
	bf := piece.NewBitfield(n)
	var err error
	c.ls.early.each(func(i int) {
		if i >= n && err == nil {
			err = fmt.Errorf("%w: it said it has piece %d of %d", ErrProtocol, i, n)
		}
		bf.Set(i)
	})
	c.ls.early = nil
	if err != nil {
		return err
	}
	return t.addPeerBitfield(c, bf)
}
