// Package volume prepares a pod's volumes on the host, as the kubelet's
// volume manager does before it starts the pod's containers, and turns each
// container's volumeMounts into OCI mounts for its gVisor subcontainer.
//
// Each volume becomes a host directory (or file) that runsc bind-mounts:
//
//   - emptyDir: a directory 0777 under the pod's directory (or, for
//     medium: Memory, under the runtime directory, which is a tmpfs on
//     systemd hosts). Unless a container mounts a subPath of it, the pod
//     spec carries gVisor's mount hint for it (Hints), so the sentry makes
//     it one tmpfs shared by all the pod's containers: every container sees
//     the same files at once, the data outlives container restarts, and
//     sizeLimit becomes the tmpfs size (writes beyond it fail with ENOSPC).
//     The tmpfs pages are backed by a file runsc keeps in the host
//     directory, so a disk emptyDir does not use the pod's memory. A subPath
//     needs the files on the host, so such an emptyDir is a plain bind mount
//     (gVisor's shared file access: changes are revalidated on every access).
//   - hostPath: the path itself after the kubelet's type check.
//   - configMap, secret, downwardAPI, projected: a directory written by the
//     kubelet's atomic writer ("..data" → "..<timestamp>", one symlink per
//     key), rewritten when the source changes (Refresh*); mounted read-only.
//     Secrets are written under the runtime directory, never to the data
//     disk, as the kubelet keeps them on tmpfs.
//   - persistentVolumeClaim: a named volume of Claims that outlives the pod.
package volume

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"podbox.dev/podbox/objects"
	"podbox.dev/podbox/pod"
)

// Options says where a pod's volumes live and where their sources come from.
type Options struct {
	// Dir holds the pod's volumes on disk; it goes with the pod.
	Dir string
	// MemoryDir holds secrets and medium: Memory emptyDirs; it should be on
	// a tmpfs (the runtime directory) and goes with the pod.
	MemoryDir string
	// Claims keeps persistentVolumeClaim volumes.
	Claims *Claims
	// Objects has the ConfigMaps and Secrets; nil makes every configMap and
	// secret volume fail to set up.
	Objects Objects
	// Allocatable is what resourceFieldRef items read for limits a
	// container does not set (the kubelet uses the node's allocatable).
	Allocatable corev1.ResourceList
}

// Set is the volumes of one pod. It is safe for concurrent use.
type Set struct {
	opts Options

	mu   sync.Mutex
	pod  *corev1.Pod
	vols map[string]*vol
}

type kind int

const (
	emptyDir kind = iota
	hostPath
	written // configMap, secret, downwardAPI, projected
	claim
)

type vol struct {
	spec     corev1.Volume
	kind     kind
	path     string // the host directory or file mounted
	readOnly bool   // every mount is read-only
	// hinted marks an emptyDir the sentry shares as one tmpfs (see Hints).
	hinted bool
	// hintOptions are the tmpfs options of a hinted emptyDir.
	hintOptions string
	ready       bool
}

// MountError is a volume that could not be set up. Its message is the
// kubelet's FailedMount event message.
type MountError struct {
	Volume string
	Err    error
}

func (e *MountError) Error() string {
	return fmt.Sprintf("MountVolume.SetUp failed for volume %q : %v", e.Volume, e.Err)
}

func (e *MountError) Unwrap() error { return e.Err }

// New returns the volume set of pod p; nothing is prepared yet.
func New(p *corev1.Pod, opts Options) *Set {
	s := &Set{opts: opts, pod: p.DeepCopy(), vols: map[string]*vol{}}
	subPathed := map[string]bool{}
	for _, c := range allContainers(&p.Spec) {
		for _, m := range c.VolumeMounts {
			if m.SubPath != "" || m.SubPathExpr != "" {
				subPathed[m.Name] = true
			}
		}
	}
	for _, v := range p.Spec.Volumes {
		s.vols[v.Name] = s.plan(v, subPathed[v.Name])
	}
	return s
}

