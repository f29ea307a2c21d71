package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"podbox.dev/podbox/staticpods"
	"podbox.dev/podbox/supervisor"
)

// envManifests carries `daemon --manifests` through the re-executions into
// the namespaces to the supervisor.
const envManifests = "PODBOX_MANIFESTS"

func setManifestDir(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return fmt.Errorf("--manifests %s: not a directory", dir)
	}
	return os.Setenv(envManifests, abs)
}

// manifestDir is the static pod directory: --manifests, or
// ~/.config/podbox/manifests (under $XDG_CONFIG_HOME when set).
func manifestDir() (string, error) {
	if dir := os.Getenv(envManifests); dir != "" {
		return dir, nil
	}
	cfg, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("static pod directory: %w", err)
	}
	return filepath.Join(cfg, "podbox", "manifests"), nil
}

// watchManifests runs the static pods of the manifest directory in the
// background for the supervisor's life.
func watchManifests(ctx context.Context, sup *supervisor.Supervisor, log *slog.Logger) error {
	dir, err := manifestDir()
	if err != nil {
		return err
	}
	w := staticpods.New(dir, sup, log)
	go func() {
		if err := w.Run(ctx); err != nil {
			log.Error("static pods stopped", "err", err)
		}
	}()
	return nil
}
