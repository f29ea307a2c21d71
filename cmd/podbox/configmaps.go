package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"podbox.dev/podbox/objects"
	"podbox.dev/podbox/pod"
)

// applyConfigObjects creates or updates the set's ConfigMaps, then its
// Secrets, printing kubectl's `configmap/NAME created|configured|unchanged`.
// A failure is printed and the rest are still applied, as kubectl does.
func applyConfigObjects(ctx context.Context, cl *client, set *applySet, stdout, stderr io.Writer) error {
	failed := false
	report := func(kind, name, msg string, err error) {
		if err != nil {
			fmt.Fprintln(stderr, errorMessage(err))
			failed = true
			return
		}
		fmt.Fprintf(stdout, "%s/%s %s\n", kind, name, msg)
	}
	for _, cm := range set.configMaps {
		msg, err := applyConfigMap(ctx, cl.configMaps, cm)
		report("configmap", cm.Name, msg, err)
	}
	for _, sec := range set.secrets {
		msg, err := applySecret(ctx, cl.secrets, sec)
		report("secret", sec.Name, msg, err)
	}
	if failed {
		return errReported
	}
	return nil
}

// applyConfigMap creates cm, or replaces the stored one if its content
// differs, and says which.
func applyConfigMap(ctx context.Context, api typedConfigMaps, cm *corev1.ConfigMap) (string, error) {
	c := api.ConfigMaps(cm.Namespace)
	have, err := c.Get(ctx, cm.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = c.Create(ctx, cm, metav1.CreateOptions{})
		return "created", err
	}
	if err != nil {
		return "", err
	}
	if sameMeta(&cm.ObjectMeta, &have.ObjectMeta) &&
		equality.Semantic.DeepEqual(cm.Data, have.Data) &&
		equality.Semantic.DeepEqual(cm.BinaryData, have.BinaryData) &&
		isTrue(cm.Immutable) == isTrue(have.Immutable) {
		return "unchanged", nil
	}
	want := cm.DeepCopy()
	want.ResourceVersion = have.ResourceVersion
	_, err = c.Update(ctx, want, metav1.UpdateOptions{})
	return "configured", err
}

// applySecret is applyConfigMap for Secrets; stringData is compared as the
// server stores it, merged into data.
func applySecret(ctx context.Context, api typedSecrets, sec *corev1.Secret) (string, error) {
	c := api.Secrets(sec.Namespace)
	have, err := c.Get(ctx, sec.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = c.Create(ctx, sec, metav1.CreateOptions{})
		return "created", err
	}
	if err != nil {
		return "", err
	}
	want := sec.DeepCopy()
	objects.NormalizeSecret(want)
	have = have.DeepCopy()
	objects.NormalizeSecret(have) // a no-op for what the server stores
	if sameMeta(&want.ObjectMeta, &have.ObjectMeta) &&
		equality.Semantic.DeepEqual(want.Data, have.Data) &&
		want.Type == have.Type &&
		isTrue(want.Immutable) == isTrue(have.Immutable) {
		return "unchanged", nil
	}
	want.ResourceVersion = have.ResourceVersion
	_, err = c.Update(ctx, want, metav1.UpdateOptions{})
	return "configured", err
}

// sameMeta reports whether applying want's labels and annotations over have
// would change nothing.
func sameMeta(want, have *metav1.ObjectMeta) bool {
	return equality.Semantic.DeepEqual(emptyNil(want.Labels), emptyNil(have.Labels)) &&
		equality.Semantic.DeepEqual(emptyNil(want.Annotations), emptyNil(have.Annotations))
}

