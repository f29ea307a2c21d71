package main

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gwebsocket "github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	utilexec "k8s.io/client-go/util/exec"
)

// Channel numbers of the Kubernetes websocket stream protocol.
const (
	chanStdin  = 0
	chanStdout = 1
	chanStderr = 2
	chanError  = 3
	chanClose  = 255
)

// fakeExecServer serves the exec websocket on a unix socket the way the
// supervisor does: it echoes stdin to stdout, writes a line to stderr and
// reports exit code 3. It records the query it was called with.
func fakeExecServer(t *testing.T, protocol string) (sock string, query chan url.Values) {
	t.Helper()
	dir, err := os.MkdirTemp("", "pbx") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock = filepath.Join(dir, "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	query = make(chan url.Values, 1)
	up := gwebsocket.Upgrader{Subprotocols: []string{protocol}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/namespaces/default/pods/missing/exec" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(metav1.Status{
				TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
				Status:   metav1.StatusFailure, Reason: metav1.StatusReasonNotFound, Code: 404,
				Message: `pods "missing" not found`,
			})
			return
		}
		if r.URL.Path != "/api/v1/namespaces/default/pods/web/exec" {
			http.NotFound(w, r)
			return
		}
		query <- r.URL.Query()
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		var stdin []byte
		for r.URL.Query().Get("stdin") == "true" {
			_, msg, err := conn.ReadMessage()
			if err != nil || len(msg) == 0 {
				return
			}
			if msg[0] == chanClose || (protocol != "v5.channel.k8s.io" && len(msg) == 1) {
				break
			}
			if msg[0] == chanStdin {
				stdin = append(stdin, msg[1:]...)
				if protocol != "v5.channel.k8s.io" && strings.HasSuffix(string(stdin), "\n") {
					break // v4 cannot signal the end of stdin
				}
			}
		}
		conn.WriteMessage(gwebsocket.BinaryMessage, append([]byte{chanStdout}, append([]byte("out:"), stdin...)...))
		conn.WriteMessage(gwebsocket.BinaryMessage, append([]byte{chanStderr}, "err\n"...))
		status, _ := json.Marshal(metav1.Status{
			Status: metav1.StatusFailure, Reason: "NonZeroExitCode",
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: "ExitCode", Message: "3"}}},
		})
		conn.WriteMessage(gwebsocket.BinaryMessage, append([]byte{chanError}, status...))
		conn.WriteControl(gwebsocket.CloseMessage, gwebsocket.FormatCloseMessage(gwebsocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sock, query
}

// execClient is a client whose pod lookups come from a fake clientset and
// whose exec stream goes to the server on sock.
func execClient(t *testing.T, sock string, pods ...corev1.Pod) *client {
	t.Helper()
	cfg := restConfig(sock)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fc := newFake()
	for i := range pods {
		if err := fc.Tracker().Add(&pods[i]); err != nil {
			t.Fatal(err)
		}
	}
	return &client{pods: core(fc), config: cfg, rest: cs.CoreV1().RESTClient()}
}

func TestExecOverUnixSocket(t *testing.T) {
	for _, protocol := range []string{"v5.channel.k8s.io", "v4.channel.k8s.io"} {
		t.Run(protocol, func(t *testing.T) {
			sock, query := fakeExecServer(t, protocol)
			web := testPod("web", time.Minute, corev1.PodRunning, named(running(true), "web"), named(running(true), "side"))
			cl := execClient(t, sock, web)
			var out, errOut strings.Builder
			opts := execOptions{namespace: "default", pod: "web", command: []string{"sh", "-c", "exit 3"}, stdin: true}
			err := runExec(t.Context(), cl, opts, strings.NewReader("hello\n"), &out, &errOut)

			var exit utilexec.ExitError
			if !errors.As(err, &exit) || exit.ExitStatus() != 3 {
				t.Fatalf("err = %v, want exit status 3", err)
			}
			if out.String() != "out:hello\n" {
				t.Errorf("stdout = %q", out.String())
			}
			if want := "Defaulted container \"web\" out of: web, side\nerr\n"; errOut.String() != want {
				t.Errorf("stderr = %q, want %q", errOut.String(), want)
			}
			q := <-query
			if !slices.Equal(q["command"], []string{"sh", "-c", "exit 3"}) || q.Get("container") != "web" ||
				q.Get("stdin") != "true" || q.Get("stdout") != "true" || q.Get("stderr") != "true" || q.Get("tty") != "" {
				t.Errorf("query = %v", q)
			}
		})
	}
}

func TestExecErrors(t *testing.T) {
	sock, _ := fakeExecServer(t, "v5.channel.k8s.io")
	done := testPod("done", time.Minute, corev1.PodSucceeded, terminated(0, "Completed"))
	missing := testPod("missing", time.Minute, corev1.PodRunning, running(true)) // known to the fake, not to the server
	cl := execClient(t, sock, done, missing)

	var out, errOut strings.Builder
	err := runExec(t.Context(), cl, execOptions{namespace: "default", pod: "done", command: []string{"ls"}}, nil, &out, &errOut)
	if err == nil || err.Error() != "cannot exec into a container in a completed pod; current phase is Succeeded" {
		t.Errorf("completed pod: %v", err)
	}
	err = runExec(t.Context(), cl, execOptions{namespace: "default", pod: "ghost", command: []string{"ls"}}, nil, &out, &errOut)
	if got := errorMessage(err); got != `Error from server (NotFound): pods "ghost" not found` {
		t.Errorf("unknown pod: %s", got)
	}
	// A refused upgrade carries the server's Status, reported like any
	// other server error.
	err = runExec(t.Context(), cl, execOptions{namespace: "default", pod: "missing", command: []string{"ls"}}, nil, &out, &errOut)
	if got := errorMessage(err); got != `Error from server (NotFound): pods "missing" not found` {
		t.Errorf("refused upgrade: %s", got)
	}
	err = runExec(t.Context(), cl, execOptions{namespace: "default", pod: "missing", container: "nope", command: []string{"ls"}}, nil, &out, &errOut)
	if got := errorMessage(err); got != "error: container nope is not valid for pod missing" {
		t.Errorf("bad container: %s", got)
	}
}

func TestExecTTYWithoutTerminal(t *testing.T) {
	sock, query := fakeExecServer(t, "v5.channel.k8s.io")
	web := testPod("web", time.Minute, corev1.PodRunning, named(running(true), "web"))
	cl := execClient(t, sock, web)
	var out, errOut strings.Builder
	opts := execOptions{namespace: "default", pod: "web", command: []string{"cat"}, stdin: true, tty: true}
	err := runExec(t.Context(), cl, opts, strings.NewReader("x\n"), &out, &errOut)
	var exit utilexec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("err = %v", err)
	}
	if !strings.HasPrefix(errOut.String(), "Unable to use a TTY - input is not a terminal or the right kind of file\n") {
		t.Errorf("stderr = %q", errOut.String())
	}
	if q := <-query; q.Get("tty") != "" {
		t.Errorf("a TTY was requested without a terminal: %v", q)
	}
}
