// Package e2e holds Coffer's whole-system tests: they build the coffer
// binary once, run `coffer serve` as a real subprocess on loopback, and
// drive it with real clients (rclone, s3cmd, restic, aws-cli, minio-go),
// kill -9 it mid-write, tamper with its data directory while it is stopped,
// and fill or freeze the filesystem under it.
//
// The package has test files only.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/coffer-vault/coffer/internal/testutil"
)

// cofferBin is the coffer binary TestMain builds for this test binary.
var cofferBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "coffer-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	cofferBin = filepath.Join(dir, "coffer")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", cofferBin, "github.com/coffer-vault/coffer/cmd/coffer")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build coffer: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// Bounds on every wait on the server process.
const (
	startTimeout = 30 * time.Second
	stopTimeout  = 30 * time.Second
)

// credentialsFile mirrors DataDir/credentials.json.
type credentialsFile struct {
	Endpoint  string `json:"endpoint"`
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key"`
	CAFile    string `json:"ca_file"`
	Region    string `json:"region"`
}

// serverOptions change how startCoffer runs the server.
type serverOptions struct {
	// wrap prefixes the command line, e.g. nsenter into a mount namespace.
	wrap []string
	// hostRoot is prepended to server-side paths to reach them from this
	// process (e.g. /proc/PID/root for another mount namespace).
	hostRoot string
	// args are extra `coffer serve` flags.
	args []string
}

// coffer is one running `coffer serve` subprocess.
type coffer struct {
	t        *testing.T
	dataDir  string // as the server sees it
	hostDir  string // as this process sees it
	cmd      *exec.Cmd
	endpoint string // https://127.0.0.1:PORT
	host     string // 127.0.0.1:PORT
	creds    credentialsFile
	caFile   string // readable from this process
	stdout   *testutil.SyncBuffer
	log      *testutil.SyncBuffer // the server's stderr: its slog output
	exited   chan struct{}
	waitErr  error
}

// startCoffer runs `coffer serve` on a free loopback port (the kernel picks
// it: --addr 127.0.0.1:0, and the banner says which) over dataDir, waits for
// /health and reads credentials.json. The process is killed at cleanup.
func startCoffer(t *testing.T, dataDir string, opt serverOptions) *coffer {
	t.Helper()
	c, err := tryStartCoffer(t, dataDir, opt)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tryStartCoffer is startCoffer returning the failure instead of failing
// the test, for tests that expect the server not to start.
func tryStartCoffer(t *testing.T, dataDir string, opt serverOptions) (*coffer, error) {
	t.Helper()
	c := &coffer{
		t: t, dataDir: dataDir, hostDir: opt.hostRoot + dataDir,
		stdout: &testutil.SyncBuffer{}, log: &testutil.SyncBuffer{}, exited: make(chan struct{}),
	}
	args := append(append([]string{}, opt.wrap...), cofferBin, "serve", "--data-dir", dataDir, "--addr", "127.0.0.1:0")
	args = append(args, opt.args...)
	c.cmd = exec.Command(args[0], args[1:]...)
	c.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	c.cmd.Stderr = c.log
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start coffer: %w", err)
	}
	endpointc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			c.stdout.Write([]byte(line + "\n"))
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Endpoint:"); ok {
				select {
				case endpointc <- strings.TrimSpace(v):
				default:
				}
			}
		}
		io.Copy(io.Discard, stdout)
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			t.Logf("coffer serve --data-dir %s: stdout:\n%s\nstderr:\n%s", dataDir, c.stdout, c.log)
		}
	})

	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case c.endpoint = <-endpointc:
	case <-c.exited:
		return nil, fmt.Errorf("coffer serve exited before serving: %v\nstderr:\n%s", c.waitErr, c.log)
	case <-timer.C:
		c.kill()
		return nil, fmt.Errorf("coffer serve printed no endpoint within %v\nstderr:\n%s", startTimeout, c.log)
	}
	c.host = strings.TrimPrefix(c.endpoint, "https://")
	if !strings.HasPrefix(c.host, "127.0.0.1:") {
		return nil, fmt.Errorf("endpoint %q is not https on 127.0.0.1", c.endpoint)
	}
	b, err := os.ReadFile(filepath.Join(c.hostDir, "credentials.json"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &c.creds); err != nil {
		return nil, fmt.Errorf("credentials.json: %w", err)
	}
	if c.creds.Endpoint != c.endpoint || c.creds.AccessKey == "" || c.creds.SecretKey == "" || c.creds.CAFile == "" {
		return nil, fmt.Errorf("credentials.json = endpoint %q, ca %q; want endpoint %q and keys", c.creds.Endpoint, c.creds.CAFile, c.endpoint)
	}
	c.caFile = opt.hostRoot + c.creds.CAFile
	if err := c.waitHealthy(); err != nil {
		return nil, err
	}
	return c, nil
}

