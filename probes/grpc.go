package probes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// GRPCHandler calls grpc.health.v1.Health/Check for Service over an
// insecure connection to Addr: SERVING is Success, anything else Failure
// with the kubelet's wording. It never returns a probe error.
type GRPCHandler struct {
	// Addr is host:port.
	Addr string
	// Service is the service name asked about ("" for the whole server).
	Service string
	// Timeout covers connecting and the call together.
	Timeout time.Duration
	// Dial opens the connection; nil means DefaultDial.
	Dial DialFunc
}

// Probe connects and checks once.
func (h *GRPCHandler) Probe(ctx context.Context) Outcome {
	dial := h.Dial
	if dial == nil {
		dial = DefaultDial
	}
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()

	// passthrough: the address goes to the dialer as written, so the
	// supervisor's dialer sees the pod IP and no resolver gets involved.
	conn, err := grpc.NewClient("passthrough:///"+h.Addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUserAgent(UserAgent),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return dial(ctx, "tcp", addr)
		}),
	)
	if err != nil {
		return Outcome{Result: Failure, Output: fmt.Sprintf("error: failed to connect service at %q: %+v", h.Addr, err)}
	}
	defer func() { _ = conn.Close() }()

	// Wait for the connection as the kubelet's blocking dial does: keep
	// retrying through transient failures until the timeout, so that a
	// refused connection reads as a connect timeout.
	conn.Connect()
	for state := conn.GetState(); state != connectivity.Ready; state = conn.GetState() {
		if !conn.WaitForStateChange(ctx, state) {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return Outcome{Result: Failure, Output: fmt.Sprintf("timeout: failed to connect service %q within %v: %+v", h.Addr, h.Timeout, ctx.Err())}
			}
			return Outcome{Result: Failure, Output: fmt.Sprintf("error: failed to connect service at %q: %+v", h.Addr, ctx.Err())}
		}
	}

	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: h.Service})
	if err != nil {
		if st, ok := status.FromError(err); ok {
			switch st.Code() {
			case codes.Unimplemented:
				return Outcome{Result: Failure, Output: "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): " + st.Message()}
			case codes.DeadlineExceeded:
				return Outcome{Result: Failure, Output: fmt.Sprintf("timeout: health rpc did not complete within %v", h.Timeout)}
			}
		}
		return Outcome{Result: Failure, Output: fmt.Sprintf("error: health rpc probe failed: %+v", err)}
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return Outcome{Result: Failure, Output: fmt.Sprintf("service unhealthy (responded with %q)", resp.GetStatus().String())}
	}
	return Outcome{Result: Success, Output: "service healthy"}
}
