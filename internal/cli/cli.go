package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/coffer-vault/coffer/internal/scan"
)

// Exit codes returned by Run.
const (
	ExitOK      = 0 // success
	ExitFailure = 1 // the operation failed
	ExitUsage   = 2 // the command line was wrong
)

// Run executes one CLI invocation (args without the program name) and
// returns the process exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) int {
	if len(args) > 0 && args[0] == "scan" {
		// Offline: no profile, no server.
		return scan.Main(ctx, args[1:], stdin, stdout, stderr)
	}
	a := newApp(stdin, stdout, stderr, env)
	return a.run(ctx, args)
}

// app is one invocation's environment: its streams, its environment lookup,
// and the hooks tests replace. It holds no state shared between invocations.
type app struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string

	// isTerminal reports whether a stream is an interactive terminal. It
	// decides progress bars (stderr) and confirmation prompts (stdin).
	isTerminal func(stream any) bool
	// readPassword reads a secret from a terminal without echo.
	readPassword func(stream any) ([]byte, error)
	// now is the clock.
	now func() time.Time
	// pollInterval is how often `key status --watch` refreshes by default.
	pollInterval time.Duration

	// cancel ends the invocation's context; a transport calls it with the
	// cause when an error makes every further request pointless
	// (connection refused, untrusted certificate).
	cancel context.CancelCauseFunc

	mu    sync.Mutex
	fatal error // first fatal transport error, if any
}

func newApp(stdin io.Reader, stdout, stderr io.Writer, env func(string) string) *app {
	if env == nil {
		env = func(string) string { return "" }
	}
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	return &app{
		stdin:        stdin,
		stdout:       stdout,
		stderr:       stderr,
		getenv:       env,
		isTerminal:   isTerminal,
		readPassword: readPassword,
		now:          time.Now,
		pollInterval: 2 * time.Second,
	}
}

// isTerminal reports whether stream is an *os.File attached to a terminal.
func isTerminal(stream any) bool {
	f, ok := stream.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func readPassword(stream any) ([]byte, error) {
	f, ok := stream.(*os.File)
	if !ok {
		return nil, errors.New("not a terminal")
	}
	return term.ReadPassword(int(f.Fd()))
}

// setFatal records the first fatal transport error and cancels the
// invocation so that minio-go stops retrying.
func (a *app) setFatal(err error) {
	a.mu.Lock()
	first := a.fatal == nil
	if first {
		a.fatal = err
	}
	a.mu.Unlock()
	if first && a.cancel != nil {
		a.cancel(err)
	}
}

func (a *app) fatalErr() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.fatal
}

// command is one verb of the CLI.
type command struct {
	name    string
	summary string
	run     func(a *app, ctx context.Context, args []string) error
}

// commands returns the top-level verbs, in the order help lists them.
func commands() []command {
	return []command{
		{"alias", "manage server profiles (set, ls, rm, import)", (*app).cmdAlias},
		{"ls", "list buckets, or objects and prefixes", (*app).cmdLs},
		{"mb", "make a bucket", (*app).cmdMb},
		{"rb", "remove a bucket", (*app).cmdRb},
		{"put", "upload files", (*app).cmdPut},
		{"get", "download an object", (*app).cmdGet},
		{"cat", "write objects to stdout", (*app).cmdCat},
		{"stat", "show an object's details", (*app).cmdStat},
		{"rm", "remove objects", (*app).cmdRm},
		{"presign", "make a presigned URL", (*app).cmdPresign},
		{"key", "manage encryption keys (rotate, status)", (*app).cmdKey},
		{"setup", "create the first admin user with the setup token", (*app).cmdSetup},
		{"login", "log in to the admin plane (password, then MFA code)", (*app).cmdLogin},
		{"logout", "end the admin-plane session", (*app).cmdLogout},
		{"whoami", "show the logged-in user", (*app).cmdWhoami},
		{"session", "list and revoke admin-plane sessions (ls, rm)", (*app).cmdSession},
		{"mfa", "enrol, verify (step-up) or reset MFA; new recovery codes (enroll, verify, recovery-codes, reset)", (*app).cmdMFA},
		{"user", "manage users (add, ls, rm, passwd, roles, groups, lock, unlock)", (*app).cmdUser},
		{"policy", "store, list, delete, attach to roles and explain policies (add, ls, rm, attach, detach, explain)", (*app).cmdPolicy},
		{"role", "store, list and delete roles (add, ls, rm)", (*app).cmdRole},
		{"group", "store, list and delete groups (add, ls, rm)", (*app).cmdGroup},
		{"audit", "verify the audit ledger, proofs, erase a subject (verify, pubkey, prove, consistency, erase)", (*app).cmdAudit},
		{"bucket", "a bucket's upload scan gate (scan, scan-reject)", (*app).cmdBucket},
		{"labels", "show what scanning found in an object", (*app).cmdLabels},
	}
}

