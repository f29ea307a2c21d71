package supervisor

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"podbox.dev/podbox/pod"
)

// configRetryInterval is how often a container waiting in
// CreateContainerConfigError tries again: the kubelet re-syncs a pod whose
// sync failed after its pod worker back-off of 10 s, and nothing else (a
// ConfigMap appearing, say) triggers that sync sooner.
const configRetryInterval = 10 * time.Second

// envRuntime is what the pod's containers' environment is made from beyond
// the pod object: its addresses, this host's allocatable resources, and the
// object store's ConfigMaps and Secrets.
func (r *runner) envRuntime() pod.EnvRuntime {
	r.mu.Lock()
	podIP, hostIP := r.rec.PodIP, r.rec.HostIP
	r.mu.Unlock()
	rt := pod.EnvRuntime{
		Allocatable: r.sup.allocatable(),
		Warn: func(reason, message string) {
			r.event("", warning, reason, message)
		},
	}
	if podIP != "" {
		rt.PodIPs = []string{podIP}
	}
	if hostIP != "" {
		rt.HostIPs = []string{hostIP}
	}
	if objs := r.sup.opts.Objects; objs != nil {
		rt.ConfigMap, rt.Secret = objs.ConfigMap, objs.Secret
	}
	return rt
}

// configFailed reports a container whose process cannot be made (a missing
// ConfigMap, Secret or key) as the kubelet does: waiting with reason
// CreateContainerConfigError and the error as its message, and a Failed
// event "Error: ...".
func (r *runner) configFailed(c *corev1.Container, err error) {
	r.waitingError(c.Name, "CreateContainerConfigError", err)
}

// isInit reports whether c is one of the pod's init containers (sidecars
// included).
func (r *runner) isInit(c *corev1.Container) bool {
	for i := range r.rec.Pod.Spec.InitContainers {
		if &r.rec.Pod.Spec.InitContainers[i] == c {
			return true
		}
	}
	return false
}

// evictionMemory and evictionStorage are the kubelet's default hard
// eviction thresholds (memory.available<100Mi, nodefs.available<10%),
// which node allocatable leaves out.
const evictionMemory = 100 << 20

// allocatable is this host's allocatable resources as a standalone kubelet
// with default settings computes them: all CPUs, memory less the 100Mi
// eviction threshold, and the capacity of the filesystem holding podbox's
// data less its 10% eviction threshold. A resourceFieldRef to a limit a
// container does not set reads these. Computed once.
func (s *Supervisor) allocatable() corev1.ResourceList {
	s.allocOnce.Do(func() {
		list := corev1.ResourceList{
			corev1.ResourceCPU: *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		}
		if mem, err := memTotal(); err == nil {
			list[corev1.ResourceMemory] = *resource.NewQuantity(max(mem-evictionMemory, 0), resource.BinarySI)
		} else {
			s.opts.Log.Warn("node allocatable memory", "err", err)
		}
		var st unix.Statfs_t
		if err := unix.Statfs(s.opts.Dirs.Data, &st); err == nil {
			capacity := int64(st.Blocks) * st.Bsize
			list[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(capacity-capacity/10, resource.BinarySI)
		} else {
			s.opts.Log.Warn("node allocatable ephemeral storage", "err", err)
		}
		s.alloc = list
	})
	return s.alloc
}

// memTotal reads MemTotal from /proc/meminfo, in bytes.
func memTotal() (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) >= 2 && string(f[0]) == "MemTotal:" {
			kb, err := strconv.ParseInt(string(f[1]), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/meminfo: %w", err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("/proc/meminfo has no MemTotal")
}

// allocatableCache is the Supervisor's once-computed allocatable list.
type allocatableCache struct {
	allocOnce sync.Once
	alloc     corev1.ResourceList
}
