package daemon

import (
	"net"
	"os"
	"strings"
	"testing"

	"podbox.dev/podbox/dirs"
)

// TestHTTPSPortIsKept: the first start records the port the kernel picked,
// later starts listen on it again, and a port another program holds is
// reported as such.
func TestHTTPSPortIsKept(t *testing.T) {
	d := dirs.Dirs{Data: t.TempDir()}
	if err := os.MkdirAll(d.HTTPS(), 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := listenHTTPS(d)
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if got, err := HTTPSPort(d); err != nil || got != port {
		t.Errorf("recorded port %d (%v), want %d", got, err, port)
	}
	l.Close()

	l, err = listenHTTPS(d)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Addr().(*net.TCPAddr).Port; got != port {
		t.Errorf("second start listens on %d, want the recorded %d", got, port)
	}
	// l holds the port now, as another program might.
	defer l.Close()
	if _, err := listenHTTPS(d); err == nil || !strings.Contains(err.Error(), "is taken by another program") {
		t.Errorf("listening on a taken port: %v", err)
	}
	if got, _ := HTTPSPort(d); got != port {
		t.Errorf("a taken port was replaced by %d", got)
	}
}
