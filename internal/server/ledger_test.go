package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/coffer-vault/coffer/internal/audit"
	"github.com/coffer-vault/coffer/internal/audit/export"
	"github.com/coffer-vault/coffer/internal/meta"
	"github.com/coffer-vault/coffer/internal/seal"
)

// ledgerEvents stops the server and returns every event in its ledger,
// after checking that the ledger verifies with its payloads.
func ledgerEvents(t *testing.T, s *Server) []audit.Event {
	t.Helper()
	dir := s.cfg.DataDir
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	root, _, err := seal.LoadOrCreateRootKey(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := LedgerSealer(dir, root)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(context.Background(), LedgerDir(dir), audit.VerifyOptions{Sealer: sealer})
	if err != nil {
		t.Fatalf("ledger does not verify: %v", err)
	}
	var evs []audit.Event
	if err := audit.ReadPayloads(context.Background(), LedgerDir(dir), sealer, func(ev audit.Event) error {
		evs = append(evs, ev)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if int64(len(evs)) != rep.Size {
		t.Fatalf("%d payloads for %d entries", len(evs), rep.Size)
	}
	return evs
}

// find returns the events matching action and result.
func find(evs []audit.Event, action, result string) []audit.Event {
	var out []audit.Event
	for _, e := range evs {
		if e.Action == action && e.Outcome.Result == result {
			out = append(out, e)
		}
	}
	return out
}

// TestEveryRequestIsRecorded drives the S3 and admin planes (allowed,
// denied and failed requests) and finds each in the ledger with its actor,
// resource, outcome and byte counts.
func TestEveryRequestIsRecorded(t *testing.T) {
	s := startTestServer(t, "")
	c := readCreds(t, s)
	mc := minioClient(t, s, c)
	ctx := context.Background()
	body := []byte("ledger me, please")

	if err := mc.MakeBucket(ctx, "photos", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := mc.PutObject(ctx, "photos", "a.txt", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	o, err := mc.GetObject(ctx, "photos", "a.txt", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(o); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("get: %q %v", got, err)
	}
	if _, err := mc.StatObject(ctx, "photos", "missing", minio.StatObjectOptions{}); err == nil {
		t.Fatal("stat of a missing object worked")
	}
	if err := mc.RemoveObject(ctx, "photos", "a.txt", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	// A forged signature: denied, and recorded.
	bad, err := minio.New(strings.TrimPrefix(s.Endpoint(), "https://"), &minio.Options{
		Creds: credentials.NewStaticV4(c.AccessKey, "wrong-secret-wrong-secret-wrong", ""), Secure: true,
		Transport: trustingTransport(t, s.CAFile()),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.ListBuckets(ctx); err == nil {
		t.Fatal("a forged signature listed buckets")
	}
	// Admin plane: a failed login, an unauthenticated call, a SigV4 call.
	if st, _ := call(t, s, "POST", "/admin/v1/login", "", map[string]string{"user": "mallory", "password": "not-the-password-at-all"}); st != 401 {
		t.Fatalf("bad login: %d", st)
	}
	if st, _ := call(t, s, "GET", "/admin/v1/users", "", nil); st != 401 {
		t.Fatalf("unauthenticated list users: %d", st)
	}
	if st, _ := adminDo(t, s, c, "POST", "/admin/v1/keys/rotate"); st != 202 {
		t.Fatalf("rotate: %d", st)
	}

	evs := ledgerEvents(t, s)
	for _, want := range []struct {
		action, result string
		check          func(audit.Event) string
	}{
		{"system:Start", audit.ResultAllowed, nil},
		{"system:Stop", audit.ResultAllowed, nil},
		{"s3:CreateBucket", audit.ResultAllowed, nil},
		{"s3:PutObject", audit.ResultAllowed, func(e audit.Event) string {
			if e.BytesIn != int64(len(body)) || e.Resource.Bucket != "photos" || e.Resource.Key != "a.txt" ||
				e.Actor.User != adminOwner || e.Actor.AccessKeyID != c.AccessKey || e.Actor.SourceIP != "127.0.0.1" || e.RequestID == "" {
				return "wrong put event"
			}
			return ""
		}},
		{"s3:GetObject", audit.ResultAllowed, func(e audit.Event) string {
			if e.BytesOut != int64(len(body)) {
				return "bytes_out not the object's size"
			}
			return ""
		}},
		{"s3:GetObject", audit.ResultError, func(e audit.Event) string { // the HEAD of a missing key
			if e.Resource.Key != "missing" || e.Outcome.Reason == "" {
				return "wrong failed read"
			}
			return ""
		}},
		{"s3:DeleteObject", audit.ResultAllowed, nil},
		{"s3:ListAllMyBuckets", audit.ResultDenied, func(e audit.Event) string {
			if e.Outcome.Reason != "SignatureDoesNotMatch (claimed access key "+c.AccessKey+")" || e.Actor.AccessKeyID != "" || e.Actor.User != "" {
				return "reason " + e.Outcome.Reason
			}
			return ""
		}},
		{"auth:Login", audit.ResultDenied, func(e audit.Event) string {
			if e.Actor.User != "mallory" || e.Outcome.Reason != "BadCredentials" {
				return "wrong login event"
			}
			return ""
		}},
		{"admin:Unknown", audit.ResultDenied, nil},
		{"admin:RotateKeys", audit.ResultAllowed, func(e audit.Event) string {
			if e.Actor.AccessKeyID != c.AccessKey || e.Actor.User != adminOwner {
				return "wrong actor"
			}
			return ""
		}},
	} {
		got := find(evs, want.action, want.result)
		if len(got) == 0 {
			t.Errorf("no %s/%s event in the ledger", want.action, want.result)
			continue
		}
		if want.check != nil {
			if msg := want.check(got[0]); msg != "" {
				t.Errorf("%s: %s: %+v", want.action, msg, got[0])
			}
		}
	}
	if t.Failed() {
		for _, e := range evs {
			t.Logf("%d %s %s %s/%s %+v", e.Index, e.Action, e.Outcome.Result, e.Resource.Bucket, e.Resource.Key, e.Actor)
		}
	}
}

// TestLedgerFailsClosed breaks the ledger under a running server: from then
// on writes get 503 and change nothing, reads get 503, and /health says
// unhealthy.
func TestLedgerFailsClosed(t *testing.T) {
	s := startTestServer(t, "")
	c := readCreds(t, s)
	mc, err := minio.New(strings.TrimPrefix(s.Endpoint(), "https://"), &minio.Options{
		Creds: credentials.NewStaticV4(c.AccessKey, c.SecretKey, ""), Secure: true,
		Transport: trustingTransport(t, s.CAFile()), MaxRetries: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := mc.MakeBucket(ctx, "bkt", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := mc.PutObject(ctx, "bkt", "before", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	// The integrator can no longer publish tiles: it fails the ledger.
	tiles := filepath.Join(s.cfg.AuditDir, "tile")
	if err := os.RemoveAll(tiles); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tiles, []byte("in the way"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Appends keep landing in the segments until the integrator notices
	// (within a checkpoint interval); wait for the failure by polling health.
	deadline := time.Now().Add(20 * time.Second)
	for {
		mc.PutObject(ctx, "bkt", "poke", strings.NewReader("x"), 1, minio.PutObjectOptions{})
		st, _ := call(t, s, "GET", "/health", "", nil)
		if st == 503 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server stayed healthy with a broken ledger")
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, err = mc.PutObject(ctx, "bkt", "after", strings.NewReader("x"), 1, minio.PutObjectOptions{})
	var er minio.ErrorResponse
	if !errors.As(err, &er) || er.StatusCode != 503 || er.Code != "ServiceUnavailable" {
		t.Fatalf("put with a broken ledger: %v", err)
	}
	if _, err := s.store.GetObject(ctx, "bkt", "after"); err == nil {
		t.Fatal("the refused put stored an object")
	}
	if err := mc.RemoveObject(ctx, "bkt", "before", minio.RemoveObjectOptions{}); err == nil {
		t.Fatal("delete with a broken ledger worked")
	}
	if _, err := s.store.GetObject(ctx, "bkt", "before"); err != nil {
		t.Fatalf("the refused delete removed the object: %v", err)
	}
	if _, err := mc.StatObject(ctx, "bkt", "before", minio.StatObjectOptions{}); err == nil {
		t.Fatal("a read was served with a broken ledger")
	}
	if st, out := call(t, s, "POST", "/admin/v1/login", "", map[string]string{"user": "x", "password": "yyyyyyyyyyyyyyyy"}); st != 503 || errCode(out) != "AuditUnavailable" {
		t.Fatalf("login with a broken ledger: %d %v", st, out)
	}
	// Setup is refused before it creates the first admin or spends the token.
	if st, out := call(t, s, "POST", "/admin/v1/setup", "", map[string]string{"token": s.SetupToken(), "user": "root", "password": testPassword}); st != 503 || errCode(out) != "AuditUnavailable" {
		t.Fatalf("setup with a broken ledger: %d %v", st, out)
	}
	if _, err := s.store.GetUser(ctx, "root"); err == nil {
		t.Fatal("the refused setup created the first admin")
	}
}

// TestLedgerExportAndScanEvents: a JSON lines exporter receives every
// record (each checks against its commitment), and a scanned upload's
// labels are recorded as a scan:Classify event.
func TestLedgerExportAndScanEvents(t *testing.T) {
	dir := t.TempDir()
	jsonl := filepath.Join(t.TempDir(), "audit.jsonl")
	s, err := Start(context.Background(), Config{
		DataDir: dir, Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler),
		AuditExports: AuditExports{JSONLPath: jsonl},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	mc := minioClient(t, s, readCreds(t, s))
	ctx := context.Background()
	if err := mc.MakeBucket(ctx, "scanned", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	body := "deploy:\n  aws_access_key_id = AKIAZ7Q3LRWXK5N2TY4P\n  aws_secret_access_key = 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\n"
	if _, err := mc.PutObject(ctx, "scanned", "deploy.env", strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	// The exporter follows the ledger in the background.
	var recs []export.Record
	deadline := time.Now().Add(20 * time.Second)
	for {
		recs = recs[:0]
		if b, err := os.ReadFile(jsonl); err == nil {
			for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
				var r export.Record
				if len(line) > 0 && json.Unmarshal(line, &r) == nil {
					recs = append(recs, r)
				}
			}
		}
		if int64(len(recs)) >= s.ledger.log.Size() && len(recs) >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the exporter wrote %d of %d records", len(recs), s.ledger.log.Size())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var classified bool
	for i, r := range recs {
		if r.Index != int64(i) {
			t.Fatalf("record %d has index %d", i, r.Index)
		}
		ev, err := export.VerifyRecord(r)
		if err != nil {
			t.Fatalf("record %d does not check against its commitment: %v", i, err)
		}
		if ev.Action == "scan:Classify" && ev.Resource.Key == "deploy.env" {
			classified = ev.Labels["secret:aws_access_key"] != ""
			if strings.Contains(string(r.Event), "AKIAZ7Q3LRWXK5N2TY4P") {
				t.Fatal("the secret itself reached the ledger")
			}
		}
	}
	if !classified {
		t.Fatalf("no scan:Classify event with secret:aws_access_key among %d records", len(recs))
	}
}

// keyReads counts access key reads that reach the store.
type keyReads struct {
	meta.Store
	n atomic.Int64
}

func (s *keyReads) GetAccessKey(ctx context.Context, id string) (meta.AccessKey, error) {
	s.n.Add(1)
	return meta.AccessKey{ID: id, Owner: "alice"}, nil
}

// An S3 event names the key's owner from the record SigV4 verification
// already read (the request's memo), without reading the store again.
func TestRecordReusesTheVerifiedKey(t *testing.T) {
	dir := t.TempDir()
	sealer, err := LedgerSealer(dir, seal.RootKey{1})
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.Open(context.Background(), LedgerDir(dir), audit.Options{Sealer: sealer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	store := &keyReads{}
	l := &ledger{log: log, sealer: sealer, store: store, slog: slog.Default()}

	var ctx context.Context
	withKeyMemo(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { ctx = r.Context() })).
		ServeHTTP(nil, httptest.NewRequest("GET", "/", nil))
	rememberKey(ctx, meta.AccessKey{ID: "AKMEMO", Owner: "bob"})

	for range 3 {
		if err := l.Record(ctx, audit.Event{Time: time.Now(), Action: "s3:GetObject", Actor: audit.Actor{AccessKeyID: "AKMEMO"}, Outcome: audit.Outcome{Result: audit.ResultAllowed}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := store.n.Load(); n != 0 {
		t.Fatalf("%d store reads for three events of a verified key, want 0", n)
	}
	// A key the request did not verify (a failed attempt) is still named.
	if err := l.Record(context.Background(), audit.Event{Time: time.Now(), Action: "s3:GetObject", Actor: audit.Actor{AccessKeyID: "AKOTHER"}, Outcome: audit.Outcome{Result: audit.ResultAllowed}}); err != nil {
		t.Fatal(err)
	}
	if n := store.n.Load(); n != 1 {
		t.Fatalf("%d store reads for an unverified key, want 1", n)
	}
}

// An erasure's follow-up purge of the search index runs on the server's
// one purge worker: the queue is bounded (past it the erasure answers
// 503), and Shutdown waits for the worker instead of leaving it behind.
func TestAuditEraseQueuesItsPurge(t *testing.T) {
	s := startTestServer(t, "")
	c := readCreds(t, s)
	if st, body := adminDo(t, s, c, "POST", "/admin/v1/audit/subjects/nobody/erase"); st != 200 {
		t.Fatalf("erase: %d %s", st, body)
	}
	// The caller's own subject is refused: its erasure would erase the
	// record of the erasure.
	if st, body := adminDo(t, s, c, "POST", "/admin/v1/audit/subjects/"+adminOwner+"/erase"); st != 409 {
		t.Fatalf("self-erasure: %d %s", st, body)
	}
	// Fill the queue behind the worker's back: the next erasure is refused.
	l := &ledger{purges: make(chan indexPurge, maxPendingPurges)}
	for i := range maxPendingPurges {
		if !l.schedulePurge("x", int64(i)) {
			t.Fatalf("purge %d refused below the bound", i)
		}
	}
	if l.schedulePurge("x", 0) {
		t.Fatal("a purge was queued past the bound")
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A following audit tail streams records and ends when the server shuts
// down, instead of holding Shutdown until its timeout (which it would
// then report as an error).
func TestAuditTailEndsAtShutdown(t *testing.T) {
	s := startTestServer(t, "")
	c := readCreds(t, s)
	req, err := http.NewRequest("GET", s.Endpoint()+"/admin/v1/audit/tail?from=0&follow=true", nil)
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
	if resp.StatusCode != 200 {
		t.Fatalf("tail: %d", resp.StatusCode)
	}
	var first export.Record
	if err := json.NewDecoder(resp.Body).Decode(&first); err != nil || first.Index != 0 {
		t.Fatalf("first tailed record: %+v %v", first, err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown with a tail open: %v", err)
	}
	io.Copy(io.Discard, resp.Body) // the stream ends
}
