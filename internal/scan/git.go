package scan

// Git history: every line added by every commit.
//
// The git CLI does the reading: `git log -p --unified=0` prints, for each
// commit, only the lines it changed, with hunk headers that give the line
// numbers in the new file. The added lines of one file in one commit are
// put together (with a map back to their line numbers) and scanned as one
// text, so a secret added in one commit and removed in a later one is
// still found, with the commit that added it, its author and date.
// Merge commits are read as dense combined diffs (--cc): only lines that
// the merge itself adds (an "evil merge", a conflict resolved with a new
// line) are scanned there; what a merge brings in is found in the commits
// merged.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
)

// GitOptions choose the history scanned.
type GitOptions struct {
	// Since scans only the commits after this revision (SINCE..HEAD).
	Since string
	// AllHistory scans every commit reachable from any ref, whatever Since
	// says, so secrets introduced before a range are found too.
	AllHistory bool
	// Git is the git binary ("git").
	Git string
}

// commitMarker starts the header line of each commit in our log format.
const commitMarker = "\x00commit "

// gitFormat prints "\0commit HASH\0AUTHOR <EMAIL>\0DATE" for each commit.
const gitFormat = "--format=%x00commit %H%x00%an <%ae>%x00%aI"

// gitArgs is the git command line for a repository and options.
func gitArgs(repo string, opt GitOptions, text bool) []string {
	args := []string{"-C", repo, "-c", "core.quotePath=false", "-c", "diff.noprefix=false",
		"log", "-p", "--full-history", "--no-color", "--no-ext-diff", "--no-textconv",
		"--unified=0", "--diff-filter=AMCRT", "--cc", gitFormat}
	if text {
		args = append(args, "--text")
	}
	switch {
	case opt.AllHistory:
		args = append(args, "--all")
	case opt.Since != "":
		args = append(args, opt.Since+"..HEAD")
	default:
		args = append(args, "HEAD")
	}
	return append(args, "--")
}

