package volume

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/google/renameio/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
)

// ClaimsResource is the API resource of persistent volume claims.
var ClaimsResource = schema.GroupResource{Resource: "persistentvolumeclaims"}

// Claims keeps the user's named persistent volumes, which pods use through
// persistentVolumeClaim volumes. One machine has no provisioner and no
// PersistentVolume objects: a claim is a directory that is created the first
// time a pod names it and lives until `podbox volume rm`, surviving the
// pods that used it:
//
//	<root>/<namespace>/<claimName>/claim.json   the claim's identity
//	<root>/<namespace>/<claimName>/data/        what pods see
//
// Claims is safe for concurrent use by several processes: creation is
// atomic (renameio) and idempotent.
type Claims struct {
	root string
}

// OpenClaims returns the claims kept under root (dirs.Dirs.Volumes()).
func OpenClaims(root string) *Claims { return &Claims{root: root} }

func (c *Claims) dir(namespace, name string) string {
	return filepath.Join(c.root, namespace, name)
}

// DataDir is where the claim's files are.
func (c *Claims) DataDir(namespace, name string) string {
	return filepath.Join(c.dir(namespace, name), "data")
}

// Ensure returns the data directory of a claim, creating the claim if it
// does not exist yet.
func (c *Claims) Ensure(namespace, name string) (string, error) {
	if _, err := c.Get(namespace, name); apierrors.IsNotFound(err) {
		if err := c.create(namespace, name); err != nil {
			return "", err
		}
	} else if err != nil {
		return "", err
	}
	return c.DataDir(namespace, name), nil
}

func (c *Claims) create(namespace, name string) error {
	data := c.DataDir(namespace, name)
	if err := os.MkdirAll(data, 0o755); err != nil {
		return fmt.Errorf("create volume %s/%s: %w", namespace, name, err)
	}
	// The volume's root is writable by any user the pod runs as, as a
	// freshly provisioned hostPath or local volume is on a cluster.
	if err := os.Chmod(data, 0o777); err != nil {
		return err
	}
	pvc := corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: namespace, UID: types.UID(uuid.NewUUID()),
		CreationTimestamp: metav1.NewTime(time.Now().Truncate(time.Second)),
	}}
	b, err := json.Marshal(pvc)
	if err != nil {
		return err
	}
	return renameio.WriteFile(filepath.Join(c.dir(namespace, name), "claim.json"), b, 0o600)
}

// Get returns a claim as the API shows it (see claimObject), or a
// Kubernetes NotFound error.
func (c *Claims) Get(namespace, name string) (*corev1.PersistentVolumeClaim, error) {
	b, err := os.ReadFile(filepath.Join(c.dir(namespace, name), "claim.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, apierrors.NewNotFound(ClaimsResource, name)
	}
	if err != nil {
		return nil, err
	}
	pvc := &corev1.PersistentVolumeClaim{}
	if err := json.Unmarshal(b, pvc); err != nil {
		return nil, fmt.Errorf("volume %s/%s: %w", namespace, name, err)
	}
	c.fill(pvc)
	return pvc, nil
}

// fill completes a stored claim: it is bound from birth (its directory is
// its volume), and its capacity is the space its files take, since there is
// no quota to report.
func (c *Claims) fill(pvc *corev1.PersistentVolumeClaim) {
	pvc.APIVersion, pvc.Kind = "v1", "PersistentVolumeClaim"
	modes := []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	pvc.Spec.AccessModes = modes
	pvc.Spec.VolumeName = "podbox-" + string(pvc.UID)
	pvc.Status.Phase = corev1.ClaimBound
	pvc.Status.AccessModes = modes
	size := DiskUsage(c.DataDir(pvc.Namespace, pvc.Name))
	pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: *resource.NewQuantity(size, resource.BinarySI)}
}

// List returns the claims of a namespace ("" for all), by namespace and
// name.
func (c *Claims) List(namespace string) ([]corev1.PersistentVolumeClaim, error) {
	pattern := filepath.Join(c.root, "*", "*", "claim.json")
	if namespace != "" {
		pattern = filepath.Join(c.root, namespace, "*", "claim.json")
	}
	files, err := filepath.Glob(pattern)
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	out := []corev1.PersistentVolumeClaim{}
	for _, f := range files {
		d := filepath.Dir(f)
		pvc, err := c.Get(filepath.Base(filepath.Dir(d)), filepath.Base(d))
		if apierrors.IsNotFound(err) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *pvc)
	}
	return out, nil
}

// Remove deletes a claim and its files. Whether a pod uses it is the
// caller's to check.
func (c *Claims) Remove(namespace, name string) error {
	if _, err := c.Get(namespace, name); err != nil {
		return err
	}
	d := c.dir(namespace, name)
	// Files a container left read-only (or without owner write on
	// directories) must not stop the removal: make directories writable.
	// A pod force-deleted a moment ago may still be writing: no path of
	// its is followed.
	makeDirsWritable(d)
	return os.RemoveAll(d)
}

// DiskUsage is the space the files under dir take, in bytes (du's count of
// allocated blocks); unreadable parts count as nothing.
func DiskUsage(dir string) int64 {
	var total int64
	_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := e.Info(); err == nil {
			total += allocated(info)
		}
		return nil
	})
	return total
}