func emptyNil(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

func isTrue(b *bool) bool { return b != nil && *b }

// The typed client interfaces the ConfigMap and Secret commands use.
type (
	typedConfigMaps = configMapsGetter
	typedSecrets    = secretsGetter
)

// configResource is a resource type of the ConfigMap and Secret commands.
type configResource struct {
	singular string // "configmap", as in configmap/NAME
	plural   string // "configmaps"
}

var (
	configMapResource = configResource{"configmap", "configmaps"}
	secretResource    = configResource{"secret", "secrets"}
)

// configCommand runs f when c's arguments name ConfigMaps or Secrets
// (`get cm`, `describe secret/db` ...), and reports whether they did; get,
// describe and delete handle pods otherwise.
func configCommand(c *cli.Context, f func(*cli.Context, configResource, []string) error) (handled bool, err error) {
	res, names, ok, err := configArgs(c.Args().Slice())
	switch {
	case err != nil:
		return true, err
	case !ok:
		return false, nil
	}
	return true, f(c, res, names)
}

// configResourceOf recognises kubectl's spellings of the ConfigMap and Secret
// types.
func configResourceOf(t string) (configResource, bool) {
	switch strings.ToLower(t) {
	case "configmap", "configmaps", "cm", "configmap.v1", "configmaps.v1":
		return configMapResource, true
	case "secret", "secrets", "secret.v1", "secrets.v1":
		return secretResource, true
	}
	return configResource{}, false
}

// configArgs reads `TYPE NAME...` or `TYPE/NAME...` when TYPE is configmap
// or secret; ok is false for other types (pods, events), which the caller
// handles as before.
func configArgs(args []string) (res configResource, names []string, ok bool, err error) {
	if len(args) == 0 {
		return res, nil, false, nil
	}
	t, _, slash := strings.Cut(args[0], "/")
	if res, ok = configResourceOf(t); !ok {
		return res, nil, false, nil
	}
	if !slash {
		for _, a := range args[1:] {
			if strings.Contains(a, "/") {
				return res, nil, true, fmt.Errorf("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'podbox get resource/<resource_name>' instead of 'podbox get resource resource/<resource_name>'")
			}
		}
		return res, args[1:], true, nil
	}
	for _, a := range args {
		t, name, ok := strings.Cut(a, "/")
		r, known := configResourceOf(t)
		switch {
		case !ok:
			return res, nil, true, fmt.Errorf("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'podbox get resource/<resource_name>' instead of 'podbox get resource resource/<resource_name>'")
		case !known || r != res:
			return res, nil, true, fmt.Errorf("%s: podbox takes names of one resource type at a time (%s/NAME...)", a, res.singular)
		case name == "":
			return res, nil, true, fmt.Errorf("arguments in resource/name form must have a single resource and name")
		}
		names = append(names, name)
	}
	return res, names, true, nil
}

// configObject is what get and describe need of a ConfigMap or Secret.
type configObject interface {
	metav1.Object
	runtime.Object
}

// fetchConfigObjects gets the named objects (reporting missing ones on
// stderr; failed is then true) or lists the namespace (all with ns "")
// filtered by sel, sorted by namespace and name.
func fetchConfigObjects(ctx context.Context, cl *client, res configResource, ns string, names []string, sel labels.Selector, stderr io.Writer) (objs []configObject, failed bool, err error) {
	if len(names) > 0 {
		for _, name := range names {
			var o configObject
			var err error
			if res == configMapResource {
				o, err = cl.configMaps.ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
			} else {
				o, err = cl.secrets.Secrets(ns).Get(ctx, name, metav1.GetOptions{})
			}
			if err != nil {
				fmt.Fprintln(stderr, errorMessage(err))
				failed = true
				continue
			}
			objs = append(objs, o)
		}
		return objs, failed, nil
	}
	opts := metav1.ListOptions{LabelSelector: sel.String()}
	if res == configMapResource {
		list, err := cl.configMaps.ConfigMaps(ns).List(ctx, opts)
		if err != nil {
			return nil, false, err
		}
		for i := range list.Items {
			objs = append(objs, &list.Items[i])
		}
	} else {
		list, err := cl.secrets.Secrets(ns).List(ctx, opts)
		if err != nil {
			return nil, false, err
		}
		for i := range list.Items {
			objs = append(objs, &list.Items[i])
		}
	}
	// Filtered and sorted here too, whatever the server did.
	objs = slices.DeleteFunc(objs, func(o configObject) bool { return !sel.Matches(labels.Set(o.GetLabels())) })
	slices.SortFunc(objs, func(a, b configObject) int {
		return cmp.Or(cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
	})
	return objs, false, nil
}

// getConfigObjects is `podbox get configmaps|secrets`.
func getConfigObjects(c *cli.Context, res configResource, names []string) error {
	output := c.String("output")
	switch output {
	case "", "wide", "json", "yaml", "name":
	default:
		return fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: json,name,wide,yaml", output)
	}
	sel, err := selectorFlag(c)
	if err != nil {
		return err
	}
	all := c.Bool("all-namespaces")
	switch {
	case len(names) > 0 && all:
		return fmt.Errorf("a resource cannot be retrieved by name across all namespaces")
	case len(names) > 0 && !sel.Empty():
		return fmt.Errorf("name cannot be provided when a selector is specified")
	}
	ns := c.String("namespace")
	if all {
		ns = metav1.NamespaceAll
	}
	cl, err := connect(c.Context)
	if err != nil {
		return err
	}
	objs, failed, err := fetchConfigObjects(c.Context, cl, res, ns, names, sel, c.App.ErrWriter)
	if err != nil {
		return err
	}
	if err := printConfigObjects(c.App.Writer, c.App.ErrWriter, res, objs, output, all, len(names), ns, time.Now()); err != nil {
		return err
	}
	if failed {
		return errReported
	}
	return nil
}

// printConfigObjects prints in kubectl's formats: the table (NAME DATA AGE
// for ConfigMaps, NAME TYPE DATA AGE for Secrets, NAMESPACE first with -A),
// -o name, or the objects as JSON/YAML (one named object as itself, else a
// List).
func printConfigObjects(stdout, stderr io.Writer, res configResource, objs []configObject, output string, all bool, named int, ns string, now time.Time) error {
	switch output {
	case "json", "yaml":
		if named > 0 && len(objs) == 0 {
			return nil
		}
		kind := "ConfigMap"
		if res == secretResource {
			kind = "Secret"
		}
		items := make([]any, len(objs))
		for i, o := range objs {
			o := o.DeepCopyObject()
			o.GetObjectKind().SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
			items[i] = o
		}
		if named == 1 && len(items) == 1 {
			return printObject(stdout, output, items[0])
		}
		return printObject(stdout, output, map[string]any{
			"apiVersion": "v1", "kind": "List", "items": items,
			"metadata": map[string]any{"resourceVersion": ""},
		})
	case "name":
		for _, o := range objs {
			fmt.Fprintf(stdout, "%s/%s\n", res.singular, o.GetName())
		}
		return nil
	}
	if len(objs) == 0 {
		if named == 0 {
			if ns == metav1.NamespaceAll {
				fmt.Fprintln(stderr, "No resources found")
			} else {
				fmt.Fprintf(stderr, "No resources found in %s namespace.\n", ns)
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 6, 4, 3, ' ', 0)
	var header []string
	if all {
		header = append(header, "NAMESPACE")
	}
	header = append(header, "NAME")
	if res == secretResource {
		header = append(header, "TYPE")
	}
	fmt.Fprintln(tw, strings.Join(append(header, "DATA", "AGE"), "\t"))
	for _, o := range objs {
		var cells []string
		if all {
			cells = append(cells, o.GetNamespace())
		}
		cells = append(cells, o.GetName())
		switch o := o.(type) {
		case *corev1.ConfigMap:
			cells = append(cells, strconv.Itoa(len(o.Data)+len(o.BinaryData)))
		case *corev1.Secret:
			cells = append(cells, string(o.Type), strconv.Itoa(len(o.Data)))
		}
		cells = append(cells, pod.Age(o.GetCreationTimestamp().Time, now))
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// describeConfigObjects is `podbox describe configmap|secret`: every named
// object (or, without names, every one of the namespace matching -l) in
// kubectl's layout, separated by a blank line.
func describeConfigObjects(c *cli.Context, res configResource, names []string) error {
	sel, err := selectorFlag(c)
	if err != nil {
		return err
	}
	if len(names) > 0 && !sel.Empty() {
		return fmt.Errorf("name cannot be provided when a selector is specified")
	}
	cl, err := connect(c.Context)
	if err != nil {
		return err
	}
	objs, failed, err := fetchConfigObjects(c.Context, cl, res, c.String("namespace"), names, sel, c.App.ErrWriter)
	if err != nil {
		return err
	}
	for i, o := range objs {
		if i > 0 {
			fmt.Fprintln(c.App.Writer)
		}
		switch o := o.(type) {
		case *corev1.ConfigMap:
			describeConfigMap(c.App.Writer, o)
		case *corev1.Secret:
			describeSecret(c.App.Writer, o)
		}
	}
	if failed {
		return errReported
	}
	return nil
}

// describeConfigMap writes kubectl's description of a ConfigMap: each data
// key with its value, binaryData keys with their sizes. podbox records no
// events for ConfigMaps, hence Events: <none>.
func describeConfigMap(w io.Writer, cm *corev1.ConfigMap) {
	d := describer{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)}
	describeObjectMeta(d, cm)
	d.line(0, "")
	d.line(0, "Data")
	d.line(0, "====")
	for _, k := range slices.Sorted(maps.Keys(cm.Data)) {
		d.line(0, "%s:", k)
		d.line(0, "----")
		d.line(0, "%s", cm.Data[k])
		d.line(0, "")
	}
	d.line(0, "")
	d.line(0, "BinaryData")
	d.line(0, "====")
	for _, k := range slices.Sorted(maps.Keys(cm.BinaryData)) {
		d.line(0, "%s: %d bytes", k, len(cm.BinaryData[k]))
	}
	d.line(0, "")
	d.line(0, "Events:\t<none>")
	d.tw.Flush()
}

// describeSecret writes kubectl's description of a Secret: its type and the
// size of each value, never a value.
func describeSecret(w io.Writer, sec *corev1.Secret) {
	d := describer{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)}
	describeObjectMeta(d, sec)
	d.line(0, "")
	d.line(0, "Type:\t%s", sec.Type)
	d.line(0, "")
	d.line(0, "Data")
	d.line(0, "====")
	for _, k := range slices.Sorted(maps.Keys(sec.Data)) {
		d.line(0, "%s:\t%d bytes", k, len(sec.Data[k]))
	}
	d.tw.Flush()
}

func describeObjectMeta(d describer, o metav1.Object) {
	d.line(0, "Name:\t%s", o.GetName())
	d.line(0, "Namespace:\t%s", o.GetNamespace())
	d.multiline(0, "Labels", keyValues(o.GetLabels(), "=", nil))
	d.multiline(0, "Annotations", keyValues(o.GetAnnotations(), ": ", map[string]bool{corev1.LastAppliedConfigAnnotation: true}))
}

// configRef names a ConfigMap or Secret in a namespace.
type configRef struct {
	res             configResource
	namespace, name string
}

// deleteConfigRefs deletes ConfigMaps and Secrets (those of `delete -f`),
// printing `configmap "x" deleted` for each; every failure is reported and
// the others are still deleted.
func deleteConfigRefs(ctx context.Context, cl *client, refs []configRef, ignoreNotFound bool, stdout, stderr io.Writer) error {
	failed := false
	for _, r := range refs {
		var err error
		if r.res == configMapResource {
			err = cl.configMaps.ConfigMaps(r.namespace).Delete(ctx, r.name, metav1.DeleteOptions{})
		} else {
			err = cl.secrets.Secrets(r.namespace).Delete(ctx, r.name, metav1.DeleteOptions{})
		}
		switch {
		case err == nil:
			fmt.Fprintf(stdout, "%s %q deleted\n", r.res.singular, r.name)
		case ignoreNotFound && apierrors.IsNotFound(err):
		default:
			fmt.Fprintln(stderr, errorMessage(err))
			failed = true
		}
	}
	if failed {
		return errReported
	}
	return nil
}

// deleteConfigObjects is `podbox delete configmap|secret NAME...|--all`,
// printing kubectl's `configmap "NAME" deleted`.
func deleteConfigObjects(c *cli.Context, res configResource, names []string) error {
	all := c.Bool("all")
	switch {
	case all && len(names) > 0:
		return fmt.Errorf("names cannot be given together with --all")
	case !all && len(names) == 0:
		return fmt.Errorf("resource(s) were provided, but no name was specified")
	}
	ns := c.String("namespace")
	cl, err := connect(c.Context)
	if err != nil {
		return err
	}
	if all {
		objs, _, err := fetchConfigObjects(c.Context, cl, res, ns, nil, labels.Everything(), c.App.ErrWriter)
		if err != nil {
			return err
		}
		for _, o := range objs {
			names = append(names, o.GetName())
		}
		if len(names) == 0 {
			fmt.Fprintln(c.App.ErrWriter, "No resources found")
			return nil
		}
	}
	refs := make([]configRef, 0, len(names))
	for _, name := range names {
		refs = append(refs, configRef{res, ns, name})
	}
	return deleteConfigRefs(c.Context, cl, refs, false, c.App.Writer, c.App.ErrWriter)
}
