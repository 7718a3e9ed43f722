package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/coffer-vault/coffer/internal/meta"
	"github.com/coffer-vault/coffer/internal/policy"
	"github.com/coffer-vault/coffer/internal/testutil"
)

// startTestServer starts a server on loopback with a fresh (or given) data dir.
func startTestServer(t *testing.T, dir string) *Server {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	s, err := Start(context.Background(), Config{
		DataDir: dir,
		Addr:    "127.0.0.1:0",
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

func readCreds(t *testing.T, s *Server) Credentials {
	t.Helper()
	b, err := os.ReadFile(s.CredentialsFile())
	if err != nil {
		t.Fatal(err)
	}
	var c Credentials
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func trustingTransport(t *testing.T, caFile string) *http.Transport {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("bad CA file")
	}
	return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}}
}

func minioClient(t *testing.T, s *Server, c Credentials) *minio.Client {
	t.Helper()
	host := strings.TrimPrefix(s.Endpoint(), "https://")
	mc, err := minio.New(host, &minio.Options{
		Creds:     credentials.NewStaticV4(c.AccessKey, c.SecretKey, ""),
		Secure:    true,
		Transport: trustingTransport(t, c.CAFile),
		Region:    "us-east-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	return mc
}

func TestFirstStartAndRestart(t *testing.T) {
	dir := t.TempDir()
	s := startTestServer(t, dir)
	nc := s.NewCredentials()
	if nc == nil {
		t.Fatal("first start did not mint admin credentials")
	}
	c := readCreds(t, s)
	if c.AccessKey != nc.AccessKey || c.SecretKey != nc.SecretKey || c.Endpoint != s.Endpoint() || c.CAFile != s.CAFile() {
		t.Fatalf("credentials.json = %+v, want the printed credentials, endpoint and CA", c)
	}
	for _, f := range []string{"credentials.json", "root.key", "tls/ca.key", "tls/server.key"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", f, st.Mode().Perm())
		}
	}
	// The secret must not be stored in plaintext anywhere but credentials.json.
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Base(p) == "credentials.json" {
			return err
		}
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(c.SecretKey)) {
			t.Errorf("secret key found in plaintext in %s", p)
		}
		return nil
	})

	ctx := context.Background()
	mc := minioClient(t, s, c)
	if err := mc.MakeBucket(ctx, "persist", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	body := []byte("survives a restart")
	if _, err := mc.PutObject(ctx, "persist", "k", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}

	// A second server on the same data dir is refused while the first runs.
	if _, err := Start(ctx, Config{DataDir: dir, Addr: "127.0.0.1:0"}); err == nil {
		t.Fatal("a second server started on a data dir in use")
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	s2 := startTestServer(t, dir)
	if s2.NewCredentials() != nil {
		t.Error("restart minted new admin credentials")
	}
	c2 := readCreds(t, s2)
	if c2.SecretKey != c.SecretKey || c2.Endpoint != s2.Endpoint() {
		t.Errorf("credentials.json after restart = endpoint %s, want same secret and endpoint %s", c2.Endpoint, s2.Endpoint())
	}
	obj, err := minioClient(t, s2, c2).GetObject(ctx, "persist", "k", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("after restart got %q, %v", got, err)
	}
}

// adminDo sends a SigV4-signed admin request.
func adminDo(t *testing.T, s *Server, c Credentials, method, path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.Endpoint()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Content-Sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	req = signer.SignV4(*req, c.AccessKey, c.SecretKey, "", "us-east-1")
	resp, err := (&http.Client{Transport: trustingTransport(t, s.CAFile())}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestKeyRotationThroughAdminAPI(t *testing.T) {
	s := startTestServer(t, "")
	c := readCreds(t, s)
	ctx := context.Background()
	mc := minioClient(t, s, c)
	if err := mc.MakeBucket(ctx, "rot", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := range n {
		b := bytes.Repeat([]byte{byte(i)}, 1000+i)
		if _, err := mc.PutObject(ctx, "rot", "obj"+string(rune('a'+i)), bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	status, body := adminDo(t, s, c, http.MethodPost, "/admin/v1/keys/rotate")
	if status != http.StatusAccepted {
		t.Fatalf("rotate: %d %s", status, body)
	}
	// Right after a rotation the status never looks finished while keys
	// still wait under the old version (a client polling it would stop).
	if status, body := adminDo(t, s, c, http.MethodGet, "/admin/v1/keys"); status == http.StatusOK {
		var first keyStatusJSON
		json.Unmarshal(body, &first)
		if !first.Rewrap.Running && first.Rewrap.Remaining != 0 {
			t.Fatalf("status right after rotate says idle with %d keys remaining", first.Rewrap.Remaining)
		}
	}
	var st keyStatusJSON
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, body = adminDo(t, s, c, http.MethodGet, "/admin/v1/keys")
		if status != http.StatusOK {
			t.Fatalf("status: %d %s", status, body)
		}
		st = keyStatusJSON{}
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatal(err)
		}
		if st.Rewrap.Remaining == 0 && !st.Rewrap.Running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rewrap did not finish: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st.Current != 2 || len(st.Versions) != 2 {
		t.Fatalf("after rotate: %s", body)
	}
	for _, v := range st.Versions {
		want := int64(0)
		if v.Version == 2 {
			want = n
		}
		if v.DEKs != want {
			t.Errorf("version %d wraps %d DEKs, want %d", v.Version, v.DEKs, want)
		}
		// Object metadata and the admin's access-key secret moved too.
		if v.Version == 1 && v.Sealed != 0 {
			t.Errorf("version 1 still seals %d values after the rewrap", v.Sealed)
		}
		if v.Version == 2 && v.Sealed < n+1 {
			t.Errorf("version 2 seals %d values, want at least %d (metadata of %d objects and the access key)", v.Sealed, n+1, n)
		}
	}
	for i := range n {
		obj, err := mc.GetObject(ctx, "rot", "obj"+string(rune('a'+i)), minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(obj)
		if err != nil || !bytes.Equal(got, bytes.Repeat([]byte{byte(i)}, 1000+i)) {
			t.Fatalf("object %d after rotation: %v", i, err)
		}
	}
}

func TestAdminAPIRefusesBadRequests(t *testing.T) {
	s := startTestServer(t, "")
	c := readCreds(t, s)
	tests := []struct {
		name   string
		creds  Credentials
		method string
		path   string
		want   int
	}{
		{"wrong secret", Credentials{AccessKey: c.AccessKey, SecretKey: "wrong"}, http.MethodPost, "/admin/v1/keys/rotate", http.StatusForbidden},
		{"unknown key", Credentials{AccessKey: "CFNOSUCHKEY", SecretKey: "x"}, http.MethodGet, "/admin/v1/keys", http.StatusForbidden},
		{"unknown endpoint", c, http.MethodGet, "/admin/v1/nope", http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := adminDo(t, s, tc.creds, tc.method, tc.path)
			if status != tc.want {
				t.Fatalf("status %d, want %d: %s", status, tc.want, body)
			}
			var e struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" {
				t.Fatalf("error body is not the JSON error shape: %s", body)
			}
		})
	}
	// Unsigned.
	resp, err := (&http.Client{Transport: trustingTransport(t, s.CAFile())}).Post(s.Endpoint()+"/admin/v1/keys/rotate", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("anonymous rotate: %d", resp.StatusCode)
	}
}

// TestGracefulShutdown proves an in-flight upload finishes and is durable
// when shutdown starts in the middle of it.
func TestGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	// Requests the server has not started reading when shutdown begins are
	// refused (the client sees a closed connection and nothing was
	// acknowledged); the test needs its upload to be in the handler.
	active := make(chan struct{}, 16)
	s, err := Start(context.Background(), Config{
		DataDir: dir, Addr: "127.0.0.1:0",
		connState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateActive {
				select {
				case active <- struct{}{}:
				default:
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	c := readCreds(t, s)
	ctx := context.Background()
	mc := minioClient(t, s, c)
	if err := mc.MakeBucket(ctx, "inflight", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	for len(active) > 0 {
		<-active
	}
	// A raw signed request, so its headers go out at once and the body
	// streams from the pipe: once the first MiB is consumed, the server is
	// inside the handler.
	pr, pw := io.Pipe()
	const size = 3 << 20
	req, err := http.NewRequest(http.MethodPut, s.Endpoint()+"/inflight/slow", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	req = signer.SignV4(*req, c.AccessKey, c.SecretKey, "", "us-east-1")
	done := make(chan error, 1)
	go func() {
		resp, err := (&http.Client{Transport: trustingTransport(t, c.CAFile)}).Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %s", resp.Status)
			}
		}
		done <- err
	}()
	chunk := bytes.Repeat([]byte("x"), 1<<20)
	if _, err := pw.Write(chunk); err != nil {
		t.Fatal(err)
	}
	shut := make(chan error, 1)
	select {
	case <-active:
	case <-time.After(10 * time.Second):
		t.Fatal("the upload never reached the server")
	}
	go func() { shut <- s.Shutdown(ctx) }()
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-shut:
		t.Fatalf("shutdown returned while a request was in flight: %v (request: %v)", err, <-done)
	default:
	}
	for range 2 {
		if _, err := pw.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatalf("in-flight upload failed during shutdown: %v", err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	s2 := startTestServer(t, dir)
	info, err := minioClient(t, s2, readCreds(t, s2)).StatObject(ctx, "inflight", "slow", minio.StatObjectOptions{})
	if err != nil || info.Size != size {
		t.Fatalf("after restart: %+v, %v", info, err)
	}
}

// TestMainFlags runs `coffer serve` with bad flags.
func TestMainFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"help", []string{"-h"}, 0},
		{"unknown flag", []string{"--nope"}, 2},
		{"stray argument", []string{"extra"}, 2},
		{"bad log level", []string{"--log-level", "loud", "--data-dir", t.TempDir()}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if got := Main(context.Background(), tc.args, &out, &errb, func(string) string { return "" }); got != tc.want {
				t.Fatalf("exit %d, want %d; stderr: %s", got, tc.want, errb.String())
			}
		})
	}
}

func TestMainServesUntilCancelled(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb testutil.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"--addr", "127.0.0.1:0", "--data-dir", dir}, &out, &errb, func(string) string { return "" })
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "Secret key:") {
		if time.Now().After(deadline) {
			t.Fatalf("no banner; stdout %q stderr %q", out.String(), errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{"Endpoint:    https://127.0.0.1:", "CA cert:", "CA SHA-256:", "Access key: CF"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out.String())
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d; stderr %s", code, errb.String())
	}
}

// TestPoliciesSurviveRestart: stored policies and roles are loaded into the
// engine at start, and a stored document that no longer compiles grants
// nothing rather than stopping the server.
func TestPoliciesSurviveRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := startTestServer(t, dir)
	doc := `{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:coffer:s3:::b/*"}]}`
	if err := s.store.PutPolicyDoc(ctx, meta.PolicyDoc{Name: "reader", Document: doc}); err != nil {
		t.Fatal(err)
	}
	if err := s.store.PutPolicyDoc(ctx, meta.PolicyDoc{Name: "broken", Document: "{"}); err != nil {
		t.Fatal(err)
	}
	if err := s.store.PutRoleDef(ctx, meta.RoleDef{Name: "readers", Policies: []string{"reader"}}); err != nil {
		t.Fatal(err)
	}
	s.Shutdown(ctx)
	s2 := startTestServer(t, dir)
	e, err := policy.NewEngine()
	if err != nil {
		t.Fatal(err)
	}
	if err := loadPolicies(ctx, s2.store, e, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	p := policy.Principal{User: "x", Roles: []string{"readers"}}
	if d := e.Decide(p, "s3:GetObject", "arn:coffer:s3:::b/k", policy.Request{}); !d.Allow {
		t.Fatalf("stored role not loaded: %+v", d)
	}
	if slices.Contains(e.Policies(), "broken") {
		t.Fatal("a broken stored policy was loaded")
	}
}
