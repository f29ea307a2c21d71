package main

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/urfave/cli/v2"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"podbox.dev/podbox/image"
	"podbox.dev/podbox/rootless"
)

// pullCommand is `podbox pull`: it pulls into the local store directly,
// without the supervisor, since the store is safe for several processes and
// a pull started here shares its downloads with a pod start pulling the same
// image.
func pullCommand() *cli.Command {
	return &cli.Command{
		Name:      "pull",
		Usage:     "pull an image from a registry into the local store",
		UsageText: "podbox pull [--quiet] IMAGE",
		Description: "IMAGE is normalised as Kubernetes does: busybox is docker.io/library/busybox:latest.\n" +
			"Mirrors and insecure registries come from " + image.DefaultRegistriesConfigPath() + ".",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the image reference"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErrorf(c, "pull needs exactly one image, e.g. `podbox pull busybox`")
			}
			s, err := openImageStore()
			if err != nil {
				return err
			}
			return runPull(c, s, c.Args().First(), c.Bool("quiet"))
		},
	}
}

func runPull(c *cli.Context, s *image.Store, ref string, quiet bool) error {
	out, errOut := c.App.Writer, c.App.ErrWriter
	norm, err := image.Normalize(ref)
	if err != nil {
		return err
	}
	if _, _, ok := rootless.SubordinateIDs(); !ok && !quiet {
		fmt.Fprintln(errOut, "Warning: "+image.OwnershipWarning+".")
	}
	var opts []image.PullOption
	var shown progressView = nopView{}
	if !quiet {
		fmt.Fprintf(out, "Pulling %s\n", norm)
		if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			shown = newBarView(out)
		} else {
			shown = &lineView{w: out, seen: map[string]image.ProgressState{}}
		}
		opts = append(opts, image.WithProgress(shown.update))
	}
	var res image.PullResult
	opts = append(opts, image.WithResult(&res))
	img, err := s.Pull(c.Context, norm, opts...)
	shown.done()
	if err != nil {
		return err
	}
	if quiet {
		fmt.Fprintln(out, img.Ref)
		return nil
	}
	fmt.Fprintf(out, "Digest: %s\n", img.RepoDigest)
	if res.Fetched == 0 {
		fmt.Fprintf(out, "Status: Image is up to date for %s\n", img.Ref)
	} else {
		fmt.Fprintf(out, "Status: Downloaded newer image for %s (%s in %.1fs)\n", img.Ref, humanSize(res.Fetched), res.Total.Seconds())
	}
	fmt.Fprintln(out, img.Ref)
	return nil
}

// progressView shows pull progress.
type progressView interface {
	update(image.Progress)
	done()
}

type nopView struct{}

func (nopView) update(image.Progress) {}
func (nopView) done()                 {}

// blobLabel names a blob as docker does: its first 12 hex digits.
func blobLabel(p image.Progress) string {
	l := p.Digest.Hex
	if len(l) > 12 {
		l = l[:12]
	}
	if p.Layer == 0 {
		return l + " (config)"
	}
	return l
}

// lineView prints one line per blob and state change, for logs and pipes.
type lineView struct {
	mu   sync.Mutex
	w    io.Writer
	seen map[string]image.ProgressState
}

func (v *lineView) update(p image.Progress) {
	v.mu.Lock()
	defer v.mu.Unlock()
	key := p.Digest.String()
	if last, ok := v.seen[key]; ok && last == p.State {
		return
	}
	v.seen[key] = p.State
	switch p.State {
	case image.ProgressDownloading:
		if p.Total > 0 {
			fmt.Fprintf(v.w, "%s: Downloading %s\n", blobLabel(p), humanSize(p.Total))
			return
		}
	case image.ProgressFailed:
		fmt.Fprintf(v.w, "%s: Failed: %v\n", blobLabel(p), p.Err)
		return
	}
	fmt.Fprintf(v.w, "%s: %s\n", blobLabel(p), p.State)
}

func (v *lineView) done() {}

// barView draws one mpb progress bar per blob on a terminal.
type barView struct {
	mu   sync.Mutex
	p    *mpb.Progress
	bars map[string]*mpb.Bar
}

func newBarView(w io.Writer) *barView {
	return &barView{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(40)), bars: map[string]*mpb.Bar{}}
}

func (v *barView) update(p image.Progress) {
	v.mu.Lock()
	defer v.mu.Unlock()
	key := p.Digest.String()
	b, ok := v.bars[key]
	if !ok {
		total := p.Total
		if total <= 0 {
			total = 1
		}
		b = v.p.AddBar(total,
			mpb.PrependDecorators(decor.Name(blobLabel(p)+" ", decor.WCSyncSpaceR)),
			mpb.AppendDecorators(decor.OnComplete(decor.CountersKiloByte("% .1f / % .1f"), "done")),
		)
		v.bars[key] = b
	}
	switch p.State {
	case image.ProgressDone, image.ProgressExists:
		b.SetCurrent(p.Current) // the whole blob, then complete
		b.SetTotal(-1, true)
	case image.ProgressFailed:
		b.Abort(false)
	default:
		b.SetCurrent(p.Current)
	}
}

func (v *barView) done() {
	v.mu.Lock()
	for _, b := range v.bars {
		if !b.Completed() {
			b.Abort(false)
		}
	}
	v.mu.Unlock()
	v.p.Wait()
}
