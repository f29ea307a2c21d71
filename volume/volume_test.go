package volume

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"podbox.dev/podbox/objects"
)

func ptr[T any](v T) *T { return &v }

type syscallStat = syscall.Stat_t

func newStore(t *testing.T) *objects.Store {
	t.Helper()
	s, err := objects.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testPod(vols ...corev1.Volume) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "uid-1", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Volumes: vols, Containers: []corev1.Container{{Name: "c"}}},
	}
}

func newSet(t *testing.T, p *corev1.Pod, objs Objects) *Set {
	t.Helper()
	d := t.TempDir()
	return New(p, Options{Dir: filepath.Join(d, "pod"), MemoryDir: filepath.Join(d, "mem"), Claims: OpenClaims(filepath.Join(d, "claims")), Objects: objs})
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAtomicWriterLayoutAndUpdate(t *testing.T) {
	dir := t.TempDir()
	changed, err := writeAtomic(dir, map[string]File{"a": {Data: []byte("1"), Mode: 0o600}, "sub/b": {Data: []byte("2"), Mode: 0o644}}, nil)
	if err != nil || !changed {
		t.Fatalf("first write: changed=%v err=%v", changed, err)
	}
	ts1, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil || !strings.HasPrefix(ts1, "..") {
		t.Fatalf("..data = %q, %v", ts1, err)
	}
	if l, _ := os.Readlink(filepath.Join(dir, "a")); l != "..data/a" {
		t.Fatalf("a -> %q", l)
	}
	if l, _ := os.Readlink(filepath.Join(dir, "sub")); l != "..data/sub" {
		t.Fatalf("sub -> %q", l)
	}
	if st, _ := os.Stat(filepath.Join(dir, "a")); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode of a = %v", st.Mode())
	}
	if got := read(t, filepath.Join(dir, "sub/b")); got != "2" {
		t.Fatalf("sub/b = %q", got)
	}
	// Same payload: nothing written.
	changed, err = writeAtomic(dir, map[string]File{"a": {Data: []byte("1"), Mode: 0o600}, "sub/b": {Data: []byte("2"), Mode: 0o644}}, nil)
	if err != nil || changed {
		t.Fatalf("rewrite of the same payload: changed=%v err=%v", changed, err)
	}
	// New payload: a changes, sub goes, c comes; the old version is removed.
	changed, err = writeAtomic(dir, map[string]File{"a": {Data: []byte("9"), Mode: 0o644}, "c": {Data: []byte("3"), Mode: 0o644}}, nil)
	if err != nil || !changed {
		t.Fatalf("update: changed=%v err=%v", changed, err)
	}
	ts2, _ := os.Readlink(filepath.Join(dir, "..data"))
	if ts2 == ts1 {
		t.Fatal("..data still points to the old version")
	}
	if _, err := os.Lstat(filepath.Join(dir, ts1)); !os.IsNotExist(err) {
		t.Fatalf("old version left behind: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "sub")); !os.IsNotExist(err) {
		t.Fatalf("link of a removed key left behind: %v", err)
	}
	if got := read(t, filepath.Join(dir, "a")) + read(t, filepath.Join(dir, "c")); got != "93" {
		t.Fatalf("after update a+c = %q", got)
	}
	for _, bad := range []string{"/abs", "../x", "a/../../x", "..hidden"} {
		if _, err := writeAtomic(dir, map[string]File{bad: {}}, nil); err == nil {
			t.Errorf("path %q accepted", bad)
		}
	}
}

func TestConfigMapVolumeItemsModesAndRefresh(t *testing.T) {
	store := newStore(t)
	p := testPod(corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "app"}, DefaultMode: ptr(int32(0o640)),
		Items: []corev1.KeyToPath{{Key: "k1", Path: "dir/one"}, {Key: "k2", Path: "two", Mode: ptr(int32(0o600))}},
	}}})
	s := newSet(t, p, store)
	errs := s.Prepare()
	if len(errs) != 1 || errs[0].Error() != `MountVolume.SetUp failed for volume "cfg" : configmap "app" not found` {
		t.Fatalf("missing ConfigMap: %v", errs)
	}
	ref := objects.Ref{Resource: objects.ConfigMaps, Namespace: "default", Name: "app"}
	if s.WaitsFor(ref) != true {
		t.Fatal("the set does not wait for the ConfigMap")
	}
	putConfigMap(t, store, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "default"}, Data: map[string]string{"k1": "v1"}})
	errs = s.Prepare()
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "configmap references non-existent config key: k2") {
		t.Fatalf("missing key: %v", errs)
	}
	putConfigMap(t, store, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "default"}, Data: map[string]string{"k1": "v1", "k2": "v2", "k3": "v3"}})
	if errs := s.Prepare(); len(errs) != 0 {
		t.Fatal(errs)
	}
	dir := s.vols["cfg"].path
	if got := read(t, filepath.Join(dir, "dir/one")); got != "v1" {
		t.Fatalf("dir/one = %q", got)
	}
	st1, _ := os.Stat(filepath.Join(dir, "dir/one"))
	st2, _ := os.Stat(filepath.Join(dir, "two"))
	if st1.Mode().Perm() != 0o640 || st2.Mode().Perm() != 0o600 {
		t.Fatalf("modes %v %v, want defaultMode 0640 and mode 0600", st1.Mode(), st2.Mode())
	}
	if _, err := os.Lstat(filepath.Join(dir, "k3")); !os.IsNotExist(err) {
		t.Fatal("a key not in items was written")
	}
	mounts, err := s.Mounts(&corev1.Container{Name: "c", VolumeMounts: []corev1.VolumeMount{{Name: "cfg", MountPath: "/etc/app"}}}, nil)
	if err != nil || len(mounts) != 1 || mounts[0].Source != dir || mounts[0].Options[1] != "ro" {
		t.Fatalf("mounts %+v, %v: want a read-only bind of %s", mounts, err, dir)
	}

	putConfigMap(t, store, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "default"}, Data: map[string]string{"k1": "new", "k2": "v2"}})
	changed, err := s.RefreshObject(ref)
	if err != nil || !changed {
		t.Fatalf("refresh: changed=%v err=%v", changed, err)
	}
	if got := read(t, filepath.Join(dir, "dir/one")); got != "new" {
		t.Fatalf("after the update dir/one = %q", got)
	}
	// Another namespace's object of the same name changes nothing.
	if changed, _ := s.RefreshObject(objects.Ref{Resource: objects.ConfigMaps, Namespace: "other", Name: "app"}); changed {
		t.Fatal("an object of another namespace refreshed the volume")
	}
}

