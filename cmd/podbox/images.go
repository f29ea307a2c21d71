package main

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"podbox.dev/podbox/image"
)

// The image commands work on the local store directly, without the
// supervisor: the store is safe for several processes, and leases taken by
// the supervisor for its pods protect the images pods use.

// imagesCommand is `podbox images`, docker's and podman's name for
// `podbox image ls`.
func imagesCommand() *cli.Command {
	c := imageListCommand()
	c.Name, c.Aliases, c.UsageText = "images", nil, "podbox images"
	return c
}

// rmiCommand is `podbox rmi`, docker's and podman's name for `podbox image rm`.
func rmiCommand() *cli.Command {
	c := imageRemoveCommand()
	c.Name, c.Aliases, c.UsageText = "rmi", nil, "podbox rmi IMAGE..."
	return c
}

func imageRemoveCommand() *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Aliases:   []string{"remove"},
		Usage:     "remove images that no pod uses",
		UsageText: "podbox image rm IMAGE...",
		Description: "IMAGE is a reference (busybox, localhost:5000/app:v1) or an image ID as `podbox images`\n" +
			"shows it. An image a pod uses is refused; delete the pod first.",
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usageErrorf(c, "give at least one image, e.g. `podbox rmi busybox`")
			}
			s, err := openImageStore()
			if err != nil {
				return err
			}
			return runRemove(c.App.Writer, c.App.ErrWriter, s, c.Args().Slice())
		},
	}
}

// runRemove removes each image, reporting as docker does (Untagged/Deleted
// lines, an Error line per failure), and fails if any removal failed.
func runRemove(out, errOut io.Writer, s *image.Store, args []string) error {
	before, err := s.List()
	if err != nil {
		return err
	}
	failed := false
	var gone []*image.Image
	for _, a := range args {
		removed, err := s.RemoveImage(a)
		if err != nil {
			failed = true
			var inUse *image.InUseError
			switch {
			case errors.As(err, &inUse):
				fmt.Fprintf(errOut, "Error: %s\n", inUse.Error())
			case errors.Is(err, image.ErrNotFound):
				fmt.Fprintf(errOut, "Error: No such image: %s\n", a)
			default:
				fmt.Fprintf(errOut, "Error: %v\n", err)
			}
			continue
		}
		for _, r := range removed {
			fmt.Fprintf(out, "Untagged: %s\n", r)
			for _, img := range before {
				if img.Ref == r {
					gone = append(gone, img)
				}
			}
		}
	}
	if len(gone) > 0 {
		if _, err := s.GC(); err != nil {
			return err
		}
		after, _ := s.List()
		printDeleted(out, gone, after)
	}
	if failed {
		return errReported
	}
	return nil
}

// printDeleted prints "Deleted: <id>" for each removed image whose ID no
// stored reference shares any more.
func printDeleted(w io.Writer, gone, remaining []*image.Image) {
	done := map[string]bool{}
	for _, r := range remaining {
		done[r.ID.String()] = true
	}
	for _, g := range gone {
		if !done[g.ID.String()] {
			done[g.ID.String()] = true
			fmt.Fprintf(w, "Deleted: %s\n", g.ID)
		}
	}
}

func imagePruneCommand() *cli.Command {
	return &cli.Command{
		Name:      "prune",
		Usage:     "remove untagged images (with -a: every image no pod uses) and unused data",
		UsageText: "podbox image prune [-a]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "remove every image that no pod uses, not only untagged ones"},
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "accepted for docker compatibility; podbox does not ask"},
		},
		Action: storeAction(func(c *cli.Context, s *image.Store) error {
			removed, err := s.Prune(c.Bool("all"))
			if err != nil {
				return err
			}
			res, err := s.GC()
			if err != nil {
				return err
			}
			out := c.App.Writer
			if len(removed) > 0 {
				fmt.Fprintln(out, "Deleted Images:")
				for _, img := range removed {
					fmt.Fprintf(out, "untagged: %s\n", img.Ref)
				}
				after, _ := s.List()
				printDeleted(out, removed, after)
				fmt.Fprintln(out)
			}
			fmt.Fprintf(out, "Total reclaimed space: %s\n", humanSize(res.Bytes))
			if res.Pending > 0 {
				fmt.Fprintf(c.App.ErrWriter, "Note: %d unpacked image(s) hold files of other users and are deleted by the supervisor's next garbage collection.\n", res.Pending)
			}
			return nil
		}),
	}
}

func imageVerifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "verify",
		Usage: "check every stored blob and unpacked image, and remove what is damaged",
		Description: "Blobs are hashed again; references whose content is missing are removed (pull them\n" +
			"again); unpacked images that are incomplete are removed (unpacked again when next used),\n" +
			"unless a pod uses them. Unreferenced data is then collected.",
		UsageText: "podbox image verify",
		Action: storeAction(func(c *cli.Context, s *image.Store) error {
			rep, err := s.Verify()
			if err != nil {
				return err
			}
			out := c.App.Writer
			for _, p := range rep.Problems {
				fmt.Fprintln(out, p)
			}
			for _, u := range rep.Unchecked {
				fmt.Fprintf(out, "unpacked image %.12s: not readable outside podbox's user namespace; not checked\n", u)
			}
			state := "the store is sound"
			if len(rep.Problems) > 0 {
				state = fmt.Sprintf("%d problem(s) repaired", len(rep.Problems))
			}
			fmt.Fprintf(out, "Checked %d blobs and %d unpacked images: %s; reclaimed %s.\n", rep.Blobs, rep.Trees, state, humanSize(rep.GC.Bytes))
			return nil
		}),
	}
}

// printImages prints the table of `podbox images`: docker's and podman's
// columns, with full repository names, since that is what pod manifests must
// match.
func printImages(w io.Writer, list []*image.Image, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
	for _, img := range list {
		repo, tag, _ := image.SplitRef(img.Ref)
		if tag == "" {
			tag = "<none>"
		}
		id := img.ID.Hex
		if len(id) > 12 {
			id = id[:12]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", repo, tag, id, createdAgo(img.Created, now), humanSize(img.Size))
	}
	return tw.Flush()
}

// createdAgo renders a creation time the way docker's CREATED column does:
// "2 days ago", "About an hour ago".
func createdAgo(t, now time.Time) string {
	if t.IsZero() {
		return "N/A"
	}
	d := now.Sub(t)
	if d < 0 {
		return "Less than a second ago" // a clock skew; docker says the same
	}
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit + " ago"
		}
		return fmt.Sprintf("%d %ss ago", n, unit)
	}
	const day = 24 * time.Hour
	switch {
	case d < time.Second:
		return "Less than a second ago"
	case d < time.Minute:
		return plural(int(d.Seconds()), "second")
	case d < 2*time.Minute:
		return "About a minute ago"
	case d < time.Hour:
		return plural(int(d.Minutes()), "minute")
	case d < 2*time.Hour:
		return "About an hour ago"
	case d < 2*day:
		return plural(int(d.Hours()), "hour")
	case d < 14*day:
		return plural(int(d/day), "day")
	case d < 60*day:
		return plural(int(d/(7*day)), "week")
	case d < 2*365*day:
		return plural(int(d/(30*day)), "month")
	}
	return plural(int(d/(365*day)), "year")
}
