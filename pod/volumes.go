package pod

import (
	"fmt"
	"path"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// supportedVolumes names the volume types podbox runs, for messages.
const supportedVolumes = "supported volume types are emptyDir, hostPath, configMap, secret, downwardAPI, projected and persistentVolumeClaim"

// validateVolumeSources checks each volume's source as the API server does,
// and refuses the types podbox cannot run (cloud disks, network
// filesystems, CSI, generic ephemeral volumes …) by name, rather than
// starting a pod that would miss a volume.
func validateVolumeSources(vols []corev1.Volume, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i := range vols {
		errs = append(errs, validateVolumeSource(&vols[i].VolumeSource, path.Index(i))...)
	}
	return errs
}

func validateVolumeSource(vs *corev1.VolumeSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	set := setFields(vs)
	if len(set) == 0 {
		return append(errs, field.Required(p, "must specify a volume type"))
	}
	for _, name := range set[1:] {
		errs = append(errs, field.Forbidden(p.Child(name), "may not specify more than 1 volume type"))
	}
	switch {
	case vs.EmptyDir != nil:
		ed := vs.EmptyDir
		switch ed.Medium {
		case corev1.StorageMediumDefault, corev1.StorageMediumMemory:
		default:
			errs = append(errs, field.NotSupported(p.Child("emptyDir", "medium"), ed.Medium, []corev1.StorageMedium{corev1.StorageMediumDefault, corev1.StorageMediumMemory}))
		}
		if ed.SizeLimit != nil && ed.SizeLimit.Sign() < 0 {
			errs = append(errs, field.Invalid(p.Child("emptyDir", "sizeLimit"), ed.SizeLimit.String(), "must be greater than or equal to 0"))
		}
	case vs.HostPath != nil:
		errs = append(errs, validateHostPath(vs.HostPath, p.Child("hostPath"))...)
	case vs.ConfigMap != nil:
		cp := p.Child("configMap")
		if vs.ConfigMap.Name == "" {
			errs = append(errs, field.Required(cp.Child("name"), ""))
		}
		errs = append(errs, validateMode(vs.ConfigMap.DefaultMode, cp.Child("defaultMode"))...)
		errs = append(errs, validateKeyToPaths(vs.ConfigMap.Items, cp.Child("items"))...)
	case vs.Secret != nil:
		sp := p.Child("secret")
		if vs.Secret.SecretName == "" {
			errs = append(errs, field.Required(sp.Child("secretName"), ""))
		}
		errs = append(errs, validateMode(vs.Secret.DefaultMode, sp.Child("defaultMode"))...)
		errs = append(errs, validateKeyToPaths(vs.Secret.Items, sp.Child("items"))...)
	case vs.DownwardAPI != nil:
		dp := p.Child("downwardAPI")
		errs = append(errs, validateMode(vs.DownwardAPI.DefaultMode, dp.Child("defaultMode"))...)
		errs = append(errs, validateDownwardAPIItems(vs.DownwardAPI.Items, dp.Child("items"))...)
	case vs.Projected != nil:
		errs = append(errs, validateProjected(vs.Projected, p.Child("projected"))...)
	case vs.PersistentVolumeClaim != nil:
		cp := p.Child("persistentVolumeClaim", "claimName")
		if name := vs.PersistentVolumeClaim.ClaimName; name == "" {
			errs = append(errs, field.Required(cp, ""))
		} else {
			for _, msg := range validation.IsDNS1123Subdomain(name) {
				errs = append(errs, field.Invalid(cp, name, msg))
			}
		}
	default:
		errs = append(errs, field.Forbidden(p.Child(set[0]), fmt.Sprintf("podbox does not support %s volumes: %s", set[0], supportedVolumes)))
	}
	return errs
}

// setFields returns the JSON names of the volume source fields that are set.
func setFields(vs *corev1.VolumeSource) []string {
	var out []string
	v := reflect.ValueOf(vs).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		if !v.Field(i).IsNil() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			out = append(out, name)
		}
	}
	return out
}

var hostPathTypes = []corev1.HostPathType{corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory,
	corev1.HostPathFileOrCreate, corev1.HostPathFile, corev1.HostPathSocket, corev1.HostPathCharDev, corev1.HostPathBlockDev}

