package supervisor

import (
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// save replaces pod.json whole, first and later, and leaves no temporary
// file behind (a leftover would be one per status change).
func TestRecordSaveReplacesAtomically(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "default_web")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	rec := &podRecord{Pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}}, Phase: corev1.PodPending}
	if err := rec.save(dir); err != nil {
		t.Fatal(err)
	}
	rec.Phase = corev1.PodRunning
	if err := rec.save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := loadRecord(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Phase != corev1.PodRunning || got.Pod.Name != "web" {
		t.Errorf("loaded %+v", got)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("pod directory holds %v, want pod.json alone", ents)
	}
	if fi, _ := os.Stat(filepath.Join(dir, recordFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("pod.json mode %v, want 0600", fi.Mode())
	}
}

// BenchmarkRecordSave is the cost of one status change's write of pod.json
// (an fsync of the file before its rename).
func BenchmarkRecordSave(b *testing.B) {
	dir := b.TempDir()
	rec := &podRecord{Pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}}, Phase: corev1.PodRunning}
	if err := rec.save(dir); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := rec.save(dir); err != nil {
			b.Fatal(err)
		}
	}
}