func TestOptionalMissingSourcesAreEmpty(t *testing.T) {
	p := testPod(
		corev1.Volume{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr(true)}}},
		corev1.Volume{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "nope", Optional: ptr(true)}}},
	)
	s := newSet(t, p, newStore(t))
	if errs := s.Prepare(); len(errs) != 0 {
		t.Fatal(errs)
	}
	if !strings.HasPrefix(s.vols["s"].path, s.opts.MemoryDir) {
		t.Fatalf("secret volume at %s, not in the memory directory", s.vols["s"].path)
	}
}

func TestSecretAndProjectedAndDownwardAPI(t *testing.T) {
	store := newStore(t)
	putSecret(t, store, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"}, Data: map[string][]byte{"password": {0, 1, 2}}})
	putConfigMap(t, store, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "default"}, Data: map[string]string{"mode": "prod"}})
	p := testPod(
		corev1.Volume{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "db", DefaultMode: ptr(int32(0o400))}}},
		corev1.Volume{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
			{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
		}}}},
		corev1.Volume{Name: "all", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{DefaultMode: ptr(int32(0o644)), Sources: []corev1.VolumeProjection{
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "app"}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Items: []corev1.KeyToPath{{Key: "password", Path: "creds/pw"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
		}}}},
	)
	p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}
	s := newSet(t, p, store)
	if errs := s.Prepare(); len(errs) != 0 {
		t.Fatal(errs)
	}
	sec := s.vols["sec"].path
	if got := read(t, filepath.Join(sec, "password")); got != "\x00\x01\x02" {
		t.Fatalf("secret bytes %q", got)
	}
	if st, _ := os.Stat(filepath.Join(sec, "password")); st.Mode().Perm() != 0o400 {
		t.Fatalf("secret mode %v", st.Mode())
	}
	info := s.vols["info"].path
	if got := read(t, filepath.Join(info, "labels")) + "|" + read(t, filepath.Join(info, "name")) + "|" + read(t, filepath.Join(info, "mem")); got != `app="web"|web|64` {
		t.Fatalf("downwardAPI files: %q", got)
	}
	all := s.vols["all"].path
	if !strings.HasPrefix(all, s.opts.MemoryDir) {
		t.Fatal("a projected volume with a secret is not in the memory directory")
	}
	if got := read(t, filepath.Join(all, "mode")) + read(t, filepath.Join(all, "creds/pw")) + read(t, filepath.Join(all, "ns")); got != "prod\x00\x01\x02default" {
		t.Fatalf("projected files: %q", got)
	}

	p2 := p.DeepCopy()
	p2.Labels["tier"] = "front"
	changed, err := s.RefreshPod(p2)
	if err != nil || !changed {
		t.Fatalf("RefreshPod: changed=%v err=%v", changed, err)
	}
	if got := read(t, filepath.Join(info, "labels")); got != "app=\"web\"\ntier=\"front\"" {
		t.Fatalf("labels after the change: %q", got)
	}
}

