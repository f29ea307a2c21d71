package pod

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// envFieldPaths are the fieldRef paths the kubelet resolves for env, besides
// metadata.labels['k'] and metadata.annotations['k'].
var envFieldPaths = []string{
	"metadata.name", "metadata.namespace", "metadata.uid",
	"spec.nodeName", "spec.serviceAccountName",
	"status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
}

// envResources are the resourceFieldRef resources for env (hugepages-<size>
// as well).
var envResources = []string{
	"limits.cpu", "limits.memory", "limits.ephemeral-storage",
	"requests.cpu", "requests.memory", "requests.ephemeral-storage",
}

var (
	cpuDivisors    = sets.New("1m", "1")
	memoryDivisors = sets.New("1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei")
)

// validateEnvSources checks the env sources of container c of pod spec s
// that validateEnv leaves: the references of valueFrom (fieldRef paths the
// kubelet resolves, resourceFieldRef resources and divisors, ConfigMap and
// Secret key selectors; fileKeyRef is alpha and refused) and envFrom
// (exactly one source, a name, a valid prefix). Messages are the API
// server's.
func validateEnvSources(s *corev1.PodSpec, c *corev1.Container, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, e := range c.Env {
		vf := e.ValueFrom
		if vf == nil {
			continue
		}
		vp := path.Child("env").Index(i).Child("valueFrom")
		if f := vf.FieldRef; f != nil && f.FieldPath != "" {
			errs = append(errs, validateEnvFieldPath(f.FieldPath, vp.Child("fieldRef", "fieldPath"))...)
		}
		if r := vf.ResourceFieldRef; r != nil {
			errs = append(errs, validateResourceRef(s, r, vp.Child("resourceFieldRef"))...)
		}
		if r := vf.ConfigMapKeyRef; r != nil {
			errs = append(errs, validateKeyRef(r.Name, r.Key, vp.Child("configMapKeyRef"))...)
		}
		if r := vf.SecretKeyRef; r != nil {
			errs = append(errs, validateKeyRef(r.Name, r.Key, vp.Child("secretKeyRef"))...)
		}
		if vf.FileKeyRef != nil {
			errs = append(errs, field.Forbidden(vp.Child("fileKeyRef"), "podbox does not support fileKeyRef (alpha EnvFiles feature); write the value to a ConfigMap or Secret and use configMapKeyRef or secretKeyRef"))
		}
	}
	for i, from := range c.EnvFrom {
		fp := path.Child("envFrom").Index(i)
		if from.Prefix != "" {
			for _, msg := range validation.IsRelaxedEnvVarName(from.Prefix) {
				errs = append(errs, field.Invalid(fp.Child("prefix"), from.Prefix, msg))
			}
		}
		switch {
		case from.ConfigMapRef != nil && from.SecretRef != nil:
			errs = append(errs, field.Invalid(fp, "", "may not have more than one field specified at a time"))
		case from.ConfigMapRef != nil:
			errs = append(errs, validateObjectName(from.ConfigMapRef.Name, fp.Child("configMapRef", "name"))...)
		case from.SecretRef != nil:
			errs = append(errs, validateObjectName(from.SecretRef.Name, fp.Child("secretRef", "name"))...)
		default:
			errs = append(errs, field.Invalid(fp, "", "must specify one of: `configMapRef` or `secretRef`"))
		}
	}
	return errs
}

func validateEnvFieldPath(fp string, path *field.Path) field.ErrorList {
	for _, prefix := range []string{"metadata.labels", "metadata.annotations"} {
		rest, ok := strings.CutPrefix(fp, prefix+"[")
		if !ok {
			continue
		}
		key := strings.TrimSuffix(strings.TrimPrefix(rest, "'"), "']")
		if !strings.HasSuffix(rest, "']") || !strings.HasPrefix(rest, "'") {
			return field.ErrorList{field.Invalid(path, fp, "a subscript must be a quoted key: "+prefix+"['<key>']")}
		}
		if prefix == "metadata.labels" {
			return metav1validation.ValidateLabels(map[string]string{key: ""}, path)
		}
		var errs field.ErrorList
		for _, msg := range validation.IsQualifiedName(strings.ToLower(key)) {
			errs = append(errs, field.Invalid(path, key, msg))
		}
		return errs
	}
	for _, p := range envFieldPaths {
		if fp == p {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(path, fp, append(append([]string{}, envFieldPaths...), "metadata.labels['<KEY>']", "metadata.annotations['<KEY>']"))}
}

func validateResourceRef(s *corev1.PodSpec, r *corev1.ResourceFieldSelector, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if r.ContainerName != "" && !hasContainer(s, r.ContainerName) {
		errs = append(errs, field.NotFound(path.Child("containerName"), r.ContainerName))
	}
	switch {
	case r.Resource == "":
		return append(errs, field.Required(path.Child("resource"), ""))
	case !contains(envResources, r.Resource) && !isHugePagesResource(r.Resource):
		return append(errs, field.NotSupported(path.Child("resource"), r.Resource, envResources))
	}
	if r.Divisor.IsZero() {
		return errs
	}
	div := r.Divisor.String()
	switch {
	case strings.HasSuffix(r.Resource, ".cpu"):
		if !cpuDivisors.Has(div) {
			errs = append(errs, field.Invalid(path.Child("divisor"), r.Divisor, "only divisor's values 1m and 1 are supported with the cpu resource"))
		}
	case strings.HasSuffix(r.Resource, ".memory"):
		if !memoryDivisors.Has(div) {
			errs = append(errs, field.Invalid(path.Child("divisor"), r.Divisor, "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the memory resource"))
		}
	case strings.HasSuffix(r.Resource, ".ephemeral-storage"):
		if !memoryDivisors.Has(div) {
			errs = append(errs, field.Invalid(path.Child("divisor"), r.Divisor, "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the local ephemeral storage resource"))
		}
	default: // hugepages
		if r.Divisor.Cmp(resource.MustParse("1")) < 0 {
			errs = append(errs, field.Invalid(path.Child("divisor"), r.Divisor, "only divisor's values greater than or equal to 1 are supported with the hugepages resource"))
		}
	}
	return errs
}

func isHugePagesResource(res string) bool {
	_, r, _ := strings.Cut(res, ".")
	return (strings.HasPrefix(res, "limits.") || strings.HasPrefix(res, "requests.")) && strings.HasPrefix(r, corev1.ResourceHugePagesPrefix)
}

func hasContainer(s *corev1.PodSpec, name string) bool {
	for _, l := range [][]corev1.Container{s.Containers, s.InitContainers} {
		for _, c := range l {
			if c.Name == name {
				return true
			}
		}
	}
	return false
}

func validateKeyRef(name, key string, path *field.Path) field.ErrorList {
	errs := validateObjectName(name, path.Child("name"))
	if key == "" {
		return append(errs, field.Required(path.Child("key"), ""))
	}
	for _, msg := range validation.IsConfigMapKey(key) {
		errs = append(errs, field.Invalid(path.Child("key"), key, msg))
	}
	return errs
}

func validateObjectName(name string, path *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(path, "")}
	}
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(name) {
		errs = append(errs, field.Invalid(path, name, msg))
	}
	return errs
}