// waitHealthy polls /health until it answers 200.
func (c *coffer) waitHealthy() error {
	client := &http.Client{Transport: c.transport(), Timeout: 5 * time.Second}
	deadline := time.Now().Add(startTimeout)
	var last string
	for time.Now().Before(deadline) {
		resp, err := client.Get(c.endpoint + "/health")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-c.exited:
			return fmt.Errorf("coffer serve exited: %v\nstderr:\n%s", c.waitErr, c.log)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("/health not OK within %v: %s", startTimeout, last)
}

// transport trusts only the server's own CA and speaks TLS 1.3.
func (c *coffer) transport() *http.Transport {
	c.t.Helper()
	pem, err := os.ReadFile(c.caFile)
	if err != nil {
		c.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		c.t.Fatalf("%s holds no certificate", c.caFile)
	}
	return &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13},
		MaxIdleConnsPerHost: 16,
	}
}

// minio returns a minio-go client for the server. maxRetries 1 means every
// request is tried once, so a failure is seen as it happens.
func (c *coffer) minio(maxRetries int) *minio.Client {
	c.t.Helper()
	mc, err := minio.New(c.host, &minio.Options{
		Creds:      credentials.NewStaticV4(c.creds.AccessKey, c.creds.SecretKey, ""),
		Secure:     true,
		Transport:  c.transport(),
		Region:     c.creds.Region,
		MaxRetries: maxRetries,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return mc
}

// stop shuts the server down gracefully (SIGTERM) and waits, bounded; a
// non-zero exit fails the test.
func (c *coffer) stop() {
	c.t.Helper()
	if err := c.terminate(); err != nil {
		c.t.Errorf("coffer serve exited with %v after SIGTERM\nstderr:\n%s", err, c.log)
	}
}

// terminate sends SIGTERM, waits (bounded) and returns how the process exited.
func (c *coffer) terminate() error {
	c.t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		c.t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-c.exited:
		return c.waitErr
	case <-time.After(stopTimeout):
		c.kill()
		c.t.Fatalf("coffer serve did not stop within %v of SIGTERM", stopTimeout)
		return nil
	}
}

// kill sends SIGKILL (a crash, as far as the server is concerned) and waits.
func (c *coffer) kill() {
	select {
	case <-c.exited:
		return
	default:
	}
	c.cmd.Process.Kill()
	select {
	case <-c.exited:
	case <-time.After(stopTimeout):
		c.t.Errorf("coffer serve (pid %d) still running %v after SIGKILL", c.cmd.Process.Pid, stopTimeout)
	}
}

// blobFiles returns the committed blob files under dataDir/blobs, by id.
func blobFiles(t *testing.T, dataDir string) map[string]string {
	t.Helper()
	root := filepath.Join(dataDir, "blobs")
	out := map[string]string{}
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, fan := range ents {
		if !fan.IsDir() || len(fan.Name()) != 2 {
			continue
		}
		files, err := os.ReadDir(filepath.Join(root, fan.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			out[f.Name()] = filepath.Join(root, fan.Name(), f.Name())
		}
	}
	return out
}

// newBlobs returns the blob files in after that are not in before.
func newBlobs(before, after map[string]string) []string {
	var out []string
	for id, p := range after {
		if _, ok := before[id]; !ok {
			out = append(out, p)
		}
	}
	return out
}

// keyedBytes returns n bytes determined by key alone, so that any object's
// expected content can be recomputed from its name.
func keyedBytes(key string, n int) []byte {
	seed := sha256.Sum256([]byte(key))
	b := make([]byte, n)
	rand.NewChaCha8(seed).Read(b)
	return b
}

// treeFile is one file of a generated directory tree.
type treeFile struct {
	path string
	size int
}

// writeTree writes files under dir with contents keyed by seed and path.
func writeTree(t *testing.T, dir, seed string, files []treeFile) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, keyedBytes(seed+"/"+f.path, f.size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// smallTree is dozens of small files in nested directories, with an empty
// file and names that need escaping.
func smallTree(n int) []treeFile {
	var files []treeFile
	for i := range n {
		dir := []string{"", "docs/", "docs/2024/", "docs/2024/q1/", "photos/raw/", "a/b/c/d/"}[i%6]
		files = append(files, treeFile{fmt.Sprintf("%sfile-%02d.dat", dir, i), (i * 1531) % 20000})
	}
	return append(files,
		treeFile{"with space/name with space.txt", 777},
		treeFile{"ünïcödé/日本語.txt", 1234},
		treeFile{"empty.txt", 0},
	)
}

// readTree returns every regular file under dir by slash path.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		out[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameTree fails unless dirs a and b hold the same files with the same bytes.
func sameTree(t *testing.T, a, b string) {
	t.Helper()
	ta, tb := readTree(t, a), readTree(t, b)
	for p, ba := range ta {
		bb, ok := tb[p]
		switch {
		case !ok:
			t.Errorf("%s: missing from %s", p, b)
		case !bytes.Equal(ba, bb):
			t.Errorf("%s: %d bytes in %s, %d different bytes in %s", p, len(ba), a, len(bb), b)
		}
	}
	for p := range tb {
		if _, ok := ta[p]; !ok {
			t.Errorf("%s: in %s but not in %s", p, b, a)
		}
	}
	if len(ta) == 0 {
		t.Errorf("%s is empty", a)
	}
}