const topUsage = `Usage: coffer COMMAND [ARGS...]

Coffer's command-line client. Remote paths are ALIAS/BUCKET/KEY
(for example local/photos/2024/a.jpg); local files are plain paths.

Commands:
`

func (a *app) printTopUsage(w io.Writer) {
	fmt.Fprint(w, topUsage)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  serve\trun the server\n")
	fmt.Fprintf(tw, "  scan\tfind secrets and personal data in files, git history, images (offline)\n")
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	fmt.Fprint(w, `
Every command accepts --json (machine output) and --help.
Run 'coffer COMMAND --help' for a command's usage.
`)
}

// run dispatches args and turns the result into an exit code.
func (a *app) run(parent context.Context, args []string) int {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	a.cancel = cancel

	err := a.dispatch(ctx, args)
	switch {
	case err == nil, errors.Is(err, errHelpShown):
		return ExitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(a.stderr, "coffer: %s\n", ue.msg)
		if ue.cmd != "" {
			fmt.Fprintf(a.stderr, "Run 'coffer %s --help' for usage.\n", ue.cmd)
		}
		return ExitUsage
	}
	if f := a.fatalErr(); f != nil {
		err = f
	} else if errors.Is(err, context.Canceled) && parent.Err() != nil {
		err = errInterrupted
	}
	fmt.Fprintf(a.stderr, "coffer: %s\n", describe(err))
	return ExitFailure
}

func (a *app) dispatch(ctx context.Context, args []string) error {
	if len(args) == 0 {
		a.printTopUsage(a.stderr)
		return &usageError{msg: "no command given"}
	}
	name := args[0]
	switch name {
	case "-h", "--help", "-help", "help":
		if name == "help" && len(args) > 1 {
			return a.dispatch(ctx, []string{args[1], "--help"})
		}
		a.printTopUsage(a.stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(a, ctx, args[1:])
		}
	}
	if name == "serve" {
		return errors.New("`coffer serve` is handled by the server, not the CLI")
	}
	a.printTopUsage(a.stderr)
	return &usageError{msg: fmt.Sprintf("unknown command %q", name)}
}

// errHelpShown is returned after --help printed a command's usage.
var errHelpShown = errors.New("help shown")

// errInterrupted is reported when the user interrupts a command.
var errInterrupted = errors.New("interrupted")

// subcommandHelp handles a command group's own help: "--help" (or "help")
// prints usage to stdout; no subcommand at all prints it to stderr as a
// usage error. It reports whether it handled args.
func (a *app) subcommandHelp(cmd, usage string, args []string) (bool, error) {
	if len(args) == 0 {
		fmt.Fprintln(a.stderr, "Usage: "+usage)
		return true, usagef("", "%s: missing subcommand", cmd)
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		fmt.Fprintln(a.stdout, "Usage: "+usage)
		return true, errHelpShown
	}
	return false, nil
}

// usageError is a mistake on the command line (exit code 2).
type usageError struct {
	cmd string // the command whose --help explains it, or ""
	msg string
}

func (e *usageError) Error() string { return e.msg }

func usagef(cmd, format string, args ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

// commonFlags are accepted by every command.
type commonFlags struct {
	json     bool
	quiet    bool
	insecure bool
}

// flagSet is a command's flags plus its usage text.
type flagSet struct {
	*flag.FlagSet
	cmd    string // e.g. "alias set"
	usage  string // synopsis and description
	common commonFlags
	// dashArgs makes an argument that starts with "-" but names no flag
	// a positional argument instead of an error. Secret keys may start
	// with "-".
	dashArgs bool
}

// isFlag reports whether tok names one of fs's flags (or help).
func (fs *flagSet) isFlag(tok string) bool {
	name, _, _ := strings.Cut(strings.TrimLeft(tok, "-"), "=")
	return fs.Lookup(name) != nil || name == "h" || name == "help"
}

// newFlags returns a flag set for cmd with the common flags registered.
// usage is the synopsis ("coffer put [FLAGS] FILE... ALIAS/BUCKET[/KEY]")
// followed by a description.
func newFlags(cmd, usage string) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(cmd, flag.ContinueOnError), cmd: cmd, usage: usage}
	fs.SetOutput(io.Discard)
	fs.BoolVar(&fs.common.json, "json", false, "print machine-readable JSON")
	fs.BoolVar(&fs.common.quiet, "quiet", false, "print no progress or informational messages")
	fs.BoolVar(&fs.common.insecure, "insecure", false, "do not verify the server's TLS certificate (unsafe)")
	return fs
}

