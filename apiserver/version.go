package apiserver

import (
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"

	"k8s.io/apimachinery/pkg/version"
)

// Version is what GET /version reports of podbox itself, beside the
// Kubernetes version it serves.
type Version struct {
	Podbox string // podbox's version (git describe)
	GVisor string // the version of the runsc podbox runs
}

// versionInfo is GET /version's answer: Kubernetes' version.Info, which
// `kubectl version` and client-go's discovery decode, with podbox's and
// gVisor's versions in fields of their own that those clients ignore.
type versionInfo struct {
	version.Info
	Podbox string `json:"podboxVersion"`
	GVisor string `json:"gvisorVersion"`
}

// kubeModule is the module whose version is the Kubernetes version podbox
// serves: the client-go (and k8s.io/api) release vX.Y.Z is Kubernetes 1.Y.Z.
const kubeModule = "k8s.io/client-go"

func newVersionInfo(v Version) versionInfo {
	info := versionInfo{Podbox: v.Podbox, GVisor: v.GVisor}
	info.Info = version.Info{
		GoVersion: runtime.Version(),
		Compiler:  runtime.Compiler,
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = &debug.BuildInfo{}
	}
	for _, dep := range bi.Deps {
		if dep.Path == kubeModule {
			info.GitVersion, info.Major, info.Minor = kubeVersion(dep.Version, v.Podbox)
		}
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.GitCommit = s.Value
		case "vcs.modified":
			info.GitTreeState = map[string]string{"true": "dirty", "false": "clean"}[s.Value]
		}
	}
	return info
}

// kubeVersion turns the version of k8s.io/client-go (v0.37.2) into the
// Kubernetes version podbox serves, as semver with podbox's version as build
// metadata (v1.37.2+podbox.a730f6b-dirty), the way k3s reports v1.30.2+k3s1:
// `kubectl version` parses gitVersion strictly and errors on anything else
// (k8s.io/kubectl pkg/cmd/version/skew_warning.go, getVersionSkewWarning).
// Build metadata leaves the version itself alone, so version constraints
// (helm's kubeVersion) compare it as the release it is.
func kubeVersion(clientGo, podbox string) (gitVersion, major, minor string) {
	rest, ok := strings.CutPrefix(clientGo, "v0.")
	if !ok {
		return "", "", ""
	}
	major = "1"
	minor, _, _ = strings.Cut(rest, ".")
	gitVersion = "v1." + rest
	if pre, _, ok := strings.Cut(gitVersion, "+"); ok { // a module version's own build metadata
		gitVersion = pre
	}
	gitVersion += "+podbox"
	if meta := buildMetadata(podbox); meta != "" {
		gitVersion += "." + meta
	}
	return gitVersion, major, minor
}

// buildMetadata makes s valid as semver build metadata: dot-separated
// non-empty identifiers of [0-9A-Za-z-].
func buildMetadata(s string) string {
	clean := strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '-'
	}, s)
	var ids []string
	for _, id := range strings.Split(clean, ".") {
		if id = strings.Trim(id, "-"); id != "" {
			ids = append(ids, id)
		}
	}
	return strings.Join(ids, ".")
}

func (s *Server) getVersion(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.version)
}
