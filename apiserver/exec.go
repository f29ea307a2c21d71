package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"

	"podbox.dev/podbox/cri"
)

// The Kubernetes exec stream channels, in protocol order.
const (
	chanStdin = iota
	chanStdout
	chanStderr
	chanError
	chanResize
)

// podExec runs a command in a container over a websocket speaking the
// Kubernetes channel protocol (v4 or v5, as kubelets do): one byte of
// channel number per message, the command's outcome as a metav1.Status on
// the error channel.
func (s *Server) podExec(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	cmd := q["command"]
	stdin, stdout, stderr := q.Get("stdin") == "true", q.Get("stdout") != "false", q.Get("stderr") != "false"
	tty := q.Get("tty") == "true"
	if tty {
		// A terminal has one output stream (client-go leaves stderr out).
		stderr = false
	}
	if !wsstream.IsWebSocketRequest(r) {
		writeError(w, apierrors.NewBadRequest("exec needs a websocket upgrade with the v5.channel.k8s.io or v4.channel.k8s.io protocol"))
		return
	}
	// Fail before upgrading if the pod cannot serve an exec.
	if _, err := s.sup.Get(r.PathValue("ns"), r.PathValue("name")); err != nil {
		writeError(w, err)
		return
	}
	channels := []wsstream.ChannelType{
		chanStdin:  pick(stdin, wsstream.ReadChannel),
		chanStdout: pick(stdout, wsstream.WriteChannel),
		chanStderr: pick(stderr, wsstream.WriteChannel),
		chanError:  wsstream.WriteChannel,
		chanResize: pick(tty, wsstream.ReadChannel),
	}
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		"v5.channel.k8s.io": {Binary: true, Channels: channels},
		"v4.channel.k8s.io": {Binary: true, Channels: channels},
	})
	_, streams, err := conn.Open(w, r)
	if err != nil {
		return // Open has answered the client.
	}
	defer conn.Close()

	var st cri.Streams
	if stdin {
		st.Stdin = streams[chanStdin]
	}
	if stdout {
		st.Stdout = streams[chanStdout]
	}
	if stderr {
		st.Stderr = streams[chanStderr]
	}
	if tty {
		st.TTY = true
		st.Resize = resizeRequests(r.Context(), streams[chanResize])
	}
	code, err := s.sup.Exec(r.Context(), r.PathValue("ns"), r.PathValue("name"), q.Get("container"), cmd, st)
	_ = json.NewEncoder(streams[chanError]).Encode(execStatus(cmd, code, err))
}

// resizeRequests decodes the resize channel: one JSON TerminalSize
// ({"Width":80,"Height":24}) per message, as client-go sends them.
func resizeRequests(ctx context.Context, r io.Reader) <-chan cri.TermSize {
	out := make(chan cri.TermSize)
	go func() {
		defer close(out)
		dec := json.NewDecoder(r)
		for {
			var sz struct{ Width, Height uint16 }
			if err := dec.Decode(&sz); err != nil {
				return
			}
			select {
			case out <- cri.TermSize{Width: sz.Width, Height: sz.Height}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

func pick(on bool, t wsstream.ChannelType) wsstream.ChannelType {
	if on {
		return t
	}
	return wsstream.IgnoreChannel
}

// execStatus is the outcome of an exec as the kubelet reports it; client-go
// turns a NonZeroExitCode status into an exit code error.
func execStatus(cmd []string, code int, err error) metav1.Status {
	switch {
	case err != nil:
		var st apierrors.APIStatus
		if s, ok := err.(apierrors.APIStatus); ok {
			st = s
		} else {
			st = apierrors.NewInternalError(err)
		}
		return st.Status()
	case code == 0:
		return metav1.Status{Status: metav1.StatusSuccess}
	}
	return metav1.Status{
		Status:  metav1.StatusFailure,
		Reason:  "NonZeroExitCode",
		Message: fmt.Sprintf("command terminated with non-zero exit code: error executing command [%s], exit code %d", strings.Join(cmd, " "), code),
		Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: "ExitCode", Message: strconv.Itoa(code)}}},
	}
}
