package gvisor

import (
	"strings"
	"testing"

	"podbox.dev/podbox/cri"
)

// TestAttachNameFitsASocketPath: the stdin socket of a container with the
// longest name a pod may give it must still be a valid unix socket path
// (108 bytes with the NUL) under a typical runtime directory.
func TestAttachNameFitsASocketPath(t *testing.T) {
	id := cri.ContainerID(strings.Repeat("s", 16), strings.Repeat("c", 63), 1<<30)
	path := "/run/user/4294967294/podbox/attach/" + attachName(id)
	if len(path) >= 108 {
		t.Fatalf("attach socket path is %d bytes: %s", len(path), path)
	}
	if attachName(id) == attachName(cri.ContainerID(strings.Repeat("s", 16), strings.Repeat("c", 63), 1<<30-1)) {
		t.Fatal("two instances share an attach socket")
	}
}
