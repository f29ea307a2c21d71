package main

import (
	"context"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"

	"podbox.dev/podbox/objects"
)

// applyConfigObjects creates or updates the set's ConfigMaps, then its
// Secrets, printing kubectl's `configmap/NAME created|configured|unchanged`.
// A failure is printed and the rest are still applied, as kubectl does.
func applyConfigObjects(ctx context.Context, cl *client, set *applySet, stdout, stderr io.Writer) error {
	failed := false
	report := func(kind, name, msg string, err error) {
		if err != nil {
			fmt.Fprintln(stderr, errorMessage(err))
			failed = true
			return
		}
		fmt.Fprintf(stdout, "%s/%s %s\n", kind, name, msg)
	}
	for _, cm := range set.configMaps {
		msg, err := applyConfigMap(ctx, cl.configMaps, cm)
		report("configmap", cm.Name, msg, err)
	}
	for _, sec := range set.secrets {
		msg, err := applySecret(ctx, cl.secrets, sec)
		report("secret", sec.Name, msg, err)
	}
	if failed {
		return errReported
	}
	return nil
}

// applyConfigMap creates cm, or replaces the stored one if its content
// differs, and says which.
func applyConfigMap(ctx context.Context, api typedConfigMaps, cm *corev1.ConfigMap) (string, error) {
	c := api.ConfigMaps(cm.Namespace)
	have, err := c.Get(ctx, cm.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = c.Create(ctx, cm, metav1.CreateOptions{})
		return "created", err
	}
	if err != nil {
		return "", err
	}
	if sameMeta(&cm.ObjectMeta, &have.ObjectMeta) &&
		equality.Semantic.DeepEqual(cm.Data, have.Data) &&
		equality.Semantic.DeepEqual(cm.BinaryData, have.BinaryData) &&
		isTrue(cm.Immutable) == isTrue(have.Immutable) {
		return "unchanged", nil
	}
	want := cm.DeepCopy()
	want.ResourceVersion = have.ResourceVersion
	_, err = c.Update(ctx, want, metav1.UpdateOptions{})
	return "configured", err
}

// applySecret is applyConfigMap for Secrets; stringData is compared as the
// server stores it, merged into data.
func applySecret(ctx context.Context, api typedSecrets, sec *corev1.Secret) (string, error) {
	c := api.Secrets(sec.Namespace)
	have, err := c.Get(ctx, sec.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = c.Create(ctx, sec, metav1.CreateOptions{})
		return "created", err
	}
	if err != nil {
		return "", err
	}
	want := sec.DeepCopy()
	objects.NormalizeSecret(want)
	if sameMeta(&want.ObjectMeta, &have.ObjectMeta) &&
		equality.Semantic.DeepEqual(want.Data, have.Data) &&
		want.Type == have.Type &&
		isTrue(want.Immutable) == isTrue(have.Immutable) {
		return "unchanged", nil
	}
	want.ResourceVersion = have.ResourceVersion
	_, err = c.Update(ctx, want, metav1.UpdateOptions{})
	return "configured", err
}

// sameMeta reports whether applying want's labels and annotations over have
// would change nothing.
func sameMeta(want, have *metav1.ObjectMeta) bool {
	return equality.Semantic.DeepEqual(emptyNil(want.Labels), emptyNil(have.Labels)) &&
		equality.Semantic.DeepEqual(emptyNil(want.Annotations), emptyNil(have.Annotations))
}

func emptyNil(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

func isTrue(b *bool) bool { return b != nil && *b }

// The typed client interfaces the ConfigMap and Secret commands use.
type (
	typedConfigMaps = typedcorev1.ConfigMapsGetter
	typedSecrets    = typedcorev1.SecretsGetter
)
