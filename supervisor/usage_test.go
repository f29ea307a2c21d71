package supervisor

import (
	"testing"
	"time"
)

func TestUsageBetween(t *testing.T) {
	t0 := time.Unix(1000, 0)
	prev := usageSample{at: t0, cpu: map[string]time.Duration{"busy": 10 * time.Second, "idle": time.Second}}
	cur := usageSample{
		at:     t0.Add(2 * time.Second),
		cpu:    map[string]time.Duration{"busy": 11 * time.Second, "idle": time.Second - time.Millisecond, "new": time.Second},
		memory: map[string]uint64{"busy": 5 << 20, "idle": 1 << 20, "new": 2 << 20},
		order:  []string{"busy", "idle", "new"},
	}
	u := usageBetween(prev, cur)
	if u.Window != 2*time.Second || !u.Timestamp.Equal(cur.at) {
		t.Errorf("window %v timestamp %v", u.Window, u.Timestamp)
	}
	want := []ContainerUsage{
		{Name: "busy", NanoCores: 500_000_000, MemoryBytes: 5 << 20},
		// An estimate that went backwards (the split shifted) is no use, not negative.
		{Name: "idle", NanoCores: 0, MemoryBytes: 1 << 20},
		// A container not in the previous sample (just restarted) has no rate yet.
		{Name: "new", NanoCores: 0, MemoryBytes: 2 << 20},
	}
	for i, w := range want {
		if u.Containers[i] != w {
			t.Errorf("container %d: got %+v, want %+v", i, u.Containers[i], w)
		}
	}
}
