package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// toolTimeout bounds every run of an external client.
const toolTimeout = 3 * time.Minute

// requireTool returns the path of a real client binary. It skips the test
// when the binary is missing, unless COFFER_REAL_CLIENTS is set (as
// scripts/test.sh does after installing them): then a missing client fails.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		toolMissing(t, name, err)
	}
	return p
}

// toolMissing fails or skips the test for a missing client.
func toolMissing(t *testing.T, name string, err error) {
	t.Helper()
	if os.Getenv("COFFER_REAL_CLIENTS") != "" {
		t.Fatalf("COFFER_REAL_CLIENTS is set but %s is not installed: %v", name, err)
	}
	t.Skipf("%s is not installed (scripts/test.sh installs it; set COFFER_REAL_CLIENTS=1 to make this a failure): %v", name, err)
}

// toolEnv is a clean environment for a client: nothing inherited but PATH,
// so global AWS_*, RCLONE_* or RESTIC_* settings cannot leak in, and a
// private HOME, so no user config file is read.
func toolEnv(home string, kv ...string) []string {
	return append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"TMPDIR=" + os.TempDir(),
		"LANG=C.UTF-8",
		"LC_ALL=C.UTF-8",
	}, kv...)
}

// tool runs one external client.
type tool struct {
	t   *testing.T
	bin string
	env []string
	dir string
}

// run runs the tool with args and returns its combined output and error.
func (tl tool) run(args ...string) (string, error) {
	tl.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tl.bin, args...)
	cmd.Env = tl.env
	cmd.Dir = tl.dir
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = errors.Join(err, ctx.Err())
	}
	return string(out), err
}

// must runs the tool and fails the test if it exits non-zero.
func (tl tool) must(args ...string) string {
	tl.t.Helper()
	out, err := tl.run(args...)
	if err != nil {
		tl.t.Fatalf("%s %s: %v\n%s", filepath.Base(tl.bin), strings.Join(args, " "), err, out)
	}
	return out
}
