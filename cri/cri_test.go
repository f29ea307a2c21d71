package cri

import (
	"math"
	"strings"
	"testing"
)

// TestContainerIDsNoPrefix: runsc resolves an ID by prefix, so no instance's
// ID may begin another's in the same sandbox, whatever the container names
// (DNS labels, dashes included) and restart counts.
func TestContainerIDsNoPrefix(t *testing.T) {
	const sb = "0123456789abcdef"
	names := []string{"a", "a-0", "a-0-0", "a-1", "a-10", "app", "app-1", "app-1-0", "b0", "0", "1", "10"}
	restarts := []int32{0, 1, 2, 10, 15, 16, 255, 256, math.MaxInt32}
	var ids []string
	for _, n := range names {
		for _, r := range restarts {
			ids = append(ids, ContainerID(sb, n, r))
		}
	}
	for i, a := range ids {
		if !strings.HasPrefix(a, sb+"-") {
			t.Errorf("%s does not begin with its sandbox ID and a dash", a)
		}
		for j, b := range ids {
			if i != j && strings.HasPrefix(b, a) {
				t.Errorf("ID %s is a prefix of %s", a, b)
			}
		}
	}
	// The old form's collisions, as the issue reported them.
	old := func(n string, r int) string { return sb + "-" + n + "-" + string(rune('0'+r)) }
	if !strings.HasPrefix(old("a-0", 0), old("a", 0)) || !strings.HasPrefix(old("app-1", 0), old("app", 1)) {
		t.Fatal("the old form was expected to collide")
	}
	if got, want := ContainerID(sb, "app", 10), sb+"-app.0000000a"; got != want {
		t.Errorf("ContainerID = %s, want %s", got, want)
	}
}
