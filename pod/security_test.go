package pod

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestVerifyRunAsNonRoot(t *testing.T) {
	yes, no := true, false
	uid := func(v int64) *int64 { return &v }
	pod := func(psc *corev1.PodSecurityContext, csc *corev1.SecurityContext) (*corev1.Pod, *corev1.Container) {
		p := &corev1.Pod{}
		p.Name, p.Namespace, p.UID = "web", "default", "u1"
		p.Spec.SecurityContext = psc
		p.Spec.Containers = []corev1.Container{{Name: "app", SecurityContext: csc}}
		return p, &p.Spec.Containers[0]
	}
	for _, tc := range []struct {
		name      string
		psc       *corev1.PodSecurityContext
		csc       *corev1.SecurityContext
		imageUser string
		want      string
	}{
		{"not asked", nil, nil, "", ""},
		{"image root", &corev1.PodSecurityContext{RunAsNonRoot: &yes}, nil, "",
			`container has runAsNonRoot and image will run as root (pod: "web_default(u1)", container: app)`},
		{"image uid 0", &corev1.PodSecurityContext{RunAsNonRoot: &yes}, nil, "0:0",
			`container has runAsNonRoot and image will run as root (pod: "web_default(u1)", container: app)`},
		{"image named user", nil, &corev1.SecurityContext{RunAsNonRoot: &yes}, "nginx",
			`container has runAsNonRoot and image has non-numeric user (nginx), cannot verify user is non-root (pod: "web_default(u1)", container: app)`},
		{"image numeric user", &corev1.PodSecurityContext{RunAsNonRoot: &yes}, nil, "101:101", ""},
		{"runAsUser 0", &corev1.PodSecurityContext{RunAsNonRoot: &yes}, &corev1.SecurityContext{RunAsUser: uid(0)}, "101",
			`container's runAsUser breaks non-root policy (pod: "web_default(u1)", container: app)`},
		{"runAsUser overrides a named image user", &corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: uid(1000)}, nil, "nginx", ""},
		{"container turns it off", &corev1.PodSecurityContext{RunAsNonRoot: &yes}, &corev1.SecurityContext{RunAsNonRoot: &no}, "", ""},
	} {
		p, c := pod(tc.psc, tc.csc)
		err := verifyRunAsNonRoot(p, c, tc.imageUser)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestSupplementalGroupsAndSecurity(t *testing.T) {
	fs := int64(2000)
	p := &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{SupplementalGroups: []int64{4000, 2000}, FSGroup: &fs}}}
	if got := supplementalGroups(p); !slices.Equal(got, []uint32{4000, 2000}) {
		t.Errorf("groups %v, want [4000 2000] (fsGroup once)", got)
	}
	f, tr := false, true
	sec := containerSecurity(&corev1.Container{SecurityContext: &corev1.SecurityContext{
		AllowPrivilegeEscalation: &f, ReadOnlyRootFilesystem: &tr,
		Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}, Drop: []corev1.Capability{"ALL"}},
	}})
	if !sec.NoNewPrivileges || !sec.ReadOnlyRoot || strings.Join(sec.CapAdd, ",") != "NET_ADMIN" || strings.Join(sec.CapDrop, ",") != "ALL" {
		t.Errorf("security %+v", sec)
	}
	if sec := containerSecurity(&corev1.Container{}); sec.NoNewPrivileges || sec.ReadOnlyRoot {
		t.Errorf("defaults %+v: privilege escalation is allowed and the root writable unless the manifest says otherwise", sec)
	}
}