func TestHostPathTypes(t *testing.T) {
	d := t.TempDir()
	file := filepath.Join(d, "file")
	os.WriteFile(file, nil, 0o644)
	sock := filepath.Join(d, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cases := []struct {
		path string
		typ  corev1.HostPathType
		want string // "" for success
	}{
		{filepath.Join(d, "new/dir"), corev1.HostPathDirectoryOrCreate, ""},
		{file, corev1.HostPathDirectoryOrCreate, "hostPath type check failed: " + file + " is not a directory"},
		{d, corev1.HostPathDirectory, ""},
		{filepath.Join(d, "missing"), corev1.HostPathDirectory, "is not a directory"},
		{filepath.Join(d, "newfile"), corev1.HostPathFileOrCreate, ""},
		{filepath.Join(d, "no/parent/file"), corev1.HostPathFileOrCreate, "no such file"},
		{file, corev1.HostPathFile, ""},
		{d, corev1.HostPathFile, "is not a file"},
		{sock, corev1.HostPathSocket, ""},
		{file, corev1.HostPathSocket, "is not a socket file"},
		{"/dev/null", corev1.HostPathCharDev, ""},
		{file, corev1.HostPathCharDev, "is not a character device"},
		{"/dev/null", corev1.HostPathBlockDev, "is not a block device"},
		{filepath.Join(d, "whatever"), corev1.HostPathUnset, ""},
	}
	for _, c := range cases {
		err := checkHostPath(&corev1.HostPathVolumeSource{Path: c.path, Type: ptr(c.typ)})
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s %s: %v", c.typ, c.path, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s %s: got %v, want %q", c.typ, c.path, err, c.want)
		}
	}
	if st, err := os.Stat(filepath.Join(d, "new/dir")); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("DirectoryOrCreate made %v, %v", st, err)
	}
	if st, err := os.Stat(filepath.Join(d, "newfile")); err != nil || st.Mode().Perm() != 0o644 || !st.Mode().IsRegular() {
		t.Errorf("FileOrCreate made %v, %v", st, err)
	}
}

