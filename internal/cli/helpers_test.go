package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/pem"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// result is one CLI invocation's outcome.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return "exit " + strconv.Itoa(r.code) + "\nstdout:\n" + r.stdout + "\nstderr:\n" + r.stderr
}

// harness runs the CLI in-process with its own configuration directory.
type harness struct {
	t   *testing.T
	env map[string]string
	// terminal makes stdin and stderr count as terminals (prompts and
	// progress bars on).
	terminal bool
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return &harness{t: t, env: map[string]string{
		"COFFER_CONFIG_DIR": filepath.Join(t.TempDir(), "config"),
		"HOME":              t.TempDir(),
		// No implicit "local" alias unless a test sets one up.
		"COFFER_DATA_DIR": filepath.Join(t.TempDir(), "no-data-dir"),
	}}
}

func (h *harness) getenv(k string) string { return h.env[k] }

// run runs args with empty stdin.
func (h *harness) run(args ...string) result {
	h.t.Helper()
	return h.runCtx(context.Background(), "", args...)
}

// runCtx runs args with ctx and stdin.
func (h *harness) runCtx(ctx context.Context, stdin string, args ...string) result {
	h.t.Helper()
	var out, errb bytes.Buffer
	a := newApp(strings.NewReader(stdin), &out, &errb, h.getenv)
	a.isTerminal = func(any) bool { return h.terminal }
	a.readPassword = func(any) ([]byte, error) { return []byte(strings.TrimSpace(stdin)), nil }
	a.pollInterval = 5 * time.Millisecond
	code := a.run(ctx, args)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// must runs args and fails the test unless they exit 0.
func (h *harness) must(args ...string) result {
	h.t.Helper()
	r := h.run(args...)
	if r.code != 0 {
		h.t.Fatalf("coffer %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// expect runs args and checks the exit code and that stderr contains want.
func (h *harness) expect(code int, want string, args ...string) result {
	h.t.Helper()
	r := h.run(args...)
	if r.code != code || !strings.Contains(r.stderr, want) {
		h.t.Fatalf("coffer %s: want exit %d and stderr containing %q, got %s", strings.Join(args, " "), code, want, r)
	}
	return r
}

// randomFile writes n random bytes to dir/name and returns its path and data.
func randomFile(t *testing.T, dir, name string, n int) (string, []byte) {
	t.Helper()
	data := make([]byte, n)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, data
}

// startFake starts the in-memory S3 endpoint over TLS and returns it with
// its URL, credentials, and a PEM file holding its certificate.
func startFake(t *testing.T) (fake *fakeS3, endpoint, accessKey, secretKey, caFile string) {
	t.Helper()
	fake = newFakeS3("AKFAKE")
	srv := httptest.NewUnstartedServer(fake)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted-CA test fails handshakes on purpose
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	return fake, srv.URL, "AKFAKE", "fake-secret-key", caFile
}
