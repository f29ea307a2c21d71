package pod

import (
	"fmt"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Process is what runs in a container: the image config merged with the
// container spec by Kubernetes rules.
type Process struct {
	// Args is the full argv; Args[0] is the program.
	Args []string
	// Env holds KEY=VALUE entries: the image's environment first, then the
	// container's env, a container variable replacing an image variable of
	// the same name in place. Order is kept so that the result is
	// deterministic (handy for tests and for users diffing environments).
	Env []string
	// Cwd is the working directory: the container's workingDir, else the
	// image's WorkingDir, else "/".
	Cwd string
	// User is "uid[:gid]" from the (container, else pod) securityContext
	// runAsUser/runAsGroup, or the image's User (which may be a name) when
	// the pod sets none; empty means root, as for an image.
	User string
}

// MergeProcess computes the process for container c of pod p from the image
// config img, as the kubelet and container runtime together would:
//
//   - command replaces the image Entrypoint and drops the image Cmd; args
//     replace the image Cmd; with neither, Entrypoint+Cmd run. An empty list
//     counts as unset, as in Kubernetes.
//   - env values are expanded: $(VAR) is replaced by an earlier-defined
//     container env var or an image env var, $$ is a literal $, and a
//     reference to an undefined variable is kept verbatim. command and args
//     are expanded the same way with the final environment. The image's own
//     Entrypoint and Cmd are never expanded. (The kubelet cannot see image
//     ENV when expanding; podbox can, and lets references to it resolve.)
//   - env valueFrom.fieldRef resolves metadata.name, metadata.namespace,
//     metadata.uid, metadata.labels['k'], metadata.annotations['k'],
//     spec.nodeName and spec.serviceAccountName from p; any other valueFrom,
//     and envFrom, is an error naming the field: podbox does not resolve them
//     yet, and silently dropping a variable would be worse.
//
// An empty resulting argv is an error, since there is nothing to execute.
func MergeProcess(p *corev1.Pod, c *corev1.Container, img v1.Config) (Process, error) {
	path := containerPath(p, c)

	if len(c.EnvFrom) > 0 {
		return Process{}, fmt.Errorf("container %q: %s is not supported yet", c.Name, path.Child("envFrom"))
	}

	env := newEnvList()
	for _, kv := range img.Env {
		k, v, _ := strings.Cut(kv, "=")
		env.set(k, v)
	}
	for j, e := range c.Env {
		val := e.Value
		if e.ValueFrom != nil {
			var err error
			if val, err = resolveValueFrom(p, e.ValueFrom, path.Child("env").Index(j).Child("valueFrom")); err != nil {
				return Process{}, fmt.Errorf("container %q: %w", c.Name, err)
			}
		} else {
			// Only variables defined so far are visible, so order in the
			// manifest matters, as on a cluster.
			val = Expand(val, env.lookup)
		}
		env.set(e.Name, val)
	}

	var args []string
	switch {
	case len(c.Command) > 0:
		args = append(expandAll(c.Command, env.lookup), expandAll(c.Args, env.lookup)...)
	case len(c.Args) > 0:
		args = append(append([]string{}, img.Entrypoint...), expandAll(c.Args, env.lookup)...)
	default:
		args = append(append([]string{}, img.Entrypoint...), img.Cmd...)
	}
	if len(args) == 0 {
		return Process{}, fmt.Errorf("container %q: no command specified: the image has no ENTRYPOINT or CMD and the pod sets no command", c.Name)
	}

	cwd := c.WorkingDir
	if cwd == "" {
		cwd = img.WorkingDir
	}
	if cwd == "" {
		cwd = "/"
	}
	return Process{Args: args, Env: env.list(), Cwd: cwd, User: user(p, c, img.User)}, nil
}

// containerPath returns spec.containers[i] or spec.initContainers[i] for c,
// recognised by identity or else by name, for error messages.
func containerPath(p *corev1.Pod, c *corev1.Container) *field.Path {
	spec := field.NewPath("spec")
	for _, l := range []struct {
		name string
		cs   []corev1.Container
	}{{"containers", p.Spec.Containers}, {"initContainers", p.Spec.InitContainers}} {
		for i := range l.cs {
			if &l.cs[i] == c {
				return spec.Child(l.name).Index(i)
			}
		}
	}
	for _, l := range []struct {
		name string
		cs   []corev1.Container
	}{{"containers", p.Spec.Containers}, {"initContainers", p.Spec.InitContainers}} {
		for i := range l.cs {
			if l.cs[i].Name == c.Name {
				return spec.Child(l.name).Index(i)
			}
		}
	}
	return spec.Child("containers").Key(c.Name)
}

// resolveValueFrom resolves the env sources that need nothing but the pod
// object itself.
func resolveValueFrom(p *corev1.Pod, vf *corev1.EnvVarSource, path *field.Path) (string, error) {
	if f := vf.FieldRef; f != nil {
		if v, ok := podField(p, f.FieldPath); ok {
			return v, nil
		}
		return "", fmt.Errorf("%s: fieldRef fieldPath %q is not supported yet (supported: metadata.name, metadata.namespace, metadata.uid, metadata.labels['<key>'], metadata.annotations['<key>'], spec.nodeName, spec.serviceAccountName)",
			path, f.FieldPath)
	}
	return "", fmt.Errorf("%s is not supported yet: podbox resolves env value and valueFrom.fieldRef only", path)
}

// podField returns the value of a downward-API field path that is fixed by
// the pod object (runtime values such as status.podIP are not).
func podField(p *corev1.Pod, fp string) (string, bool) {
	switch fp {
	case "metadata.name":
		return p.Name, true
	case "metadata.namespace":
		return p.Namespace, true
	case "metadata.uid":
		return string(p.UID), true
	case "spec.nodeName":
		return p.Spec.NodeName, true
	case "spec.serviceAccountName":
		return p.Spec.ServiceAccountName, true
	}
	for prefix, m := range map[string]map[string]string{"metadata.labels": p.Labels, "metadata.annotations": p.Annotations} {
		rest, ok := strings.CutPrefix(fp, prefix+"[")
		if !ok || !strings.HasSuffix(rest, "]") {
			continue
		}
		key, err := strconv.Unquote(strings.Replace(strings.TrimSuffix(rest, "]"), "'", `"`, 2))
		if err != nil {
			return "", false
		}
		// A missing label or annotation is the empty string, as on a cluster.
		return m[key], true
	}
	return "", false
}

func user(p *corev1.Pod, c *corev1.Container, imageUser string) string {
	var uid, gid *int64
	if sc := p.Spec.SecurityContext; sc != nil {
		uid, gid = sc.RunAsUser, sc.RunAsGroup
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = sc.RunAsGroup
		}
	}
	u := imageUser
	if uid != nil {
		// runAsUser replaces the image's user and group: the group then
		// comes from runAsGroup or the user's primary group.
		u = strconv.FormatInt(*uid, 10)
	}
	if gid != nil {
		name, _, _ := strings.Cut(u, ":")
		if name == "" {
			name = "0"
		}
		u = name + ":" + strconv.FormatInt(*gid, 10)
	}
	return u
}

func expandAll(in []string, lookup func(string) (string, bool)) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = Expand(s, lookup)
	}
	return out
}

// Expand replaces $(NAME) references in s using lookup, by the kubelet's
// rules: "$$" is an escaped "$"; "$(NAME)" with NAME known is replaced by its
// value; "$(NAME)" with NAME unknown, a "$(" without a closing ")", and a "$"
// followed by anything else are all kept verbatim. Values substituted are not
// expanded again.
func Expand(s string, lookup func(name string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				// No closing parenthesis: keep "$(" and go on scanning after it.
				b.WriteString("$(")
				i++
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// envList is an ordered environment where setting an existing name replaces
// its value in place.
type envList struct {
	names  []string
	values map[string]string
}

func newEnvList() *envList { return &envList{values: map[string]string{}} }

func (e *envList) set(k, v string) {
	if _, ok := e.values[k]; !ok {
		e.names = append(e.names, k)
	}
	e.values[k] = v
}

func (e *envList) lookup(k string) (string, bool) {
	v, ok := e.values[k]
	return v, ok
}

func (e *envList) list() []string {
	out := make([]string, len(e.names))
	for i, k := range e.names {
		out[i] = k + "=" + e.values[k]
	}
	return out
}
