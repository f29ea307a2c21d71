package pod

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestField: the downward-API fields fixed by the pod object, one lookup
// for env fieldRef and downwardAPI volumes.
func TestField(t *testing.T) {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u-1",
			Labels: map[string]string{"app": "web", "tier": "front"}, Annotations: map[string]string{"example.com/a": "x"}},
		Spec: corev1.PodSpec{NodeName: "node", ServiceAccountName: "sa"},
	}
	for fp, want := range map[string]string{
		"metadata.name":                         "web",
		"metadata.namespace":                    "ns",
		"metadata.uid":                          "u-1",
		"metadata.labels['app']":                "web",
		"metadata.labels['missing']":            "",
		"metadata.annotations['example.com/a']": "x",
		"metadata.labels":                       "app=\"web\"\ntier=\"front\"",
		"spec.nodeName":                         "node",
		"spec.serviceAccountName":               "sa",
	} {
		if got, err := Field(p, fp); err != nil || got != want {
			t.Errorf("Field(%s) = %q, %v; want %q", fp, got, err, want)
		}
	}
	for _, fp := range []string{"status.podIP", "spec.containers", "metadata.name['x']"} {
		if _, err := Field(p, fp); err == nil {
			t.Errorf("Field(%s): no error for a field the pod object does not fix", fp)
		}
	}
}
