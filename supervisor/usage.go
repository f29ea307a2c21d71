package supervisor

import (
	"context"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// Resource usage, as metrics-server reports it for `kubectl top`: CPU is a
// rate over a window between two samples of the runtime's cumulative
// figures (cri.Runtime's Stats), memory the latest reading.

// ContainerUsage is one container's resource use.
type ContainerUsage struct {
	Name string
	// NanoCores is the CPU rate over the window, in billionths of a core.
	NanoCores uint64
	// MemoryBytes is the current memory use.
	MemoryBytes uint64
}

// PodUsage is a pod's resource use: CPU over the Window that ends at
// Timestamp.
type PodUsage struct {
	Timestamp  time.Time
	Window     time.Duration
	Containers []ContainerUsage
}

// usageSample is one reading of a pod's sandbox.
type usageSample struct {
	at time.Time
	// cpu is each running container's estimated cumulative CPU time.
	cpu    map[string]time.Duration
	memory map[string]uint64
	order  []string
}

// Windows for the CPU rate: a previous sample between minWindow and
// maxWindow old is reused; otherwise Usage samples twice, minWindow apart.
const (
	minWindow = time.Second
	maxWindow = 2 * time.Minute
)

// usageCache keeps each pod's latest sample (by UID), so that repeated
// `top` calls measure the time between them. Its zero value is ready.
type usageCache struct {
	mu   sync.Mutex
	last map[types.UID]usageSample
}

func (c *usageCache) get(uid types.UID) (usageSample, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.last[uid]
	return s, ok
}

func (c *usageCache) put(uid types.UID, s usageSample) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		c.last = map[types.UID]usageSample{}
	}
	for id, old := range c.last {
		if s.at.Sub(old.at) > maxWindow {
			delete(c.last, id) // also forgets deleted pods
		}
	}
	c.last[uid] = s
}

// podMetricsResource is how metrics-server names what it has not found.
var podMetricsResource = schema.GroupResource{Group: "metrics.k8s.io", Resource: "podmetrics"}

// Usage reports a running pod's resource use. A pod without running
// containers has none (NotFound, as metrics-server says).
func (s *Supervisor) Usage(ctx context.Context, namespace, name string) (PodUsage, error) {
	r, err := s.runner(namespace, name)
	if err != nil {
		return PodUsage{}, err
	}
	uid := r.object().UID
	notFound := apierrors.NewNotFound(podMetricsResource, namespace+"/"+name)
	clk := s.opts.Clock
	prev, ok := s.usage.get(uid)
	if !ok || clk.Since(prev.at) > maxWindow {
		if prev, err = r.sampleUsage(ctx); err != nil {
			s.opts.Log.Warn("pod usage", "pod", name, "err", err)
			return PodUsage{}, notFound
		}
	}
	if wait := minWindow - clk.Since(prev.at); wait > 0 {
		select {
		case <-ctx.Done():
			return PodUsage{}, ctx.Err()
		case <-clk.After(wait):
		}
	}
	cur, err := r.sampleUsage(ctx)
	if err != nil {
		s.opts.Log.Warn("pod usage", "pod", name, "err", err)
		return PodUsage{}, notFound
	}
	s.usage.put(uid, cur)
	return usageBetween(prev, cur), nil
}

// usageBetween computes the CPU rates between two samples of a pod.
func usageBetween(prev, cur usageSample) PodUsage {
	window := cur.at.Sub(prev.at)
	u := PodUsage{Timestamp: cur.at, Window: window}
	for _, name := range cur.order {
		c := ContainerUsage{Name: name, MemoryBytes: cur.memory[name]}
		if before, ok := prev.cpu[name]; ok && window > 0 && cur.cpu[name] > before {
			c.NanoCores = uint64(float64(cur.cpu[name]-before) / window.Seconds())
		}
		u.Containers = append(u.Containers, c)
	}
	return u
}

// sampleUsage reads the runtime's figures for each running container.
func (r *runner) sampleUsage(ctx context.Context) (usageSample, error) {
	names := map[string]string{} // by instance ID
	var ids []string
	r.mu.Lock()
	sandboxID := r.rec.SandboxID
	for _, c := range r.rec.Pod.Spec.Containers {
		cr, _ := r.container(c.Name)
		if live := r.ctrs[c.Name].live; live != nil && cr.Running {
			names[live.id] = c.Name
			ids = append(ids, live.id)
		}
	}
	r.mu.Unlock()
	if len(ids) == 0 {
		return usageSample{}, fmt.Errorf("no running containers")
	}
	stats, err := r.sup.rt.Stats(ctx, sandboxID, ids)
	if err != nil {
		return usageSample{}, err
	}
	s := usageSample{at: r.sup.opts.Clock.Now(), cpu: map[string]time.Duration{}, memory: map[string]uint64{}}
	for _, st := range stats {
		name := names[st.ID]
		s.cpu[name] = st.CPU
		s.memory[name] = st.MemoryBytes
		s.order = append(s.order, name)
	}
	return s, nil
}
