package images

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// StartRegistry runs an in-memory OCI registry on 127.0.0.1 and returns its
// host:port (spoken to over plain HTTP, as for any loopback registry) and the
// function that stops it.
func StartRegistry() (host string, stop func(), err error) {
	return StartRegistryWith(nil)
}

// StartRegistryWith is StartRegistry with a wrapper around the registry's
// handler, e.g. to corrupt or count responses in tests. A nil wrap serves
// the registry unchanged.
func StartRegistryWith(wrap func(http.Handler) http.Handler) (host string, stop func(), err error) {
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	return strings.TrimPrefix(srv.URL, "http://"), srv.Close, nil
}

// Push uploads img to the registry at host as repoTag (e.g. "app:v1") and
// returns the full reference, e.g. "127.0.0.1:41234/app:v1".
func Push(host, repoTag string, img v1.Image) (string, error) {
	ref := host + "/" + repoTag
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	if err := remote.Write(r, img); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	return ref, nil
}
