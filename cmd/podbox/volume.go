package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"podbox.dev/podbox/pod"
)

// volumeCommand is `podbox volume`: the named persistent volumes that pods'
// persistentVolumeClaim volumes use. They are created by the first pod that
// names one and outlive their pods; the supervisor serves them as
// PersistentVolumeClaim objects.
func volumeCommand() *cli.Command {
	return &cli.Command{
		Name:  "volume",
		Usage: "list and remove the persistent volumes of persistentVolumeClaim volumes",
		Description: "A pod volume `persistentVolumeClaim: {claimName: data}` uses the volume \"data\" of the\n" +
			"pod's namespace, created empty the first time a pod uses it. It keeps its files when\n" +
			"the pod is deleted, until `podbox volume rm data`.",
		Subcommands: []*cli.Command{volumeListCommand(), volumeRemoveCommand()},
	}
}

func volumeListCommand() *cli.Command {
	return &cli.Command{
		Name:      "ls",
		Aliases:   []string{"list"},
		Usage:     "list the volumes: namespace, name, space used on disk, the pods using them, age",
		UsageText: "podbox volume ls [-n NAMESPACE]",
		Flags: []cli.Flag{&cli.StringFlag{Name: "namespace", Aliases: []string{"n"},
			Usage: "only the volumes of this namespace (default: all namespaces)"}},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf(c, "volume ls takes no arguments")
			}
			cl, err := connect(c.Context)
			if err != nil {
				return err
			}
			return listVolumes(c.Context, c.App.Writer, cl.claims, cl.pods, c.String("namespace"), time.Now())
		},
	}
}

func volumeRemoveCommand() *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Aliases:   []string{"remove"},
		Usage:     "remove volumes and their files; a volume a pod uses is refused",
		UsageText: "podbox volume rm [-n NAMESPACE] NAME...",
		Flags:     []cli.Flag{namespaceFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usageErrorf(c, "give at least one volume, e.g. `podbox volume rm data`")
			}
			cl, err := connect(c.Context)
			if err != nil {
				return err
			}
			return removeVolumes(c.Context, c.App.Writer, c.App.ErrWriter, cl.claims, c.String("namespace"), c.Args().Slice())
		},
	}
}

// listVolumes prints the claims with the pods that use them.
func listVolumes(ctx context.Context, w io.Writer, claims claimsGetter, pods podsGetter, namespace string, now time.Time) error {
	list, err := claims.PersistentVolumeClaims(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	podList, err := pods.Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	users := claimUsers(podList.Items)
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tSIZE\tUSED BY\tAGE")
	for _, pvc := range list.Items {
		size := pvc.Status.Capacity[corev1.ResourceStorage]
		by := users[pvc.Namespace+"/"+pvc.Name]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", pvc.Namespace, pvc.Name, humanSize(size.Value()), orNone(strings.Join(by, ",")), pod.Age(pvc.CreationTimestamp.Time, now))
	}
	return tw.Flush()
}

// claimUsers maps namespace/claim to the names of the pods using it.
func claimUsers(pods []corev1.Pod) map[string][]string {
	out := map[string][]string{}
	for _, p := range pods {
		for _, v := range p.Spec.Volumes {
			if v.PersistentVolumeClaim != nil {
				k := p.Namespace + "/" + v.PersistentVolumeClaim.ClaimName
				out[k] = append(out[k], p.Name)
			}
		}
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}

// removeVolumes deletes each claim, reporting each outcome as kubectl
// delete does, and fails if any could not be removed.
func removeVolumes(ctx context.Context, out, errOut io.Writer, claims claimsGetter, namespace string, names []string) error {
	failed := false
	for _, n := range names {
		if err := claims.PersistentVolumeClaims(namespace).Delete(ctx, n, metav1.DeleteOptions{}); err != nil {
			fmt.Fprintln(errOut, errorMessage(err))
			failed = true
			continue
		}
		fmt.Fprintf(out, "volume %q deleted\n", n)
	}
	if failed {
		return errReported
	}
	return nil
}
