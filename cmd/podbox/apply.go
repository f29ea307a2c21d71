package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"podbox.dev/podbox/objects"
	"podbox.dev/podbox/pod"
)

func applyCommand() *cli.Command {
	return &cli.Command{
		Name:      "apply",
		Usage:     "create or update the pods, ConfigMaps and Secrets described in manifest files",
		ArgsUsage: " ",
		Description: "Like kubectl apply for Pods, ConfigMaps and Secrets. Every input is read and\n" +
			"checked before anything is created, so a mistake in one file creates nothing.\n" +
			"ConfigMaps and Secrets are applied before pods. A new pod is created; an\n" +
			"existing one with the same spec is unchanged, or configured in place when only\n" +
			"its labels or annotations differ (labels the manifest no longer has, but had\n" +
			"when last applied, are removed). A changed spec cannot be changed in place\n" +
			"and podbox has no controllers to roll it out, so apply replaces the pod:\n" +
			"it deletes it gracefully, waits until it is gone and creates it again.\n" +
			"The manifest is kept in the kubectl.kubernetes.io/last-applied-configuration\n" +
			"annotation, as kubectl does.\n\n" +
			"Examples:\n" +
			"  podbox apply -f pod.yaml\n" +
			"  podbox apply -f manifests/ -R\n" +
			"  cat pod.yaml | podbox apply -f -\n" +
			"  podbox get pod web -o yaml | podbox apply -f -",
		Flags: manifestFlags(),
		Action: func(c *cli.Context) error {
			set, err := manifestObjects(c)
			if err != nil {
				return err
			}
			cl, err := connect(c.Context)
			if err != nil {
				return err
			}
			// The objects pods refer to come first, so that a pod finds
			// its ConfigMaps and Secrets when it starts.
			cfgErr := applyConfigObjects(c.Context, cl, set, c.App.Writer, c.App.ErrWriter)
			podErr := applyPods(c.Context, cl.pods, set.pods, c.App.Writer, c.App.ErrWriter)
			return errors.Join(cfgErr, podErr)
		},
	}
}

func createCommand() *cli.Command {
	return &cli.Command{
		Name:      "create",
		Usage:     "create the pods described in manifest files; existing pods are an error",
		ArgsUsage: " ",
		Description: "Like kubectl create -f: every input is read and checked first, then each pod\n" +
			"is created. A pod that already exists is reported (AlreadyExists) and left\n" +
			"alone; the others are still created.\n\n" +
			"Examples:\n" +
			"  podbox create -f pod.yaml\n" +
			"  podbox create -f manifests/ -R\n" +
			"  podbox create -f pod.yaml --save-config   # later changes with podbox apply",
		Flags: append(manifestFlags(),
			&cli.BoolFlag{Name: "save-config", Usage: "keep the manifest in the last-applied-configuration annotation, for later podbox apply"}),
		Action: func(c *cli.Context) error {
			set, err := manifestObjects(c)
			if err != nil {
				return err
			}
			cl, err := connect(c.Context)
			if err != nil {
				return err
			}
			if len(set.configMaps)+len(set.secrets) > 0 {
				return fmt.Errorf("podbox create makes pods only; use podbox apply -f for ConfigMaps and Secrets")
			}
			return createPods(c.Context, cl.pods, set.pods, c.Bool("save-config"), c.App.Writer, c.App.ErrWriter)
		},
	}
}

// manifestFlags are the flags of commands that read manifests.
func manifestFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{
			Name:    "filename",
			Aliases: []string{"f"},
			Usage:   "a manifest file, a directory of *.yaml/*.yml/*.json files, or - for stdin (repeatable)",
		},
		&cli.BoolFlag{Name: "recursive", Aliases: []string{"R"}, Usage: "read the directories given with -f and their subdirectories"},
		namespaceFlag(),
	}
}

