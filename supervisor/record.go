package supervisor

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/renameio/v2"
	corev1 "k8s.io/api/core/v1"

	"podbox.dev/podbox/dirs"
)

// podRecord is everything the supervisor keeps about one pod; it is the
// runner's to change and is written to <pod dir>/pod.json after each change,
// so a restarted supervisor finds every pod and what happened to it.
type podRecord struct {
	// Pod holds metadata and spec as created; its status is not stored but
	// derived (see runner.object).
	Pod          *corev1.Pod `json:"pod"`
	SandboxID    string      `json:"sandboxID"`
	SandboxReady bool        `json:"sandboxReady"`
	StartTime    time.Time   `json:"startTime,omitzero"`
	// PodIP and HostIP are the pod's address on the pod network and the
	// host's, once the network is set up.
	PodIP      string             `json:"podIP,omitempty"`
	HostIP     string             `json:"hostIP,omitempty"`
	Containers []*containerRecord `json:"containers"`
	// InitContainers are the init containers (and sidecars), in spec order.
	InitContainers []*containerRecord `json:"initContainers,omitempty"`
	// Initialized is set once an app container has started (the kubelet's
	// podHasInitialized); it stays set.
	Initialized bool `json:"initialized,omitempty"`
	// Conditions keep their lastTransitionTime between updates.
	Conditions []corev1.PodCondition `json:"conditions,omitempty"`
	// Reason and Message are the pod-level status reason and message, set
	// when the supervisor ends a pod (DeadlineExceeded).
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// TornDown is set once deletion has stopped every container (the
	// kubelet's podIsTerminal): the phase then becomes terminal.
	TornDown bool `json:"tornDown,omitempty"`
	// Phase is stored because a terminal phase never changes again.
	Phase corev1.PodPhase `json:"phase"`
}

const recordFile = "pod.json"

// save writes the record atomically and durably: the temporary file is
// fsynced before it is renamed over pod.json, so a power cut never leaves an
// empty or partial record (which would lose the pod). A new record also
// fsyncs its directory and the pods directory, so a created pod survives; an
// update skips those two fsyncs (they cost milliseconds on every status
// change): a rename lost to a power cut leaves the previous complete record,
// as a crash a moment earlier would.
func (rec *podRecord) save(dir string) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	p := filepath.Join(dir, recordFile)
	if _, err := os.Lstat(p); err == nil {
		err = renameio.WriteFile(p, b, 0o600, renameio.WithTempDir(dir))
		if err != nil {
			return fmt.Errorf("save pod record: %w", err)
		}
		return nil
	}
	if err := dirs.WriteFile(p, b, 0o600); err != nil {
		return fmt.Errorf("save pod record: %w", err)
	}
	return dirs.SyncDir(filepath.Dir(dir))
}

func loadRecord(dir string) (*podRecord, error) {
	b, err := os.ReadFile(filepath.Join(dir, recordFile))
	if err != nil {
		return nil, err
	}
	var rec podRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, recordFile), err)
	}
	if rec.Pod == nil {
		return nil, fmt.Errorf("%s: no pod", filepath.Join(dir, recordFile))
	}
	return &rec, nil
}
