package pod

import (
	"reflect"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
)

func TestMergeProcessArgs(t *testing.T) {
	img := v1.Config{Entrypoint: []string{"/docker-entrypoint.sh"}, Cmd: []string{"nginx", "-g", "daemon off;"}}
	tests := []struct {
		name    string
		command []string
		args    []string
		img     v1.Config
		want    []string
		wantErr string
	}{
		{name: "neither: entrypoint+cmd", img: img, want: []string{"/docker-entrypoint.sh", "nginx", "-g", "daemon off;"}},
		{name: "command only drops image cmd", command: []string{"sleep", "1"}, img: img, want: []string{"sleep", "1"}},
		{name: "args only replace cmd", args: []string{"nginx", "-T"}, img: img, want: []string{"/docker-entrypoint.sh", "nginx", "-T"}},
		{name: "both", command: []string{"sh", "-c"}, args: []string{"echo hi"}, img: img, want: []string{"sh", "-c", "echo hi"}},
		{name: "empty lists count as unset", command: []string{}, args: []string{}, img: img, want: []string{"/docker-entrypoint.sh", "nginx", "-g", "daemon off;"}},
		{name: "args with no image entrypoint", args: []string{"echo", "x"}, img: v1.Config{Cmd: []string{"sh"}}, want: []string{"echo", "x"}},
		{name: "cmd only image", img: v1.Config{Cmd: []string{"sh"}}, want: []string{"sh"}},
		{
			name:    "neither and empty image",
			img:     v1.Config{},
			wantErr: `container "c": no command specified: the image has no ENTRYPOINT or CMD and the pod sets no command`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Command: tc.command, Args: tc.args}}}}
			got, err := MergeProcess(p, &p.Spec.Containers[0], tc.img)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("MergeProcess: %v", err)
			}
			if !reflect.DeepEqual(got.Args, tc.want) {
				t.Errorf("Args = %q, want %q", got.Args, tc.want)
			}
		})
	}
}

func TestMergeProcessEnvAndExpansion(t *testing.T) {
	img := v1.Config{
		Env:        []string{"PATH=/usr/bin:/bin", "HOME=/root", "LANG=C"},
		Cmd:        []string{"sh"},
		WorkingDir: "/srv",
		User:       "nginx",
	}
	p := &corev1.Pod{}
	p.Name, p.Namespace, p.UID = "web", "prod", "1234"
	p.Labels = map[string]string{"app": "shop"}
	p.Spec.NodeName = "node-1"
	p.Spec.Containers = []corev1.Container{{
		Name: "c",
		Env: []corev1.EnvVar{
			{Name: "HOME", Value: "/home/app"},                           // overrides in place
			{Name: "GREETING", Value: "hi $(NAME)"},                      // NAME is defined later: stays literal
			{Name: "NAME", Value: "bob"},                                 // new
			{Name: "MSG", Value: "$(GREETING) from $(HOME) via $(PATH)"}, // earlier container vars only: image ENV is invisible, as to the kubelet
			{Name: "ESC", Value: "$$(NAME) costs $$5 $x $(UNDEF) $("},
			{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "NS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			{Name: "UID", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.uid"}}},
			{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
			{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
			{Name: "NAME", Value: "alice"}, // duplicate: later wins, position of first kept
		},
		Command: []string{"echo", "$(NAME)", "$(LATER)"},
		Args:    []string{"$$(NAME)", "$(POD).$(NS)", "$(MISSING)"},
	}}
	got, err := MergeProcess(p, &p.Spec.Containers[0], img)
	if err != nil {
		t.Fatalf("MergeProcess: %v", err)
	}
	wantEnv := []string{
		"PATH=/usr/bin:/bin",
		"HOME=/home/app",
		"LANG=C",
		"GREETING=hi $(NAME)",
		"NAME=alice",
		"MSG=hi $(NAME) from /home/app via $(PATH)",
		"ESC=$(NAME) costs $5 $x $(UNDEF) $(",
		"POD=web",
		"NS=prod",
		"UID=1234",
		"NODE=node-1",
		"APP=shop",
	}
	if !reflect.DeepEqual(got.Env, wantEnv) {
		t.Errorf("Env =\n  %q\nwant\n  %q", got.Env, wantEnv)
	}
	// command/args see the final environment (NAME=alice).
	wantArgs := []string{"echo", "alice", "$(LATER)", "$(NAME)", "web.prod", "$(MISSING)"}
	if !reflect.DeepEqual(got.Args, wantArgs) {
		t.Errorf("Args = %q, want %q", got.Args, wantArgs)
	}
	if got.Cwd != "/srv" {
		t.Errorf("Cwd = %q, want /srv", got.Cwd)
	}
	if got.User != "nginx" {
		t.Errorf("User = %q, want image user nginx", got.User)
	}
}

