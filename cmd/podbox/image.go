package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"podbox.dev/podbox/dirs"
	"podbox.dev/podbox/image"
)

// imageCommand is `podbox image`: it manages the local image store directly,
// without the supervisor, since the store is safe for several processes.
func imageCommand() *cli.Command {
	return &cli.Command{
		Name:  "image",
		Usage: "manage the local image store",
		Subcommands: []*cli.Command{
			imageLoadCommand(),
			imageListCommand(),
			imagePullSubcommand(),
			imageRemoveCommand(),
			imagePruneCommand(),
			imageVerifyCommand(),
		},
	}
}

func imageLoadCommand() *cli.Command {
	return &cli.Command{
		Name:      "load",
		Usage:     "load images from a `docker save` tarball or an OCI layout directory",
		UsageText: "podbox image load -i FILE",
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name:     "input",
				Aliases:  []string{"i"},
				Usage:    "read from `FILE` (a docker save tarball or an OCI image layout directory)",
				Required: true,
			},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf(c, "unexpected arguments %q: give the file with -i FILE", c.Args().Slice())
			}
			s, err := openImageStore()
			if err != nil {
				return err
			}
			loaded, err := s.Load(c.String("input"))
			// Report what was stored before a later image failed, as docker does.
			for _, img := range loaded {
				fmt.Fprintf(c.App.Writer, "Loaded image: %s\n", img.Ref)
			}
			return err
		},
	}
}

func imageListCommand() *cli.Command {
	return &cli.Command{
		Name:      "ls",
		Aliases:   []string{"list"},
		Usage:     "list stored images",
		UsageText: "podbox image ls",
		Action: storeAction(func(c *cli.Context, s *image.Store) error {
			list, err := s.List()
			if err != nil {
				return err
			}
			return printImages(c.App.Writer, list, time.Now())
		}),
	}
}

// imagePullSubcommand is `podbox image pull`, the same as `podbox pull`.
func imagePullSubcommand() *cli.Command {
	c := pullCommand()
	c.UsageText = "podbox image pull [--quiet] IMAGE"
	return c
}

// storeAction is the Action of an image command that takes no arguments:
// it opens the user's image store and runs f with it.
func storeAction(f func(c *cli.Context, s *image.Store) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.NArg() > 0 {
			return usageErrorf(c, "unexpected arguments %q", c.Args().Slice())
		}
		s, err := openImageStore()
		if err != nil {
			return err
		}
		return f(c, s)
	}
}

// openImageStore opens the calling user's image store.
func openImageStore() (*image.Store, error) {
	d, err := dirs.FromEnv()
	if err != nil {
		return nil, err
	}
	return image.Open(d.Images())
}

// humanSize formats n bytes with decimal units, as docker and crictl do.
func humanSize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	f := float64(n)
	for _, suffix := range []string{"kB", "MB", "GB", "TB"} {
		f /= unit
		if f < unit {
			return fmt.Sprintf("%.3g%s", f, suffix)
		}
	}
	return fmt.Sprintf("%.3gPB", f/unit)
}
