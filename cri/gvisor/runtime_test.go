package gvisor

import (
	"slices"
	"strings"
	"testing"
)

// TestLongestFirst: deleting longest IDs first never leaves an ID that is a
// prefix of one deleted later; the sandbox (shortest) goes last.
func TestLongestFirst(t *testing.T) {
	ids := map[string]bool{"s": true, "s-a-0": true, "s-a-0-0": true, "s-b.00000000": true}
	got := longestFirst(ids)
	want := []string{"s-b.00000000", "s-a-0-0", "s-a-0", "s"}
	if !slices.Equal(got, want) {
		t.Fatalf("longestFirst = %v, want %v", got, want)
	}
	for i, a := range got {
		for _, b := range got[i+1:] {
			if strings.HasPrefix(b, a) {
				t.Errorf("%s deleted before %s, which it is a prefix of", a, b)
			}
		}
	}
}
