package scan

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestMainExitCodes(t *testing.T) {
	dir := t.TempDir()
	clean := filepath.Join(dir, "clean")
	writeFile(t, filepath.Join(clean, "a.txt"), []byte("hello\n"))
	dirty := filepath.Join(dir, "dirty")
	writeFile(t, filepath.Join(dirty, "a.env"), []byte(awsLine))
	image := filepath.Join(dir, "image.tar")
	writeDockerSave(t, image, testLayers(t))
	zipped := filepath.Join(dir, "zipped", "a.zip")
	writeFile(t, zipped, zipOf(t, entry{"big.env", append(bytes.Repeat([]byte("# padding\n"), 2000), awsLine...)}))
	binary := filepath.Join(dir, "binary", "a.bin")
	writeFile(t, binary, append([]byte("\x00\x01"), awsLine...))
	badConfig := filepath.Join(dir, "bad.toml")
	writeFile(t, badConfig, []byte("this is [not a config\x00"))

	tests := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stderr string // part of stderr, if any
	}{
		{"clean directory", "", []string{clean}, ExitClean, ""},
		{"secret found", "", []string{dirty}, ExitFindings, ""},
		{"flags after paths", "", []string{dirty, "--format", "json"}, ExitFindings, ""},
		{"fail-on none", "", []string{"--fail-on", "none", dirty}, ExitClean, ""},
		{"fail-on very likely", "", []string{"--fail-on", "VERY_LIKELY", dirty}, ExitFindings, ""},
		{"stdin clean", "nothing\n", []string{"-"}, ExitClean, ""},
		{"stdin secret", awsLine, []string{"-"}, ExitFindings, ""},
		{"image", "", []string{"image", image}, ExitFindings, ""},
		{"secret in a zip", "", []string{zipped}, ExitFindings, ""},
		{"zip not expanded", "", []string{"--max-depth", "0", zipped}, ExitClean, "not expanded"},
		{"zip over the byte budget", "", []string{"--max-archive-bytes", "1000", "--fail-on", "LIKELY", zipped}, ExitFindings, ""},
		{"binary skipped", "", []string{binary}, ExitClean, ""},
		{"binary included", "", []string{"--include-binary", binary}, ExitFindings, ""},
		{"missing path", "", []string{filepath.Join(dir, "nope")}, ExitError, "nope"},
		{"no paths", "", nil, ExitError, "nothing to scan"},
		{"bad format", "", []string{"--format", "xml", clean}, ExitError, "unknown format"},
		{"bad fail-on", "", []string{"--fail-on", "sometimes", clean}, ExitError, "fail-on"},
		{"unknown flag", "", []string{"--frobnicate", clean}, ExitError, "frobnicate"},
		{"bad config", "", []string{"--config", badConfig, clean}, ExitError, ""},
		{"missing config", "", []string{"--config", filepath.Join(dir, "none.toml"), clean}, ExitError, ""},
		{"git needs one repo", "", []string{"git"}, ExitError, "repository"},
		{"git not a repo", "", []string{"git", clean}, ExitError, "not a git repository"},
		{"image not an image", "", []string{"image", clean}, ExitError, "no layers"},
		{"help", "", []string{"--help"}, ExitClean, "Usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.args) > 0 && tt.args[0] == "git" {
				if _, err := exec.LookPath("git"); err != nil {
					t.Skip("git not installed")
				}
			}
			code, _, stderr := runMain(t, tt.stdin, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, stderr)
			}
		})
	}
}

func TestMainGit(t *testing.T) {
	r := newGitRepo(t)
	added := r.commit("add", map[string]string{"k.env": awsLine})
	r.commit("remove", map[string]string{"k.env": ""})
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"history", []string{"git", r.dir}, ExitFindings},
		{"since", []string{"git", "--since", added, r.dir}, ExitClean},
		{"all history", []string{"git", r.dir, "--since", added, "--all-history"}, ExitFindings},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := runMain(t, "", append(tt.args, "--format", "json")...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, stderr)
			}
			if tt.code == ExitFindings && !strings.Contains(out, added) {
				t.Errorf("report does not name commit %s:\n%s", added, out)
			}
		})
	}
}

func TestNoProgressWhenNotATerminal(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.txt"), []byte("hello\n"))
	_, _, stderr := runMain(t, "", dir)
	if stderr != "" {
		t.Fatalf("stderr not empty when it is not a terminal: %q", stderr)
	}
}

func TestProgressOnRequest(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.txt"), []byte("hello\n"))
	code, out, stderr := runMain(t, "", "--progress", "always", dir)
	if code != ExitClean || !strings.Contains(stderr, "scanning") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if strings.Contains(out, "scanning") {
		t.Fatal("progress on stdout")
	}
}

func TestMainOutputAndShowSecrets(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.env"), []byte(awsLine))
	tests := []struct {
		name string
		args []string
		show bool
	}{
		{"masked", nil, false},
		{"shown", []string{"--show-secrets"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "report.json")
			code, stdout, stderr := runMain(t, "", append(tt.args, "--format", "json", "--output", out, dir)...)
			if code != ExitFindings || stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %s", code, stdout, stderr)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			var rep jsonReport
			if err := json.Unmarshal(data, &rep); err != nil {
				t.Fatal(err)
			}
			if len(rep.Findings) == 0 || (rep.Findings[0].Value == testAWSKey) != tt.show {
				t.Fatalf("findings %+v, show %v", rep.Findings, tt.show)
			}
			if strings.Contains(string(data), testAWSKey) != tt.show {
				t.Fatalf("secret in report = %v, want %v", !tt.show, tt.show)
			}
		})
	}
}
