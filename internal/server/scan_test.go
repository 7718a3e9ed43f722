package server

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/tags"
	"github.com/pquerna/otp/totp"

	"github.com/coffer-vault/coffer/internal/meta"
)

// testAWSKey is a made-up access key id the scan engine reports as
// secret:aws_access_key.
const testAWSKey = "AKIA4GXQ7TZ2KR9WMB3H"

const awsFile = "# deploy\nAWS_ACCESS_KEY_ID=" + testAWSKey + "\n"

func startScanServer(t *testing.T, dir string, sc ScanConfig) *Server {
	t.Helper()
	s, err := Start(context.Background(), Config{
		DataDir: dir, Addr: "127.0.0.1:0", Scan: sc,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

// scanLoginMFA logs user in, enrolling TOTP first when the role asks for it,
// and returns a session token with an MFA proof when one was needed.
func scanLoginMFA(t *testing.T, s *Server, user string) string {
	t.Helper()
	st, out := call(t, s, "POST", "/admin/v1/login", "", map[string]string{"user": user, "password": testPassword})
	if st != 200 {
		t.Fatalf("login %s: %d %v", user, st, out)
	}
	tok := out["token"].(string)
	if out["must_enroll_mfa"] != true {
		return tok
	}
	st, out = call(t, s, "POST", "/admin/v1/mfa/totp", tok, nil)
	if st != 200 {
		t.Fatalf("enrol %s: %d %v", user, st, out)
	}
	u, _ := url.Parse(out["otpauth_uri"].(string))
	code, _ := totp.GenerateCode(u.Query().Get("secret"), time.Now())
	st, out = call(t, s, "POST", "/admin/v1/login", "", map[string]string{"user": user, "password": testPassword, "code": code})
	if st != 200 || out["mfa"] != true {
		t.Fatalf("login %s with a code: %d %v", user, st, out)
	}
	return out["token"].(string)
}

// scanSetupAdmin creates the first admin ("root", who also receives the
// bootstrap key) and returns an MFA session.
func scanSetupAdmin(t *testing.T, s *Server) string {
	t.Helper()
	if st, out := call(t, s, "POST", "/admin/v1/setup", "", map[string]string{"token": s.SetupToken(), "user": "root", "password": testPassword}); st != 201 {
		t.Fatalf("setup: %d %v", st, out)
	}
	return scanLoginMFA(t, s, "root")
}

// userKey creates user with roles and returns a session and an S3 client
// for a new access key of theirs.
func userKey(t *testing.T, s *Server, admin, user string, roles ...string) (string, *minio.Client) {
	t.Helper()
	if st, out := call(t, s, "POST", "/admin/v1/users", admin, map[string]any{"name": user, "password": testPassword, "roles": roles}); st != 201 {
		t.Fatalf("create %s: %d %v", user, st, out)
	}
	tok := scanLoginMFA(t, s, user)
	st, out := call(t, s, "POST", "/admin/v1/access-keys", tok, map[string]any{})
	if st != 201 {
		t.Fatalf("key for %s: %d %v", user, st, out)
	}
	return tok, minioClient(t, s, Credentials{AccessKey: out["access_key"].(string), SecretKey: out["secret_key"].(string), CAFile: s.CAFile()})
}

func TestScanLabelsPolicyAndAdminAPI(t *testing.T) {
	ctx := context.Background()
	var (
		mu   sync.Mutex
		told []string
	)
	s := startScanServer(t, t.TempDir(), ScanConfig{OnLabels: func(_ context.Context, bucket, key, version string, labels []meta.Label) {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range labels {
			told = append(told, bucket+"/"+key+"="+l.Type)
		}
	}})
	admin := scanSetupAdmin(t, s)
	boot := minioClient(t, s, readCreds(t, s)) // root's key: the admin role
	if err := boot.MakeBucket(ctx, "vault", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	for key, body := range map[string]string{"deploy.env": awsFile, "notes.txt": "nothing secret\n"} {
		if _, err := boot.PutObject(ctx, "vault", key, strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// Labels show through GetObjectTagging, merged with the user's tags,
	// and reserved keys cannot be written.
	userTags, _ := tags.NewTags(map[string]string{"team": "ops"}, true)
	if err := boot.PutObjectTagging(ctx, "vault", "deploy.env", userTags, minio.PutObjectTaggingOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := boot.GetObjectTagging(ctx, "vault", "deploy.env", minio.GetObjectTaggingOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m := got.ToMap(); m["team"] != "ops" || m["coffer:label:secret:aws_access_key"] == "" {
		t.Errorf("tags of the labelled object = %v", m)
	}
	bad, _ := tags.NewTags(map[string]string{"coffer:label:secret:aws_access_key": "VERY_UNLIKELY"}, true)
	if err := boot.PutObjectTagging(ctx, "vault", "deploy.env", bad, minio.PutObjectTaggingOptions{}); minio.ToErrorResponse(err).Code != "InvalidTag" {
		t.Errorf("writing a reserved tag: %v, want InvalidTag", err)
	}

	// A policy on object.labels: the careful editor cannot read what holds
	// an AWS key, but reads the rest; a security admin (with viewer) can.
	deny := `{"Version":"2026-01-01","Statement":[{"Sid":"NoAWSKeys","Effect":"Deny","Action":"s3:GetObject","Resource":"*","Condition":"'secret:aws_access_key' in object.labels"}]}`
	if st := putRawJSON(t, s, "/admin/v1/policies/no-aws-keys", admin, deny); st != 204 {
		t.Fatalf("store the deny policy: %d", st)
	}
	if st, out := call(t, s, "PUT", "/admin/v1/roles/careful-editor", admin, map[string]any{"policies": []string{"coffer-editor", "no-aws-keys"}}); st != 204 {
		t.Fatalf("store the role: %d %v", st, out)
	}
	edSession, ed := userKey(t, s, admin, "ed", "careful-editor")
	secSession, sec := userKey(t, s, admin, "sec", "security-admin", "viewer")

	if _, err := ed.StatObject(ctx, "vault", "deploy.env", minio.StatObjectOptions{}); minio.ToErrorResponse(err).StatusCode != 403 {
		t.Errorf("editor HEAD of the labelled object: %v, want 403", err)
	}
	if _, err := readObject(ctx, ed, "vault", "deploy.env"); minio.ToErrorResponse(err).Code != "AccessDenied" {
		t.Errorf("editor GET of the labelled object: %v, want AccessDenied", err)
	}
	if _, err := ed.CopyObject(ctx, minio.CopyDestOptions{Bucket: "vault", Object: "leak.env"}, minio.CopySrcOptions{Bucket: "vault", Object: "deploy.env"}); minio.ToErrorResponse(err).Code != "AccessDenied" {
		t.Errorf("editor copying the labelled object: %v, want AccessDenied", err)
	}
	if b, err := readObject(ctx, ed, "vault", "notes.txt"); err != nil || b != "nothing secret\n" {
		t.Errorf("editor GET of a clean object: %q, %v", b, err)
	}
	if b, err := readObject(ctx, sec, "vault", "deploy.env"); err != nil || b != awsFile {
		t.Errorf("security admin GET of the labelled object: %v", err)
	}

	// The labels through the admin API: type, confidence, place; never the value.
	st, out := call(t, s, "GET", "/admin/v1/objects/vault/deploy.env/labels", secSession, nil)
	if st != 200 || out["state"] != "scanned" {
		t.Fatalf("labels as security admin: %d %v", st, out)
	}
	ls, _ := out["labels"].([]any)
	if len(ls) != 1 {
		t.Fatalf("labels = %v, want one", out["labels"])
	}
	l := ls[0].(map[string]any)
	if l["type"] != "secret:aws_access_key" || l["line"] != float64(2) || l["offset"] != float64(len("# deploy\nAWS_ACCESS_KEY_ID=")) || l["confidence"] == "" {
		t.Errorf("label = %v", l)
	}
	if st, out := call(t, s, "GET", "/admin/v1/objects/vault/deploy.env/labels", edSession, nil); st != 403 {
		t.Errorf("labels as editor: %d %v, want 403", st, out)
	}
	if st, out := call(t, s, "GET", "/admin/v1/objects/vault/missing/labels", admin, nil); st != 404 || errCode(out) != "NoSuchKey" {
		t.Errorf("labels of a missing object: %d %v", st, out)
	}
	if st, _ := call(t, s, "GET", "/admin/v1/objects/vault/deploy.env", admin, nil); st != 404 {
		t.Errorf("objects endpoint without /labels: %d, want 404", st)
	}
	mu.Lock()
	if !slices.Contains(told, "vault/deploy.env=secret:aws_access_key") {
		t.Errorf("OnLabels told %q", told)
	}
	mu.Unlock()
}

func readObject(ctx context.Context, mc *minio.Client, bucket, key string) (string, error) {
	o, err := mc.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return "", err
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	return string(b), err
}

func putRawJSON(t *testing.T, s *Server, path, token, body string) int {
	t.Helper()
	st, _ := call(t, s, "PUT", path, token, rawJSON(body))
	return st
}

// rawJSON marshals as itself.
type rawJSON string

func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }

func TestScanRejectThroughS3(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := startScanServer(t, dir, ScanConfig{})
	admin := scanSetupAdmin(t, s)
	boot := minioClient(t, s, readCreds(t, s))
	if err := boot.MakeBucket(ctx, "gated", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		body any
		st   int
		code string
	}{
		{"unknown type", map[string]any{"reject": []string{"secret:nope"}}, 400, "InvalidArgument"},
		{"malformed entry", map[string]any{"reject": []string{"secret key"}}, 400, "InvalidArgument"},
		{"bad confidence", map[string]any{"reject": []string{"secret"}, "min_confidence": "sure"}, 400, "InvalidArgument"},
		{"unknown field", map[string]any{"rejects": []string{"secret"}}, 400, "MalformedJSON"},
	} {
		if st, out := call(t, s, "PUT", "/admin/v1/buckets/gated/scan", admin, c.body); st != c.st || errCode(out) != c.code {
			t.Errorf("%s: %d %v, want %d %s", c.name, st, out, c.st, c.code)
		}
	}
	if st, out := call(t, s, "PUT", "/admin/v1/buckets/nope/scan", admin, map[string]any{"reject": []string{"secret"}}); st != 404 {
		t.Errorf("settings of a missing bucket: %d %v", st, out)
	}
	st, out := call(t, s, "PUT", "/admin/v1/buckets/gated/scan", admin, map[string]any{"reject": []string{"secret", "pii:iban"}})
	if st != 200 || out["min_confidence"] != "LIKELY" {
		t.Fatalf("set scan.reject: %d %v", st, out)
	}
	if st, out := call(t, s, "GET", "/admin/v1/buckets/gated/scan", admin, nil); st != 200 || len(out["reject"].([]any)) != 2 {
		t.Fatalf("get scan settings: %d %v", st, out)
	}

	blobDir := filepath.Join(dir, "blobs")
	before := countRegular(t, blobDir)
	_, err := boot.PutObject(ctx, "gated", "deploy.env", strings.NewReader(awsFile), int64(len(awsFile)), minio.PutObjectOptions{})
	er := minio.ToErrorResponse(err)
	if er.Code != "ContentRejected" || er.StatusCode != 403 || !strings.Contains(er.Message, "secret:aws_access_key") ||
		!strings.Contains(er.Message, "line 2") || strings.Contains(er.Message, testAWSKey[4:]) {
		t.Fatalf("PUT of an AWS key into a gated bucket: %+v", er)
	}
	for o := range boot.ListObjects(ctx, "gated", minio.ListObjectsOptions{Recursive: true}) {
		t.Errorf("listed %q (%v) after a refused upload", o.Key, o.Err)
	}
	if after := countRegular(t, blobDir); after != before {
		t.Errorf("blob files %d -> %d after a refused upload", before, after)
	}
	// A large body refused early, while the client is still sending: the
	// client gets the S3 error, not a broken connection.
	big := awsFile + strings.Repeat("x", 24<<20)
	_, err = boot.PutObject(ctx, "gated", "big.bin", strings.NewReader(big), int64(len(big)), minio.PutObjectOptions{DisableMultipart: true})
	if er := minio.ToErrorResponse(err); er.Code != "ContentRejected" {
		t.Fatalf("large PUT of an AWS key into a gated bucket: %v", err)
	}
	if after := countRegular(t, blobDir); after != before {
		t.Errorf("blob files %d -> %d after a refused large upload", before, after)
	}
	// Clean content passes; turning the gate off lets the key in, labelled.
	if _, err := boot.PutObject(ctx, "gated", "ok.txt", strings.NewReader("fine\n"), 5, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if st, out := call(t, s, "PUT", "/admin/v1/buckets/gated/scan", admin, map[string]any{"reject": []string{}}); st != 200 {
		t.Fatalf("clear scan.reject: %d %v", st, out)
	}
	if _, err := boot.PutObject(ctx, "gated", "deploy.env", strings.NewReader(awsFile), int64(len(awsFile)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("PUT after the gate was cleared: %v", err)
	}
}

// countRegular counts regular files under dir.
func countRegular(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

func TestScanBackgroundAndRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := startScanServer(t, dir, ScanConfig{InlineMax: 1 << 10})
	admin := scanSetupAdmin(t, s)
	boot := minioClient(t, s, readCreds(t, s))
	if err := boot.MakeBucket(ctx, "big", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("filler line of a large object\n", 200) + awsFile
	if _, err := boot.PutObject(ctx, "big", "dump.sql", strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, out := call(t, s, "GET", "/admin/v1/objects/big/dump.sql/labels", admin, nil)
		if st != 200 {
			t.Fatalf("labels: %d %v", st, out)
		}
		if out["state"] == "scanned" {
			if ls, _ := out["labels"].([]any); len(ls) != 1 {
				t.Fatalf("background labels = %v", out["labels"])
			}
			break
		}
		if out["state"] != "pending" || time.Now().After(deadline) {
			t.Fatalf("background scan did not finish: %v", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st, out := call(t, s, "GET", "/admin/v1/scan/queue", admin, nil); st != 200 || out["done"] != float64(1) {
		t.Errorf("queue status: %d %v", st, out)
	}

	// Labels are kept across a restart.
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	s2 := startScanServer(t, dir, ScanConfig{InlineMax: 1 << 10})
	got, err := minioClient(t, s2, readCreds(t, s2)).GetObjectTagging(ctx, "big", "dump.sql", minio.GetObjectTaggingOptions{})
	if err != nil || got.ToMap()["coffer:label:secret:aws_access_key"] == "" {
		t.Errorf("tags after restart: %v, %v", got, err)
	}
}
