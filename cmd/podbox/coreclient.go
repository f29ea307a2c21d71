package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
)

// The commands reach the supervisor through the interfaces below, a subset
// of client-go's typed core/v1 client with the same method signatures (so
// that client-go's fake clientset serves the tests), implemented here on
// client-go's rest package with a scheme holding core/v1 only.
//
// Why not client-go's typed client itself: importing
// k8s.io/client-go/kubernetes/typed/core/v1 imports
// k8s.io/client-go/kubernetes/scheme, whose package initialisation registers
// every API group of Kubernetes (about 4 ms of CPU, the largest single cost
// of starting podbox), and the apply configurations, discovery and OpenAPI
// packages behind it; every podbox command paid for them before its first
// line ran. The supervisor serves core/v1 and nothing else.

// resourceAPI is what the commands do with one kind of object in one
// namespace.
type resourceAPI[T, L any] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error)
}

// podInterface is the pod API of one namespace.
type podInterface interface {
	resourceAPI[*corev1.Pod, *corev1.PodList]
	UpdateStatus(ctx context.Context, pod *corev1.Pod, opts metav1.UpdateOptions) (*corev1.Pod, error)
	GetLogs(name string, opts *corev1.PodLogOptions) *rest.Request
}

// podsGetter, eventsGetter, configMapsGetter, secretsGetter and
// claimsGetter give the API of a namespace ("" for all, where listing).
type (
	podsGetter interface {
		Pods(namespace string) podInterface
	}
	eventsGetter interface {
		Events(namespace string) resourceAPI[*corev1.Event, *corev1.EventList]
	}
	configMapsGetter interface {
		ConfigMaps(namespace string) resourceAPI[*corev1.ConfigMap, *corev1.ConfigMapList]
	}
	secretsGetter interface {
		Secrets(namespace string) resourceAPI[*corev1.Secret, *corev1.SecretList]
	}
	claimsGetter interface {
		PersistentVolumeClaims(namespace string) resourceAPI[*corev1.PersistentVolumeClaim, *corev1.PersistentVolumeClaimList]
	}
)

// coreCodecs is the core/v1 scheme with its codecs, built on first use.
type coreCodecs struct {
	scheme *runtime.Scheme
	codecs serializer.CodecFactory
	// params encodes options (ListOptions, PodLogOptions, PodExecOptions)
	// as query parameters.
	params runtime.ParameterCodec
}

var coreScheme = sync.OnceValue(func() coreCodecs {
	s := runtime.NewScheme()
	// core/v1's registration also registers meta/v1's options and
	// WatchEvent for the group, as client-go's full scheme does.
	if err := corev1.AddToScheme(s); err != nil {
		panic(fmt.Sprintf("registering core/v1: %v", err))
	}
	return coreCodecs{scheme: s, codecs: serializer.NewCodecFactory(s), params: runtime.NewParameterCodec(s)}
})

// newCoreREST is a REST client for the core/v1 API at cfg, configured as
// client-go's generated core/v1 client configures its own.
func newCoreREST(cfg *rest.Config) (*rest.RESTClient, error) {
	c := *cfg
	gv := corev1.SchemeGroupVersion
	c.GroupVersion = &gv
	c.APIPath = "/api"
	cs := coreScheme()
	c.NegotiatedSerializer = rest.CodecFactoryForGeneratedClient(cs.scheme, cs.codecs).WithoutConversion()
	return rest.RESTClientFor(&c)
}

// coreAPI is the typed core/v1 API over a REST client.
type coreAPI struct {
	rest rest.Interface
}

func (c coreAPI) Pods(ns string) podInterface {
	return podAPI{newResource[*corev1.Pod, *corev1.PodList](c.rest, "pods", ns)}
}

func (c coreAPI) Events(ns string) resourceAPI[*corev1.Event, *corev1.EventList] {
	return newResource[*corev1.Event, *corev1.EventList](c.rest, "events", ns)
}

func (c coreAPI) ConfigMaps(ns string) resourceAPI[*corev1.ConfigMap, *corev1.ConfigMapList] {
	return newResource[*corev1.ConfigMap, *corev1.ConfigMapList](c.rest, "configmaps", ns)
}

func (c coreAPI) Secrets(ns string) resourceAPI[*corev1.Secret, *corev1.SecretList] {
	return newResource[*corev1.Secret, *corev1.SecretList](c.rest, "secrets", ns)
}