func validateHostPath(hp *corev1.HostPathVolumeSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case hp.Path == "":
		errs = append(errs, field.Required(p.Child("path"), ""))
	case !path.IsAbs(hp.Path):
		// The kubelet would resolve it against its own working directory;
		// podbox's is no place a manifest can know.
		errs = append(errs, field.Invalid(p.Child("path"), hp.Path, "must be an absolute path"))
	case hasBacksteps(hp.Path):
		errs = append(errs, field.Invalid(p.Child("path"), hp.Path, "must not contain '..'"))
	}
	switch {
	case hp.Type == nil:
	case *hp.Type == corev1.HostPathCharDev || *hp.Type == corev1.HostPathBlockDev:
		// runsc's gofer refuses to open host devices (EPERM): the sandbox
		// emulates its own /dev. Mounting one would start a pod whose device
		// cannot be used.
		errs = append(errs, field.Forbidden(p.Child("type"), fmt.Sprintf("%s: podbox's gVisor sandbox cannot open host devices (its gofer refuses them); the sandbox has its own /dev with null, zero, full, random, urandom and tty", *hp.Type)))
	case !contains(hostPathTypes, *hp.Type):
		errs = append(errs, field.NotSupported(p.Child("type"), *hp.Type, hostPathTypes))
	}
	return errs
}

func hasBacksteps(p string) bool {
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return true
		}
	}
	return false
}

// validateLocalDescendingPath is the API server's check of a path inside a
// volume (items, subPath): relative, without "..".
func validateLocalDescendingPath(p string, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	if path.IsAbs(p) {
		errs = append(errs, field.Invalid(fp, p, "must be a relative path"))
	}
	if hasBacksteps(p) {
		errs = append(errs, field.Invalid(fp, p, "must not contain '..'"))
	}
	return errs
}

// validateItemPath adds what a file of an atomically written volume needs:
// no name starting with "..", which the writer uses itself.
func validateItemPath(p string, fp *field.Path) field.ErrorList {
	if p == "" {
		return field.ErrorList{field.Required(fp, "")}
	}
	errs := validateLocalDescendingPath(p, fp)
	if len(errs) == 0 && strings.HasPrefix(p, "..") {
		errs = append(errs, field.Invalid(fp, p, "must not start with '..'"))
	}
	return errs
}

func validateMode(m *int32, fp *field.Path) field.ErrorList {
	if m != nil && (*m > 0o777 || *m < 0) {
		return field.ErrorList{field.Invalid(fp, *m, "must be a number between 0 and 0777 (octal), both inclusive")}
	}
	return nil
}

func validateKeyToPaths(items []corev1.KeyToPath, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, it := range items {
		ip := fp.Index(i)
		if it.Key == "" {
			errs = append(errs, field.Required(ip.Child("key"), ""))
		} else {
			for _, msg := range validation.IsConfigMapKey(it.Key) {
				errs = append(errs, field.Invalid(ip.Child("key"), it.Key, msg))
			}
		}
		errs = append(errs, validateItemPath(it.Path, ip.Child("path"))...)
		errs = append(errs, validateMode(it.Mode, ip.Child("mode"))...)
	}
	return errs
}

// downwardAPIFields are the pod fields a downwardAPI volume file can show.
var downwardAPIFields = []string{"metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"}

var resourceFields = []string{"limits.cpu", "limits.memory", "limits.ephemeral-storage", "requests.cpu", "requests.memory", "requests.ephemeral-storage"}