// emptyDirSize is the size of an emptyDir's tmpfs in bytes, 0 for no cap.
// A disk-backed one is capped by its sizeLimit only. A memory-backed one is
// sized as the kubelet sizes it (SizeMemoryBackedVolumes): the smallest of
// the node's allocatable memory, the pod's memory limit and the sizeLimit.
// Without that cap a pod could fill the host's memory through a tmpfs that
// the sentry's memory accounting, and so the pod's limit, does not see.
func (s *Set) emptyDirSize(ed *corev1.EmptyDirVolumeSource) int64 {
	var size int64
	smaller := func(q resource.Quantity, ok bool) {
		if v := q.Value(); ok && v > 0 && (size == 0 || v < size) {
			size = v
		}
	}
	if ed.Medium == corev1.StorageMediumMemory {
		alloc, ok := s.opts.Allocatable[corev1.ResourceMemory]
		smaller(alloc, ok)
		smaller(pod.PodLimit(&s.pod.Spec, corev1.ResourceMemory))
	}
	if ed.SizeLimit != nil {
		smaller(*ed.SizeLimit, true)
	}
	return size
}

func allContainers(spec *corev1.PodSpec) []corev1.Container {
	return append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
}

// plan decides where a volume lives and how it is mounted.
func (s *Set) plan(v corev1.Volume, subPathed bool) *vol {
	vs := v.VolumeSource
	out := &vol{spec: v}
	switch {
	case vs.EmptyDir != nil:
		out.kind = emptyDir
		out.path = filepath.Join(s.opts.Dir, "empty-dir", v.Name)
		if vs.EmptyDir.Medium == corev1.StorageMediumMemory {
			out.path = filepath.Join(s.opts.MemoryDir, "empty-dir", v.Name)
		}
		out.hinted = !subPathed
		mode := "0777"
		opts := []string{"rw"}
		if g := s.fsGroup(); g != nil {
			mode = "2777"
			opts = append(opts, "gid="+strconv.FormatInt(*g, 10))
		}
		opts = append(opts, "mode="+mode)
		if size := s.emptyDirSize(vs.EmptyDir); size > 0 {
			opts = append(opts, "size="+strconv.FormatInt(size, 10))
		}
		out.hintOptions = strings.Join(opts, ",")
	case vs.HostPath != nil:
		out.kind = hostPath
		out.path = filepath.Clean(vs.HostPath.Path)
	case vs.PersistentVolumeClaim != nil:
		out.kind = claim
		out.readOnly = vs.PersistentVolumeClaim.ReadOnly
		if s.opts.Claims != nil {
			out.path = s.opts.Claims.DataDir(s.pod.Namespace, vs.PersistentVolumeClaim.ClaimName)
		}
	default:
		out.kind = written
		out.readOnly = true
		out.path = filepath.Join(s.opts.Dir, "written", v.Name)
		if hasSecret(vs) {
			out.path = filepath.Join(s.opts.MemoryDir, "written", v.Name)
		}
	}
	return out
}

func hasSecret(vs corev1.VolumeSource) bool {
	if vs.Secret != nil {
		return true
	}
	if vs.Projected != nil {
		for _, src := range vs.Projected.Sources {
			if src.Secret != nil {
				return true
			}
		}
	}
	return false
}

func (s *Set) fsGroup() *int64 {
	if sc := s.pod.Spec.SecurityContext; sc != nil {
		return sc.FSGroup
	}
	return nil
}

// Prepare sets up every volume that is not ready yet and returns the ones
// that failed (a missing ConfigMap, a failed hostPath check …); the caller
// reports them and calls Prepare again later, as the kubelet retries.
func (s *Set) Prepare() []*MountError {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []*MountError
	for _, v := range s.pod.Spec.Volumes {
		vl := s.vols[v.Name]
		if vl.ready {
			continue
		}
		if err := s.setUp(vl); err != nil {
			errs = append(errs, &MountError{Volume: v.Name, Err: err})
			continue
		}
		vl.ready = true
	}
	return errs
}

