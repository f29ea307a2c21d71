package supervisor

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"podbox.dev/podbox/cri"
)

// adopt takes over a pod whose sandbox a crashed predecessor left running
// in the same namespaces: its running containers are watched again (an exit
// that happened meanwhile is reported by the runtime), nothing is restarted
// before its back-off, and the pod's loop goes on from its record.
func (r *runner) adopt() {
	ctx := context.Background()
	if _, err := r.sup.rt.AdoptPodSandbox(ctx, r.sandboxConfig()); err != nil {
		r.sup.opts.Log.Warn("adopt pod sandbox", "pod", r.name, "err", err)
	}
	for _, c := range r.allContainers() {
		r.mu.Lock()
		cr, _ := r.container(c.Name)
		id := strings.TrimPrefix(cr.ContainerID, "gvisor://")
		running, attempt := cr.Running, cr.RestartCount
		r.mu.Unlock()
		if id == "" || !running {
			continue
		}
		live := &liveContainer{name: c.Name, id: id, stopSignal: "TERM", exited: make(chan struct{})}
		cfg := &cri.ContainerConfig{Name: c.Name, Attempt: attempt, TTY: c.TTY, Stdin: c.Stdin, StdinOnce: c.StdinOnce, LogPath: r.logPath(c.Name, attempt)}
		if img, err := r.adoptImage(c); err == nil {
			if s := img.image.Config.StopSignal; s != "" {
				live.stopSignal = s
			}
			cfg.Image, cfg.Rootfs = img.image.Ref, img.rootfs
			if proc, err := r.process(c, img); err == nil {
				cfg.Process = proc
			}
		}
		// The log server goes on writing this instance's log.
		if err := r.sup.rt.AdoptContainer(ctx, r.rec.SandboxID, id, cfg); err != nil {
			r.sup.opts.Log.Warn("adopt container", "pod", r.name, "container", c.Name, "err", err)
		}
		r.setLive(c.Name, live)
		r.startProbes(c)
		go r.watch(c.Name, live)
	}
	go func() {
		if err := r.prepareVolumes(); err != nil {
			r.sup.opts.Log.Warn("adopt the pod's volumes", "pod", r.name, "err", err)
			r.mu.Lock()
			r.sandboxFailed = true
			r.mu.Unlock()
		}
		r.loop()
	}()
}

// allContainers returns the init containers and app containers, in order.
func (r *runner) allContainers() []*corev1.Container {
	spec := &r.rec.Pod.Spec
	out := make([]*corev1.Container, 0, len(spec.InitContainers)+len(spec.Containers))
	for i := range spec.InitContainers {
		out = append(out, &spec.InitContainers[i])
	}
	for i := range spec.Containers {
		out = append(out, &spec.Containers[i])
	}
	return out
}

// adoptImage finds a started container's image in the store again, without
// pulling: it was present when the container started, and a lease keeps it.
func (r *runner) adoptImage(c *corev1.Container) (resolvedImage, error) {
	img, err := r.sup.opts.Images.Lookup(c.Image)
	if err != nil {
		return resolvedImage{}, err
	}
	rootfs, err := r.sup.opts.Images.Rootfs(img)
	if err != nil {
		return resolvedImage{}, err
	}
	ri := resolvedImage{image: img, rootfs: rootfs}
	r.setImage(c.Name, ri)
	return ri, nil
}
