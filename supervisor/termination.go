package supervisor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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

// pruneInstances removes the files of a container's old instances when a
// new one starts: its log files (rotated ones included) and termination
// message files, except those of the instances in keep (the new one and the
// previous one, which `logs --previous` reads). The kubelet keeps one dead
// instance per container (minDeadContainerInPod = 1) and deletes a
// container's logs with it; without this a crash-looping container's files
// grew without bound while its pod lived. What is left per container is
// then at most 2 instances × maxLogFiles log files of maxLogSize each.
func (r *runner) pruneInstances(name string, keep ...int32) {
	err := pruneInstanceFiles(r.podDir("logs", name), r.podDir("termination"), name, keep)
	if err != nil {
		r.sup.opts.Log.Warn("remove old instances' files", "pod", r.name, "container", name, "err", err)
	}
}

// pruneInstanceFiles removes from logDir (one container's: <n>.log and
// <n>.log.<time>) and termDir (the pod's: <container>-<n>) the files of
// instances not in keep. Names of other containers' files, and files it
// cannot parse, are left alone.
func pruneInstanceFiles(logDir, termDir, name string, keep []int32) error {
	var errs []error
	remove := func(dir string, instance func(string) (int32, bool)) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			if !os.IsNotExist(err) {
				errs = append(errs, err)
			}
			return
		}
		for _, e := range entries {
			if n, ok := instance(e.Name()); ok && !slices.Contains(keep, n) {
				if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !os.IsNotExist(err) {
					errs = append(errs, err)
				}
			}
		}
	}
	remove(logDir, logInstance)
	remove(termDir, func(f string) (int32, bool) { return terminationInstance(name, f) })
	return errors.Join(errs...)
}

// logInstance returns the instance a log file belongs to: "<n>.log" or a
// rotated "<n>.log.<time>" (see logPath and rotateLocked).
func logInstance(file string) (int32, bool) {
	num, rest, ok := strings.Cut(file, ".log")
	if !ok || (rest != "" && !strings.HasPrefix(rest, ".")) {
		return 0, false
	}
	return parseInstance(num)
}

// terminationInstance returns the instance of container name a termination
// file belongs to ("<name>-<n>", see terminationFile). Another container's
// file never parses: for `a`, the file "a-0-1" of container `a-0` leaves
// "0-1", which is no number.
func terminationInstance(name, file string) (int32, bool) {
	num, ok := strings.CutPrefix(file, name+"-")
	if !ok {
		return 0, false
	}
	return parseInstance(num)
}

func parseInstance(s string) (int32, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}
