// Package objects keeps the namespaced API objects that pods refer to by
// name: ConfigMaps and Secrets.
//
// podbox has no etcd: each object is one JSON file under the user's data
// directory, objects/<namespace>/<resource>/<name>.json, written atomically
// (a reader or a crash sees the old or the new object, never a mix) and mode
// 0600, so a Secret is readable by its owner only. The Store is the single
// owner of these files; the API server writes through it and the supervisor
// reads through it (environment variables, volumes), and is told of every
// change so that volumes can be refreshed as the kubelet refreshes them.
package objects

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation"

	"podbox.dev/podbox/dirs"
)

// Resource names a kind of stored object by its API resource name.
type Resource string

// The resources a Store keeps.
const (
	ConfigMaps Resource = "configmaps"
	Secrets    Resource = "secrets"
)

// Ref names one stored object.
type Ref struct {
	Resource  Resource
	Namespace string
	Name      string
}

// String returns "configmaps/ns/name".
func (r Ref) String() string { return string(r.Resource) + "/" + r.Namespace + "/" + r.Name }

// Store is the on-disk home of ConfigMaps and Secrets. It is safe for
// concurrent use.
type Store struct {
	*files
	// dryRun makes every write a check only (DryRun).
	dryRun bool
}

// files is the state a Store and its dry-run view share.
type files struct {
	root string

	mu       sync.Mutex // serializes writes, so resourceVersion increases
	watchers []func(Ref)
}

// Open returns the store rooted at dir (dirs.Dirs.Objects()), creating it.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("object store: %w", err)
	}
	return &Store{files: &files{root: dir}}, nil
}

// DryRun returns a view of the store whose writes go through every check
// a write makes (validation, existence, resourceVersion conflicts) and
// return what would be stored, without storing it or telling watchers: the
// API's dryRun=All. A created object gets a uid and creation time but no
// resourceVersion, as from the API server; an updated one keeps the stored
// object's resourceVersion. Reads are the store's.
func (s *Store) DryRun() *Store {
	return &Store{files: s.files, dryRun: true}
}

// Watch registers fn to be called after every change (create, update,
// delete) to a stored object. fn runs on the writer's goroutine after the
// change is on disk and must not block for long.
func (s *Store) Watch(fn func(Ref)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watchers = append(s.watchers, fn)
}

// ConfigMap returns the ConfigMap namespace/name, or a Kubernetes NotFound
// error (apierrors.IsNotFound).
func (s *Store) ConfigMap(namespace, name string) (*corev1.ConfigMap, error) {
	cm := &corev1.ConfigMap{}
	return cm, s.get(Ref{ConfigMaps, namespace, name}, cm)
}

// Secret returns the Secret namespace/name, or a Kubernetes NotFound error.
func (s *Store) Secret(namespace, name string) (*corev1.Secret, error) {
	sec := &corev1.Secret{}
	return sec, s.get(Ref{Secrets, namespace, name}, sec)
}

// ConfigMaps lists the ConfigMaps of namespace ("" for all), by namespace
// and name.
func (s *Store) ConfigMaps(namespace string) ([]corev1.ConfigMap, error) {
	return list[corev1.ConfigMap](s, ConfigMaps, namespace)
}

// Secrets lists the Secrets of namespace ("" for all), by namespace and name.
func (s *Store) Secrets(namespace string) ([]corev1.Secret, error) {
	return list[corev1.Secret](s, Secrets, namespace)
}

// CreateConfigMap validates and stores a new ConfigMap, as POST to the API
// server does: an invalid one is an apierrors Invalid error, an existing one
// AlreadyExists. It returns the stored object.
func (s *Store) CreateConfigMap(cm *corev1.ConfigMap) (*corev1.ConfigMap, error) {
	out := cm.DeepCopy()
	out.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}
	out.ResourceVersion = ""
	if err := ValidateConfigMap(out); err != nil {
		return nil, err
	}
	return out, s.create(Ref{ConfigMaps, out.Namespace, out.Name}, &out.ObjectMeta, out)
}