func (c coreAPI) PersistentVolumeClaims(ns string) resourceAPI[*corev1.PersistentVolumeClaim, *corev1.PersistentVolumeClaimList] {
	return newResource[*corev1.PersistentVolumeClaim, *corev1.PersistentVolumeClaimList](c.rest, "persistentvolumeclaims", ns)
}

// object is a pointer to a core/v1 object or list type.
type object[V any] interface {
	*V
	runtime.Object
}

// restResource is one resource of one namespace ("" for all), with the requests
// client-go's generated clients (k8s.io/client-go/gentype) make. It is not
// gentype itself because gentype also brings its fake clients, apply
// configurations and structured-merge-diff into the binary, whose package
// initialisation alone cost every command about 1 ms.
type restResource[T, L any, PT object[T], PL object[L]] struct {
	rest     rest.Interface
	name, ns string
	params   runtime.ParameterCodec
}

func newResource[PT object[T], PL object[L], T, L any](c rest.Interface, name, ns string) restResource[T, L, PT, PL] {
	return restResource[T, L, PT, PL]{rest: c, name: name, ns: ns, params: coreScheme().params}
}

// on addresses the resource in its namespace.
func (r restResource[T, L, PT, PL]) on(req *rest.Request) *rest.Request {
	return req.NamespaceIfScoped(r.ns, r.ns != "").Resource(r.name)
}

func (r restResource[T, L, PT, PL]) Get(ctx context.Context, name string, opts metav1.GetOptions) (PT, error) {
	out := PT(new(T))
	err := r.on(r.rest.Get()).Name(name).VersionedParams(&opts, r.params).Do(ctx).Into(out)
	return out, err
}

func (r restResource[T, L, PT, PL]) List(ctx context.Context, opts metav1.ListOptions) (PL, error) {
	out := PL(new(L))
	err := r.on(r.rest.Get()).VersionedParams(&opts, r.params).Timeout(timeout(opts)).Do(ctx).Into(out)
	return out, err
}

func (r restResource[T, L, PT, PL]) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	opts.Watch = true
	return r.on(r.rest.Get()).VersionedParams(&opts, r.params).Timeout(timeout(opts)).Watch(ctx)
}

func (r restResource[T, L, PT, PL]) Create(ctx context.Context, obj PT, opts metav1.CreateOptions) (PT, error) {
	out := PT(new(T))
	err := r.on(r.rest.Post()).VersionedParams(&opts, r.params).Body(obj).Do(ctx).Into(out)
	return out, err
}

func (r restResource[T, L, PT, PL]) Update(ctx context.Context, obj PT, opts metav1.UpdateOptions) (PT, error) {
	return r.put(ctx, obj, opts)
}

// UpdateStatus writes the status subresource.
func (r restResource[T, L, PT, PL]) UpdateStatus(ctx context.Context, obj PT, opts metav1.UpdateOptions) (PT, error) {
	return r.put(ctx, obj, opts, "status")
}

func (r restResource[T, L, PT, PL]) put(ctx context.Context, obj PT, opts metav1.UpdateOptions, sub ...string) (PT, error) {
	out := PT(new(T))
	meta, err := apimeta.Accessor(obj)
	if err != nil {
		return out, err
	}
	err = r.on(r.rest.Put()).Name(meta.GetName()).SubResource(sub...).VersionedParams(&opts, r.params).Body(obj).Do(ctx).Into(out)
	return out, err
}

func (r restResource[T, L, PT, PL]) Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error {
	return r.on(r.rest.Delete()).Name(name).Body(&opts).Do(ctx).Error()
}

func (r restResource[T, L, PT, PL]) Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (PT, error) {
	out := PT(new(T))
	err := r.on(r.rest.Patch(pt)).Name(name).SubResource(subresources...).VersionedParams(&opts, r.params).Body(data).Do(ctx).Into(out)
	return out, err
}

// timeout is a list or watch's timeoutSeconds as the client's own timeout.
func timeout(opts metav1.ListOptions) time.Duration {
	if opts.TimeoutSeconds == nil {
		return 0
	}
	return time.Duration(*opts.TimeoutSeconds) * time.Second
}

// podAPI adds the pod-only requests.
type podAPI struct {
	restResource[corev1.Pod, corev1.PodList, *corev1.Pod, *corev1.PodList]
}

// GetLogs is the request for a pod's log, as client-go's pod client builds it.
func (p podAPI) GetLogs(name string, opts *corev1.PodLogOptions) *rest.Request {
	return p.on(p.rest.Get()).Name(name).SubResource("log").VersionedParams(opts, p.params)
}