// ScanGit scans the history of the git repository at repo.
func (s *Scanner) ScanGit(ctx context.Context, repo string, opt GitOptions) error {
	gitBin := opt.Git
	if gitBin == "" {
		gitBin = "git"
	}
	if opt.Since != "" && strings.HasPrefix(opt.Since, "-") {
		return fmt.Errorf("scan git: bad revision %q", opt.Since)
	}
	// Fail early, and clearly, on what is not a repository.
	check := exec.CommandContext(ctx, gitBin, "-C", repo, "rev-parse", "--git-dir")
	if out, err := check.CombinedOutput(); err != nil {
		return fmt.Errorf("scan git %s: not a git repository: %s", repo, strings.TrimSpace(string(out)))
	}

	if !opt.AllHistory {
		head := exec.CommandContext(ctx, gitBin, "-C", repo, "rev-parse", "--verify", "-q", "HEAD^{commit}")
		if err := head.Run(); err != nil {
			return nil // no commits yet: nothing to scan
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, gitBin, gitArgs(repo, opt, s.opt.IncludeBinary)...)
	stderr := &limitedBuffer{max: 64 << 10}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("scan git %s: %w", repo, err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("scan git %s: %w", repo, err)
	}

	jobs, wait := startWorkers(s.opt.Workers, s.scanGitDiff)
	perr := parseGitLog(ctx, out, s.opt.ChunkSize, maxGitLine, func(d gitDiff) error {
		return send(ctx, jobs, d)
	}, func(w string) { s.warnf("scan git %s: %s", repo, w) })
	wait()
	if perr != nil {
		cancel()
		_ = cmd.Wait()
		return fmt.Errorf("scan git %s: %w", repo, perr)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("scan git %s: %v: %s", repo, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// gitDiff is the added lines of one file in one commit.
type gitDiff struct {
	commit, author, date, path string
	text                       []byte // added lines, each ending in '\n'
	lines                      []int  // lines[i] is the line number in the new file of text's line i+1
}

// scanGitDiff scans the added lines of one file and reports findings at
// their lines in the new file.
func (s *Scanner) scanGitDiff(d gitDiff) {
	s.files.Add(1)
	s.opt.OnProgress(int64(len(d.text)))
	o := origin{path: d.path, commit: d.commit, author: d.author, date: d.date}
	for _, f := range s.engine.ScanChunk(d.text, 0, withLineBase(o.location(), 0)) {
		if l := findingLine(f); l >= 1 && l <= len(d.lines) {
			setFindingLine(&f, d.lines[l-1])
		}
		s.emit(f)
	}
}

// maxGitLine bounds one line of git's output (an added line of a minified
// file can be long): what passes it is not scanned, and warn says so.
const maxGitLine = 16 << 20

// parseGitLog reads the output of `git log -p --unified=0` in our format
// and calls emit for the added lines of each file of each commit. A file
// whose added lines pass maxText bytes is handed on in pieces. A line
// longer than maxLine is scanned only up to maxLine, and warn is told.
func parseGitLog(ctx context.Context, r io.Reader, maxText, maxLine int, emit func(gitDiff) error, warn func(string)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		commit, author, date string
		cur                  *gitDiff
		newLine              int
		inHunk               bool
		parents              = 1 // columns before each hunk line
	)
	flush := func() error {
		if cur != nil && len(cur.text) > 0 {
			if err := emit(*cur); err != nil {
				return err
			}
		}
		cur = nil
		return nil
	}
	for {
		line, cut, err := readLine(br, maxLine)
		if err == io.EOF && line == nil {
			return flush()
		}
		if err != nil && err != io.EOF {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case bytes.HasPrefix(line, []byte(commitMarker)):
			if err := flush(); err != nil {
				return err
			}
			parts := strings.Split(string(line[len(commitMarker):]), "\x00")
			commit, author, date = parts[0], "", ""
			if len(parts) > 1 {
				author = parts[1]
			}
			if len(parts) > 2 {
				date = parts[2]
			}
			inHunk = false
		case bytes.HasPrefix(line, []byte("diff --git ")):
			if err := flush(); err != nil {
				return err
			}
			inHunk = false
		case !inHunk && bytes.HasPrefix(line, []byte("+++ ")):
			name := string(line[4:])
			if name == "/dev/null" {
				cur = nil
				continue
			}
			if strings.HasPrefix(name, "\"") {
				if u, err := strconv.Unquote(name); err == nil {
					name = u
				}
			}
			name = strings.TrimPrefix(name, "b/")
			cur = &gitDiff{commit: commit, author: author, date: date, path: name}
		case bytes.HasPrefix(line, []byte("diff --cc ")), bytes.HasPrefix(line, []byte("diff --combined ")):
			if err := flush(); err != nil {
				return err
			}
			inHunk = false
		case bytes.HasPrefix(line, []byte("@@")):
			n, ok := hunkNewStart(line)
			if !ok {
				// Not what follows the closing "@@": git prints a line
				// of the file there (the function context).
				head := line
				if i := bytes.Index(line[2:], []byte("@@")); i >= 0 {
					head = line[:2+i+2]
				}
				return fmt.Errorf("bad hunk header %q", head[:min(len(head), 80)])
			}
			// "@@" for one parent, "@@@" for a merge of two, ...
			parents = len(line) - len(bytes.TrimLeft(line, "@")) - 1
			newLine, inHunk = n, true
		case inHunk && len(line) >= parents && line[0] != '\\':
			// One column per parent: '-' means not in the result, '+'
			// under every parent means added by this commit.
			cols := line[:parents]
			if bytes.IndexByte(cols, '-') >= 0 || cur == nil {
				continue
			}
			if len(bytes.Trim(cols, "+")) != 0 {
				newLine++ // in the result, but from a parent
				continue
			}
			line = line[parents-1:]
			if len(cur.text)+len(line) > maxText && len(cur.text) > 0 {
				piece := *cur
				if err := emit(piece); err != nil {
					return err
				}
				cur = &gitDiff{commit: piece.commit, author: piece.author, date: piece.date, path: piece.path}
			}
			if cut {
				warn(fmt.Sprintf("%s in commit %s: line %d is longer than %d bytes; only its start is scanned", cur.path, cur.commit, newLine, maxLine))
			}
			cur.text = append(append(cur.text, line[1:]...), '\n')
			cur.lines = append(cur.lines, newLine)
			newLine++
		}
		if err == io.EOF {
			return flush()
		}
	}
}

// readLine returns the next line without its '\n'. A line longer than
// maxLine bytes is cut there (cut is true); the rest of it is read and
// dropped, so that memory stays bounded whatever git prints.
func readLine(br *bufio.Reader, maxLine int) (line []byte, cut bool, err error) {
	line, err = br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		// Keep at most maxLine+1 bytes: the line and its '\n', or one
		// byte too many to tell that it was cut.
		long := append([]byte(nil), line[:min(len(line), maxLine+1)]...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = br.ReadSlice('\n')
			long = append(long, line[:min(len(line), maxLine+1-len(long))]...)
		}
		line = long
	}
	if len(line) == 0 && err != nil {
		return nil, false, err
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	if len(line) > maxLine {
		line, cut = line[:maxLine], true
	}
	return line, cut, err
}

// hunkNewStart parses the new-file start line of "@@ -a,b +c,d @@".
func hunkNewStart(line []byte) (int, bool) {
	i := bytes.Index(line, []byte(" +"))
	if i < 0 {
		return 0, false
	}
	rest := line[i+2:]
	end := bytes.IndexAny(rest, ", ")
	if end < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(string(rest[:end]))
	if err != nil {
		return 0, false
	}
	return n, true
}

// limitedBuffer keeps the first max bytes written to it (git's stderr, for
// the error message) and drops the rest.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
