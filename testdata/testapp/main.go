// Command testapp is a small program that podbox's tests run inside
// sandboxes. It builds with CGO_ENABLED=0 into a single static binary; besides
// the standard library it uses only gRPC (already a podbox dependency), for its
// health server.
//
// Usage:
//
//	testapp serve ADDR TEXT   HTTP server replying "TEXT from HOSTNAME\n" on every path
//	testapp get URL           print the body of URL, retrying for 10 s while refused
//	testapp hostname          print the hostname
//	testapp env               print the environment, sorted
//	testapp exit N            exit with status N
//	testapp sleep             sleep forever
//	testapp stderr MSG        write MSG to standard error
//	testapp grpc ADDR STATUS  gRPC health server answering STATUS (SERVING or NOT_SERVING)
//	testapp rawsocket         try to open a raw ICMP socket (needs CAP_NET_RAW)
//	testapp alloc MIB [STEP]  allocate and touch MIB MiB, one per STEP (20ms), then hold it
package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "grpc":
		need(args, 2)
		serveGRPCHealth(args[0], args[1])
	case "serve":
		need(args, 2)
		serve(args[0], args[1])
	case "get":
		need(args, 1)
		get(args[0])
	case "hostname":
		h, err := os.Hostname()
		check(err)
		fmt.Println(h)
	case "env":
		env := os.Environ()
		sort.Strings(env)
		for _, e := range env {
			fmt.Println(e)
		}
	case "exit":
		need(args, 1)
		n, err := strconv.Atoi(args[0])
		check(err)
		os.Exit(n)
	case "sleep":
		select {}
	case "rawsocket":
		rawSocket()
	case "alloc":
		allocArgs(args)
	case "stderr":
		need(args, 1)
		fmt.Fprintln(os.Stderr, args[0])
	default:
		usage()
	}
}

func serve(addr, text string) {
	host, err := os.Hostname()
	check(err)
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "%s from %s\n", text, host)
	})
	fmt.Printf("serving on %s\n", addr)
	check(http.ListenAndServe(addr, nil))
}

// get retries while the connection is refused, because tests start the
// server in a sibling container at the same time as the client.
func get(url string) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			defer resp.Body.Close()
			_, err = io.Copy(os.Stdout, resp.Body)
			check(err)
			if resp.StatusCode >= 400 {
				fmt.Fprintf(os.Stderr, "testapp: %s: %s\n", url, resp.Status)
				os.Exit(1)
			}
			return
		}
		if !errors.Is(err, syscall.ECONNREFUSED) || time.Now().After(deadline) {
			check(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func need(args []string, n int) {
	if len(args) < n {
		usage()
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "testapp: %v\n", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: testapp serve ADDR TEXT | get URL | hostname | env | exit N | sleep | stderr MSG")
	os.Exit(2)
}
