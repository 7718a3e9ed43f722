package scan

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitRepo is a repository built by a test.
type gitRepo struct {
	t   *testing.T
	dir string
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	r := &gitRepo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	r.git("config", "user.name", "Alice Example")
	r.git("config", "user.email", "alice@example.org")
	r.git("config", "commit.gpgsign", "false")
	return r
}

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-C", r.dir}, args...)...)
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_SYSTEM=/dev/null",
		"GIT_AUTHOR_DATE=2024-03-01T10:00:00Z", "GIT_COMMITTER_DATE=2024-03-01T10:00:00Z")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files ("" content removes a file) and commits them.
func (r *gitRepo) commit(msg string, files map[string]string) string {
	r.t.Helper()
	for name, content := range files {
		p := filepath.Join(r.dir, name)
		if content == "" {
			r.git("rm", "-q", name)
			continue
		}
		writeFile(r.t, p, []byte(content))
		r.git("add", name)
	}
	r.git("commit", "-q", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

func TestGitHistory(t *testing.T) {
	r := newGitRepo(t)
	first := r.commit("readme", map[string]string{"README.md": "# project\n"})
	added := r.commit("add config", map[string]string{
		"config/app.env": "# settings\nregion = eu-west-1\n" + awsLine,
		"docs/a b.txt":   "spaces in the name\n",
	})
	r.commit("edit config", map[string]string{"config/app.env": "# settings\nregion = eu-west-1\n" + awsLine + "debug = true\n"})
	removed := r.commit("remove the key", map[string]string{"config/app.env": "# settings\nregion = eu-west-1\n"})
	r.git("checkout", "-q", "-b", "side")
	side := r.commit("side branch", map[string]string{"side.env": "x = 1\n" + awsLine})
	r.git("checkout", "-q", "main")

	tests := []struct {
		name    string
		opt     GitOptions
		commits []string // commits of the findings, in order
	}{
		{"whole history", GitOptions{}, []string{added}},
		{"since the key was added", GitOptions{Since: added}, nil},
		{"since the first commit", GitOptions{Since: first}, []string{added}},
		{"all history overrides since", GitOptions{Since: removed, AllHistory: true}, []string{added, side}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &collector{}
			s := NewScanner(testEngine(t), c.options(Options{}))
			if err := s.ScanGit(context.Background(), r.dir, tt.opt); err != nil {
				t.Fatal(err)
			}
			got := c.awsFindings()
			if len(got) != len(tt.commits) {
				t.Fatalf("%d findings, want %d: %+v", len(got), len(tt.commits), got)
			}
			rep := NewReport(got, s.Stats())
			for i, f := range rep.Findings {
				l := f.Location
				if l.Commit != tt.commits[i] {
					t.Errorf("finding %d in commit %s, want %s", i, l.Commit, tt.commits[i])
				}
				if l.Author != "Alice Example <alice@example.org>" || !strings.HasPrefix(l.Date, "2024-03-01") {
					t.Errorf("author %q date %q", l.Author, l.Date)
				}
				wantPath, wantLine := "config/app.env", 3
				if l.Commit == side {
					wantPath, wantLine = "side.env", 2
				}
				if l.Path != wantPath || l.Line != wantLine {
					t.Errorf("at %s:%d, want %s:%d", l.Path, l.Line, wantPath, wantLine)
				}
			}
		})
	}
	t.Run("empty repository", func(t *testing.T) {
		empty := newGitRepo(t)
		s := NewScanner(testEngine(t), Options{})
		if err := s.ScanGit(context.Background(), empty.dir, GitOptions{}); err != nil {
			t.Fatalf("empty repository: %v", err)
		}
	})
	t.Run("bad revision", func(t *testing.T) {
		s := NewScanner(testEngine(t), Options{})
		if err := s.ScanGit(context.Background(), r.dir, GitOptions{Since: "no-such-rev"}); err == nil {
			t.Fatal("no error for a bad --since")
		}
	})
	t.Run("not a repository", func(t *testing.T) {
		s := NewScanner(testEngine(t), Options{})
		if err := s.ScanGit(context.Background(), t.TempDir(), GitOptions{}); err == nil {
			t.Fatal("no error for a directory that is not a repository")
		}
	})
}

func TestParseGitLog(t *testing.T) {
	log := commitMarker + "abc123\x00Bob <b@x>\x002024-01-02T03:04:05Z\n" +
		"\n" +
		"diff --git a/x.txt b/x.txt\n" +
		"index 1..2 100644\n" +
		"--- a/x.txt\n" +
		"+++ b/x.txt\n" +
		"@@ -3,0 +4,2 @@ func\n" +
		"+four\n" +
		"+five\n" +
		"@@ -10 +12 @@\n" +
		"-old\n" +
		"+twelve\n" +
		"diff --git a/\"q\\tname\" b/\"q\\tname\"\n" +
		"new file mode 100644\n" +
		"--- /dev/null\n" +
		"+++ \"b/q\\tname\"\n" +
		"@@ -0,0 +1 @@\n" +
		"++++ not a header\n" +
		"diff --git a/bin b/bin\n" +
		"Binary files a/bin and b/bin differ\n"
	var got []gitDiff
	err := parseGitLog(context.Background(), strings.NewReader(log), 1<<20, maxGitLine, func(d gitDiff) error {
		got = append(got, d)
		return nil
	}, func(w string) { t.Errorf("warning %s", w) })
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, text string
		lines      []int
	}{
		{"x.txt", "four\nfive\ntwelve\n", []int{4, 5, 12}},
		{"q\tname", "+++ not a header\n", []int{1}},
	}
	if len(got) != len(tests) {
		t.Fatalf("got %d diffs: %+v", len(got), got)
	}
	for i, tt := range tests {
		d := got[i]
		if d.commit != "abc123" || d.author != "Bob <b@x>" || d.path != tt.path || string(d.text) != tt.text || !equalInts(d.lines, tt.lines) {
			t.Errorf("diff %d = %+v (text %q), want %s %q %v", i, d, d.text, tt.path, tt.text, tt.lines)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestGitMerges(t *testing.T) {
	r := newGitRepo(t)
	r.commit("base", map[string]string{"a.txt": "base\n"})
	r.git("checkout", "-q", "-b", "side")
	side := r.commit("side", map[string]string{"a.txt": "side\n", "side.env": "x = 1\n" + awsLine})
	r.git("checkout", "-q", "main")
	r.commit("main", map[string]string{"a.txt": "main\n"})
	// The merge conflicts on a.txt; the resolution adds a secret of its own
	// (an "evil merge").
	cmd := exec.Command("git", "-C", r.dir, "merge", "-q", "side")
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null")
	_ = cmd.Run() // fails on the conflict
	writeFile(t, filepath.Join(r.dir, "a.txt"), []byte("resolved\nkey = "+testAWSKey+"\n"))
	r.git("add", "a.txt")
	r.git("commit", "-q", "--no-edit")
	merge := r.git("rev-parse", "HEAD")

	c := &collector{}
	s := NewScanner(testEngine(t), c.options(Options{}))
	if err := s.ScanGit(context.Background(), r.dir, GitOptions{}); err != nil {
		t.Fatal(err)
	}
	got := NewReport(c.awsFindings(), s.Stats()).Findings
	want := []struct {
		commit, path string
		line         int
	}{
		{merge, "a.txt", 2},
		{side, "side.env", 2},
	}
	if len(got) != len(want) {
		t.Fatalf("%d findings, want %d (each once): %+v", len(got), len(want), got)
	}
	for i, w := range want {
		l := got[i].Location
		if l.Commit != w.commit || l.Path != w.path || l.Line != w.line {
			t.Errorf("finding %d: %s %s:%d, want %s %s:%d", i, l.Commit, l.Path, l.Line, w.commit, w.path, w.line)
		}
	}
}

func TestParseCombinedDiff(t *testing.T) {
	log := commitMarker + "m1\x00Bob <b@x>\x002024-01-02T03:04:05Z\n" +
		"\n" +
		"diff --cc a.txt\n" +
		"index 1,2..3\n" +
		"--- a/a.txt\n" +
		"+++ b/a.txt\n" +
		"@@@ -1,1 -1,1 +1,3 @@@\n" +
		"- main\n" +
		" -side\n" +
		"++resolved\n" +
		" +from side\n" +
		"++evil\n"
	var got []gitDiff
	if err := parseGitLog(context.Background(), strings.NewReader(log), 1<<20, maxGitLine, func(d gitDiff) error {
		got = append(got, d)
		return nil
	}, func(w string) { t.Errorf("warning %s", w) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].path != "a.txt" || string(got[0].text) != "resolved\nevil\n" || !equalInts(got[0].lines, []int{1, 3}) {
		t.Fatalf("got %+v", got)
	}
}

// TestParseGitLogLongLine: an added line longer than the line bound is
// scanned up to the bound, with a warning, and the lines after it are read
// as usual.
func TestParseGitLogLongLine(t *testing.T) {
	const maxLine = 64
	long := strings.Repeat("k", 10*maxLine) // longer than bufio's 16-byte minimum and maxLine
	log := commitMarker + "c1\x00Bob <b@x>\x002024-01-02T03:04:05Z\n" +
		"diff --git a/x b/x\n" +
		"--- /dev/null\n" +
		"+++ b/x\n" +
		"@@ -0,0 +1,2 @@\n" +
		"+" + long + "\n" +
		"+after\n"
	var got []gitDiff
	var warnings []string
	err := parseGitLog(context.Background(), bufio.NewReaderSize(strings.NewReader(log), 16), 1<<20, maxLine, func(d gitDiff) error {
		got = append(got, d)
		return nil
	}, func(w string) { warnings = append(warnings, w) })
	if err != nil {
		t.Fatal(err)
	}
	want := long[:maxLine-1] + "\nafter\n" // the cut keeps maxLine bytes of "+kkk…"
	if len(got) != 1 || string(got[0].text) != want || !equalInts(got[0].lines, []int{1, 2}) {
		t.Fatalf("got %+v", got)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "x in commit c1: line 1 is longer than 64 bytes") {
		t.Fatalf("warnings %q", warnings)
	}
}

// TestReadLine: lines at, under and over the bound, shorter and longer
// than the reader's buffer; the next line is read intact after a cut one.
func TestReadLine(t *testing.T) {
	const maxLine = 40
	for _, n := range []int{0, 1, 15, 16, 17, maxLine - 1, maxLine, maxLine + 1, 100} {
		line := strings.Repeat("a", n)
		br := bufio.NewReaderSize(strings.NewReader(line+"\nnext\n"), 16)
		got, cut, err := readLine(br, maxLine)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if want := line[:min(n, maxLine)]; string(got) != want || cut != (n > maxLine) {
			t.Errorf("%d bytes: got %d bytes, cut %v", n, len(got), cut)
		}
		if next, _, err := readLine(br, maxLine); err != nil || string(next) != "next" {
			t.Errorf("%d bytes: next line %q, %v", n, next, err)
		}
	}
}

// TestParseGitLogBadHunkHidesContext: the error for a hunk header that does
// not parse does not repeat the function context git prints after it (a
// line of the file, which may hold a secret).
func TestParseGitLogBadHunkHidesContext(t *testing.T) {
	log := commitMarker + "c1\x00Bob <b@x>\x002024-01-02T03:04:05Z\n" +
		"diff --git a/x b/x\n" +
		"--- a/x\n" +
		"+++ b/x\n" +
		"@@ -1 +x @@ " + awsLine
	err := parseGitLog(context.Background(), strings.NewReader(log), 1<<20, maxGitLine,
		func(gitDiff) error { return nil }, func(string) {})
	if err == nil || !strings.Contains(err.Error(), "bad hunk header") {
		t.Fatalf("err %v, want a bad hunk header", err)
	}
	if strings.Contains(err.Error(), "AKIA") {
		t.Errorf("the error repeats the line after the header: %v", err)
	}
}
