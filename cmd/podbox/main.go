// Command podbox runs Kubernetes Pod manifests rootless, one gVisor sandbox per
// pod, and is driven like kubectl: `podbox apply -f pod.yaml`, `podbox get pods`,
// `podbox logs web`, `podbox exec web -- sh`, `podbox delete pod web`.
//
// This package is the thin command line only. It parses flags, talks to the
// supervisor over its Kubernetes-shaped REST API with client-go, and prints
// results and errors the way kubectl does, so that scripts and habits written
// for kubectl keep working. The daemon's processes (starting, holding and
// stopping it) live in package daemon; everything that decides how a pod runs
// lives in the supervisor and the library packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilexec "k8s.io/client-go/util/exec"

	"podbox.dev/podbox/rootless"
)

func main() {
	// A supervisor being born in its user namespace finishes that first.
	rootless.Prepare()
	tuneGC(os.Args)
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

// run executes one podbox invocation and returns its exit code. It is main
// without the process around it, so tests can drive the whole command line.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first ^C has cancelled the command, a second one kills
		// podbox outright, should the command be slow to wind down.
		<-ctx.Done()
		stop()
	}()

	app := newApp(stdin, stdout, stderr)
	if completing(args) {
		// The words as typed go to the completion functions; reordering
		// them would put a "--" in, which turns completion off.
		app.Metadata = map[string]any{"args": args}
		_ = app.RunContext(ctx, args)
		return 0
	}
	err := app.RunContext(ctx, interspersed(app.Commands, args))
	if err == nil {
		return 0
	}
	var exitCoder cli.ExitCoder
	if errors.As(err, &exitCoder) && exitCoder.Error() == "" {
		return exitCoder.ExitCode()
	}
	if ctx.Err() != nil {
		// Interrupted by the user (^C during `logs -f` or a delete wait): a
		// shell reports 128+SIGINT for kubectl here, and whatever error the
		// cancelled request came back with would only be noise.
		return 130
	}
	return printError(stderr, err)
}

// newApp builds the urfave/cli application with the given standard streams.
func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:      "podbox",
		Usage:     "run Kubernetes Pod manifests rootless, one gVisor sandbox per pod",
		UsageText: "podbox COMMAND [options] [arguments...]",
		Description: "podbox is driven like kubectl: apply manifests with `podbox apply -f pod.yaml`,\n" +
			"then use get, logs, exec and delete. A supervisor is started in the background\n" +
			"the first time a command needs it.",
		Commands:             withExamples(withPodCompletion(kubectlStyle(commands())), ""),
		Reader:               stdin,
		Writer:               stdout,
		ErrWriter:            stderr,
		HideVersion:          true,
		EnableBashCompletion: true,
		BashComplete:         completeApp,
		// Errors are printed once, by run, in kubectl's format; urfave's own
		// handler would print them a second time and call os.Exit itself.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   usageError,
	}
}

// commands lists the subcommands of podbox.
func commands() []*cli.Command {
	return []*cli.Command{
		applyCommand(),
		createCommand(),
		getCommand(),
		describeCommand(),
		logsCommand(),
		execCommand(),
		cpCommand(),
		topCommand(),
		attachCommand(),
		runCommand(),
		portForwardCommand(),
		deleteCommand(),
		labelCommand(),
		annotateCommand(),
		waitCommand(),
		imageCommand(),
		pullCommand(),
		imagesCommand(),
		volumeCommand(),
		rmiCommand(),
		daemonCommand(),
		kubeconfigCommand(),
		versionCommand(),
		infoCommand(),
		completionCommand(),
	}
}

// withPodCompletion makes the commands that take pod names complete them
// (and container names after -c) unless they complete in their own way.
func withPodCompletion(cmds []*cli.Command) []*cli.Command {
	takesPods := map[string]bool{"describe": true, "logs": true, "exec": true, "port-forward": true, "delete": true,
		"label": true, "annotate": true, "wait": true, "attach": true, "cp": true, "top": true}
	for _, c := range cmds {
		if c.BashComplete == nil && takesPods[c.Name] {
			c.BashComplete = completePods
		}
	}
	return cmds
}

// kubectlStyle makes commands report a misused flag the kubectl way (see
// usageError) rather than with urfave's full help page, and hides the
// "help" subcommand urfave would list under every command: `--help` is the
// way to get help on a leaf command, as with kubectl.
func kubectlStyle(cmds []*cli.Command) []*cli.Command {
	for _, c := range cmds {
		if c.OnUsageError == nil {
			c.OnUsageError = usageError
		}
		if len(c.Subcommands) == 0 {
			c.HideHelpCommand = true
		}
		kubectlStyle(c.Subcommands)
	}
	return cmds
}