func (s *Set) setUp(v *vol) error {
	switch v.kind {
	case emptyDir:
		if err := os.MkdirAll(v.path, 0o777); err != nil {
			return err
		}
		if err := os.Chmod(v.path, 0o777); err != nil {
			return err
		}
		if g := s.fsGroup(); g != nil && !v.hinted {
			return applyOwnership(v.path, int(*g), false, true)
		}
		return nil
	case hostPath:
		return checkHostPath(v.spec.HostPath)
	case claim:
		if s.opts.Claims == nil {
			return errors.New("podbox has no volume store")
		}
		dir, err := s.opts.Claims.Ensure(s.pod.Namespace, v.spec.PersistentVolumeClaim.ClaimName)
		if err != nil {
			return err
		}
		if g := s.fsGroup(); g != nil {
			onlyRoot := false
			if sc := s.pod.Spec.SecurityContext; sc.FSGroupChangePolicy != nil && *sc.FSGroupChangePolicy == corev1.FSGroupChangeOnRootMismatch {
				onlyRoot = true
			}
			return applyOwnership(dir, int(*g), onlyRoot, false)
		}
		return nil
	default:
		_, err := s.write(v)
		return err
	}
}

// write (re)writes a configMap, secret, downwardAPI or projected volume.
func (s *Set) write(v *vol) (bool, error) {
	payload := map[string]File{}
	vs := v.spec.VolumeSource
	var err error
	switch {
	case vs.ConfigMap != nil:
		err = configMapPayload(s.opts.Objects, s.pod.Namespace, vs.ConfigMap, vs.ConfigMap.DefaultMode, payload)
	case vs.Secret != nil:
		err = secretPayload(s.opts.Objects, s.pod.Namespace, vs.Secret.SecretName, vs.Secret.Items, vs.Secret.Optional != nil && *vs.Secret.Optional, vs.Secret.DefaultMode, payload)
	case vs.DownwardAPI != nil:
		err = downwardAPIPayload(s.pod, s.opts.Allocatable, vs.DownwardAPI.Items, vs.DownwardAPI.DefaultMode, payload)
	case vs.Projected != nil:
		err = projectedPayload(s.opts.Objects, s.pod, s.opts.Allocatable, vs.Projected, payload)
	default:
		// pod.Validate refuses every other volume source.
		err = errors.New("unsupported volume type")
	}
	if err != nil {
		return false, err
	}
	var own *ownership
	if g := s.fsGroup(); g != nil {
		own = &ownership{gid: int(*g)}
	}
	return writeAtomic(v.path, payload, own)
}

// Hints are the pause container's annotations that make the sentry share
// each emptyDir as one tmpfs among the pod's containers (gVisor's pod mount
// hints, runsc/boot/mount_hints.go): share "pod" gives one master mount that
// every container's mount of the same source binds to, so a write in one
// container is seen by the others at once, as on a cluster with the gVisor
// runtime class.
func (s *Set) Hints() map[string]string {
	out := map[string]string{}
	for name, v := range s.vols {
		if !v.hinted {
			continue
		}
		prefix := "dev.gvisor.spec.mount." + name + "."
		out[prefix+"source"] = v.path
		out[prefix+"type"] = "tmpfs"
		out[prefix+"share"] = "pod"
		out[prefix+"options"] = v.hintOptions
	}
	return out
}

// ConfigError is a container's volumeMount that cannot be made (a bad
// subPathExpr, a subPath escaping its volume); the kubelet reports it as
// CreateContainerConfigError.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }

// Mounts returns the OCI mounts of a container's volumeMounts. env is the
// container's final environment (KEY=VALUE), which subPathExpr expands from.
// A subPath is mounted on a staging point (see stage.go): the caller must
// call Release once runsc has created the container.
func (s *Set) Mounts(c *corev1.Container, env []string) ([]specs.Mount, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	envMap := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		envMap[k] = v
	}
	// Points a failed start of this container left.
	if err := unstageDir(s.stagingDir(c.Name)); err != nil {
		return nil, err
	}
	var out []specs.Mount
	for i, m := range c.VolumeMounts {
		v, ok := s.vols[m.Name]
		if !ok || !v.ready {
			return nil, errors.Join(fmt.Errorf("volume %q is not ready", m.Name), unstageDir(s.stagingDir(c.Name)))
		}
		src, err := s.source(v, m, envMap, c.Name, i)
		if err != nil {
			err = fmt.Errorf("failed to prepare subPath for volumeMount %q of container %q: %w", m.Name, c.Name, err)
			return nil, &ConfigError{errors.Join(err, unstageDir(s.stagingDir(c.Name)))}
		}
		out = append(out, bindMount(src, m.MountPath, m.ReadOnly || v.readOnly))
	}
	return out, nil
}

