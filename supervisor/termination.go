package supervisor

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Termination message limits, the kubelet's.
const (
	maxTerminationMessage    = 4096
	maxFallbackLogLines      = 80
	maxFallbackMessageLength = 2048
	terminationFileMode      = 0o666
)

// terminationFile creates the host file that is bind-mounted at the
// container's terminationMessagePath, one per instance. It is writable by
// everyone because the container may run as any user.
func (r *runner) terminationFile(name string, restart int32) (string, error) {
	dir, err := r.ensureDir("termination")
	if err != nil {
		return "", err
	}
	path := fmt.Sprintf("%s/%s-%d", dir, name, restart)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, terminationFileMode)
	if err != nil {
		return "", fmt.Errorf("create the termination message file: %w", err)
	}
	f.Close()
	// The umask may have taken write bits away.
	return path, os.Chmod(path, terminationFileMode)
}

// terminationMessage is what the kubelet reports as a terminated
// container's message: the file at terminationMessagePath (at most 4096
// bytes), or with FallbackToLogsOnError and a failed, silent container, the
// end of its log (80 lines, at most 2048 bytes).
func (r *runner) terminationMessage(c *corev1.Container, restart, exitCode int32) string {
	if c == nil || c.TerminationMessagePath == "" {
		return ""
	}
	if f, err := os.Open(fmt.Sprintf("%s/%s-%d", r.podDir("termination"), c.Name, restart)); err == nil {
		b, _ := io.ReadAll(io.LimitReader(f, maxTerminationMessage))
		f.Close()
		if len(b) > 0 {
			return string(b)
		}
	}
	if c.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError || exitCode == 0 {
		return ""
	}
	var out bytes.Buffer
	opts := LogOptions{TailLines: maxFallbackLogLines}
	if err := readLog(r.ctx, r.logPath(c.Name, restart), opts, &out, func() bool { return true }); err != nil {
		return ""
	}
	msg := out.String()
	if len(msg) > maxFallbackMessageLength {
		msg = msg[len(msg)-maxFallbackMessageLength:]
	}
	return strings.TrimRight(msg, "\n")
}
