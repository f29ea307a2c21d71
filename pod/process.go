package pod

import (
	"fmt"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/kubectl/pkg/util/fieldpath"
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

// Option adds to what MergeProcess knows.
type Option func(*mergeOptions)

type mergeOptions struct {
	rt EnvRuntime
}

// WithRuntime gives MergeProcess what resolving env needs beyond the pod:
// addresses, allocatable resources, ConfigMaps and Secrets (ContainerEnv).
// Without it, references to ConfigMaps and Secrets cannot be resolved and
// status fields read empty.
func WithRuntime(rt EnvRuntime) Option {
	return func(o *mergeOptions) { o.rt = rt }
}

// MergeProcess computes the process for container c of pod p from the image
// config img, as the kubelet and container runtime together would:
//
//   - command replaces the image Entrypoint and drops the image Cmd; args
//     replace the image Cmd; with neither, Entrypoint+Cmd run. An empty list
//     counts as unset, as in Kubernetes.
//   - the container's environment is made by ContainerEnv (envFrom, then
//     env, with $(VAR) expansion and valueFrom resolved); the runtime then
//     puts it over the image's environment, a container variable replacing
//     an image variable of the same name in place.
//   - command and args are expanded with the container's final environment:
//     $(VAR) is replaced, $$ is a literal $, and a reference to an undefined
//     variable is kept verbatim. As on a cluster, the image's environment is
//     not visible to expansion (the kubelet never sees it), and the image's
//     own Entrypoint and Cmd are never expanded.
//
// An error from ContainerEnv is returned as it is (it is the message of the
// kubelet's CreateContainerConfigError); an empty resulting argv is an
// error, since there is nothing to execute.
func MergeProcess(p *corev1.Pod, c *corev1.Container, img v1.Config, opts ...Option) (Process, error) {
	var o mergeOptions
	for _, opt := range opts {
		opt(&o)
	}
	cenv, err := containerEnv(p, c, o.rt)
	if err != nil {
		return Process{}, err
	}
	env := newEnvList()
	for _, kv := range img.Env {
		k, v, _ := strings.Cut(kv, "=")
		env.set(k, v)
	}
	for _, k := range cenv.names {
		env.set(k, cenv.values[k])
	}

	var args []string
	switch {
	case len(c.Command) > 0:
		args = append(expandAll(c.Command, cenv.lookup), expandAll(c.Args, cenv.lookup)...)
	case len(c.Args) > 0:
		args = append(append([]string{}, img.Entrypoint...), expandAll(c.Args, cenv.lookup)...)
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

// Field is the value of a downward-API field path that is fixed by the pod
// object (runtime values such as status.podIP are not), for env fieldRef
// and downwardAPI volume items alike: spec.nodeName and
// spec.serviceAccountName as the kubelet's podFieldSelectorRuntimeValue
// reads them, everything else (metadata.*, whole label and annotation maps
// as key="value" lines) by Kubernetes' own fieldpath.ExtractFieldPathAsString.
func Field(p *corev1.Pod, fp string) (string, error) {
	switch fp {
	case "spec.nodeName":
		return p.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return p.Spec.ServiceAccountName, nil
	}
	return fieldpath.ExtractFieldPathAsString(p, fp)
}

func user(p *corev1.Pod, c *corev1.Container, imageUser string) string {
	ra := effectiveRunAs(p, c)
	uid, gid := ra.user, ra.group
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