// boolFlag registers a boolean flag under several names (e.g. "r", "recursive").
func (fs *flagSet) boolFlag(p *bool, usage string, names ...string) {
	for _, n := range names {
		fs.BoolVar(p, n, false, usage)
	}
}

// parse parses args, allowing flags between and after positional
// arguments (as mc does), and checks the count of positional arguments
// (max < 0 means unlimited). It prints usage and returns errHelpShown for
// --help.
func (a *app) parse(fs *flagSet, args []string, minArgs, maxArgs int) ([]string, error) {
	var pos []string
	for {
		if fs.dashArgs && len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' && args[0] != "--" && !fs.isFlag(args[0]) {
			pos = append(pos, args[0])
			args = args[1:]
			continue
		}
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			a.printUsage(fs, a.stdout)
			return nil, errHelpShown
		}
		if err != nil {
			msg := err.Error()
			if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
				msg = "unknown flag " + name
			}
			return nil, usagef(fs.cmd, "%s: %s", fs.cmd, msg)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	switch {
	case len(pos) < minArgs:
		return nil, usagef(fs.cmd, "%s: not enough arguments", fs.cmd)
	case maxArgs >= 0 && len(pos) > maxArgs:
		return nil, usagef(fs.cmd, "%s: too many arguments", fs.cmd)
	}
	return pos, nil
}

func (a *app) printUsage(fs *flagSet, w io.Writer) {
	fmt.Fprintln(w, "Usage: "+strings.TrimSpace(fs.usage))
	fmt.Fprintln(w, "\nFlags:")
	// Group aliases such as -r/--recursive into one line.
	type entry struct {
		names []string
		usage string
		def   string
		isB   bool
	}
	byUsage := map[string]*entry{}
	var order []*entry
	fs.VisitAll(func(f *flag.Flag) {
		key := f.Usage
		e, ok := byUsage[key]
		if !ok {
			_, isB := f.Value.(interface{ IsBoolFlag() bool })
			e = &entry{usage: f.Usage, def: f.DefValue, isB: isB}
			byUsage[key] = e
			order = append(order, e)
		}
		e.names = append(e.names, f.Name)
	})
	sort.Slice(order, func(i, j int) bool { return longest(order[i].names) < longest(order[j].names) })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, e := range order {
		sort.Slice(e.names, func(i, j int) bool { return len(e.names[i]) < len(e.names[j]) })
		var ns []string
		for _, n := range e.names {
			if len(n) == 1 {
				ns = append(ns, "-"+n)
			} else {
				ns = append(ns, "--"+n)
			}
		}
		def := ""
		if !e.isB && e.def != "" {
			def = fmt.Sprintf(" (default %s)", e.def)
		}
		fmt.Fprintf(tw, "  %s\t%s%s\n", strings.Join(ns, ", "), e.usage, def)
	}
	tw.Flush()
}

func longest(names []string) string {
	l := ""
	for _, n := range names {
		if len(n) > len(l) {
			l = n
		}
	}
	return l
}

// printJSON writes v as one line of JSON to stdout.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// infof prints an informational message to stderr unless quiet or JSON.
func (a *app) infof(cf *commonFlags, format string, args ...any) {
	if cf.quiet || cf.json {
		return
	}
	fmt.Fprintf(a.stderr, format, args...)
}

// confirm asks question on stderr and reads y/N from stdin. It refuses
// (returns an error) when stdin is not a terminal, so scripts must say
// --yes explicitly.
func (a *app) confirm(question, flagHint string) (bool, error) {
	if !a.isTerminal(a.stdin) {
		return false, fmt.Errorf("%s needs confirmation but stdin is not a terminal: pass %s", strings.TrimSuffix(question, "?"), flagHint)
	}
	fmt.Fprintf(a.stderr, "%s [y/N] ", question)
	line, err := readLine(a.stdin)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("read answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// readLine reads one line from r without buffering past it, so that
// later reads of r see the rest.
func readLine(r io.Reader) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for {
		n, err := r.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				return strings.TrimSuffix(b.String(), "\r"), nil
			}
			b.WriteByte(buf[0])
		}
		if err != nil {
			if errors.Is(err, io.EOF) && b.Len() > 0 {
				return b.String(), nil
			}
			return b.String(), err
		}
	}
}
