// Package apiserver serves the supervisor as the Kubernetes REST API for
// pods, over a unix socket (podbox's CLI) and over loopback HTTPS with client
// certificates (every other client, ServeHTTPS). Paths, objects, errors
// (metav1.Status) and the exec stream protocol are Kubernetes' own, so
// client-go, and with it the podbox CLI, speaks to podbox as to a cluster;
// nothing podbox-specific crosses this boundary.
package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"podbox.dev/podbox/objects"
	"podbox.dev/podbox/pod"
)

// Server is the HTTP face of a supervisor.
type Server struct {
	sup     Supervisor
	version versionInfo
	mux     *http.ServeMux
	objects *objects.Store // ConfigMaps and Secrets; nil serves none
}

// New returns a server for sup.
func New(sup Supervisor, v Version, opts ...Option) *Server {
	s := &Server{sup: sup, version: newVersionInfo(v), mux: http.NewServeMux()}
	for _, o := range opts {
		o(s)
	}
	s.mux.HandleFunc("GET /version", s.getVersion)
	s.routeResources()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern == "" {
		unrouted(w, r, h)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// unrouted answers a request no route takes as the API server does, with a
// Status (Go's mux would answer in plain text, which clients cannot
// decode): 404 for a path nothing serves, 405 (with Allow) for a method a
// served path does not take. h is the mux's own answer, which says which.
func unrouted(w http.ResponseWriter, r *http.Request, h http.Handler) {
	probe := &statusProbe{header: http.Header{}}
	h.ServeHTTP(probe, r)
	switch probe.code {
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", probe.header.Get("Allow"))
		writeError(w, &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusMethodNotAllowed,
			Reason: metav1.StatusReasonMethodNotAllowed, Message: "the server does not allow this method on the requested resource", Details: &metav1.StatusDetails{}}})
	case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		h.ServeHTTP(w, r) // the mux's redirect to the clean path
	default:
		writeError(w, &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusNotFound,
			Reason: metav1.StatusReasonNotFound, Message: "the server could not find the requested resource", Details: &metav1.StatusDetails{}}})
	}
}

// statusProbe records the status code a handler answers with and drops the
// body.
type statusProbe struct {
	header http.Header
	code   int
}

func (p *statusProbe) Header() http.Header         { return p.header }
func (p *statusProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *statusProbe) WriteHeader(code int)        { p.code = code }

// Serve accepts connections on a unix socket at path (mode 0600) until ctx
// ends. A stale socket from a dead supervisor is replaced; the caller holds
// the supervisor lock, so no live one can own it.
func (s *Server) Serve(ctx context.Context, path string) error {
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return err
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	return serveUntil(ctx, srv, func() error { return srv.Serve(l) })
}

// serveUntil runs serve (one of srv's Serve methods) until ctx ends, then
// shuts srv down.
func serveUntil(ctx context.Context, srv *http.Server, serve func() error) error {
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	err := serve()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	list := &corev1.EventList{Items: s.sup.Events(r.PathValue("ns"))}
	list.APIVersion, list.Kind = "v1", "EventList"
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) createPod(w http.ResponseWriter, r *http.Request, opts *metav1.CreateOptions) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 3<<20))
	if err != nil {
		writeError(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	pods, err := pod.Decode(body, "request body")
	if err != nil {
		writeError(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	if len(pods) != 1 {
		writeError(w, apierrors.NewBadRequest(fmt.Sprintf("expected one Pod in the request body, got %d", len(pods))))
		return
	}
	p := pods[0]
	ns := r.PathValue("ns")
	if p.Namespace == "" {
		p.Namespace = ns
	}
	if p.Namespace != ns {
		writeError(w, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request"))
		return
	}
	create := s.sup.Create
	if isDryRun(opts.DryRun) {
		create = s.sup.DryRunCreate
	}
	created, err := create(p)
	if err != nil {
		writeError(w, err)
		return
	}
	// The API server's warning mechanism: code 299, agent "-", quoted text.
	for _, msg := range pod.Warnings(created) {
		w.Header().Add("Warning", "299 - "+strconv.Quote(msg))
	}
	writePod(w, r, http.StatusCreated, created)
}

func (s *Server) getPod(w http.ResponseWriter, r *http.Request) {
	if isWatch(r) {
		// The older form of watching one pod: GET pods/NAME?watch=true.
		filter, err := parseFilter(r, r.PathValue("name"))
		if err != nil {
			writeError(w, err)
			return
		}
		s.watchPods(w, r, filter)
		return
	}
	p, err := s.sup.Get(r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	if wantsTable(r) {
		writePodTable(w, r, []corev1.Pod{*p}, p.ResourceVersion)
		return
	}
	writePod(w, r, http.StatusOK, p)
}

func (s *Server) deletePod(w http.ResponseWriter, r *http.Request, opts *metav1.DeleteOptions) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	if err := s.checkPreconditions(ns, name, opts.Preconditions); err != nil {
		writeError(w, err)
		return
	}
	remove := s.sup.Delete
	if isDryRun(opts.DryRun) {
		remove = s.sup.DryRunDelete
	}
	p, err := remove(ns, name, opts.GracePeriodSeconds)
	if err != nil {
		writeError(w, err)
		return
	}
	writePod(w, r, http.StatusOK, p)
}

func (s *Server) podLogs(w http.ResponseWriter, r *http.Request) {
	opts, err := logOptions(r.URL.Query(), time.Now())
	if err != nil {
		writeError(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	// Errors must be reported before the first byte of the stream; the
	// supervisor validates before writing, so defer the header until then.
	lw := &lazyWriter{w: w}
	err = s.sup.Logs(r.Context(), r.PathValue("ns"), r.PathValue("name"), opts, lw)
	if err != nil && !lw.started {
		writeError(w, err)
		return
	}
	lw.start()
}

// lazyWriter sends the 200 header with the first byte, and flushes every
// write so `logs -f` shows lines as they come.
type lazyWriter struct {
	w       http.ResponseWriter
	started bool
}

func (l *lazyWriter) start() {
	if !l.started {
		l.w.Header().Set("Content-Type", "text/plain")
		l.w.WriteHeader(http.StatusOK)
		l.started = true
	}
}

func (l *lazyWriter) Write(b []byte) (int, error) {
	l.start()
	return l.w.Write(b)
}

func (l *lazyWriter) Flush() {
	if f, ok := l.w.(http.Flusher); ok {
		f.Flush()
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers with a metav1.Status, as the API server does.
func writeError(w http.ResponseWriter, err error) {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		st = apierrors.NewInternalError(err)
	}
	status := st.Status()
	status.APIVersion, status.Kind = "v1", "Status"
	writeJSON(w, int(status.Code), status)
}
