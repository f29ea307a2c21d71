package apiserver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kubectlTableAccept is what kubectl get sends.
const kubectlTableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"

// TestPodTable: kubectl get asks for a Table and gets kubectl's pod columns
// (the wide ones at priority 1) with the cells podbox's get prints, and each
// row's metadata; a client that does not ask gets the pods.
func TestPodTable(t *testing.T) {
	s := New(newFakePods(testPod("default", "web", corev1.PodRunning, map[string]string{"app": "web"})), Version{})
	for path, rows := range map[string]int{"/api/v1/namespaces/default/pods": 1, "/api/v1/namespaces/default/pods/web": 1} {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Accept", kubectlTableAccept)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		var table metav1.Table
		if err := json.Unmarshal(rec.Body.Bytes(), &table); err != nil || rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %v %s", path, rec.Code, err, rec.Body)
		}
		if table.Kind != "Table" || len(table.Rows) != rows {
			t.Fatalf("%s: kind %q, %d rows", path, table.Kind, len(table.Rows))
		}
		var names []string
		for _, c := range table.ColumnDefinitions {
			if c.Priority == 0 {
				names = append(names, c.Name)
			}
		}
		if got := len(names); got != 5 || names[0] != "Name" || names[4] != "Age" {
			t.Errorf("%s: default columns %q", path, names)
		}
		cells := table.Rows[0].Cells
		if len(cells) != len(table.ColumnDefinitions) || cells[0] != "web" || cells[1] != "0/1" || cells[2] != "Running" {
			t.Errorf("%s: cells %q", path, cells)
		}
		var meta metav1.PartialObjectMetadata
		if err := json.Unmarshal(table.Rows[0].Object.Raw, &meta); err != nil || meta.Name != "web" || meta.Labels["app"] != "web" {
			t.Errorf("%s: row object %s (%v)", path, table.Rows[0].Object.Raw, err)
		}
	}
	req := httptest.NewRequest("GET", "/api/v1/namespaces/default/pods", nil)
	req.Header.Set("Accept", "application/json")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	var list corev1.PodList
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || list.Kind != "PodList" {
		t.Errorf("plain JSON: %v %s", err, rec.Body)
	}
}

// TestUnroutedStatus: a path nothing serves gets the API server's 404
// Status and a method a path does not take its 405 Status, not Go's plain
// text.
func TestUnroutedStatus(t *testing.T) {
	s := New(newFakePods(), Version{})
	for _, tc := range []struct {
		method, path string
		code         int
		reason       metav1.StatusReason
	}{
		{"GET", "/api/v1/namespaces/default/widgets", http.StatusNotFound, metav1.StatusReasonNotFound},
		{"GET", "/nothing/here", http.StatusNotFound, metav1.StatusReasonNotFound},
		{"PUT", "/api/v1/namespaces/default/events", http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed},
	} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		var st metav1.Status
		if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || rec.Code != tc.code || st.Kind != "Status" || st.Reason != tc.reason || st.Code != int32(tc.code) {
			t.Errorf("%s %s: %d %s (%v)", tc.method, tc.path, rec.Code, rec.Body, err)
		}
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/namespaces/default/pods", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("a served path: %d %s", rec.Code, rec.Body)
	}
}
