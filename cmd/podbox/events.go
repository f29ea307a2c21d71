package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

func isEventsArg(a string) bool {
	return a == "events" || a == "event" || a == "ev"
}

// getEvents is `podbox get events`: kubectl's table of LAST SEEN, TYPE,
// REASON, OBJECT and MESSAGE, oldest first.
func getEvents(c *cli.Context) error {
	if c.NArg() > 1 {
		return usageErrorf(c, "podbox get events takes no names")
	}
	ns := c.String("namespace")
	all := c.Bool("all-namespaces")
	if all {
		ns = ""
	}
	cl, err := connect(c.Context)
	if err != nil {
		return err
	}
	return listEvents(c.Context, cl.events, ns, all, c.String("output"), c.App.Writer, c.App.ErrWriter, time.Now())
}

func listEvents(ctx context.Context, events eventsGetter, ns string, all bool, output string, stdout, stderr io.Writer, now time.Time) error {
	list, err := events.Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	switch output {
	case "json", "yaml":
		for i := range list.Items {
			list.Items[i].APIVersion, list.Items[i].Kind = "v1", "Event"
		}
		list.APIVersion, list.Kind = "v1", "List"
		return printObject(stdout, output, list)
	case "", "wide":
	default:
		return fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: json,wide,yaml", output)
	}
	if len(list.Items) == 0 {
		if all {
			fmt.Fprintln(stderr, "No resources found")
		} else {
			fmt.Fprintf(stderr, "No resources found in %s namespace.\n", ns)
		}
		return nil
	}
	printEventTable(stdout, list.Items, all, now)
	return nil
}

// printEventTable prints events the way kubectl does, oldest last-seen first.
func printEventTable(w io.Writer, items []corev1.Event, withNamespace bool, now time.Time) {
	slices.SortStableFunc(items, func(a, b corev1.Event) int { return a.LastTimestamp.Compare(b.LastTimestamp.Time) })
	tw := tabwriter.NewWriter(w, 6, 4, 3, ' ', 0)
	head := []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"}
	if withNamespace {
		head = append([]string{"NAMESPACE"}, head...)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, ev := range items {
		seen := duration.HumanDuration(now.Sub(ev.LastTimestamp.Time))
		if ev.Count > 1 {
			seen = fmt.Sprintf("%s (x%d over %s)", seen, ev.Count, duration.HumanDuration(now.Sub(ev.FirstTimestamp.Time)))
		}
		object := strings.ToLower(ev.InvolvedObject.Kind) + "/" + ev.InvolvedObject.Name
		row := []string{seen, ev.Type, ev.Reason, object, strings.TrimSpace(ev.Message)}
		if withNamespace {
			row = append([]string{ev.Namespace}, row...)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
}
