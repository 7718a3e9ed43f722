package scan

// The `coffer scan` command. It needs no server: everything happens here,
// and internal/cli only hands over its arguments and streams.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Exit codes of Main.
const (
	ExitClean    = 0 // nothing at or above --fail-on
	ExitFindings = 1 // findings at or above --fail-on
	ExitError    = 2 // the scan could not be done (or the command line was wrong)
)

const usage = `Usage:
  coffer scan [FLAGS] PATH... | -        scan files, directories, archives (- reads stdin)
  coffer scan git [FLAGS] REPO           scan the added lines of every commit
  coffer scan image [FLAGS] TARBALL|DIR  scan every layer of a docker-save tarball or OCI layout

Finds secrets and personal data. Exit code 0: nothing at or above --fail-on;
1: findings at or above it; 2: error.

Flags:
`

// cliFlags are the parsed flags of one invocation.
type cliFlags struct {
	config        string
	format        string
	output        string
	failOn        string
	baseline      string
	showSecrets   bool
	includeBinary bool
	includeGitDir bool
	maxDepth      int
	maxArchive    int64
	progress      string
	since         string
	allHistory    bool
}

// Main runs `coffer scan` with args (after "scan") and returns the exit
// code. Progress goes to stderr, and only when stderr is a terminal.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	mode := "paths"
	if len(args) > 0 && (args[0] == "git" || args[0] == "image") {
		mode, args = args[0], args[1:]
	}
	var fl cliFlags
	fs := flag.NewFlagSet("coffer scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&fl.config, "config", "", "rules config file (default: built-in rules)")
	fs.StringVar(&fl.format, "format", "text", "output format: text, json or sarif")
	fs.StringVar(&fl.output, "output", "", "write the report to this file instead of stdout")
	fs.StringVar(&fl.failOn, "fail-on", "LIKELY", "lowest confidence that fails the scan (exit 1): VERY_UNLIKELY, UNLIKELY, POSSIBLE, LIKELY, VERY_LIKELY, or none")
	fs.StringVar(&fl.baseline, "baseline", "", "an earlier JSON report: report only findings not in it")
	fs.BoolVar(&fl.showSecrets, "show-secrets", false, "print full secret values (default: masked)")
	fs.BoolVar(&fl.includeBinary, "include-binary", false, "scan binary files too")
	fs.BoolVar(&fl.includeGitDir, "include-git-dir", false, "walk into .git directories")
	fs.IntVar(&fl.maxDepth, "max-depth", DefaultMaxDepth, "archive nesting levels to expand (0: none)")
	fs.Int64Var(&fl.maxArchive, "max-archive-bytes", DefaultMaxArchiveBytes, "bytes expanded from archives per input, at most")
	fs.StringVar(&fl.progress, "progress", "auto", "progress bar on stderr: auto (when a terminal), always, never")
	if mode == "git" {
		fs.StringVar(&fl.since, "since", "", "scan only commits after this revision")
		fs.BoolVar(&fl.allHistory, "all-history", false, "scan every commit of every ref (overrides --since)")
	}
	if err := fs.Parse(interleaved(fs, args)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitClean
		}
		return ExitError
	}
	targets := fs.Args()
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "coffer scan: "+format+"\n", a...)
		return ExitError
	}
	switch {
	case len(targets) == 0 && mode == "paths":
		fs.Usage()
		return fail("nothing to scan: give paths, or - for stdin")
	case len(targets) != 1 && mode != "paths":
		return fail("%s: give exactly one %s", mode, map[string]string{"git": "repository", "image": "tarball or directory"}[mode])
	}
	format, err := parseFormat(fl.format)
	if err != nil {
		return fail("%v", err)
	}
	failOn, err := parseFailOn(fl.failOn)
	if err != nil {
		return fail("%v", err)
	}
	var baseline map[string]bool
	if fl.baseline != "" {
		baseline, err = LoadBaseline(fl.baseline)
		if err != nil {
			return fail("%v", err)
		}
	}
	cfg := DefaultConfig()
	if fl.config != "" {
		cfg, err = LoadConfig(fl.config)
		if err != nil {
			return fail("%v", err)
		}
	}
	engine, err := NewEngine(cfg)
	if err != nil {
		return fail("%v", err)
	}

	var (
		findings []Finding
		warnings []string
	)
	maxDepth := fl.maxDepth
	if maxDepth == 0 {
		maxDepth = -1 // Options: zero means default
	}
	opt := Options{
		IncludeBinary:   fl.includeBinary,
		IncludeGitDir:   fl.includeGitDir,
		MaxDepth:        maxDepth,
		MaxArchiveBytes: fl.maxArchive,
		OnFinding:       func(f Finding) { findings = append(findings, f) },
		OnWarning:       func(err error) { warnings = append(warnings, err.Error()) },
	}
	bar := newProgress(fl.progress, stderr)
	if bar != nil {
		opt.OnProgress = func(n int64) { _ = bar.Add64(n) }
	}
	s := NewScanner(engine, opt)
	switch mode {
	case "git":
		err = s.ScanGit(ctx, targets[0], GitOptions{Since: fl.since, AllHistory: fl.allHistory})
	case "image":
		err = s.ScanImage(ctx, targets[0])
	default:
		err = s.ScanPaths(ctx, targets, stdin)
	}
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(stderr)
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "coffer scan: warning: %s\n", w)
	}
	if err != nil {
		return fail("%v", err)
	}

	rep := NewReport(findings, s.Stats())
	if baseline != nil {
		rep = rep.Without(baseline)
	}
	out := stdout
	var file *os.File
	if fl.output != "" && fl.output != "-" {
		file, err = os.Create(fl.output)
		if err != nil {
			return fail("%v", err)
		}
		out = file
	}
	werr := rep.Write(out, format, fl.showSecrets)
	if file != nil {
		if cerr := file.Close(); werr == nil {
			werr = cerr
		}
	}
	if werr != nil {
		return fail("write report: %v", werr)
	}
	if rep.AtOrAbove(failOn) > 0 {
		return ExitFindings
	}
	return ExitClean
}

// interleaved moves flags after positional arguments to the front, so
// that `coffer scan DIR --format json` works as users expect. "--" ends
// the flags.
func interleaved(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if f := fs.Lookup(name); f != nil {
			if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
				continue
			}
			if i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
		}
	}
	return append(append(flags, "--"), pos...)
}

// newProgress returns a byte-counting progress bar on stderr, or nil when
// there should be none (stderr is not a terminal, or --progress never).
func newProgress(mode string, stderr io.Writer) *progressbar.ProgressBar {
	switch mode {
	case "never":
		return nil
	case "always":
	default:
		f, ok := stderr.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return nil
		}
	}
	return progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetDescription("scanning"),
		progressbar.OptionShowBytes(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSpinnerType(14),
	)
}
