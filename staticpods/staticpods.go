// Package staticpods runs the pods of a manifest directory, as the kubelet
// does with its static pod path: a pod appears when its file does, is
// replaced when the file changes and is deleted when the file goes away.
//
// The files are the source of truth. Each pod made from a file carries the
// kubelet's annotations kubernetes.io/config.source=file and
// kubernetes.io/config.hash (a hash of the manifest), plus the file it came
// from (podbox.dev/config.file). Reconciling compares the pods that carry
// them with the files, so a restarted supervisor, which resumes its pods,
// neither duplicates nor restarts them. Deleting a static pod through the
// API only restarts it from its file (as the kubelet recreates a deleted
// mirror pod); remove the file to remove the pod.
//
// A file that cannot be read, decoded or validated is reported in the log
// and leaves its pods (if any were running from an earlier good version)
// alone, like the kubelet, rather than stopping them or the daemon.
package staticpods

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"podbox.dev/podbox/pod"
)

// The annotations of a pod made from a file.
const (
	AnnotationSource = "kubernetes.io/config.source"
	AnnotationHash   = "kubernetes.io/config.hash"
	AnnotationFile   = "podbox.dev/config.file"
	sourceFile       = "file"
)

// Pods is what the watcher needs of the supervisor.
type Pods interface {
	Create(p *corev1.Pod) (*corev1.Pod, error)
	Get(namespace, name string) (*corev1.Pod, error)
	List(namespace string) []corev1.Pod
	Delete(namespace, name string, gracePeriod *int64) (*corev1.Pod, error)
}

// Watcher keeps the pods of a directory running.
type Watcher struct {
	dir    string
	pods   Pods
	log    *slog.Logger
	resync time.Duration
	// reported remembers the last problem logged per file, so a bad file
	// is reported once per change, not on every resync.
	reported map[string]string
}

// Option configures a Watcher.
type Option func(*Watcher)

// WithResync sets how often the directory is reconciled even without
// change notifications (default 10 s), which also restarts deleted pods.
func WithResync(d time.Duration) Option { return func(w *Watcher) { w.resync = d } }

// New returns a watcher of dir that creates pods through pods.
func New(dir string, pods Pods, log *slog.Logger, opts ...Option) *Watcher {
	w := &Watcher{dir: dir, pods: pods, log: log, resync: 10 * time.Second, reported: map[string]string{}}
	for _, o := range opts {
		o(w)
	}
	return w
}

// Run reconciles the directory now, then whenever it changes, until ctx
// ends. The directory is created if missing.
func (w *Watcher) Run(ctx context.Context) error {
	if err := os.MkdirAll(w.dir, 0o700); err != nil {
		return fmt.Errorf("static pod directory: %w", err)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", w.dir, err)
	}
	defer fw.Close()
	if err := fw.Add(w.dir); err != nil {
		return fmt.Errorf("watch %s: %w", w.dir, err)
	}
	w.log.Info("static pods", "dir", w.dir)
	tick := time.NewTicker(w.resync)
	defer tick.Stop()
	for {
		w.Reconcile(ctx)
		// Editors write a file in several steps: let a burst settle.
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-fw.Events:
			settle(ctx, fw.Events, 200*time.Millisecond)
		case err := <-fw.Errors:
			w.log.Warn("static pods: watch", "dir", w.dir, "err", err)
		}
	}
}

// settle drains events until none has come for quiet.
func settle(ctx context.Context, events <-chan fsnotify.Event, quiet time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-events:
		case <-time.After(quiet):
			return
		}
	}
}

// desired is a pod one of the files asks for.
type desired struct {
	pod  *corev1.Pod
	file string
	hash string
}

// Reconcile makes the pods match the files once.
func (w *Watcher) Reconcile(ctx context.Context) {
	want, bad := w.read()
	have := map[string]corev1.Pod{}
	for _, p := range w.pods.List("") {
		if p.Annotations[AnnotationSource] == sourceFile {
			have[pod.Key(p.Namespace, p.Name)] = p
		}
	}
	// Pods whose file is gone (or no longer names them) are deleted; those
	// of a file that is unreadable right now are kept.
	for key, p := range have {
		if _, ok := want[key]; ok || bad[p.Annotations[AnnotationFile]] {
			continue
		}
		w.log.Info("static pods: file removed, deleting pod", "pod", key, "file", p.Annotations[AnnotationFile])
		w.deleteAndWait(ctx, p)
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		d := want[key]
		cur, exists := have[key]
		switch {
		case exists && cur.Annotations[AnnotationHash] == d.hash:
			continue
		case exists:
			w.log.Info("static pods: file changed, replacing pod", "pod", key, "file", d.file)
			w.deleteAndWait(ctx, cur)
		}
		if ctx.Err() != nil {
			return
		}
		w.create(d)
	}
}