func validateDownwardAPIItems(items []corev1.DownwardAPIVolumeFile, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, it := range items {
		ip := fp.Index(i)
		errs = append(errs, validateItemPath(it.Path, ip.Child("path"))...)
		errs = append(errs, validateMode(it.Mode, ip.Child("mode"))...)
		switch {
		case it.FieldRef != nil && it.ResourceFieldRef != nil:
			errs = append(errs, field.Invalid(ip, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		case it.FieldRef != nil:
			f := it.FieldRef.FieldPath
			if !contains(downwardAPIFields, f) && !isKeyField(f) {
				errs = append(errs, field.NotSupported(ip.Child("fieldRef", "fieldPath"), f, append(downwardAPIFields, "metadata.labels['KEY']", "metadata.annotations['KEY']")))
			}
		case it.ResourceFieldRef != nil:
			rp := ip.Child("resourceFieldRef")
			if it.ResourceFieldRef.ContainerName == "" {
				errs = append(errs, field.Required(rp.Child("containerName"), ""))
			}
			if !contains(resourceFields, it.ResourceFieldRef.Resource) {
				errs = append(errs, field.NotSupported(rp.Child("resource"), it.ResourceFieldRef.Resource, resourceFields))
			}
		default:
			errs = append(errs, field.Required(ip, "one of fieldRef and resourceFieldRef is required"))
		}
	}
	return errs
}

func isKeyField(f string) bool {
	for _, prefix := range []string{"metadata.labels['", "metadata.annotations['"} {
		if rest, ok := strings.CutPrefix(f, prefix); ok && strings.HasSuffix(rest, "']") && len(rest) > 2 {
			return true
		}
	}
	return false
}

func validateProjected(pv *corev1.ProjectedVolumeSource, fp *field.Path) field.ErrorList {
	errs := validateMode(pv.DefaultMode, fp.Child("defaultMode"))
	paths := sets.New[string]()
	addPath := func(p string, at *field.Path) {
		if paths.Has(p) {
			errs = append(errs, field.Invalid(at, p, "conflicting duplicate paths"))
		}
		paths.Insert(p)
	}
	for i, src := range pv.Sources {
		sp := fp.Child("sources").Index(i)
		n := 0
		for _, set := range []bool{src.ConfigMap != nil, src.Secret != nil, src.DownwardAPI != nil, src.ServiceAccountToken != nil, src.ClusterTrustBundle != nil, src.PodCertificate != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			errs = append(errs, field.Forbidden(sp, "may not specify more or less than 1 volume type per source"))
			continue
		}
		switch {
		case src.ConfigMap != nil:
			if src.ConfigMap.Name == "" {
				errs = append(errs, field.Required(sp.Child("configMap", "name"), ""))
			}
			errs = append(errs, validateKeyToPaths(src.ConfigMap.Items, sp.Child("configMap", "items"))...)
			for j, it := range src.ConfigMap.Items {
				addPath(it.Path, sp.Child("configMap", "items").Index(j).Child("path"))
			}
		case src.Secret != nil:
			if src.Secret.Name == "" {
				errs = append(errs, field.Required(sp.Child("secret", "name"), ""))
			}
			errs = append(errs, validateKeyToPaths(src.Secret.Items, sp.Child("secret", "items"))...)
			for j, it := range src.Secret.Items {
				addPath(it.Path, sp.Child("secret", "items").Index(j).Child("path"))
			}
		case src.DownwardAPI != nil:
			errs = append(errs, validateDownwardAPIItems(src.DownwardAPI.Items, sp.Child("downwardAPI", "items"))...)
			for j, it := range src.DownwardAPI.Items {
				addPath(it.Path, sp.Child("downwardAPI", "items").Index(j).Child("path"))
			}
		case src.ServiceAccountToken != nil:
			errs = append(errs, field.Forbidden(sp.Child("serviceAccountToken"), "podbox has no API server tokens or service accounts to project: remove this source (or mount a Secret holding a token)"))
		case src.ClusterTrustBundle != nil:
			errs = append(errs, field.Forbidden(sp.Child("clusterTrustBundle"), "podbox has no ClusterTrustBundle objects: put the certificates in a ConfigMap and project that instead"))
		case src.PodCertificate != nil:
			errs = append(errs, field.Forbidden(sp.Child("podCertificate"), "podbox has no certificate signers to issue pod certificates"))
		}
	}
	return errs
}

var propagationModes = []corev1.MountPropagationMode{corev1.MountPropagationNone}

// validateVolumeMounts checks what validateContainer leaves to volumes:
// subPath and subPathExpr, mount propagation, recursiveReadOnly and raw
// block devices.
func validateVolumeMounts(c *corev1.Container, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, m := range c.VolumeMounts {
		p := path.Child("volumeMounts").Index(i)
		if m.SubPath != "" && m.SubPathExpr != "" {
			errs = append(errs, field.Invalid(p.Child("subPathExpr"), m.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
		}
		if m.SubPath != "" {
			errs = append(errs, validateLocalDescendingPath(m.SubPath, p.Child("subPath"))...)
		}
		if m.SubPathExpr != "" {
			errs = append(errs, validateLocalDescendingPath(m.SubPathExpr, p.Child("subPathExpr"))...)
		}
		if mp := m.MountPropagation; mp != nil && *mp != corev1.MountPropagationNone {
			// gVisor's mounts are its own: nothing mounted on the host later
			// reaches the sandbox, and nothing mounted inside leaves it.
			errs = append(errs, field.NotSupported(p.Child("mountPropagation"), *mp, propagationModes))
		}
		if rro := m.RecursiveReadOnly; rro != nil {
			switch *rro {
			case corev1.RecursiveReadOnlyDisabled, corev1.RecursiveReadOnlyIfPossible:
			case corev1.RecursiveReadOnlyEnabled:
				if !m.ReadOnly {
					errs = append(errs, field.Forbidden(p.Child("recursiveReadOnly"), "may only be specified when readOnly is true"))
				}
			default:
				errs = append(errs, field.NotSupported(p.Child("recursiveReadOnly"), *rro,
					[]corev1.RecursiveReadOnlyMode{corev1.RecursiveReadOnlyDisabled, corev1.RecursiveReadOnlyIfPossible, corev1.RecursiveReadOnlyEnabled}))
			}
		}
	}
	if len(c.VolumeDevices) > 0 {
		errs = append(errs, field.Forbidden(path.Child("volumeDevices"), "podbox does not support raw block volumes: use volumeMounts"))
	}
	return errs
}