func TestEmptyDirHintsAndSubPath(t *testing.T) {
	p := testPod(
		corev1.Volume{Name: "shared", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: ptr(resource.MustParse("10Mi"))}}},
		corev1.Volume{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	)
	p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{
		{Name: "shared", MountPath: "/shared"},
		{Name: "mem", MountPath: "/mem", ReadOnly: true},
		{Name: "work", MountPath: "/work", SubPathExpr: "$(POD)/logs"},
	}
	s := newSet(t, p, nil)
	bound := fakeBind(t)
	if errs := s.Prepare(); len(errs) != 0 {
		t.Fatal(errs)
	}
	h := s.Hints()
	if h["dev.gvisor.spec.mount.shared.type"] != "tmpfs" || h["dev.gvisor.spec.mount.shared.share"] != "pod" ||
		h["dev.gvisor.spec.mount.shared.source"] != s.vols["shared"].path || h["dev.gvisor.spec.mount.shared.options"] != "rw,mode=0777" {
		t.Fatalf("hints of shared: %v", h)
	}
	if h["dev.gvisor.spec.mount.mem.options"] != "rw,mode=0777,size=10485760" || !strings.HasPrefix(s.vols["mem"].path, s.opts.MemoryDir) {
		t.Fatalf("hints of mem: %v at %s", h, s.vols["mem"].path)
	}
	if _, ok := h["dev.gvisor.spec.mount.work.source"]; ok {
		t.Fatal("an emptyDir mounted with a subPath got a tmpfs hint: its subdirectory would not exist on the host")
	}
	if st, _ := os.Stat(s.vols["shared"].path); st.Mode().Perm() != 0o777 {
		t.Fatalf("emptyDir mode %v", st.Mode())
	}
	c := &p.Spec.Containers[0]
	if _, err := s.Mounts(c, []string{"OTHER=x"}); err == nil || !strings.Contains(err.Error(), "missing value for POD") {
		t.Fatalf("subPathExpr without its variable: %v", err)
	}
	mounts, err := s.Mounts(c, []string{"POD=web"})
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(s.vols["work"].path, "web/logs")
	if bound[mounts[2].Source] != want || mounts[1].Options[1] != "ro" || mounts[0].Source != s.vols["shared"].path {
		t.Fatalf("mounts %+v (bound %v), want work at %s", mounts, bound, want)
	}
	if st, err := os.Stat(want); err != nil || st.Mode().Perm() != 0o777 {
		t.Fatalf("subPath directory: %v %v (the kubelet gives it the volume's mode)", st, err)
	}
	// A symlink planted in the volume must not lead a mount out of it.
	os.Symlink("/etc", filepath.Join(s.vols["work"].path, "escape"))
	c.VolumeMounts[2].SubPathExpr = "escape"
	if _, err := s.Mounts(c, nil); err == nil || !strings.Contains(err.Error(), "leaves volume") {
		t.Fatalf("subPath through a symlink out of the volume: %v", err)
	}
	c.VolumeMounts[2].SubPathExpr = "$(X)/../.."
	if _, err := s.Mounts(c, []string{"X=a"}); err == nil || !strings.Contains(err.Error(), "must not contain '..'") {
		t.Fatalf("subPathExpr expanding to ..: %v", err)
	}
}

func TestClaimsOutliveThePod(t *testing.T) {
	d := t.TempDir()
	claims := OpenClaims(filepath.Join(d, "claims"))
	p := testPod(corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "db-data", ReadOnly: true}}})
	s := New(p, Options{Dir: filepath.Join(d, "pod"), MemoryDir: filepath.Join(d, "mem"), Claims: claims})
	if errs := s.Prepare(); len(errs) != 0 {
		t.Fatal(errs)
	}
	dir := claims.DataDir("default", "db-data")
	os.WriteFile(filepath.Join(dir, "f"), make([]byte, 8192), 0o644)
	m, err := s.Mounts(&corev1.Container{Name: "c", VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}, nil)
	if err != nil || m[0].Source != dir || m[0].Options[1] != "ro" {
		t.Fatalf("claim mount %+v %v", m, err)
	}
	if err := s.Teardown(); err != nil {
		t.Fatal(err)
	}
	list, err := claims.List("")
	if err != nil || len(list) != 1 || list[0].Name != "db-data" || list[0].Status.Phase != corev1.ClaimBound {
		t.Fatalf("claims after the pod: %+v %v", list, err)
	}
	if q := list[0].Status.Capacity[corev1.ResourceStorage]; q.Value() < 8192 {
		t.Fatalf("capacity %s, want the space its files take", q.String())
	}
	uid := list[0].UID
	if _, err := claims.Ensure("default", "db-data"); err != nil {
		t.Fatal(err)
	}
	if again, _ := claims.Get("default", "db-data"); again.UID != uid {
		t.Fatal("Ensure replaced an existing claim")
	}
	if err := claims.Remove("default", "db-data"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("removed claim's files: %v", err)
	}
}

