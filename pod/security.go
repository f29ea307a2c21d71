package pod

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"

	"podbox.dev/podbox/sandbox"
)

// SandboxProcess is the process of container c as the sandbox runs it, the
// one place the container's spec becomes a process: MergeProcess (command,
// args, env, working directory, user), the user and its groups resolved in
// the image's /etc/passwd and /etc/group under rootfs, the kubelet's
// runAsNonRoot check, the pod's supplemental groups and fsGroup, and the
// capabilities, no_new_privs and read-only root of the security context.
func SandboxProcess(p *corev1.Pod, c *corev1.Container, img v1.Config, rootfs string, opts ...Option) (sandbox.Process, error) {
	proc, err := MergeProcess(p, c, img, opts...)
	if err != nil {
		return sandbox.Process{}, err
	}
	uid, gid, err := sandbox.ResolveUser(rootfs, proc.User)
	if err != nil {
		return sandbox.Process{}, err
	}
	if err := verifyRunAsNonRoot(p, c, img.User); err != nil {
		return sandbox.Process{}, err
	}
	return sandbox.Process{Args: proc.Args, Env: proc.Env, Cwd: proc.Cwd, UID: uid, GID: gid,
		AdditionalGids: mergeGroups(supplementalGroups(p), imageGroups(p, rootfs, uid)), Security: containerSecurity(c)}, nil
}

// containerSecurity is the OCI side of a container's effective security
// context: capabilities, no_new_privs and the read-only root.
func containerSecurity(c *corev1.Container) sandbox.Security {
	var sec sandbox.Security
	sc := c.SecurityContext
	if sc == nil {
		return sec
	}
	if caps := sc.Capabilities; caps != nil {
		for _, n := range caps.Add {
			sec.CapAdd = append(sec.CapAdd, string(n))
		}
		for _, n := range caps.Drop {
			sec.CapDrop = append(sec.CapDrop, string(n))
		}
	}
	// allowPrivilegeEscalation unset means allowed, as in Kubernetes (the
	// kubelet sets no_new_privs only when it is explicitly false).
	sec.NoNewPrivileges = sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation
	sec.ReadOnlyRoot = sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
	return sec
}

// supplementalGroups are the pod's extra groups for every container: its
// supplementalGroups, then fsGroup, as the kubelet passes them to the
// runtime (fsGroup is also the owner of the pod's volumes).
func supplementalGroups(p *corev1.Pod) []uint32 {
	sc := p.Spec.SecurityContext
	if sc == nil {
		return nil
	}
	var out []uint32
	seen := map[int64]bool{}
	add := func(g int64) {
		if !seen[g] {
			seen[g] = true
			out = append(out, uint32(g))
		}
	}
	for _, g := range sc.SupplementalGroups {
		add(g)
	}
	if sc.FSGroup != nil {
		add(*sc.FSGroup)
	}
	return out
}

// verifyRunAsNonRoot is the kubelet's check (kuberuntime, verifyRunAsNonRoot)
// with its messages: with runAsNonRoot true, a container must not run as
// uid 0, and an image user given by name cannot be verified. imageUser is the
// image config's User ("" is root).
func verifyRunAsNonRoot(p *corev1.Pod, c *corev1.Container, imageUser string) error {
	ra := effectiveRunAs(p, c)
	nonRoot, runAsUser := ra.nonRoot, ra.user
	if nonRoot == nil || !*nonRoot {
		return nil
	}
	podName := fmt.Sprintf("%s_%s(%s)", p.Name, p.Namespace, p.UID)
	if runAsUser != nil {
		if *runAsUser == 0 {
			return fmt.Errorf("container's runAsUser breaks non-root policy (pod: %q, container: %s)", podName, c.Name)
		}
		return nil
	}
	user, _, _ := strings.Cut(imageUser, ":")
	uid, err := strconv.ParseInt(user, 10, 64)
	switch {
	case user == "" || (err == nil && uid == 0):
		return fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", podName, c.Name)
	case err != nil:
		return fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s)", user, podName, c.Name)
	}
	return nil
}

// runAs is a container's effective runAsUser, runAsGroup and runAsNonRoot:
// the container's securityContext over the pod's, field by field, as the
// kubelet's DetermineEffectiveSecurityContext merges them.
type runAs struct {
	user, group *int64
	nonRoot     *bool
}

func effectiveRunAs(p *corev1.Pod, c *corev1.Container) runAs {
	var ra runAs
	if sc := p.Spec.SecurityContext; sc != nil {
		ra = runAs{user: sc.RunAsUser, group: sc.RunAsGroup, nonRoot: sc.RunAsNonRoot}
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			ra.user = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			ra.group = sc.RunAsGroup
		}
		if sc.RunAsNonRoot != nil {
			ra.nonRoot = sc.RunAsNonRoot
		}
	}
	return ra
}

// mergeGroups appends to the pod's groups the image's groups for the user
// (supplementalGroupsPolicy Merge, Kubernetes' default), without duplicates.
func mergeGroups(pod, image []uint32) []uint32 {
	out := append([]uint32(nil), pod...)
	for _, g := range image {
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out
}

// imageGroups are the image's groups for uid, unless the pod's
// supplementalGroupsPolicy is Strict (only the groups the pod names).
func imageGroups(p *corev1.Pod, rootfs string, uid uint32) []uint32 {
	if sc := p.Spec.SecurityContext; sc != nil && sc.SupplementalGroupsPolicy != nil &&
		*sc.SupplementalGroupsPolicy == corev1.SupplementalGroupsPolicyStrict {
		return nil
	}
	return sandbox.ImageGroups(rootfs, uid)
}
