// Command mkdemo writes podbox's demo image (the test application on busybox)
// as a `docker save` tarball tagged podbox.local/demo:latest, for
// `podbox image load -i FILE`.
//
// Usage: go run ./testdata/images/cmd/mkdemo bin/demo-image.tar
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"podbox.dev/podbox/testdata/images"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mkdemo OUTPUT.tar")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintf(os.Stderr, "mkdemo: %v\n", err)
		os.Exit(1)
	}
}

func run(out string) error {
	img, err := images.TestApp()
	if err != nil {
		return err
	}
	tag, err := name.NewTag(images.DemoRef)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	// Write next to the target and rename, so an interrupted run never
	// leaves a truncated tarball that `make` would consider up to date.
	tmp := out + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	fmt.Printf("wrote %s (%s)\n", out, images.DemoRef)
	return nil
}
