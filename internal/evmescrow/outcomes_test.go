package evmescrow

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/bttspeed/bttspeed/btt"
)

func TestCallSame(t *testing.T) {
	a, b := addr(1), addr(2)
	a2 := a
	for _, tc := range []struct {
		name string
		x, y Call
		same bool
	}{
		{"same", Call{&a, []byte{1}}, Call{&a2, []byte{1}}, true},
		{"other data", Call{&a, []byte{1}}, Call{&a, []byte{2}}, false},
		{"other contract", Call{&a, []byte{1}}, Call{&b, []byte{1}}, false},
		{"deployment and call", Call{nil, []byte{1}}, Call{&a, []byte{1}}, false},
		{"two deployments", Call{nil, []byte{1}}, Call{nil, []byte{1}}, true},
		{"a call of the zero address is no deployment", Call{&btt.Address{}, nil}, Call{nil, nil}, false},
	} {
		assert.Equal(t, tc.same, tc.x.Same(tc.y), tc.name)
		assert.Equal(t, tc.same, tc.y.Same(tc.x), tc.name)
	}
}

func TestOutcomes(t *testing.T) {
	a := addr(1)
	call := func(i int) Call { return Call{&a, []byte{byte(i)}} }
	var o Outcomes[string]
	failed := errors.New("reverted")
	o.Remember(call(1), "r1", nil)
	o.Remember(call(2), "r2", failed)
	o.Remember(call(1), "r1 again", nil)
	assert.True(t, o.Has(call(2)))
	assert.False(t, o.Has(call(3)))

	d, ok := o.Recall(call(2))
	assert.True(t, ok)
	assert.Equal(t, "r2", d.R)
	assert.Equal(t, failed, d.Err, "a failed call's error is its outcome")
	assert.False(t, o.Has(call(2)), "recalled once")

	d, ok = o.Recall(call(1))
	assert.True(t, ok)
	assert.Equal(t, "r1", d.R, "the oldest first")
	d, _ = o.Recall(call(1))
	assert.Equal(t, "r1 again", d.R)
	_, ok = o.Recall(call(1))
	assert.False(t, ok)

	for i := range MaxOutcomes + 3 {
		o.Remember(call(10+i), fmt.Sprint(i), nil)
	}
	assert.False(t, o.Has(call(10)), "the oldest beyond the bound are dropped")
	assert.False(t, o.Has(call(12)))
	assert.True(t, o.Has(call(13)))
	assert.True(t, o.Has(call(10+MaxOutcomes+2)))
}

// journal is a paychan.TxJournal's writing half in memory.
type journal struct {
	recs map[string][]byte
	err  error
}

func (j *journal) SetPendingTx(key string, b []byte) error {
	if j.err != nil {
		return j.err
	}
	if b == nil {
		delete(j.recs, key)
		return nil
	}
	j.recs[key] = b
	return nil
}

func TestKeepPending(t *testing.T) {
	encode := func(p *string) ([]byte, error) { return []byte(*p), nil }
	var cur *string
	set := func(p *string) { cur = p }
	tx := "tx1"

	assert.NoError(t, KeepPending[string](nil, "k", &tx, encode, set), "no journal: memory only")
	assert.Equal(t, &tx, cur)

	j := &journal{recs: map[string][]byte{}}
	cur = nil
	assert.NoError(t, KeepPending(j, "k", &tx, encode, set))
	assert.Equal(t, []byte("tx1"), j.recs["k"], "on disk")
	assert.Equal(t, &tx, cur)
	assert.NoError(t, KeepPending(j, "k", nil, encode, set))
	assert.NotContains(t, j.recs, "k", "cleared")
	assert.Nil(t, cur)

	j.err = errors.New("disk full")
	assert.ErrorIs(t, KeepPending(j, "k", &tx, encode, set), j.err)
	assert.Nil(t, cur, "not kept in memory when the journal could not write it: it is not sent")
	bad := errors.New("no encoding")
	j.err = nil
	assert.ErrorIs(t, KeepPending(j, "k", &tx, func(*string) ([]byte, error) { return nil, bad }, set), bad)
	assert.Nil(t, cur)
}
