package choker

// topK keeps the indices of the k best items seen so far, best first, using
// a caller-supplied "better" order. Insertion is O(k), so selecting the top k
// of n peers costs O(n·k) with no allocation once its buffer has grown: far
// cheaper than sorting all n peers when k is a handful of slots.
type topK struct {
	idx    []int
	k      int
	better func(a, b int) bool
}

func (t *topK) reset(k int, better func(a, b int) bool) {
	t.idx = t.idx[:0]
	t.k = k
	t.better = better
}

func (t *topK) offer(i int) {
	if t.k <= 0 {
		return
	}
	n := len(t.idx)
	if n == t.k && !t.better(i, t.idx[n-1]) {
		return
	}
	// Find the insertion point from the back.
	pos := n
	for pos > 0 && t.better(i, t.idx[pos-1]) {
		pos--
	}
	if n < t.k {
		t.idx = append(t.idx, 0)
	} else {
		n-- // drop the worst
	}
	copy(t.idx[pos+1:n+1], t.idx[pos:n])
	t.idx[pos] = i
}
