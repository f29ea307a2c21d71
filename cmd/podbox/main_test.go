package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes/fake"
	utilexec "k8s.io/client-go/util/exec"
)

// podbox runs podbox with args against a fake clientset holding objs and
// returns what it printed and its exit code. connect is swapped for the
// duration, so these tests must not run in parallel.
func podbox(t *testing.T, cs *fake.Clientset, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	saved := connect
	t.Cleanup(func() { connect = saved })
	connect = func(context.Context) (*client, error) {
		if cs == nil {
			t.Fatalf("podbox %s contacted the server; it should have failed first", strings.Join(args, " "))
		}
		return &client{pods: core(cs), configMaps: core(cs), secrets: core(cs)}, nil
	}
	var out, errOut strings.Builder
	code = run(append([]string{"podbox"}, args...), strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), code
}

func newFake(objs ...runtime.Object) *fake.Clientset { return fake.NewClientset(objs...) }

func TestInterspersed(t *testing.T) {
	cmds := commands()
	for _, tc := range []struct{ in, want string }{
		{"get pods web -o yaml", "get -o yaml -- pods web"},
		{"get pods -A", "get -A -- pods"},
		{"get -o=json pods", "get -o=json -- pods"},
		{"logs web -f --tail 5", "logs -f --tail 5 -- web"},
		{"logs web --tail -1", "logs --tail -1 -- web"},
		{"exec web -i -- sh -c exit 3", "exec -i -- web sh -c exit 3"},
		{"exec -it web -- ls -l", "exec -it -- web ls -l"},
		{"exec web -c side -- cat -n", "exec -c side -- web cat -n"},
		{"delete pod web --grace-period=0 --force", "delete --grace-period=0 --force -- pod web"},
		{"delete pod web -n", "delete -n -- pod web"},
		{"apply -f x.yaml", "apply -f x.yaml"},
		{"help get", "help get"},
		{"nosuch a -b", "nosuch a -b"},
	} {
		got := interspersed(cmds, append([]string{"podbox"}, strings.Fields(tc.in)...))
		if want := append([]string{"podbox"}, strings.Fields(tc.want)...); !slices.Equal(got, want) {
			t.Errorf("%q: got %q, want %q", tc.in, got, want)
		}
	}
}

func TestErrorMessages(t *testing.T) {
	gr := schema.GroupResource{Resource: "pods"}
	invalid := apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, "web", field.ErrorList{
		field.Required(field.NewPath("spec", "containers").Index(0).Child("image"), ""),
	})
	invalid2 := apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, "web", field.ErrorList{
		field.Required(field.NewPath("spec", "containers").Index(0).Child("image"), ""),
		field.Invalid(field.NewPath("metadata", "name"), "Web", "must be lowercase"),
	})
	for _, tc := range []struct {
		err  error
		want string
		code int
	}{
		{apierrors.NewNotFound(gr, "x"), `Error from server (NotFound): pods "x" not found`, 1},
		{apierrors.NewAlreadyExists(gr, "x"), `Error from server (AlreadyExists): pods "x" already exists`, 1},
		{fmt.Errorf("getting: %w", apierrors.NewNotFound(gr, "x")), `Error from server (NotFound): getting: pods "x" not found`, 1},
		{invalid, `The Pod "web" is invalid: spec.containers[0].image: Required value`, 1},
		{invalid2, "The Pod \"web\" is invalid: \n* spec.containers[0].image: Required value\n* metadata.name: Invalid value: \"Web\": must be lowercase", 1},
		{errors.New("bad flag"), "error: bad flag", 1},
		{&url.Error{Op: "Get", URL: "http://podbox/api", Err: errors.New("dial unix /run/podbox.sock: connect: connection refused")},
			"Unable to connect to the server: dial unix /run/podbox.sock: connect: connection refused", 1},
		{utilexec.CodeExitError{Err: errors.New("command terminated with exit code 3"), Code: 3}, "command terminated with exit code 3", 3},
		{errors.Join(errors.New("a.yaml: bad"), apierrors.NewNotFound(gr, "y")), "error: a.yaml: bad\nError from server (NotFound): pods \"y\" not found", 1},
		{errReported, "", 1},
	} {
		var b strings.Builder
		code := printError(&b, tc.err)
		want := tc.want
		if want != "" {
			want += "\n"
		}
		if b.String() != want || code != tc.code {
			t.Errorf("printError(%v) = %q, %d; want %q, %d", tc.err, b.String(), code, want, tc.code)
		}
	}
}

// TestArgumentValidation checks that misuse is reported before the server is
// contacted (cli fails the test if it is).
func TestArgumentValidation(t *testing.T) {
	for _, tc := range []struct {
		args string
		want string
	}{
		{"get", "error: Required resource not specified"},
		{"get deployments", `error: the server doesn't have a resource type "deployments"`},
		{"get pods web -A", "error: a resource cannot be retrieved by name across all namespaces"},
		{"get pods -o table", `error: unable to match a printer suitable for the output format "table"`},
		{"get pods -l ===", "error: invalid selector"},
		{"get pod/web pods", "error: there is no need to specify a resource type"},
		{"get pods --bogus", "error: unknown flag: --bogus\nSee 'podbox get --help' for usage."},
		{"apply", "error: must specify one of -f FILE, -f DIR or -f -"},
		{"apply -f /nonexistent/pod.yaml", `error: the path "/nonexistent/pod.yaml" does not exist`},
		{"apply web.yaml", "error: unexpected arguments"},
		{"logs", "error: expected POD [CONTAINER]"},
		{"logs web side -c other", "error: only one of -c or an inline [CONTAINER] arg is allowed"},
		{"logs web --tail -5", "error: --tail must be -1"},
		{"logs svc/web", `error: the server doesn't have a resource type "svc"`},
		{"exec", "error: expected 'exec POD -- COMMAND [ARGS...]'"},
		{"exec web", "error: you must specify at least one command for the container"},
		{"delete", "error: You must provide one or more resources"},
		{"delete pods", "error: resource(s) were provided, but no name was specified"},
		{"delete pods web --all", "error: names cannot be given together with --all"},
		{"delete pod web --now --grace-period=3", "error: --now and --grace-period cannot be specified together"},
	} {
		_, stderr, code := podbox(t, nil, "", strings.Fields(tc.args)...)
		if code != 1 || !strings.HasPrefix(stderr, tc.want) {
			t.Errorf("podbox %s: exit %d, stderr %q; want exit 1 and %q", tc.args, code, stderr, tc.want)
		}
	}
}
