package main

import (
	"fmt"
	"net"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// serveGRPCHealth serves the standard gRPC health service on addr, reporting
// status (SERVING or NOT_SERVING) for every service, for gRPC probes.
func serveGRPCHealth(addr, status string) {
	st, ok := healthpb.HealthCheckResponse_ServingStatus_value[status]
	if !ok {
		fmt.Fprintf(os.Stderr, "testapp grpc: unknown status %q\n", status)
		os.Exit(2)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testapp grpc:", err)
		os.Exit(1)
	}
	srv := grpc.NewServer()
	h := health.NewServer()
	h.SetServingStatus("", healthpb.HealthCheckResponse_ServingStatus(st))
	healthpb.RegisterHealthServer(srv, h)
	fmt.Println("grpc health serving on", addr)
	if err := srv.Serve(l); err != nil {
		fmt.Fprintln(os.Stderr, "testapp grpc:", err)
		os.Exit(1)
	}
}
