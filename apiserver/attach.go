package apiserver

import (
	"encoding/json"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"

	"podbox.dev/podbox/cri"
)

// podAttach attaches to a running container over the same websocket
// channel protocol as exec: stdin to the container's stdin (if it has
// `stdin: true`) or terminal (`tty: true`, which resize requests resize),
// its output to the stdout channel. The container's stdout and stderr both
// arrive on stdout, in the order they were logged.
func (s *Server) podAttach(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	stdin := q.Get("stdin") == "true"
	tty := q.Get("tty") == "true"
	if !wsstream.IsWebSocketRequest(r) {
		writeError(w, apierrors.NewBadRequest("attach needs a websocket upgrade with the v5.channel.k8s.io or v4.channel.k8s.io protocol"))
		return
	}
	if _, err := s.sup.Get(r.PathValue("ns"), r.PathValue("name")); err != nil {
		writeError(w, err)
		return
	}
	channels := []wsstream.ChannelType{
		chanStdin:  pick(stdin, wsstream.ReadChannel),
		chanStdout: wsstream.WriteChannel,
		chanStderr: wsstream.IgnoreChannel,
		chanError:  wsstream.WriteChannel,
		chanResize: pick(tty, wsstream.ReadChannel),
	}
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		"v5.channel.k8s.io": {Binary: true, Channels: channels},
		"v4.channel.k8s.io": {Binary: true, Channels: channels},
	})
	_, streams, err := conn.Open(w, r)
	if err != nil {
		return
	}
	defer conn.Close()
	st := cri.Streams{Stdout: streams[chanStdout]}
	if stdin {
		st.Stdin = streams[chanStdin]
	}
	if tty {
		st.TTY = true
		st.Resize = resizeRequests(r.Context(), streams[chanResize])
	}
	err = s.sup.Attach(r.Context(), r.PathValue("ns"), r.PathValue("name"), q.Get("container"), st)
	status := metav1.Status{Status: metav1.StatusSuccess}
	if err != nil {
		status = execStatus(nil, -1, err)
	}
	_ = json.NewEncoder(streams[chanError]).Encode(status)
}