func TestMergeProcessImageArgsNotExpanded(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c",
		Env: []corev1.EnvVar{{Name: "X", Value: "1"}}, Args: []string{"$(X)"}}}}}
	got, err := MergeProcess(p, &p.Spec.Containers[0], v1.Config{Entrypoint: []string{"run", "$(X)"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"run", "$(X)", "1"}; !reflect.DeepEqual(got.Args, want) {
		t.Errorf("Args = %q, want %q", got.Args, want)
	}
}

func TestMergeProcessCwdAndUser(t *testing.T) {
	tests := []struct {
		name               string
		workingDir, imgDir string
		podUID, podGID     *int64
		ctrUID             *int64
		imgUser            string
		wantCwd, wantUser  string
	}{
		{name: "defaults", wantCwd: "/", wantUser: ""},
		{name: "image values", imgDir: "/app", imgUser: "1000:1000", wantCwd: "/app", wantUser: "1000:1000"},
		{name: "pod overrides", workingDir: "/work", imgDir: "/app", podUID: ptr(int64(2000)), imgUser: "nginx", wantCwd: "/work", wantUser: "2000"},
		{name: "pod uid and gid", podUID: ptr(int64(2000)), podGID: ptr(int64(3000)), wantCwd: "/", wantUser: "2000:3000"},
		{name: "container beats pod", podUID: ptr(int64(2000)), ctrUID: ptr(int64(4000)), wantCwd: "/", wantUser: "4000"},
		{name: "gid only keeps image user", podGID: ptr(int64(3000)), imgUser: "nginx:web", wantCwd: "/", wantUser: "nginx:3000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := corev1.Container{Name: "c", Command: []string{"x"}, WorkingDir: tc.workingDir}
			if tc.ctrUID != nil {
				c.SecurityContext = &corev1.SecurityContext{RunAsUser: tc.ctrUID}
			}
			p := &corev1.Pod{Spec: corev1.PodSpec{
				Containers:      []corev1.Container{c},
				SecurityContext: &corev1.PodSecurityContext{RunAsUser: tc.podUID, RunAsGroup: tc.podGID},
			}}
			got, err := MergeProcess(p, &p.Spec.Containers[0], v1.Config{WorkingDir: tc.imgDir, User: tc.imgUser})
			if err != nil {
				t.Fatal(err)
			}
			if got.Cwd != tc.wantCwd || got.User != tc.wantUser {
				t.Errorf("Cwd, User = %q, %q; want %q, %q", got.Cwd, got.User, tc.wantCwd, tc.wantUser)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "a", "B": "$(A)", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"$(A)", "a"},
		{"x$(A)y$(A)", "xaya"},
		{"$(B)", "$(A)"}, // values are not re-expanded
		{"$$(A)", "$(A)"},
		{"$$$(A)", "$a"},
		{"$$", "$"},
		{"$", "$"},
		{"a$", "a$"},
		{"$A", "$A"},
		{"$(UNDEF)", "$(UNDEF)"},
		{"$(", "$("},
		{"$(A", "$(A"},
		{"$()", "$()"},
		{"$(EMPTY)x", "x"},
		{"$($(A))", "$($(A))"},
	}
	for _, tc := range tests {
		if got := Expand(tc.in, lookup); got != tc.want {
			t.Errorf("Expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestKey(t *testing.T) {
	if got := Key("default", "web"); got != "default/web" {
		t.Errorf("Key = %q", got)
	}
}
