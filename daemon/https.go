package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"podbox.dev/podbox/apiserver"
	"podbox.dev/podbox/dirs"
	"podbox.dev/podbox/pki"
)

// envUser carries the user's login name from the outer process to the
// supervisor, which names the client certificate after it: inside the user
// namespace the uid reads 0, whose name is root.
const envUser = "_PODBOX_USER"

// loginName is the calling user's name, for envUser.
func loginName() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	if name := os.Getenv("USER"); name != "" {
		return name
	}
	return strconv.Itoa(os.Getuid())
}

// serveHTTPS starts serving srv on the user's HTTPS endpoint
// (https://127.0.0.1:PORT, docs/security.md) until ctx ends, with the
// certificates of d.HTTPS(). It returns once the endpoint listens, before
// the unix socket is made, so that a command that has started the daemon
// (Ensure) finds both. Whatever fails is logged and leaves the unix socket,
// and so podbox's own commands, unaffected.
func serveHTTPS(ctx context.Context, d dirs.Dirs, srv *apiserver.Server, log *slog.Logger) {
	certs, err := pki.Open(d.HTTPS(), pki.Options{User: os.Getenv(envUser), Log: log})
	if err != nil {
		log.Error("the HTTPS endpoint for kubectl is not served: its certificates", "dir", d.HTTPS(), "err", err)
		return
	}
	l, err := listenHTTPS(d)
	if err != nil {
		log.Error("the HTTPS endpoint for kubectl is not served; podbox's own commands are unaffected", "err", err)
		return
	}
	log.Info("podbox API serving HTTPS for kubectl", "address", "https://"+l.Addr().String(), "credentials", d.HTTPS())
	go func() {
		err := srv.ServeHTTPS(ctx, l, &tls.Config{GetCertificate: certs.GetCertificate}, certs.ClientCAs())
		if err != nil {
			log.Error("the HTTPS endpoint stopped", "err", err)
		}
	}()
}

// listenHTTPS listens on the user's loopback port: the one recorded in
// d.HTTPSPort(), or, on the first start, one the kernel picks (as kind picks
// the host port of its clusters), which is then recorded. Keeping the port
// keeps the kubeconfigs the user exported valid; a port picked from the
// kernel's ephemeral range collides with no other user's podbox or test
// installation, but may, rarely, be in use by another program at a later
// start: that is reported, and the port is kept.
func listenHTTPS(d dirs.Dirs) (net.Listener, error) {
	port, err := HTTPSPort(d)
	if errors.Is(err, fs.ErrNotExist) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port = l.Addr().(*net.TCPAddr).Port
		if err := dirs.WriteFile(d.HTTPSPort(), []byte(strconv.Itoa(port)+"\n"), 0o600); err != nil {
			l.Close()
			return nil, fmt.Errorf("record the HTTPS port: %w", err)
		}
		return l, nil
	}
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", httpsAddress(port))
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("port %d, recorded in %s, is taken by another program: kubectl cannot reach podbox until it is free and the daemon restarts (`podbox daemon stop`), "+
			"or remove %s to have a new port picked and run `podbox kubeconfig` again: %w", port, d.HTTPSPort(), d.HTTPSPort(), err)
	}
	return l, err
}

// HTTPSPort is the user's recorded HTTPS port; an error that is
// fs.ErrNotExist means none was recorded yet.
func HTTPSPort(d dirs.Dirs) (int, error) {
	b, err := os.ReadFile(d.HTTPSPort())
	if err != nil {
		return 0, err
	}
	port, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || port <= 0 || port > 65535 {
		return 0, fmt.Errorf("%s: not a port: %q", d.HTTPSPort(), b)
	}
	return port, nil
}

// HTTPSURL is the address of the user's HTTPS endpoint, for kubeconfigs.
func HTTPSURL(port int) string { return "https://" + httpsAddress(port) }

func httpsAddress(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