// source is what runsc mounts for the i-th volumeMount m of a container:
// the volume itself, or its subPath staged from a descriptor.
func (s *Set) source(v *vol, m corev1.VolumeMount, env map[string]string, container string, i int) (string, error) {
	sub, err := subPath(m, env)
	if err != nil || sub == "" {
		return v.path, err
	}
	fd, err := openSubPath(v, sub)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	target := filepath.Join(s.stagingDir(container), strconv.Itoa(i))
	return target, stage(fd, target)
}

func bindMount(source, dest string, readOnly bool) specs.Mount {
	opts := []string{"rbind", "rw"}
	if readOnly {
		opts = []string{"rbind", "ro"}
	}
	return specs.Mount{Destination: dest, Type: "bind", Source: source, Options: opts}
}

// RefreshObject rewrites the volumes whose source is the changed object and
// reports whether any file changed. A volume that was not ready yet is left
// to the next Prepare.
func (s *Set) RefreshObject(ref objects.Ref) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ref.Namespace != s.pod.Namespace {
		return false, nil
	}
	return s.rewrite(func(vs corev1.VolumeSource) bool { return refersTo(vs, ref) })
}

// RefreshPod takes the pod's new metadata (labels, annotations) and
// rewrites the downwardAPI files that show it.
func (s *Set) RefreshPod(p *corev1.Pod) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pod = p.DeepCopy()
	return s.rewrite(usesDownwardAPI)
}

// WaitsFor reports whether a volume not ready yet depends on the object,
// so that its creation should trigger a new Prepare at once.
func (s *Set) WaitsFor(ref objects.Ref) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.vols {
		if !v.ready && ref.Namespace == s.pod.Namespace && refersTo(v.spec.VolumeSource, ref) {
			return true
		}
	}
	return false
}

func (s *Set) rewrite(match func(corev1.VolumeSource) bool) (bool, error) {
	names := make([]string, 0, len(s.vols))
	for n := range s.vols {
		names = append(names, n)
	}
	sort.Strings(names)
	changed := false
	var errs []error
	for _, n := range names {
		v := s.vols[n]
		if v.kind != written || !v.ready || !match(v.spec.VolumeSource) {
			continue
		}
		c, err := s.write(v)
		if err != nil {
			// The kubelet keeps the last good files when a source goes
			// away or breaks.
			errs = append(errs, &MountError{Volume: n, Err: err})
		}
		changed = changed || c
	}
	return changed, errors.Join(errs...)
}

func refersTo(vs corev1.VolumeSource, ref objects.Ref) bool {
	switch ref.Resource {
	case objects.ConfigMaps:
		if vs.ConfigMap != nil && vs.ConfigMap.Name == ref.Name {
			return true
		}
	case objects.Secrets:
		if vs.Secret != nil && vs.Secret.SecretName == ref.Name {
			return true
		}
	}
	if vs.Projected != nil {
		for _, src := range vs.Projected.Sources {
			if src.ConfigMap != nil && ref.Resource == objects.ConfigMaps && src.ConfigMap.Name == ref.Name {
				return true
			}
			if src.Secret != nil && ref.Resource == objects.Secrets && src.Secret.Name == ref.Name {
				return true
			}
		}
	}
	return false
}

func usesDownwardAPI(vs corev1.VolumeSource) bool {
	if vs.DownwardAPI != nil {
		return true
	}
	if vs.Projected != nil {
		for _, src := range vs.Projected.Sources {
			if src.DownwardAPI != nil {
				return true
			}
		}
	}
	return false
}

// Teardown removes the pod's volumes, except its persistent volume claims,
// which outlive it. Nothing is removed while a subPath staging point may
// still be mounted: the removal would go through it into the volume (a
// claim's or a hostPath's files).
func (s *Set) Teardown() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.MemoryDir != "" {
		if err := Unstage(s.opts.MemoryDir); err != nil {
			return fmt.Errorf("keep the pod's volumes: %w", err)
		}
	}
	return errors.Join(removeAll(s.opts.Dir), removeAll(s.opts.MemoryDir))
}

// removeAll removes a tree even where a container left directories without
// write permission.
func removeAll(dir string) error {
	if dir == "" {
		return nil
	}
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	makeDirsWritable(dir)
	return os.RemoveAll(dir)
}