func TestFSGroup(t *testing.T) {
	store := newStore(t)
	putConfigMap(t, store, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "default"}, Data: map[string]string{"k": "v"}})
	p := testPod(
		corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "app"}, DefaultMode: ptr(int32(0o600))}}},
		corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "d"}}},
	)
	p.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr(int64(2000))}
	s := newSet(t, p, store)
	if errs := s.Prepare(); len(errs) != 0 {
		if os.Getuid() != 0 {
			t.Skipf("changing a file's group needs root or a mapped group: %v", errs)
		}
		t.Fatal(errs)
	}
	if got := s.Hints()["dev.gvisor.spec.mount.scratch.options"]; got != "rw,gid=2000,mode=2777" {
		t.Errorf("emptyDir tmpfs options %q", got)
	}
	st, _ := os.Stat(filepath.Join(s.vols["cfg"].path, "k"))
	if g := st.Sys().(*syscallStat).Gid; g != 2000 || st.Mode().Perm() != 0o640 {
		t.Errorf("configMap file: group %d mode %v, want 2000 and 0640 (group read added)", g, st.Mode())
	}
	st, _ = os.Stat(s.opts.Claims.DataDir("default", "d"))
	if g := st.Sys().(*syscallStat).Gid; g != 2000 || st.Mode()&os.ModeSetgid == 0 {
		t.Errorf("claim root: group %d mode %v, want 2000 and setgid", g, st.Mode())
	}
}

// putConfigMap creates cm, or replaces the stored ConfigMap of its name.
func putConfigMap(t *testing.T, store *objects.Store, cm *corev1.ConfigMap) {
	t.Helper()
	_, err := store.CreateConfigMap(cm)
	if apierrors.IsAlreadyExists(err) {
		_, err = store.UpdateConfigMap(cm)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// putSecret creates sec.
func putSecret(t *testing.T, store *objects.Store, sec *corev1.Secret) {
	t.Helper()
	if _, err := store.CreateSecret(sec); err != nil {
		t.Fatal(err)
	}
}

// TestMemoryEmptyDirSizedAsKubelet: a memory-backed emptyDir's tmpfs is the
// smallest of node allocatable memory, the pod's memory limit and its
// sizeLimit (the kubelet's SizeMemoryBackedVolumes); a disk-backed one is
// capped by its sizeLimit only. Its pages are outside the sentry's memory
// accounting, so without the cap a pod could fill the host's memory.
func TestMemoryEmptyDirSizedAsKubelet(t *testing.T) {
	mem := func(limit string) *corev1.EmptyDirVolumeSource {
		ed := &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}
		if limit != "" {
			ed.SizeLimit = ptr(resource.MustParse(limit))
		}
		return ed
	}
	alloc := corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("8Gi")}
	for _, tc := range []struct {
		name     string
		ed       *corev1.EmptyDirVolumeSource
		podLimit string
		want     int64
	}{
		{"memory, nothing set: node allocatable", mem(""), "", 8 << 30},
		{"memory, pod limit", mem(""), "64Mi", 64 << 20},
		{"memory, sizeLimit below the pod limit", mem("16Mi"), "64Mi", 16 << 20},
		{"memory, sizeLimit above the pod limit", mem("1Gi"), "64Mi", 64 << 20},
		{"memory, sizeLimit above allocatable", mem("16Gi"), "", 8 << 30},
		{"disk, nothing set", &corev1.EmptyDirVolumeSource{}, "64Mi", 0},
		{"disk, sizeLimit", &corev1.EmptyDirVolumeSource{SizeLimit: ptr(resource.MustParse("1Gi"))}, "64Mi", 1 << 30},
	} {
		p := testPod(corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: tc.ed}})
		if tc.podLimit != "" {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(tc.podLimit)}
		}
		s := New(p, Options{Dir: t.TempDir(), MemoryDir: t.TempDir(), Allocatable: alloc})
		if got := s.emptyDirSize(tc.ed); got != tc.want {
			t.Errorf("%s: size %d, want %d", tc.name, got, tc.want)
		}
	}
}
