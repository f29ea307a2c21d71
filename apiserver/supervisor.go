package apiserver

import (
	"context"
	"io"
	"net"

	corev1 "k8s.io/api/core/v1"

	"podbox.dev/podbox/cri"
	"podbox.dev/podbox/supervisor"
)

// Supervisor is what the API server serves: exactly what its handlers ask of
// *supervisor.Supervisor, so that they run in tests against a fake. Errors
// that are API statuses (apierrors) reach the client as they are; any other
// is an internal error.
type Supervisor interface {
	// The pod objects.
	Get(namespace, name string) (*corev1.Pod, error)
	List(namespace string) []corev1.Pod
	Create(p *corev1.Pod) (*corev1.Pod, error)
	Delete(namespace, name string, gracePeriod *int64) (*corev1.Pod, error)
	// DryRunCreate and DryRunDelete answer and refuse as Create and
	// Delete do, and change nothing (dryRun=All).
	DryRunCreate(p *corev1.Pod) (*corev1.Pod, error)
	DryRunDelete(namespace, name string, gracePeriod *int64) (*corev1.Pod, error)
	// UpdateMetadata applies change to the pod's current version; only
	// labels and annotations of its result are kept.
	UpdateMetadata(namespace, name string, change func(*corev1.Pod) (*corev1.Pod, error)) (*corev1.Pod, error)
	// ResourceVersion is the version a list is consistent with, from which
	// Watch goes on. Watch starts, with initial, with the current pods and
	// a bookmark where they end, else with the changes after
	// resourceVersion; idle, it sends bookmarks (supervisor.Watch).
	ResourceVersion() string
	Watch(ctx context.Context, namespace, resourceVersion string, initial bool) (<-chan supervisor.WatchEvent, error)

	// The pods' subresources: log, exec, attach, portforward, and the
	// resource usage the metrics API reports.
	Logs(ctx context.Context, namespace, name string, opts supervisor.LogOptions, w io.Writer) error
	Exec(ctx context.Context, namespace, name, container string, cmd []string, st cri.Streams) (int, error)
	Attach(ctx context.Context, namespace, name, container string, st cri.Streams) error
	PortForward(ctx context.Context, namespace, name string, port uint16) (net.Conn, error)
	Usage(ctx context.Context, namespace, name string) (supervisor.PodUsage, error)

	// The events about pods, and the persistent volume claims.
	Events(namespace string) []corev1.Event
	ListClaims(namespace string) ([]corev1.PersistentVolumeClaim, error)
	GetClaim(namespace, name string) (*corev1.PersistentVolumeClaim, error)
	DeleteClaim(namespace, name string) error
	DryRunDeleteClaim(namespace, name string) error
}
