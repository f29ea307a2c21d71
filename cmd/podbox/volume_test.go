package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
)

func TestVolumeListAndRemove(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "default", CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))},
		Status:     corev1.PersistentVolumeClaimStatus{Capacity: corev1.ResourceList{corev1.ResourceStorage: *resource.NewQuantity(12_000_000, resource.BinarySI)}},
	}
	unused := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "old", Namespace: "team", CreationTimestamp: metav1.NewTime(now.Add(-48 * time.Hour))}}
	user := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"}, Spec: corev1.PodSpec{Volumes: []corev1.Volume{
		{Name: "v", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}}}
	cs := newFake(pvc, unused, user)
	var out bytes.Buffer
	if err := listVolumes(context.Background(), &out, core(cs), core(cs), "", now); err != nil {
		t.Fatal(err)
	}
	want := "NAMESPACE   NAME   SIZE   USED BY   AGE\n" +
		"default     data   12MB   db        60m\n" +
		"team        old    0B     <none>    2d\n"
	if out.String() != want {
		t.Errorf("volume ls:\n%s\nwant:\n%s", out.String(), want)
	}

	// The server refuses a volume in use with a Conflict.
	cs.PrependReactor("delete", "persistentvolumeclaims", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.(k8stesting.DeleteAction).GetName() == "data" {
			return true, nil, apierrors.NewConflict(corev1.Resource("persistentvolumeclaims"), "data", errors.New(`the volume is in use by pod "db"; delete the pod first`))
		}
		return false, nil, nil
	})
	var stdout, stderr bytes.Buffer
	err := removeVolumes(context.Background(), &stdout, &stderr, core(cs), "default", []string{"data", "missing"})
	if !errors.Is(err, errReported) {
		t.Fatalf("rm of a used and a missing volume returned %v", err)
	}
	if !strings.Contains(stderr.String(), `Error from server (Conflict): Operation cannot be fulfilled on persistentvolumeclaims "data": the volume is in use by pod "db"`) ||
		!strings.Contains(stderr.String(), `Error from server (NotFound): persistentvolumeclaims "missing" not found`) {
		t.Errorf("stderr:\n%s", stderr.String())
	}
	stdout.Reset()
	if err := removeVolumes(context.Background(), &stdout, &stderr, core(cs), "team", []string{"old"}); err != nil || stdout.String() != "volume \"old\" deleted\n" {
		t.Errorf("rm old: %v %q", err, stdout.String())
	}
}
