package apiserver

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
)

// portForwardProtocol is the kubelet's port-forward protocol over SPDY:
// per forwarded connection the client opens an error stream and a data
// stream, both carrying the port and a request ID in their headers.
const portForwardProtocol = "portforward.k8s.io"

// portForwardIdle ends a port-forward session without any stream activity,
// as the kubelet's streaming idle timeout does.
const portForwardIdle = 4 * time.Hour

// podPortForward serves pods/{name}/portforward: SPDY streams, each pair
// one TCP connection to a port on the pod's loopback.
func (s *Server) podPortForward(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	if _, err := s.sup.Get(ns, name); err != nil {
		writeError(w, err)
		return
	}
	if _, err := httpstream.Handshake(r, w, []string{portForwardProtocol}); err != nil {
		return // Handshake has answered the client.
	}
	streams := make(chan httpstream.Stream)
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, r, func(st httpstream.Stream, _ <-chan struct{}) error {
		streams <- st
		return nil
	})
	if conn == nil {
		return // the upgrade failed and was answered
	}
	defer conn.Close()
	conn.SetIdleTimeout(portForwardIdle)

	type pair struct{ data, errs httpstream.Stream }
	pairs := map[string]*pair{}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-conn.CloseChan():
			return
		case st := <-streams:
			id := st.Headers().Get(corev1.PortForwardRequestIDHeader)
			p := pairs[id]
			if p == nil {
				p = &pair{}
				pairs[id] = p
			}
			switch st.Headers().Get(corev1.StreamType) {
			case corev1.StreamTypeData:
				p.data = st
			case corev1.StreamTypeError:
				p.errs = st
			default:
				st.Reset()
				continue
			}
			if p.data == nil || p.errs == nil {
				continue
			}
			delete(pairs, id)
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.forwardStream(r, ns, name, p.data, p.errs)
				conn.RemoveStreams(p.data, p.errs)
			}()
		}
	}
}

// forwardStream copies one connection between the client's data stream
// and the pod; a failure to connect is written to the error stream, which
// the client prints.
func (s *Server) forwardStream(r *http.Request, ns, name string, data, errs httpstream.Stream) {
	defer data.Close()
	defer errs.Close()
	port, err := strconv.ParseUint(data.Headers().Get(corev1.PortHeader), 10, 16)
	if err != nil || port == 0 {
		fmt.Fprintf(errs, "invalid port %q", data.Headers().Get(corev1.PortHeader))
		return
	}
	pc, err := s.sup.PortForward(r.Context(), ns, name, uint16(port))
	if err != nil {
		msg := err.Error()
		if st, ok := err.(apierrors.APIStatus); ok {
			msg = st.Status().Message
		}
		fmt.Fprintf(errs, "error forwarding port %d to pod %s: %s", port, name, msg)
		return
	}
	defer pc.Close()
	go func() {
		_, _ = io.Copy(pc, data)
		// The client closed its side: pass the half-close on, and keep
		// reading the pod's answer.
		if cw, ok := pc.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}()
	// The pod's side ending ends the connection.
	_, _ = io.Copy(data, pc)
}
