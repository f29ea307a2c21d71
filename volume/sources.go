package volume

import (
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"podbox.dev/podbox/pod"
)

// Objects is where configMap and secret volumes read their sources
// (*objects.Store).
type Objects interface {
	ConfigMap(namespace, name string) (*corev1.ConfigMap, error)
	Secret(namespace, name string) (*corev1.Secret, error)
}

// fileMode turns an API mode (which may carry only permission bits) into an
// os.FileMode.
func fileMode(m *int32, def *int32) os.FileMode {
	switch {
	case m != nil:
		return os.FileMode(*m) & os.ModePerm
	case def != nil:
		return os.FileMode(*def) & os.ModePerm
	}
	return 0o644
}

// configMapPayload is the kubelet's configmap MakePayload: every key, or
// the items asked for, as files; a missing optional ConfigMap is empty.
func configMapPayload(objs Objects, ns string, src *corev1.ConfigMapVolumeSource, defMode *int32, into map[string]File) error {
	optional := src.Optional != nil && *src.Optional
	if objs == nil {
		return fmt.Errorf("configmap %q not found: podbox has no object store", src.Name)
	}
	cm, err := objs.ConfigMap(ns, src.Name)
	if apierrors.IsNotFound(err) {
		if optional {
			return nil
		}
		return fmt.Errorf("configmap %q not found", src.Name)
	}
	if err != nil {
		return err
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return keysPayload(data, src.Items, optional, "configmap references non-existent config key", defMode, into)
}

// secretPayload is the secret counterpart of configMapPayload.
func secretPayload(objs Objects, ns string, name string, items []corev1.KeyToPath, optional bool, defMode *int32, into map[string]File) error {
	if objs == nil {
		return fmt.Errorf("secret %q not found: podbox has no object store", name)
	}
	sec, err := objs.Secret(ns, name)
	if apierrors.IsNotFound(err) {
		if optional {
			return nil
		}
		return fmt.Errorf("secret %q not found", name)
	}
	if err != nil {
		return err
	}
	data := map[string][]byte{}
	for k, v := range sec.Data {
		data[k] = v
	}
	// A Secret written without the store's normalisation may still carry
	// stringData; it wins over data, as in the API server.
	for k, v := range sec.StringData {
		data[k] = []byte(v)
	}
	return keysPayload(data, items, optional, "secret references non-existent secret key", defMode, into)
}

func keysPayload(data map[string][]byte, items []corev1.KeyToPath, optional bool, missing string, defMode *int32, into map[string]File) error {
	if len(items) == 0 {
		for k, v := range data {
			into[k] = File{Data: v, Mode: fileMode(nil, defMode)}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return fmt.Errorf("%s: %s", missing, it.Key)
		}
		into[it.Path] = File{Data: v, Mode: fileMode(it.Mode, defMode)}
	}
	return nil
}

// downwardAPIPayload writes the pod's fields and the containers' resources.
func downwardAPIPayload(p *corev1.Pod, allocatable corev1.ResourceList, items []corev1.DownwardAPIVolumeFile, defMode *int32, into map[string]File) error {
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = podFieldValue(p, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			v, err = pod.ResourceValue(p, nil, it.ResourceFieldRef, allocatable)
		default:
			err = fmt.Errorf("downwardAPI item %q has no fieldRef or resourceFieldRef", it.Path)
		}
		if err != nil {
			return err
		}
		into[it.Path] = File{Data: []byte(v), Mode: fileMode(it.Mode, defMode)}
	}
	return nil
}

// podFieldValue is a downwardAPI volume's fieldRef: the fields of the pod
// object, with whole label and annotation maps as key="value" lines.
func podFieldValue(p *corev1.Pod, fp string) (string, error) {
	return pod.Field(p, fp)
}

// projectedPayload combines the sources of a projected volume in one
// directory.
func projectedPayload(objs Objects, p *corev1.Pod, allocatable corev1.ResourceList, src *corev1.ProjectedVolumeSource, into map[string]File) error {
	for _, s := range src.Sources {
		var err error
		switch {
		case s.ConfigMap != nil:
			cm := corev1.ConfigMapVolumeSource{LocalObjectReference: s.ConfigMap.LocalObjectReference, Items: s.ConfigMap.Items, Optional: s.ConfigMap.Optional}
			err = configMapPayload(objs, p.Namespace, &cm, src.DefaultMode, into)
		case s.Secret != nil:
			err = secretPayload(objs, p.Namespace, s.Secret.Name, s.Secret.Items, s.Secret.Optional != nil && *s.Secret.Optional, src.DefaultMode, into)
		case s.DownwardAPI != nil:
			err = downwardAPIPayload(p, allocatable, s.DownwardAPI.Items, src.DefaultMode, into)
		default:
			// Validation refuses the other sources at apply time.
			err = fmt.Errorf("unsupported projected volume source")
		}
		if err != nil {
			return err
		}
	}
	return nil
}