// usageError reports a flag the command does not know the way kubectl does:
// the problem, then where to find the usage, instead of dumping the full help
// text above the error where it pushes the actual problem off screen.
func usageError(c *cli.Context, err error, _ bool) error {
	msg := err.Error()
	// The flag package says "flag provided but not defined: -x"; cobra (and so
	// kubectl) says "unknown flag: --x".
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		dashes := "--"
		if len(name) == 1 {
			dashes = "-"
		}
		msg = "unknown flag: " + dashes + name
	}
	return usageErrorf(c, "%s", msg)
}

// usageErrorf returns a client-side error that points the user at the help of
// the command they ran.
func usageErrorf(c *cli.Context, format string, a ...any) error {
	return fmt.Errorf(format+"\nSee '%s --help' for usage.", append(a, c.Command.HelpName)...)
}

// interspersed moves the flags of a leaf command in front of its positional
// arguments. urfave/cli stops parsing flags at the first positional argument,
// but kubectl users write `get pod web -o yaml` and `logs web -f`, so podbox
// accepts flags anywhere before a `--`, as kubectl does. Everything after `--`
// (the command of `exec`) is left exactly as given.
func interspersed(cmds []*cli.Command, args []string) []string {
	if len(args) < 2 {
		return args
	}
	var cmd *cli.Command
	for _, c := range cmds {
		if c.HasName(args[1]) {
			cmd = c
		}
	}
	if cmd == nil || len(cmd.Subcommands) > 0 {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		tv, ok := f.(interface{ TakesValue() bool })
		for _, n := range f.Names() {
			takesValue[n] = ok && tv.TakesValue()
		}
	}
	var flags, positional, rest []string
	dashDash := false
	rem := args[2:]
	for i := 0; i < len(rem); i++ {
		a := rem[i]
		switch {
		case a == "--":
			dashDash = true
			rest = rem[i+1:]
			i = len(rem)
		case len(a) > 1 && a[0] == '-':
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && takesValue[name] && i+1 < len(rem) {
				i++
				flags = append(flags, rem[i])
			}
		default:
			positional = append(positional, a)
		}
	}
	out := append([]string{args[0], args[1]}, flags...)
	if len(positional) > 0 || dashDash {
		// A `--` after the flags ends flag parsing, so a positional argument
		// that happens to start with a dash stays an argument.
		out = append(out, "--")
	}
	out = append(out, positional...)
	if dashDash {
		out = append(out, rest...)
	}
	return out
}

// errReported is returned by a command that has already printed its errors
// (one per failed name, as kubectl does) and only needs podbox to exit 1.
var errReported = errors.New("errors were reported above")

// printError prints err to w the way kubectl does and returns the exit code.
//
//   - A failed remote command (exec) prints "command terminated with exit
//     code N" and podbox exits N, so `podbox exec` composes in scripts.
//   - An API error from the supervisor prints "Error from server (Reason):
//     message", or for Invalid the field-by-field list kubectl prints.
//   - Everything else is a client-side problem: "error: message".
func printError(w io.Writer, err error) int {
	if errors.Is(err, errReported) {
		return 1
	}
	// Several independent problems (errors.Join): one kubectl-style line each.
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			fmt.Fprintln(w, errorMessage(e))
		}
		return 1
	}
	var exit utilexec.ExitError
	if errors.As(err, &exit) {
		fmt.Fprintln(w, exit.Error())
		return exit.ExitStatus()
	}
	fmt.Fprintln(w, errorMessage(err))
	return 1
}

// errorMessage is the single line (or block, for Invalid) kubectl would print
// for err.
func errorMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		s := status.Status()
		switch {
		case s.Reason == metav1.StatusReasonInvalid && s.Details != nil:
			return invalidMessage(s)
		case s.Reason != "":
			return fmt.Sprintf("Error from server (%s): %s", s.Reason, err.Error())
		default:
			return "Error from server: " + err.Error()
		}
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return "Unable to connect to the server: " + uerr.Err.Error()
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "error: ") {
		return msg
	}
	return "error: " + msg
}

// invalidMessage renders a 422 the way kubectl does: `The Pod "web" is
// invalid: ` followed by each failing field, on one line when there is one
// cause and as a bulleted list when there are several.
func invalidMessage(s metav1.Status) string {
	d := s.Details
	head := "The request is invalid"
	if d.Kind != "" || d.Name != "" {
		head = fmt.Sprintf("The %s %q is invalid", kindTitle(d.Kind), d.Name)
	}
	switch len(d.Causes) {
	case 0:
		if s.Message != "" {
			return s.Message
		}
		return head
	case 1:
		return head + ": " + causeText(d.Causes[0])
	}
	var b strings.Builder
	b.WriteString(head + ": ")
	for _, c := range d.Causes {
		b.WriteString("\n* " + causeText(c))
	}
	return b.String()
}

// kindTitle turns the resource name the server may put in Details.Kind
// ("pods") into the kind kubectl shows ("Pod").
func kindTitle(kind string) string {
	if kind == "pods" || kind == "pod" {
		return "Pod"
	}
	return kind
}

func causeText(c metav1.StatusCause) string {
	if c.Field == "" {
		return c.Message
	}
	return c.Field + ": " + c.Message
}
