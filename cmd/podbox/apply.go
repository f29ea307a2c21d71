package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"

	"podbox.dev/podbox/objects"
	"podbox.dev/podbox/pod"
)

func applyCommand() *cli.Command {
	return &cli.Command{
		Name:      "apply",
		Usage:     "create the pods, ConfigMaps and Secrets described in manifest files",
		ArgsUsage: " ",
		Description: "Like kubectl apply for Pods, ConfigMaps and Secrets. Every input is read and\n" +
			"checked before anything is created, so a mistake in one file creates nothing.\n" +
			"ConfigMaps and Secrets are created or updated before pods. A pod that already\n" +
			"exists with the same spec is left alone; podbox cannot yet change a pod in\n" +
			"place, so a changed spec is refused: delete the pod first.\n\n" +
			"Examples:\n" +
			"  podbox apply -f pod.yaml\n" +
			"  podbox apply -f manifests/\n" +
			"  cat pod.yaml | podbox apply -f -",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{
				Name:    "filename",
				Aliases: []string{"f"},
				Usage:   "a manifest file, a directory of *.yaml/*.yml/*.json files, or - for stdin (repeatable)",
			},
			namespaceFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf(c, "unexpected arguments %q: name manifests with -f", c.Args().Slice())
			}
			files := c.StringSlice("filename")
			if len(files) == 0 {
				return usageErrorf(c, "must specify one of -f FILE, -f DIR or -f -")
			}
			set, err := loadObjects(files, c.App.Reader, c.String("namespace"), c.IsSet("namespace"))
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

// manifest is one input of apply: where it came from, and its bytes.
type manifest struct {
	source string
	data   []byte
}

// readManifests reads every -f argument: a file, every *.yaml, *.yml and
// *.json file of a directory in name order (not recursing, like kubectl
// without -R), or stdin for "-".
func readManifests(args []string, stdin io.Reader) ([]manifest, error) {
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
			entries, err := os.ReadDir(arg)
			if err != nil {
				return nil, err
			}
			paths = nil
			for _, e := range entries {
				switch filepath.Ext(e.Name()) {
				case ".yaml", ".yml", ".json":
					if !e.IsDir() {
						paths = append(paths, filepath.Join(arg, e.Name()))
					}
				}
			}
			slices.Sort(paths)
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

// applySet is what apply creates, by kind, each in input order.
type applySet struct {
	configMaps []*corev1.ConfigMap
	secrets    []*corev1.Secret
	pods       []*corev1.Pod
}

// loadObjects reads, decodes, defaults and validates every input, and
// returns the objects only if all of them are good: apply must not leave a
// half-created set behind because the third file had a typo.
//
// namespace fills in objects that name none. When the user gave -n
// explicitly, a manifest naming another namespace is an error (kubectl's
// rule), because silently creating the object somewhere else than asked is
// worse.
func loadObjects(files []string, stdin io.Reader, namespace string, explicit bool) (*applySet, error) {
	inputs, err := readManifests(files, stdin)
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
		pod.SetDefaults(o)
		if err := pod.Validate(o); err != nil {
			return err
		}
		s.pods = append(s.pods, o)
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

// applyPods creates each pod, reporting pod/NAME created, or unchanged when
// an identical pod already exists. Failures are printed as they happen and
// the remaining pods are still applied, as kubectl does.
func applyPods(ctx context.Context, client typedcorev1.PodsGetter, pods []*corev1.Pod, stdout, stderr io.Writer) error {
	failed := false
	for _, p := range pods {
		msg, err := applyPod(ctx, client, p)
		if err != nil {
			fmt.Fprintln(stderr, errorMessage(err))
			failed = true
			continue
		}
		fmt.Fprintf(stdout, "pod/%s %s\n", p.Name, msg)
	}
	if failed {
		return errReported
	}
	return nil
}

// applyPod creates one pod and says what happened to it.
func applyPod(ctx context.Context, client typedcorev1.PodsGetter, p *corev1.Pod) (string, error) {
	_, err := client.Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{})
	if err == nil {
		return "created", nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return "", err
	}
	existing, err := client.Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if sameSpec(p, existing) {
		return "unchanged", nil
	}
	return "", fmt.Errorf("pod/%s: the pod spec changed; podbox cannot update a pod in place yet: delete it first (podbox delete pod %s%s)",
		p.Name, p.Name, namespaceArg(p.Namespace))
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

// namespaceArg is the " -n NS" a suggested command needs outside the default
// namespace.
func namespaceArg(ns string) string {
	if ns == "" || ns == metav1.NamespaceDefault {
		return ""
	}
	return " -n " + ns
}
