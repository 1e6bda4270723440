package peer

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/bttspeed/bttspeed/piece"
)

// TestTakeBatchKeepsMarkedMessagesInPlace: plain messages go ahead of the
// blocks queued before them; a marked message (sendMarked) keeps its place
// among the blocks, and waits for the next batch when the blocks before
// it fill this one.
func TestTakeBatchKeepsMarkedMessagesInPlace(t *testing.T) {
	blk := func(i int) outItem {
		return outItem{serve: true, block: piece.Block{Piece: i, Length: piece.BlockSize}}
	}
	mark := func(uploaded, uploadedFree int64) {}
	name := func(batch []outItem) (out []string) {
		for _, it := range batch {
			switch {
			case it.serve:
				out = append(out, "b")
			case it.mark != nil:
				out = append(out, "M")
			default:
				out = append(out, "m")
			}
		}
		return out
	}
	c := &conn{}
	for i := range maxServeBatch + 4 {
		if i == 2 {
			c.queue = append(c.queue, outItem{raw: []byte{1}, mark: mark})
		}
		if i == maxServeBatch+1 {
			c.queue = append(c.queue, outItem{raw: []byte{2}, mark: mark})
		}
		c.queue = append(c.queue, blk(i))
		c.serves++
	}
	c.queue = append(c.queue, outItem{raw: []byte{3}})
	first := name(c.takeBatch(nil))
	want := []string{"m", "b", "b", "M"}
	for range maxServeBatch - 2 {
		want = append(want, "b")
	}
	assert.Equal(t, want, first, "the plain message first; the first mark after the two blocks before it; the second waits")
	second := name(c.takeBatch(nil))
	assert.Equal(t, []string{"b", "M", "b", "b", "b"}, second)
}
