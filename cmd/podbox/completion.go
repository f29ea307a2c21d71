package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"podbox.dev/podbox/daemon"
	"podbox.dev/podbox/dirs"
)

// Shell completion uses urfave/cli's protocol: the shell runs podbox with the
// words typed so far and a last argument of --generate-bash-completion, and
// podbox prints the candidates one per line. The scripts below only differ
// in how each shell asks and reads the answer.

const completeFlag = "--generate-bash-completion"

// completionTimeout bounds how long completion waits for the supervisor: a
// completion that hangs is worse than one that offers nothing.
const completionTimeout = time.Second

var completionScripts = map[string]string{
	"bash": `# podbox completion for bash: source <(podbox completion bash)
_podbox_complete() {
	local cur words
	cur="${COMP_WORDS[COMP_CWORD]}"
	words=("${COMP_WORDS[@]:0:COMP_CWORD}")
	if [[ "$cur" == -* ]]; then
		words+=("$cur")
	fi
	local IFS=$'\n'
	COMPREPLY=($(compgen -W "$("${words[0]}" "${words[@]:1}" --generate-bash-completion 2>/dev/null)" -- "$cur"))
}
complete -o default -F _podbox_complete podbox
`,
	"zsh": `#compdef podbox
# podbox completion for zsh: source <(podbox completion zsh)
_podbox() {
	local -a opts
	local cur="${words[CURRENT]}"
	local -a args=("${(@)words[2,CURRENT-1]}")
	if [[ "$cur" == -* ]]; then
		args+=("$cur")
	fi
	opts=("${(@f)$(${words[1]} "${(@)args}" --generate-bash-completion 2>/dev/null)}")
	_describe 'values' opts
}
if [[ "$(basename -- ${(%):-%x})" != "_podbox" ]]; then
	compdef _podbox podbox
fi
`,
	"fish": `# podbox completion for fish: podbox completion fish | source
function __podbox_complete
	set -l words (commandline -opc)
	set -l cur (commandline -ct)
	if string match -q -- '-*' $cur
		set words $words $cur
	end
	$words[1] $words[2..-1] --generate-bash-completion 2>/dev/null
end
complete -c podbox -f -a '(__podbox_complete)'
`,
}

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash, zsh or fish)",
		ArgsUsage: "bash|zsh|fish",
		Description: "Completes commands, flags, pod names and (after -c) container names. Pod\n" +
			"names come from the running supervisor; completion never starts one.\n\n" +
			"Examples:\n" +
			"  source <(podbox completion bash)          # in ~/.bashrc\n" +
			"  source <(podbox completion zsh)           # in ~/.zshrc, after compinit\n" +
			"  podbox completion fish | source           # in ~/.config/fish/config.fish\n" +
			"  podbox completion bash > ~/.local/share/bash-completion/completions/podbox",
		BashComplete: func(c *cli.Context) {
			for _, s := range []string{"bash", "fish", "zsh"} {
				fmt.Fprintln(c.App.Writer, s)
			}
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErrorf(c, "Shell not specified: podbox completion bash|zsh|fish")
			}
			script, ok := completionScripts[c.Args().First()]
			if !ok {
				return usageErrorf(c, "Unsupported shell type %q: podbox completes bash, zsh and fish", c.Args().First())
			}
			_, err := io.WriteString(c.App.Writer, script)
			return err
		},
	}
}

// completing reports whether args ask for completion candidates.
func completing(args []string) bool {
	return len(args) > 0 && args[len(args)-1] == completeFlag
}

// rawArgs are the words of the command line as typed, which completion
// needs because flag parsing of an unfinished line fails (a -c without its
// value) and is then ignored by urfave/cli.
func rawArgs(c *cli.Context) []string {
	if a, ok := c.App.Metadata["args"].([]string); ok {
		return a
	}
	return os.Args
}

// completePods is the completion of commands that take pod names: flags
// after a dash, container names after -c, pod names otherwise.
func completePods(c *cli.Context) {
	args := rawArgs(c)
	args = args[:len(args)-1] // the completion flag
	last := ""
	if len(args) > 2 {
		last = args[len(args)-1]
	}
	w := c.App.Writer
	switch {
	case strings.HasPrefix(last, "-") && last != "-c" && last != "--container":
		suggestFlags(w, c.Command, last)
	case last == "-c" || last == "--container":
		pod := firstPositional(c.Command, args[2:])
		if pod == "" {
			return
		}
		completeContainers(c.Context, w, namespaceOf(c, args), pod)
	default:
		completePodNames(c.Context, w, namespaceOf(c, args))
	}
}

