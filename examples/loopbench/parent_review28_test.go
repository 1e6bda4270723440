package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestBinNames_review28: a -bin row's name becomes part of the paths the
// row downloads into — a directory made, and removed after each run — and
// of its profiles' names, and -only names rows by it between commas. A
// name that is not one plain path element was taken: -bin ../data=PATH
// downloaded into, then removed, ../data-0 beside the work directory, and
// a name with a comma could never be picked by -only.
func TestBinNames_review28(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"new", true},
		{"leecher-v2.1_b", true},
		{"../data", false},
		{"a/b", false},
		{"/abs", false},
		{"..", false},
		{".", false},
		{"a,b", false},
		{"a b", false},
	} {
		var b binList
		err := b.Set(tc.name + "=/bin/true")
		if tc.ok {
			assert.NoError(t, err, tc.name)
		} else {
			assert.Error(t, err, tc.name)
		}
	}
}
