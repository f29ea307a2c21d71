package objects

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MaxSize is the most data a ConfigMap or Secret may hold (the sum of its
// values), the API server's limit: objects must fit in one etcd value, and a
// manifest that exceeds it here would be refused by a cluster too.
const MaxSize = 1 << 20

// immutableMsg is the API server's message for a change to an immutable
// object.
const immutableMsg = "field is immutable when `immutable` is set"

// ValidateConfigMap checks a ConfigMap as the API server does on create:
// a DNS-subdomain name, a DNS-label namespace, valid labels and annotations,
// keys that are valid file names ([-._a-zA-Z0-9]+, not "." or ".."), no key
// in both data and binaryData, and at most MaxSize bytes of values. The
// error is an apierrors Invalid, reading like the API server's:
//
//	ConfigMap "app" is invalid: data[a b]: Invalid value: "a b": a valid config key must consist of ...
func ValidateConfigMap(cm *corev1.ConfigMap) error {
	return invalid("ConfigMap", cm.Name, validateConfigMap(cm))
}

// ValidateConfigMapUpdate checks replacing old by cm: cm must be valid, and
// an immutable ConfigMap may not change its data or become mutable again.
func ValidateConfigMapUpdate(cm, old *corev1.ConfigMap) error {
	errs := validateConfigMap(cm)
	if isTrue(old.Immutable) {
		if !isTrue(cm.Immutable) {
			errs = append(errs, field.Forbidden(field.NewPath("immutable"), immutableMsg))
		}
		if !reflect.DeepEqual(cm.Data, old.Data) {
			errs = append(errs, field.Forbidden(field.NewPath("data"), immutableMsg))
		}
		if !reflect.DeepEqual(cm.BinaryData, old.BinaryData) {
			errs = append(errs, field.Forbidden(field.NewPath("binaryData"), immutableMsg))
		}
	}
	return invalid("ConfigMap", cm.Name, errs)
}

func validateConfigMap(cm *corev1.ConfigMap) field.ErrorList {
	errs := ValidateMeta(&cm.ObjectMeta, field.NewPath("metadata"))
	size := 0
	for _, bag := range []struct {
		name, other string
		keys        map[string]int
		has         func(string) bool
	}{
		{"data", "binaryData", lens(cm.Data), func(k string) bool { _, ok := cm.BinaryData[k]; return ok }},
		{"binaryData", "data", lens(cm.BinaryData), func(k string) bool { _, ok := cm.Data[k]; return ok }},
	} {
		for _, k := range sortedKeys(bag.keys) {
			p := field.NewPath(bag.name).Key(k)
			for _, msg := range validation.IsConfigMapKey(k) {
				errs = append(errs, field.Invalid(p, k, msg))
			}
			if bag.has(k) {
				errs = append(errs, field.Invalid(p, k, "duplicate of key present in "+bag.other))
			}
			size += bag.keys[k]
		}
	}
	if size > MaxSize {
		errs = append(errs, field.TooLong(field.NewPath(""), "", MaxSize))
	}
	return errs
}

// NormalizeSecret does to a Secret what the API server does before
// validating and storing one: stringData is merged into data (a stringData
// key wins) and emptied, and the type defaults to Opaque.
func NormalizeSecret(sec *corev1.Secret) {
	if len(sec.StringData) > 0 {
		if sec.Data == nil {
			sec.Data = map[string][]byte{}
		}
		for k, v := range sec.StringData {
			sec.Data[k] = []byte(v)
		}
	}
	sec.StringData = nil
	if sec.Type == "" {
		sec.Type = corev1.SecretTypeOpaque
	}
}

// ValidateSecret checks a normalized Secret (NormalizeSecret) as the API
// server does on create: metadata as for a ConfigMap, valid keys, at most
// MaxSize bytes, and the keys its type requires (tls.crt and tls.key for
// kubernetes.io/tls, well-formed JSON for the docker config types ...).
// Values never appear in its messages.
func ValidateSecret(sec *corev1.Secret) error {
	return invalid("Secret", sec.Name, validateSecret(sec))
}

// ValidateSecretUpdate checks replacing old by sec: sec must be valid, its
// type may not change, and an immutable Secret may not change its data or
// become mutable again.
func ValidateSecretUpdate(sec, old *corev1.Secret) error {
	errs := validateSecret(sec)
	if sec.Type != old.Type {
		errs = append(errs, field.Invalid(field.NewPath("type"), sec.Type, apivalidation.FieldImmutableErrorMsg))
	}
	if isTrue(old.Immutable) {
		if !isTrue(sec.Immutable) {
			errs = append(errs, field.Forbidden(field.NewPath("immutable"), immutableMsg))
		}
		if !reflect.DeepEqual(sec.Data, old.Data) {
			errs = append(errs, field.Forbidden(field.NewPath("data"), immutableMsg))
		}
	}
	return invalid("Secret", sec.Name, errs)
}

func validateSecret(sec *corev1.Secret) field.ErrorList {
	errs := ValidateMeta(&sec.ObjectMeta, field.NewPath("metadata"))
	data := field.NewPath("data")
	size := 0
	for _, k := range sortedKeys(lens(sec.Data)) {
		for _, msg := range validation.IsConfigMapKey(k) {
			errs = append(errs, field.Invalid(data.Key(k), k, msg))
		}
		size += len(sec.Data[k])
	}
	if size > MaxSize {
		errs = append(errs, field.TooLong(data, "", MaxSize))
	}
	required := func(keys ...string) {
		for _, k := range keys {
			if _, ok := sec.Data[k]; !ok {
				errs = append(errs, field.Required(data.Key(k), ""))
			}
		}
	}
	jsonKey := func(k string) {
		b, ok := sec.Data[k]
		if !ok {
			required(k)
			return
		}
		if err := json.Unmarshal(b, &map[string]any{}); err != nil {
			errs = append(errs, field.Invalid(data.Key(k), "<secret contents redacted>", err.Error()))
		}
	}
	switch sec.Type {
	case corev1.SecretTypeServiceAccountToken:
		if sec.Annotations[corev1.ServiceAccountNameKey] == "" {
			errs = append(errs, field.Required(field.NewPath("metadata", "annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	case corev1.SecretTypeDockercfg:
		jsonKey(corev1.DockerConfigKey)
	case corev1.SecretTypeDockerConfigJson:
		jsonKey(corev1.DockerConfigJsonKey)
	case corev1.SecretTypeBasicAuth:
		_, user := sec.Data[corev1.BasicAuthUsernameKey]
		_, pass := sec.Data[corev1.BasicAuthPasswordKey]
		if !user && !pass {
			required(corev1.BasicAuthUsernameKey, corev1.BasicAuthPasswordKey)
		}
	case corev1.SecretTypeSSHAuth:
		if len(sec.Data[corev1.SSHAuthPrivateKey]) == 0 {
			errs = append(errs, field.Required(data.Key(corev1.SSHAuthPrivateKey), ""))
		}
	case corev1.SecretTypeTLS:
		required(corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	}
	return errs
}

// ValidateMeta checks what the API server checks of a namespaced object's
// metadata (Pods, ConfigMaps and Secrets alike), under path. generateName is
// refused: podbox has no server-side name generation, and apply needs a name
// anyway.
func ValidateMeta(m *metav1.ObjectMeta, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case m.Name == "" && m.GenerateName != "":
		errs = append(errs, field.Required(path.Child("name"), "podbox does not support generateName: set a name"))
	case m.Name == "":
		errs = append(errs, field.Required(path.Child("name"), "name or generateName is required"))
	default:
		for _, msg := range validation.IsDNS1123Subdomain(m.Name) {
			errs = append(errs, field.Invalid(path.Child("name"), m.Name, msg))
		}
	}
	if m.Namespace == "" {
		errs = append(errs, field.Required(path.Child("namespace"), ""))
	} else {
		for _, msg := range validation.IsDNS1123Label(m.Namespace) {
			errs = append(errs, field.Invalid(path.Child("namespace"), m.Namespace, msg))
		}
	}
	errs = append(errs, metav1validation.ValidateLabels(m.Labels, path.Child("labels"))...)
	errs = append(errs, apivalidation.ValidateAnnotations(m.Annotations, path.Child("annotations"))...)
	return errs
}

func invalid(kind, name string, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(schema.GroupKind{Group: corev1.GroupName, Kind: kind}, name, errs)
}

func isTrue(b *bool) bool { return b != nil && *b }

// lens maps each key of a data map to the size of its value.
func lens[V string | []byte](m map[string]V) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = len(v)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
