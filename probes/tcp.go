package probes

import (
	"context"
	"time"
)

// TCPHandler succeeds when a TCP connection to Addr opens within Timeout.
// The connection is closed at once; a server that closes it first still
// counts as up, as for the kubelet.
type TCPHandler struct {
	// Addr is host:port.
	Addr string
	// Timeout of the dial.
	Timeout time.Duration
	// Dial opens the connection; nil means DefaultDial.
	Dial DialFunc
}

// Probe dials once.
func (h *TCPHandler) Probe(ctx context.Context) Outcome {
	dial := h.Dial
	if dial == nil {
		dial = DefaultDial
	}
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	conn, err := dial(ctx, "tcp", h.Addr)
	if err != nil {
		// A dial error is a failure, not a probe error, so that timeouts
		// and refusals count towards the failure threshold.
		return Outcome{Result: Failure, Output: err.Error()}
	}
	_ = conn.Close()
	return Outcome{Result: Success}
}