// manifestObjects reads the objects of the -f arguments of c.
func manifestObjects(c *cli.Context) (*applySet, error) {
	if c.NArg() > 0 {
		return nil, usageErrorf(c, "unexpected arguments %q: name manifests with -f", c.Args().Slice())
	}
	files := c.StringSlice("filename")
	if len(files) == 0 {
		return nil, usageErrorf(c, "must specify one of -f FILE, -f DIR or -f -")
	}
	return loadObjects(files, c.App.Reader, c.String("namespace"), c.IsSet("namespace"), c.Bool("recursive"))
}

// manifest is one input of apply: where it came from, and its bytes.
type manifest struct {
	source string
	data   []byte
}

// readManifests reads every -f argument: a file, every *.yaml, *.yml and
// *.json file of a directory in name order (with recursive, of its
// subdirectories too, as kubectl -R), or stdin for "-".
func readManifests(args []string, stdin io.Reader, recursive bool) ([]manifest, error) {
	var out []manifest
	for _, arg := range args {
		if arg == "-" {
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("reading stdin: %w", err)
			}
			out = append(out, manifest{source: "STDIN", data: data})
			continue
		}
		if strings.HasPrefix(arg, "http://") || strings.HasPrefix(arg, "https://") {
			return nil, fmt.Errorf("%s: podbox reads manifests from files and stdin only; download it first", arg)
		}
		st, err := os.Stat(arg)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("the path %q does not exist", arg)
			}
			return nil, err
		}
		paths := []string{arg}
		if st.IsDir() {
			if paths, err = manifestFiles(arg, recursive); err != nil {
				return nil, err
			}
		}
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				return nil, err
			}
			out = append(out, manifest{source: p, data: data})
		}
	}
	return out, nil
}

// manifestFiles lists the manifest files of a directory in name order, and
// with recursive those of its subdirectories, each after its parent's files.
func manifestFiles(dir string, recursive bool) ([]string, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case e.IsDir():
			if path != dir && !recursive {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(e.Name()) {
		case ".yaml", ".yml", ".json":
			paths = append(paths, path)
		}
		return nil
	})
	return paths, err
}

// applied is a pod to create or apply: defaulted and validated, with the
// manifest as written (for the last-applied-configuration annotation).
type applied struct {
	pod      *corev1.Pod
	manifest []byte
}

// applySet is what apply creates, by kind, each in input order.
type applySet struct {
	configMaps []*corev1.ConfigMap
	secrets    []*corev1.Secret
	pods       []applied
}