// UpdateConfigMap replaces a ConfigMap, as PUT to the API server does: it
// must exist (NotFound), a resourceVersion other than the stored one is a
// Conflict, and the change must pass ValidateConfigMapUpdate (immutable
// ConfigMaps keep their data).
func (s *Store) UpdateConfigMap(cm *corev1.ConfigMap) (*corev1.ConfigMap, error) {
	out := cm.DeepCopy()
	out.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}
	old := &corev1.ConfigMap{}
	err := s.update(Ref{ConfigMaps, out.Namespace, out.Name}, &out.ObjectMeta, out, old, func() error {
		return ValidateConfigMapUpdate(out, old)
	})
	return out, err
}

// CreateSecret normalizes (NormalizeSecret), validates and stores a new
// Secret, as POST to the API server does.
func (s *Store) CreateSecret(sec *corev1.Secret) (*corev1.Secret, error) {
	out := sec.DeepCopy()
	out.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}
	out.ResourceVersion = ""
	NormalizeSecret(out)
	if err := ValidateSecret(out); err != nil {
		return nil, err
	}
	return out, s.create(Ref{Secrets, out.Namespace, out.Name}, &out.ObjectMeta, out)
}

// UpdateSecret replaces a Secret, as PUT to the API server does (see
// UpdateConfigMap); its type may not change.
func (s *Store) UpdateSecret(sec *corev1.Secret) (*corev1.Secret, error) {
	out := sec.DeepCopy()
	out.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}
	NormalizeSecret(out)
	old := &corev1.Secret{}
	err := s.update(Ref{Secrets, out.Namespace, out.Name}, &out.ObjectMeta, out, old, func() error {
		return ValidateSecretUpdate(out, old)
	})
	return out, err
}

// Delete removes an object; a missing one is a Kubernetes NotFound error.
func (s *Store) Delete(ref Ref) error {
	if !safeRef(ref) {
		return notFound(ref)
	}
	if s.dryRun {
		var old metav1.PartialObjectMetadata
		return s.get(ref, &old)
	}
	s.mu.Lock()
	err := os.Remove(s.path(ref))
	watchers := s.watchers
	s.mu.Unlock()
	if errors.Is(err, fs.ErrNotExist) {
		return notFound(ref)
	}
	if err != nil {
		return err
	}
	notify(watchers, ref)
	return nil
}

func (s *Store) path(r Ref) string {
	return filepath.Join(s.root, r.Namespace, string(r.Resource), r.Name+".json")
}

func (s *Store) get(ref Ref, into any) error {
	if !safeRef(ref) {
		return notFound(ref)
	}
	b, err := os.ReadFile(s.path(ref))
	if errors.Is(err, fs.ErrNotExist) {
		return notFound(ref)
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, into); err != nil {
		return fmt.Errorf("%s: %w", s.path(ref), err)
	}
	return nil
}

// create writes obj, whose metadata is meta, if no object ref exists.
func (s *Store) create(ref Ref, meta *metav1.ObjectMeta, obj any) error {
	s.mu.Lock()
	var old metav1.PartialObjectMetadata
	switch err := s.get(ref, &old); {
	case err == nil:
		s.mu.Unlock()
		return apierrors.NewAlreadyExists(groupResource(ref), ref.Name)
	case !apierrors.IsNotFound(err):
		s.mu.Unlock()
		return err
	}
	meta.UID = types.UID(uuid.NewUUID())
	meta.CreationTimestamp = metav1.NewTime(time.Now().Truncate(time.Second))
	if s.dryRun {
		s.mu.Unlock()
		return nil
	}
	meta.ResourceVersion = strconv.FormatInt(time.Now().UnixNano(), 10)
	err := s.write(ref, obj)
	watchers := s.watchers
	s.mu.Unlock()
	if err != nil {
		return err
	}
	notify(watchers, ref)
	return nil
}