func (w *Watcher) create(d desired) {
	_, err := w.pods.Create(d.pod)
	if apierrors.IsAlreadyExists(err) {
		if p, gerr := w.pods.Get(d.pod.Namespace, d.pod.Name); gerr == nil && p.Annotations[AnnotationSource] != sourceFile {
			err = fmt.Errorf("a pod %s/%s not made from a file exists already; delete it or rename the pod in the file", d.pod.Namespace, d.pod.Name)
		} else {
			return // still being deleted: the next pass creates it
		}
	}
	if err != nil {
		w.report(d.file, fmt.Sprintf("pod %s/%s: %v", d.pod.Namespace, d.pod.Name, err))
		return
	}
	w.log.Info("static pods: created pod", "pod", pod.Key(d.pod.Namespace, d.pod.Name), "file", d.file)
}

// deleteAndWait deletes a pod with its own grace period and waits until it
// is gone, so that a replacement of the same name can be created.
func (w *Watcher) deleteAndWait(ctx context.Context, p corev1.Pod) {
	if _, err := w.pods.Delete(p.Namespace, p.Name, nil); err != nil {
		if !apierrors.IsNotFound(err) {
			w.log.Warn("static pods: delete", "pod", p.Name, "err", err)
		}
		return
	}
	for {
		cur, err := w.pods.Get(p.Namespace, p.Name)
		if err != nil || cur.UID != p.UID {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// read decodes every manifest file of the directory. It returns the pods
// they ask for by namespace/name, and the files that could not be used.
func (w *Watcher) read() (map[string]desired, map[string]bool) {
	want := map[string]desired{}
	bad := map[string]bool{}
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		w.report(w.dir, err.Error())
		return want, bad
	}
	seen := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		ext := strings.ToLower(filepath.Ext(name))
		if e.IsDir() || strings.HasPrefix(name, ".") || (ext != ".yaml" && ext != ".yml" && ext != ".json") {
			continue
		}
		file := filepath.Join(w.dir, name)
		seen[file] = true
		pods, err := decodeFile(file)
		if err != nil {
			bad[file] = true
			w.report(file, err.Error())
			continue
		}
		for _, d := range pods {
			key := pod.Key(d.pod.Namespace, d.pod.Name)
			if other, dup := want[key]; dup {
				w.report(file, fmt.Sprintf("pod %s is also defined in %s; ignoring this one", key, other.file))
				continue
			}
			want[key] = d
		}
		w.report(file, "")
	}
	for file := range w.reported {
		if !seen[file] && file != w.dir {
			delete(w.reported, file)
		}
	}
	return want, bad
}

// decodeFile reads a manifest file's pods (strictly, as apply does) and
// validates them, so that a bad file creates nothing.
func decodeFile(file string) ([]desired, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pods, err := pod.Decode(data, file)
	if err != nil {
		return nil, err
	}
	var out []desired
	for _, p := range pods {
		if p.Namespace == "" {
			p.Namespace = metav1.NamespaceDefault
		}
		if p.Name == "" {
			return nil, fmt.Errorf("%s: a static pod needs metadata.name (generateName cannot be tracked across restarts)", file)
		}
		b, err := json.Marshal(p)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		hash := hex.EncodeToString(sum[:8])
		check := p.DeepCopy()
		pod.SetDefaults(check)
		if err := pod.Validate(check); err != nil {
			return nil, fmt.Errorf("%s: pod %q: %w", file, p.Name, err)
		}
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[AnnotationSource] = sourceFile
		p.Annotations[AnnotationHash] = hash
		p.Annotations[AnnotationFile] = file
		out = append(out, desired{pod: p, file: file, hash: hash})
	}
	if len(out) == 0 {
		return nil, errors.New(file + ": no pods in the file")
	}
	return out, nil
}

// report logs a file's problem once per distinct problem; "" clears it.
func (w *Watcher) report(file, problem string) {
	if w.reported[file] == problem {
		return
	}
	if problem == "" {
		delete(w.reported, file)
		return
	}
	w.reported[file] = problem
	w.log.Error("static pods: bad manifest file (fix or remove it)", "file", file, "err", problem)
}