// loadObjects reads, decodes, defaults and validates every input, and
// returns the objects only if all of them are good: apply must not leave a
// half-created set behind because the third file had a typo.
//
// namespace fills in objects that name none. When the user gave -n
// explicitly, a manifest naming another namespace is an error (kubectl's
// rule), because silently creating the object somewhere else than asked is
// worse.
func loadObjects(files []string, stdin io.Reader, namespace string, explicit, recursive bool) (*applySet, error) {
	inputs, err := readManifests(files, stdin, recursive)
	if err != nil {
		return nil, err
	}
	// Every problem of every input is reported, not just the first, so one
	// run tells the user everything to fix.
	set := &applySet{}
	var errs []error
	for _, in := range inputs {
		decoded, err := pod.DecodeObjects(in.data, in.source, pod.ManifestKinds)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, obj := range decoded {
			m, ok := obj.(metav1.Object)
			if !ok {
				errs = append(errs, fmt.Errorf("%s: %T has no metadata", in.source, obj))
				continue
			}
			switch {
			case m.GetNamespace() == "":
				m.SetNamespace(namespace)
			case explicit && m.GetNamespace() != namespace:
				errs = append(errs, fmt.Errorf("%s: the namespace from the provided object %q does not match the namespace %q. You must pass '--namespace=%s' to perform this operation.",
					in.source, m.GetNamespace(), namespace, m.GetNamespace()))
				continue
			}
			if err := set.add(obj); err != nil {
				// An API server's Invalid; render it as kubectl would,
				// after the file it came from.
				errs = append(errs, fmt.Errorf("%s: %s", in.source, errorMessage(err)))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(set.pods)+len(set.configMaps)+len(set.secrets) == 0 {
		return nil, errors.New("no objects passed to apply")
	}
	return set, nil
}

// add defaults and validates obj and adds it to the set.
func (s *applySet) add(obj runtime.Object) error {
	switch o := obj.(type) {
	case *corev1.Pod:
		manifest, err := lastApplied(o)
		if err != nil {
			return err
		}
		pod.SetDefaults(o)
		if err := pod.Validate(o); err != nil {
			return err
		}
		s.pods = append(s.pods, applied{pod: o, manifest: manifest})
	case *corev1.ConfigMap:
		if err := objects.ValidateConfigMap(o); err != nil {
			return err
		}
		s.configMaps = append(s.configMaps, o)
	case *corev1.Secret:
		// Validated as the server will store it; sent as written.
		n := o.DeepCopy()
		objects.NormalizeSecret(n)
		if err := objects.ValidateSecret(n); err != nil {
			return err
		}
		s.secrets = append(s.secrets, o)
	default:
		return fmt.Errorf("podbox cannot apply %T", obj)
	}
	return nil
}

// lastAppliedAnnotation is where kubectl apply keeps the manifest it last
// applied, to know which labels and annotations it owns.
const lastAppliedAnnotation = corev1.LastAppliedConfigAnnotation

// lastApplied is a manifest as kubectl keeps it in the annotation: compact
// JSON of the object as written, without the annotation itself. What only
// the server sets (status, uid, resourceVersion, timestamps) is left out, so
// that `get -o yaml | apply -f -` settles instead of changing the annotation
// on every round.
func lastApplied(p *corev1.Pod) ([]byte, error) {
	c := p.DeepCopy()
	delete(c.Annotations, lastAppliedAnnotation)
	if len(c.Annotations) == 0 {
		c.Annotations = nil
	}
	c.Status = corev1.PodStatus{}
	c.UID, c.ResourceVersion, c.Generation, c.ManagedFields = "", "", 0, nil
	c.CreationTimestamp, c.DeletionTimestamp, c.DeletionGracePeriodSeconds = metav1.Time{}, nil, nil
	c.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// withLastApplied returns the pod carrying its manifest in the annotation.
func withLastApplied(a applied) *corev1.Pod {
	p := a.pod.DeepCopy()
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	p.Annotations[lastAppliedAnnotation] = string(a.manifest)
	return p
}

// applyPods applies each pod, printing pod/NAME created, configured or
// unchanged. Failures are printed as they happen and the remaining pods are
// still applied, as kubectl does.
func applyPods(ctx context.Context, client podsGetter, pods []applied, stdout, stderr io.Writer) error {
	failed := false
	for _, a := range pods {
		msg, err := applyPod(ctx, client, a, stderr)
		if err != nil {
			fmt.Fprintln(stderr, errorMessage(err))
			failed = true
			continue
		}
		fmt.Fprintf(stdout, "pod/%s %s\n", a.pod.Name, msg)
	}
	if failed {
		return errReported
	}
	return nil
}

// applyPod creates a pod, changes its labels and annotations in place, or
// replaces it when its spec changed, and says which.
func applyPod(ctx context.Context, client podsGetter, a applied, stderr io.Writer) (string, error) {
	api := client.Pods(a.pod.Namespace)
	want := withLastApplied(a)
	existing, err := api.Get(ctx, want.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if _, err := api.Create(ctx, want, metav1.CreateOptions{}); err != nil {
			return "", err
		}
		return "created", nil
	}
	if err != nil {
		return "", err
	}
	if existing.DeletionTimestamp != nil {
		return "", fmt.Errorf("pod/%s is being deleted; apply again once it is gone", want.Name)
	}
	if _, ok := existing.Annotations[lastAppliedAnnotation]; !ok {
		fmt.Fprintf(stderr, "Warning: resource pods/%s is missing the %s annotation which is required by podbox apply. podbox apply should only be used on resources created declaratively by either podbox create --save-config or podbox apply. The missing annotation will be patched automatically.\n",
			want.Name, lastAppliedAnnotation)
	}
	if !sameSpec(want, existing) {
		if err := replacePod(ctx, api, existing, want); err != nil {
			return "", err
		}
		fmt.Fprintf(stderr, "Warning: pod/%s was replaced: its spec changed and a pod's spec cannot change in place (podbox has no controllers), so it was deleted and created again\n", want.Name)
		return "configured", nil
	}
	patch, err := metadataPatch(existing, want)
	if err != nil {
		return "", err
	}
	if string(patch) == "{}" {
		return "unchanged", nil
	}
	if _, err := api.Patch(ctx, want.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return "", err
	}
	return "configured", nil
}

// metadataPatch is kubectl apply's three-way patch restricted to labels and
// annotations: from the last applied manifest (what apply owns), the new
// manifest and the live pod. Labels added by other means (podbox label) are
// kept; labels the last manifest had and this one has not are removed.
func metadataPatch(live, want *corev1.Pod) ([]byte, error) {
	var last corev1.Pod
	if s := live.Annotations[lastAppliedAnnotation]; s != "" {
		if err := json.Unmarshal([]byte(s), &last); err != nil {
			return nil, fmt.Errorf("pod/%s: reading its %s annotation: %w", live.Name, lastAppliedAnnotation, err)
		}
	}
	metaOnly := func(p *corev1.Pod) ([]byte, error) {
		// Empty maps, never null: a null would delete all the keys,
		// including those apply does not own.
		meta := map[string]map[string]string{"labels": {}, "annotations": {}}
		maps.Copy(meta["labels"], p.Labels)
		maps.Copy(meta["annotations"], p.Annotations)
		return json.Marshal(map[string]any{"metadata": meta})
	}
	original, err := metaOnly(&last)
	if err != nil {
		return nil, err
	}
	modified, err := metaOnly(want)
	if err != nil {
		return nil, err
	}
	current, err := metaOnly(live)
	if err != nil {
		return nil, err
	}
	schema, err := strategicpatch.NewPatchMetaFromStruct(corev1.Pod{})
	if err != nil {
		return nil, err
	}
	return strategicpatch.CreateThreeWayMergePatch(original, modified, current, schema, true)
}

// replacePod deletes a pod gracefully, waits until it is gone and creates
// its replacement: how apply changes a spec without controllers.
func replacePod(ctx context.Context, api podInterface, old, want *corev1.Pod) error {
	if err := api.Delete(ctx, old.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &old.UID}}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if err := waitGone(ctx, api, old.Name, old.UID, deletePollInterval); err != nil {
		return fmt.Errorf("waiting for the old pod/%s to be gone: %w", old.Name, err)
	}
	_, err := api.Create(ctx, want, metav1.CreateOptions{})
	return err
}

// createPods creates each pod, printing pod/NAME created; an existing pod is
// an AlreadyExists error, as with kubectl create.
func createPods(ctx context.Context, client podsGetter, pods []applied, saveConfig bool, stdout, stderr io.Writer) error {
	failed := false
	for _, a := range pods {
		p := a.pod
		if saveConfig {
			p = withLastApplied(a)
		}
		if _, err := client.Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			fmt.Fprintln(stderr, errorMessage(err))
			failed = true
			continue
		}
		fmt.Fprintf(stdout, "pod/%s created\n", p.Name)
	}
	if failed {
		return errReported
	}
	return nil
}

// sameSpec reports whether applying want over have would change nothing.
// Both sides are defaulted first, so a manifest that leaves a field to its
// default equals the stored pod that has the default written out. The node
// name is the supervisor's to fill in, so it only counts when the manifest
// sets one.
func sameSpec(want, have *corev1.Pod) bool {
	w, h := want.DeepCopy(), have.DeepCopy()
	pod.SetDefaults(w)
	pod.SetDefaults(h)
	if w.Spec.NodeName == "" {
		h.Spec.NodeName = ""
	}
	return equality.Semantic.DeepEqual(w.Spec, h.Spec)
}
