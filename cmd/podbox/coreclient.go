package main

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/gentype"
	"k8s.io/client-go/rest"
)

// The commands reach the supervisor through the interfaces below, a subset
// of client-go's typed core/v1 client with the same method signatures (so
// that client-go's fake clientset serves the tests), implemented here on
// client-go's rest and gentype packages with a scheme holding core/v1 only.
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
	return podAPI{
		ClientWithList: gentype.NewClientWithList[*corev1.Pod, *corev1.PodList]("pods", c.rest, coreScheme().params, ns,
			func() *corev1.Pod { return &corev1.Pod{} }, func() *corev1.PodList { return &corev1.PodList{} }),
		rest: c.rest, ns: ns,
	}
}

func (c coreAPI) Events(ns string) resourceAPI[*corev1.Event, *corev1.EventList] {
	return gentype.NewClientWithList[*corev1.Event, *corev1.EventList]("events", c.rest, coreScheme().params, ns,
		func() *corev1.Event { return &corev1.Event{} }, func() *corev1.EventList { return &corev1.EventList{} })
}

func (c coreAPI) ConfigMaps(ns string) resourceAPI[*corev1.ConfigMap, *corev1.ConfigMapList] {
	return gentype.NewClientWithList[*corev1.ConfigMap, *corev1.ConfigMapList]("configmaps", c.rest, coreScheme().params, ns,
		func() *corev1.ConfigMap { return &corev1.ConfigMap{} }, func() *corev1.ConfigMapList { return &corev1.ConfigMapList{} })
}

func (c coreAPI) Secrets(ns string) resourceAPI[*corev1.Secret, *corev1.SecretList] {
	return gentype.NewClientWithList[*corev1.Secret, *corev1.SecretList]("secrets", c.rest, coreScheme().params, ns,
		func() *corev1.Secret { return &corev1.Secret{} }, func() *corev1.SecretList { return &corev1.SecretList{} })
}

func (c coreAPI) PersistentVolumeClaims(ns string) resourceAPI[*corev1.PersistentVolumeClaim, *corev1.PersistentVolumeClaimList] {
	return gentype.NewClientWithList[*corev1.PersistentVolumeClaim, *corev1.PersistentVolumeClaimList]("persistentvolumeclaims", c.rest, coreScheme().params, ns,
		func() *corev1.PersistentVolumeClaim { return &corev1.PersistentVolumeClaim{} },
		func() *corev1.PersistentVolumeClaimList { return &corev1.PersistentVolumeClaimList{} })
}

// podAPI adds the log subresource to the generic client.
type podAPI struct {
	*gentype.ClientWithList[*corev1.Pod, *corev1.PodList]
	rest rest.Interface
	ns   string
}

// GetLogs is the request for a pod's log, as client-go's pod client builds it.
func (p podAPI) GetLogs(name string, opts *corev1.PodLogOptions) *rest.Request {
	return p.rest.Get().Namespace(p.ns).Name(name).Resource("pods").SubResource("log").VersionedParams(opts, coreScheme().params)
}
