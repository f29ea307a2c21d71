// Package pkitest gives tests the client credentials of a podbox other than
// the one under test: a store of its own, with its own CA, in a temporary
// directory, as another user's podbox would have.
package pkitest

import (
	"testing"

	"podbox.dev/podbox/pki"
)

// Client returns the client credentials of a new store for user.
func Client(t testing.TB, user string) pki.Client {
	t.Helper()
	dir := t.TempDir()
	if _, err := pki.Open(dir, pki.Options{User: user}); err != nil {
		t.Fatal(err)
	}
	c, err := pki.ReadClient(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
