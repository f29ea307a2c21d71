package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"sigs.k8s.io/yaml"
)

// RegistriesConfig is the registries configuration file, by default
// $XDG_CONFIG_HOME/podbox/registries.yaml (~/.config/podbox/registries.yaml).
// It is YAML, keyed by registry host as it appears in image references
// ("docker.io" for Docker Hub):
//
//	registries:
//	  docker.io:
//	    mirrors: ["mirror.gcr.io", "harbor.example/dockerhub-proxy"]
//	  registry.internal:5000:
//	    insecure: true
//
// mirrors are tried in order before the registry itself, each with the same
// repository path (below an optional path prefix, as in the second mirror
// above); the first that serves the image wins. insecure makes podbox speak
// plain HTTP to that registry (or mirror), as it always does to localhost
// and 127.0.0.1. Content is verified against its digest whatever the source,
// so a mirror cannot change what a digest reference pulls. A missing file
// means no mirrors and no insecure registries. The file is read at every pull,
// so edits apply without restarting the supervisor.
type RegistriesConfig struct {
	Registries map[string]RegistryConfig `json:"registries"`
}

// RegistryConfig is the configuration of one registry.
type RegistryConfig struct {
	// Mirrors are "host[:port][/path-prefix]" locations to try first.
	Mirrors []string `json:"mirrors,omitempty"`
	// Insecure allows plain HTTP.
	Insecure bool `json:"insecure,omitempty"`
}

// DefaultRegistriesConfigPath returns where the registries configuration is
// read from unless WithRegistriesConfig says otherwise.
func DefaultRegistriesConfigPath() string {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "podbox", "registries.yaml")
}

// WithRegistriesConfig reads the registries configuration from path instead
// of DefaultRegistriesConfigPath; "" means none.
func WithRegistriesConfig(path string) Option {
	return func(s *Store) { s.registriesPath = &path }
}

// LoadRegistriesConfig reads and checks a registries configuration file. A
// missing file is an empty configuration.
func LoadRegistriesConfig(path string) (*RegistriesConfig, error) {
	cfg := &RegistriesConfig{}
	if path == "" {
		return cfg, nil
	}
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read registries configuration: %w", err)
	}
	if err := yaml.UnmarshalStrict(raw, cfg); err != nil {
		return nil, fmt.Errorf("registries configuration %s: %w", path, err)
	}
	for host, rc := range cfg.Registries {
		if _, err := name.NewRegistry(host); err != nil || strings.Contains(host, "/") {
			return nil, fmt.Errorf("registries configuration %s: %q is not a registry host (expected e.g. \"docker.io\" or \"registry.local:5000\")", path, host)
		}
		for _, m := range rc.Mirrors {
			h, prefix, _ := strings.Cut(m, "/")
			if _, err := name.NewRegistry(h); err != nil || strings.Contains(m, "://") {
				return nil, fmt.Errorf("registries configuration %s: mirror %q of %s is not \"host[:port][/path]\"", path, m, host)
			}
			if prefix != "" {
				if _, err := name.NewRepository(h + "/" + prefix + "/x"); err != nil {
					return nil, fmt.Errorf("registries configuration %s: mirror %q of %s: %w", path, m, host, err)
				}
			}
		}
	}
	return cfg, nil
}

func (s *Store) registries() (*RegistriesConfig, error) {
	path := DefaultRegistriesConfigPath()
	if s.registriesPath != nil {
		path = *s.registriesPath
	}
	return LoadRegistriesConfig(path)
}

// lookup returns the configuration of host, spelled either way for Docker Hub.
func (c *RegistriesConfig) lookup(host string) RegistryConfig {
	if host == name.DefaultRegistry {
		host = dockerHub
	}
	if rc, ok := c.Registries[host]; ok {
		return rc
	}
	if host == dockerHub {
		return c.Registries[name.DefaultRegistry]
	}
	return RegistryConfig{}
}

// endpoints lists where to pull r from: its mirrors in order, then its own
// registry. A mirror that cannot even be named is skipped (Load checked them).
func (c *RegistriesConfig) endpoints(r name.Reference) []endpoint {
	reg := r.Context().RegistryStr()
	rc := c.lookup(reg)
	var out []endpoint
	for _, m := range rc.Mirrors {
		host, prefix, _ := strings.Cut(m, "/")
		repo := r.Context().RepositoryStr()
		if prefix != "" {
			repo = prefix + "/" + repo
		}
		var opts []name.Option
		if c.lookup(host).Insecure {
			opts = append(opts, name.Insecure)
		}
		mr, err := retarget(r, host+"/"+repo, opts...)
		if err == nil {
			out = append(out, endpoint{ref: mr, mirror: true})
		}
	}
	own := r
	if rc.Insecure {
		if ir, err := retarget(r, r.Context().Name(), name.Insecure); err == nil {
			own = ir
		}
	}
	return append(out, endpoint{ref: own})
}

// retarget returns r's tag or digest in repository repo.
func retarget(r name.Reference, repo string, opts ...name.Option) (name.Reference, error) {
	rp, err := name.NewRepository(repo, opts...)
	if err != nil {
		return nil, err
	}
	switch r := r.(type) {
	case name.Digest:
		return rp.Digest(r.DigestStr()), nil
	case name.Tag:
		return rp.Tag(r.TagStr()), nil
	}
	return nil, fmt.Errorf("cannot retarget %s", r)
}
