package pod

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
)

// EnvRuntime is what resolving a container's environment needs beyond the
// pod object: the pod's addresses, the node's allocatable resources, the
// ConfigMaps and Secrets of the pod's namespace, and where to report the
// kubelet's warnings.
type EnvRuntime struct {
	// PodIPs and HostIPs are status.podIPs and status.hostIPs, primary
	// first.
	PodIPs, HostIPs []string
	// Allocatable is the node's allocatable cpu, memory and
	// ephemeral-storage: a resourceFieldRef to a limit the container does
	// not set reads it, as the kubelet's defaultPodLimitsForDownwardAPI.
	Allocatable corev1.ResourceList
	// ConfigMap and Secret return an object of the pod's namespace, or an
	// error that apierrors.IsNotFound recognises when it does not exist.
	ConfigMap func(namespace, name string) (*corev1.ConfigMap, error)
	Secret    func(namespace, name string) (*corev1.Secret, error)
	// Warn receives the events the kubelet records on the pod while making
	// the environment (reason InvalidEnvironmentVariableNames). May be nil.
	Warn func(reason, message string)
}

// ContainerEnv makes the environment of container c of pod p as the
// kubelet's makeEnvironmentVariables does, and returns it in order:
//
//  1. envFrom sources in order, each key with the source's prefix; a later
//     source overwrites an earlier one. A key that is not a valid variable
//     name is skipped with a warning event. A missing source is an error
//     unless optional.
//  2. env entries in order, overwriting: a value has $(VAR) expanded from
//     the variables made so far (Expand); valueFrom reads the pod's fields,
//     the container's resources, or a ConfigMap or Secret key (missing and
//     optional: the variable is left out).
//
// Every error is what the kubelet reports as CreateContainerConfigError, with
// its message (`configmap "x" not found`, `couldn't find key k in ConfigMap
// ns/x`); the kubelet retries on its next sync, so the container starts once
// the object appears.
func ContainerEnv(p *corev1.Pod, c *corev1.Container, rt EnvRuntime) ([]corev1.EnvVar, error) {
	env, err := containerEnv(p, c, rt)
	if err != nil {
		return nil, err
	}
	out := make([]corev1.EnvVar, len(env.names))
	for i, k := range env.names {
		out[i] = corev1.EnvVar{Name: k, Value: env.values[k]}
	}
	return out, nil
}

func containerEnv(p *corev1.Pod, c *corev1.Container, rt EnvRuntime) (*envList, error) {
	env := newEnvList()
	for _, from := range c.EnvFrom {
		if err := addEnvFrom(env, p, from, rt); err != nil {
			return nil, err
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			// Only variables defined so far are visible, so order in the
			// manifest matters, as on a cluster.
			env.set(e.Name, Expand(e.Value, env.lookup))
			continue
		}
		v, ok, err := valueFrom(p, c, e.ValueFrom, rt)
		if err != nil {
			return nil, err
		}
		if ok {
			env.set(e.Name, v)
		}
	}
	return env, nil
}

func addEnvFrom(env *envList, p *corev1.Pod, from corev1.EnvFromSource, rt EnvRuntime) error {
	var (
		kind, name string
		optional   *bool
		data       map[string]string
	)
	switch {
	case from.ConfigMapRef != nil:
		kind, name, optional = "configMap", from.ConfigMapRef.Name, from.ConfigMapRef.Optional
		cm, err := getConfigMap(p.Namespace, name, rt)
		if err != nil {
			if apierrors.IsNotFound(err) && isTrue(optional) {
				return nil
			}
			return err
		}
		data = cm.Data
	case from.SecretRef != nil:
		kind, name, optional = "secret", from.SecretRef.Name, from.SecretRef.Optional
		sec, err := getSecret(p.Namespace, name, rt)
		if err != nil {
			if apierrors.IsNotFound(err) && isTrue(optional) {
				return nil
			}
			return err
		}
		data = make(map[string]string, len(sec.Data))
		for k, v := range sec.Data {
			data[k] = string(v)
		}
	default:
		return nil // refused by validation
	}
	var invalid []string
	// Keys in sorted order, so the environment is the same on every start
	// (the kubelet hands a map to the runtime; any order is as valid).
	for _, k := range sortedKeys(data) {
		name := from.Prefix + k
		if len(validation.IsRelaxedEnvVarName(name)) > 0 {
			invalid = append(invalid, name)
			continue
		}
		env.set(name, data[k])
	}
	if len(invalid) > 0 && rt.Warn != nil {
		rt.Warn("InvalidEnvironmentVariableNames", fmt.Sprintf(
			"Keys [%s] from the EnvFrom %s %s/%s were skipped since they are considered invalid environment variable names.",
			strings.Join(invalid, ", "), kind, p.Namespace, name))
	}
	return nil
}

