package apiserver

import (
	"net/http"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"podbox.dev/podbox/supervisor"
)

// The metrics.k8s.io API, as metrics-server serves it, for `kubectl top` and
// anything else that reads PodMetrics: list and get of pods (resources.go).

func (s *Server) getPodMetrics(w http.ResponseWriter, r *http.Request) {
	p, err := s.sup.Get(r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		writeError(w, apierrors.NewNotFound(metricsv1beta1.Resource("podmetrics"), r.PathValue("ns")+"/"+r.PathValue("name")))
		return
	}
	m, err := s.podMetrics(r, p)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// listPodMetrics lists the metrics of the running pods that match the
// labelSelector; pods without usage (not running) are left out, as
// metrics-server does. Pods are sampled in parallel: each needs a window.
func (s *Server) listPodMetrics(w http.ResponseWriter, r *http.Request) {
	sel, err := labels.Parse(r.URL.Query().Get("labelSelector"))
	if err != nil {
		writeError(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	var pods []corev1.Pod
	for _, p := range s.sup.List(r.PathValue("ns")) {
		if sel.Matches(labels.Set(p.Labels)) && p.Status.Phase == corev1.PodRunning {
			pods = append(pods, p)
		}
	}
	found := make([]*metricsv1beta1.PodMetrics, len(pods))
	var g errgroup.Group
	g.SetLimit(8)
	for i := range pods {
		g.Go(func() error {
			if m, err := s.podMetrics(r, &pods[i]); err == nil {
				found[i] = m
			}
			return nil
		})
	}
	_ = g.Wait()
	list := &metricsv1beta1.PodMetricsList{Items: []metricsv1beta1.PodMetrics{}}
	list.APIVersion, list.Kind = metricsv1beta1.SchemeGroupVersion.String(), "PodMetricsList"
	for _, m := range found {
		if m != nil {
			m.APIVersion, m.Kind = "", ""
			list.Items = append(list.Items, *m)
		}
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) podMetrics(r *http.Request, p *corev1.Pod) (*metricsv1beta1.PodMetrics, error) {
	u, err := s.sup.Usage(r.Context(), p.Namespace, p.Name)
	if err != nil {
		return nil, err
	}
	return toPodMetrics(p, u), nil
}

// toPodMetrics renders usage in metrics-server's units: CPU in nanocores,
// memory in bytes (binary SI, so kubectl prints Mi).
func toPodMetrics(p *corev1.Pod, u supervisor.PodUsage) *metricsv1beta1.PodMetrics {
	m := &metricsv1beta1.PodMetrics{
		TypeMeta: metav1.TypeMeta{APIVersion: metricsv1beta1.SchemeGroupVersion.String(), Kind: "PodMetrics"},
		ObjectMeta: metav1.ObjectMeta{
			Name: p.Name, Namespace: p.Namespace, Labels: p.Labels,
			CreationTimestamp: metav1.NewTime(u.Timestamp),
		},
		Timestamp:  metav1.NewTime(u.Timestamp),
		Window:     metav1.Duration{Duration: u.Window},
		Containers: []metricsv1beta1.ContainerMetrics{},
	}
	for _, c := range u.Containers {
		m.Containers = append(m.Containers, metricsv1beta1.ContainerMetrics{
			Name: c.Name,
			Usage: corev1.ResourceList{
				corev1.ResourceCPU:    *resource.NewScaledQuantity(int64(c.NanoCores), resource.Nano),
				corev1.ResourceMemory: *resource.NewQuantity(int64(c.MemoryBytes), resource.BinarySI),
			},
		})
	}
	return m
}