// completeApp offers the commands.
func completeApp(c *cli.Context) {
	for _, cmd := range c.App.Commands {
		if !cmd.Hidden {
			fmt.Fprintln(c.App.Writer, cmd.Name)
		}
	}
}

// completeGet offers the resource types first, then pod names.
func completeGet(c *cli.Context) {
	args := rawArgs(c)
	words := args[2 : len(args)-1]
	if len(words) > 0 && strings.HasPrefix(words[len(words)-1], "-") {
		suggestFlags(c.App.Writer, c.Command, words[len(words)-1])
		return
	}
	if !hasPositional(c.Command, words) {
		for _, t := range []string{"all", "events", "pods"} {
			fmt.Fprintln(c.App.Writer, t)
		}
		return
	}
	completePodNames(c.Context, c.App.Writer, namespaceOf(c, args))
}

// suggestFlags prints the flags of cmd that start with prefix.
func suggestFlags(w io.Writer, cmd *cli.Command, prefix string) {
	var out []string
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			dashes := "--"
			if len(n) == 1 {
				dashes = "-"
			}
			if strings.HasPrefix(dashes+n, prefix) {
				out = append(out, dashes+n)
			}
		}
	}
	slices.Sort(out)
	for _, o := range out {
		fmt.Fprintln(w, o)
	}
}

// hasPositional reports whether words hold an argument other than flags.
func hasPositional(cmd *cli.Command, words []string) bool {
	return firstPositional(cmd, words) != "" || slices.ContainsFunc(words, func(w string) bool { return checkPodType(w) == nil })
}

// firstPositional finds the first argument that is not a flag or a flag's
// value, skipping a leading resource type ("pods", "pod").
func firstPositional(cmd *cli.Command, words []string) string {
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		tv, ok := f.(interface{ TakesValue() bool })
		for _, n := range f.Names() {
			takesValue[n] = ok && tv.TakesValue()
		}
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		if strings.HasPrefix(w, "-") {
			if name := strings.TrimLeft(w, "-"); !strings.Contains(name, "=") && takesValue[name] {
				i++
			}
			continue
		}
		if checkPodType(w) == nil {
			continue
		}
		_, name, found := strings.Cut(w, "/")
		if found {
			return name
		}
		return w
	}
	return ""
}

// namespaceOf reads -n from the words typed, which flag parsing may not
// have reached.
func namespaceOf(c *cli.Context, args []string) string {
	for i, a := range args {
		switch {
		case (a == "-n" || a == "--namespace") && i+1 < len(args) && args[i+1] != completeFlag:
			return args[i+1]
		case strings.HasPrefix(a, "--namespace="):
			return strings.TrimPrefix(a, "--namespace=")
		case strings.HasPrefix(a, "-n="):
			return strings.TrimPrefix(a, "-n=")
		}
	}
	if ns := c.String("namespace"); ns != "" {
		return ns
	}
	return metav1.NamespaceDefault
}

func completePodNames(ctx context.Context, w io.Writer, ns string) {
	pods, err := completionPods(ctx)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	list, err := pods.Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for _, p := range list.Items {
		fmt.Fprintln(w, p.Name)
	}
}

func completeContainers(ctx context.Context, w io.Writer, ns, name string) {
	pods, err := completionPods(ctx)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	p, err := pods.Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return
	}
	for _, c := range p.Spec.InitContainers {
		fmt.Fprintln(w, c.Name)
	}
	for _, c := range p.Spec.Containers {
		fmt.Fprintln(w, c.Name)
	}
	for _, c := range p.Spec.EphemeralContainers {
		fmt.Fprintln(w, c.Name)
	}
}

// completionPods reaches a supervisor that is already running; it is a
// variable so tests can hand completion a fake.
var completionPods = runningSupervisorPods

// runningSupervisorPods is the pod API of the supervisor if it runs. Unlike
// connect, it never starts one: pressing tab must not start daemons.
func runningSupervisorPods(context.Context) (podsGetter, error) {
	d, err := dirs.FromEnv()
	if err != nil {
		return nil, err
	}
	if err := daemon.Ping(d); err != nil {
		return nil, fmt.Errorf("the podbox supervisor is not running: %w", err)
	}
	cfg := restConfig(d.Socket())
	cfg.Timeout = completionTimeout
	rc, err := newCoreREST(cfg)
	if err != nil {
		return nil, err
	}
	return coreAPI{rest: rc}, nil
}