// update replaces the object ref by obj, whose metadata is meta: the stored
// object is read into old, meta's resourceVersion (if set) must be old's,
// and check (which may look at old) must pass. The identity (uid,
// creationTimestamp) of old is kept.
func (s *Store) update(ref Ref, meta *metav1.ObjectMeta, obj, old any, check func() error) error {
	s.mu.Lock()
	err := s.get(ref, old)
	if err == nil {
		err = s.checkUpdate(ref, meta, old, check)
	}
	if err != nil {
		s.mu.Unlock()
		return err
	}
	if s.dryRun {
		meta.ResourceVersion = old.(metav1.Object).GetResourceVersion()
		s.mu.Unlock()
		return nil
	}
	meta.ResourceVersion = strconv.FormatInt(time.Now().UnixNano(), 10)
	err = s.write(ref, obj)
	watchers := s.watchers
	s.mu.Unlock()
	if err != nil {
		return err
	}
	notify(watchers, ref)
	return nil
}

func (s *Store) checkUpdate(ref Ref, meta *metav1.ObjectMeta, old any, check func() error) error {
	om, ok := old.(metav1.Object)
	if !ok {
		return fmt.Errorf("%s: %T has no object metadata", ref, old)
	}
	if meta.ResourceVersion != "" && meta.ResourceVersion != om.GetResourceVersion() {
		return apierrors.NewConflict(groupResource(ref), ref.Name,
			errors.New("the object has been modified; please apply your changes to the latest version and try again"))
	}
	if meta.UID != "" && meta.UID != om.GetUID() {
		return apierrors.NewConflict(groupResource(ref), ref.Name,
			fmt.Errorf("Precondition failed: UID in precondition: %s, UID in object meta: %s", meta.UID, om.GetUID()))
	}
	meta.UID = om.GetUID()
	meta.CreationTimestamp = om.GetCreationTimestamp()
	return check()
}

func (s *Store) write(ref Ref, obj any) error {
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	p := s.path(ref)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	// Durable: the file, then its directory and the two above it (MkdirAll
	// may have just created them) are fsynced, so an applied Secret survives
	// a power cut. Objects change rarely; the fsyncs cost milliseconds.
	if err := dirs.WriteFile(p, b, 0o600); err != nil {
		return err
	}
	for _, d := range []string{filepath.Join(s.root, ref.Namespace), s.root} {
		if err := dirs.SyncDir(d); err != nil {
			return err
		}
	}
	return nil
}

func list[T any](s *Store, res Resource, namespace string) ([]T, error) {
	namespaces := []string{namespace}
	if namespace == "" {
		entries, err := os.ReadDir(s.root)
		if err != nil {
			return nil, err
		}
		namespaces = namespaces[:0]
		for _, e := range entries {
			namespaces = append(namespaces, e.Name()) // ReadDir sorts
		}
	}
	var out []T
	for _, ns := range namespaces {
		files, err := filepath.Glob(filepath.Join(s.root, ns, string(res), "*.json"))
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
		for _, f := range files {
			var obj T
			name := filepath.Base(f)
			name = name[:len(name)-len(".json")]
			if err := s.get(Ref{res, ns, name}, &obj); err != nil {
				if apierrors.IsNotFound(err) {
					continue // deleted meanwhile
				}
				return nil, err
			}
			out = append(out, obj)
		}
	}
	return out, nil
}

// safeRef reports whether ref names a file inside the store: names and
// namespaces come from request paths, and one such as "../x" must not reach
// outside. Every valid name (a DNS subdomain) passes.
func safeRef(r Ref) bool {
	return len(validation.IsDNS1123Subdomain(r.Name)) == 0 && len(validation.IsDNS1123Label(r.Namespace)) == 0
}

func notFound(r Ref) error {
	return apierrors.NewNotFound(groupResource(r), r.Name)
}

func groupResource(r Ref) schema.GroupResource {
	return schema.GroupResource{Resource: string(r.Resource)}
}

func notify(watchers []func(Ref), ref Ref) {
	for _, fn := range watchers {
		fn(ref)
	}
}
