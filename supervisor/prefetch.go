package supervisor

import corev1 "k8s.io/api/core/v1"

// The image of the first container to start is resolved (looked up, or
// pulled, leased and unpacked) while the pod's network and sandbox are
// made, instead of after them: the sandbox boot and the image work are
// independent, and doing them one after the other added their times. For
// a cached image this hides the lookup and unpack check; for a cold start
// it hides the sandbox boot behind the pull. Only the first container's:
// the others are resolved in order, right before each starts, so that the
// events (Pulled, Created, Started per container) come in the kubelet's
// order.

// prefetchFirstImage starts resolving the image of the first container
// the pod will start (its first init container, else its first app
// container).
func (r *runner) prefetchFirstImage() {
	var first *corev1.Container
	switch spec := &r.rec.Pod.Spec; {
	case len(spec.InitContainers) > 0:
		first = &spec.InitContainers[0]
	case len(spec.Containers) > 0:
		first = &spec.Containers[0]
	default:
		return
	}
	done := make(chan error, 1)
	r.mu.Lock()
	r.ctrs[first.Name].prefetch = done
	r.mu.Unlock()
	go func() { done <- r.resolveImage(first) }()
}

// awaitPrefetch waits for the prefetch of a container's image, if one was
// started, and returns its outcome; ok is false when there was none.
func (r *runner) awaitPrefetch(name string) (err error, ok bool) {
	r.mu.Lock()
	c := r.ctrs[name]
	done := c.prefetch
	c.prefetch = nil
	r.mu.Unlock()
	if done == nil {
		return nil, false
	}
	return <-done, true
}

// awaitAllPrefetches waits for prefetches still under way, so that a
// failure recorded after them is not overwritten by their progress (a
// resolved image stays with the container for a later start).
func (r *runner) awaitAllPrefetches() {
	r.mu.Lock()
	var names []string
	for name, c := range r.ctrs {
		if c.prefetch != nil {
			names = append(names, name)
		}
	}
	r.mu.Unlock()
	for _, name := range names {
		r.awaitPrefetch(name)
	}
}