// valueFrom resolves one env valueFrom; ok is false for an optional
// reference that is missing (the variable is then left out).
func valueFrom(p *corev1.Pod, c *corev1.Container, vf *corev1.EnvVarSource, rt EnvRuntime) (string, bool, error) {
	switch {
	case vf.FieldRef != nil:
		v, err := fieldValue(p, vf.FieldRef.FieldPath, rt)
		return v, err == nil, err
	case vf.ResourceFieldRef != nil:
		v, err := ResourceValue(p, c, vf.ResourceFieldRef, rt.Allocatable)
		return v, err == nil, err
	case vf.ConfigMapKeyRef != nil:
		ref := vf.ConfigMapKeyRef
		cm, err := getConfigMap(p.Namespace, ref.Name, rt)
		if err != nil {
			if apierrors.IsNotFound(err) && isTrue(ref.Optional) {
				return "", false, nil
			}
			return "", false, err
		}
		// The kubelet reads data only: binaryData keys are not env values.
		v, ok := cm.Data[ref.Key]
		if !ok && !isTrue(ref.Optional) {
			return "", false, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, p.Namespace, ref.Name)
		}
		return v, ok, nil
	case vf.SecretKeyRef != nil:
		ref := vf.SecretKeyRef
		sec, err := getSecret(p.Namespace, ref.Name, rt)
		if err != nil {
			if apierrors.IsNotFound(err) && isTrue(ref.Optional) {
				return "", false, nil
			}
			return "", false, err
		}
		v, ok := sec.Data[ref.Key]
		if !ok && !isTrue(ref.Optional) {
			return "", false, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, p.Namespace, ref.Name)
		}
		return string(v), ok, nil
	}
	return "", false, errors.New("env valueFrom: fileKeyRef is not supported by podbox")
}

// getConfigMap fetches a ConfigMap; a missing one is a NotFound error with
// the kubelet's message (`configmap "x" not found`: its object cache names
// the resource in the singular).
func getConfigMap(ns, name string, rt EnvRuntime) (*corev1.ConfigMap, error) {
	if rt.ConfigMap == nil {
		return nil, fmt.Errorf("couldn't get configMap %s/%s, no object store defined", ns, name)
	}
	cm, err := rt.ConfigMap(ns, name)
	if apierrors.IsNotFound(err) {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmap"}, name)
	}
	return cm, err
}

func getSecret(ns, name string, rt EnvRuntime) (*corev1.Secret, error) {
	if rt.Secret == nil {
		return nil, fmt.Errorf("couldn't get secret %s/%s, no object store defined", ns, name)
	}
	sec, err := rt.Secret(ns, name)
	if apierrors.IsNotFound(err) {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secret"}, name)
	}
	return sec, err
}

// fieldValue is the kubelet's podFieldSelectorRuntimeValue: the pod's own
// fields, and the addresses known at run time.
func fieldValue(p *corev1.Pod, fp string, rt EnvRuntime) (string, error) {
	switch fp {
	case "status.podIP":
		return first(rt.PodIPs), nil
	case "status.podIPs":
		return strings.Join(rt.PodIPs, ","), nil
	case "status.hostIP":
		return first(rt.HostIPs), nil
	case "status.hostIPs":
		return strings.Join(rt.HostIPs, ","), nil
	}
	return Field(p, fp)
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// ResourceValue is the kubelet's containerResourceRuntimeValue, for env
// resourceFieldRef and downwardAPI volume items alike: the limit or request
// of container c or of the one ref names (c may be nil when ref names one),
// limits it does not set read as the node's allocatable, divided by the
// divisor (default 1) and rounded up: cpu 250m is "1", with divisor 1m "250".
func ResourceValue(p *corev1.Pod, c *corev1.Container, ref *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (string, error) {
	if c == nil || (ref.ContainerName != "" && ref.ContainerName != c.Name) {
		c = findContainer(p, ref.ContainerName)
		if c == nil {
			return "", fmt.Errorf("resourceFieldRef: container %s not found", ref.ContainerName)
		}
	}
	kind, res, ok := strings.Cut(ref.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("unsupported container resource : %v", ref.Resource)
	}
	list := c.Resources.Requests
	if kind == "limits" {
		list = c.Resources.Limits
	}
	q, set := list[corev1.ResourceName(res)]
	if !set && kind == "limits" {
		q = allocatable[corev1.ResourceName(res)]
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	switch corev1.ResourceName(res) {
	case corev1.ResourceCPU:
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	case corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
		return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
	}
	if strings.HasPrefix(res, corev1.ResourceHugePagesPrefix) {
		return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
	}
	return "", fmt.Errorf("unsupported container resource : %v", ref.Resource)
}

func findContainer(p *corev1.Pod, name string) *corev1.Container {
	for _, l := range [][]corev1.Container{p.Spec.Containers, p.Spec.InitContainers} {
		for i := range l {
			if l[i].Name == name {
				return &l[i]
			}
		}
	}
	return nil
}

func isTrue(b *bool) bool { return b != nil && *b }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
