// Command kubectl is the unmodified kubectl of k8s.io/kubectl, which the
// integration suite builds as a test tool to drive podbox's HTTPS endpoint as
// a user's kubectl would.
//
// It is a module of its own: kubectl's dependencies (cobra, kustomize,
// component-base, which requires a newer grpc than podbox uses) stay out of
// podbox's go.mod. Its k8s.io/kubectl version must be podbox's
// k8s.io/client-go version; the suite checks that before building it.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
)

func main() {
	os.Exit(cli.Run(cmd.NewDefaultKubectlCommand()))
}
