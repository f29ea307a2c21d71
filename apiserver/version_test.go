package apiserver

import (
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"testing"

	utilversion "k8s.io/apimachinery/pkg/util/version"
)

func TestKubeVersionIsSemver(t *testing.T) {
	for _, tc := range []struct{ clientGo, podbox, want string }{
		{"v0.37.2", "a730f6b-dirty", "v1.37.2+podbox.a730f6b-dirty"},
		{"v0.37.2", "v0.4.0-12-gabcdef0", "v1.37.2+podbox.v0.4.0-12-gabcdef0"},
		{"v0.37.2", "(devel)", "v1.37.2+podbox.devel"},
		{"v0.37.2", "", "v1.37.2+podbox"},
		{"v0.38.0-alpha.1", "x_y..z", "v1.38.0-alpha.1+podbox.x-y.z"},
	} {
		got, major, minor := kubeVersion(tc.clientGo, tc.podbox)
		if got != tc.want {
			t.Errorf("kubeVersion(%q, %q) = %q, want %q", tc.clientGo, tc.podbox, got, tc.want)
		}
		// What `kubectl version` does with the server's gitVersion.
		v, err := utilversion.ParseSemantic(got)
		if err != nil {
			t.Errorf("kubectl would reject %q: %v", got, err)
			continue
		}
		if major != "1" || v.Major() != 1 || minor != strconv.Itoa(int(v.Minor())) {
			t.Errorf("kubeVersion(%q) major %q minor %q", tc.clientGo, major, minor)
		}
	}
}

// TestKubeVersionFollowsGoMod: the version served is that of the client-go
// podbox is built with, as go.mod pins it.
func TestKubeVersionFollowsGoMod(t *testing.T) {
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*k8s\.io/client-go (v0\.(\d+)\.\d+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod requires no k8s.io/client-go")
	}
	_, major, minor := kubeVersion(string(m[1]), "x")
	if major != "1" || minor != string(m[2]) {
		t.Errorf("client-go %s serves Kubernetes %s.%s", m[1], major, minor)
	}
}

func TestVersionKeepsPodboxAndGVisor(t *testing.T) {
	b, err := json.Marshal(newVersionInfo(Version{Podbox: "a730f6b", GVisor: "release-20260901.0"}))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got["podboxVersion"] != "a730f6b" || got["gvisorVersion"] != "release-20260901.0" || got["platform"] == "" || got["goVersion"] == "" {
		t.Errorf("/version = %s", b)
	}
}
