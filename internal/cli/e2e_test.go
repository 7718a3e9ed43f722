package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// e2e is a harness with an alias "t" for a running server.
type e2e struct {
	*harness
	endpoint, accessKey, secretKey, caFile string
	dir                                    string // scratch directory for local files
}

func newE2E(t *testing.T) *e2e {
	t.Helper()
	endpoint, ak, sk, ca := startServer(t)
	return newE2EFor(t, endpoint, ak, sk, ca)
}

func newE2EFor(t *testing.T, endpoint, ak, sk, ca string) *e2e {
	t.Helper()
	h := newHarness(t)
	e := &e2e{harness: h, endpoint: endpoint, accessKey: ak, secretKey: sk, caFile: ca, dir: t.TempDir()}
	h.must("alias", "set", "t", endpoint, ak, sk, "--ca", ca)
	return e
}

// s3 returns a minio-go client for checking the server behind the CLI's back.
func (e *e2e) s3() *minio.Core {
	e.t.Helper()
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(e.caFile)
	if err != nil {
		e.t.Fatal(err)
	}
	pool.AppendCertsFromPEM(pem)
	tr, _ := minio.DefaultTransport(true)
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	host := strings.TrimPrefix(e.endpoint, "https://")
	c, err := minio.NewCore(host, &minio.Options{Creds: credentials.NewStaticV4(e.accessKey, e.secretKey, ""), Secure: true, Transport: tr, Region: "us-east-1"})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// httpClient trusts the server's CA.
func (e *e2e) httpClient() *http.Client {
	tc, err := tlsConfig(e.caFile, false)
	if err != nil {
		e.t.Fatal(err)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
}

func decodeJSONLines[T any](t *testing.T, s string) []T {
	t.Helper()
	var out []T
	dec := json.NewDecoder(strings.NewReader(s))
	for dec.More() {
		var v T
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("bad JSON output %q: %v", s, err)
		}
		out = append(out, v)
	}
	return out
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestE2EObjects(t *testing.T) {
	e := newE2E(t)
	e.must("mb", "t/photos")
	e.expect(1, `bucket "photos" already exists`, "mb", "t/photos")
	e.must("mb", "-p", "t/photos")

	r := e.must("ls", "t")
	if !strings.Contains(r.stdout, "photos/") {
		t.Errorf("ls t: %s", r)
	}
	buckets := decodeJSONLines[lsEntry](t, e.must("ls", "t", "--json").stdout)
	if len(buckets) != 1 || buckets[0].Type != "bucket" || buckets[0].Key != "photos/" {
		t.Errorf("ls --json buckets = %+v", buckets)
	}

	a, aData := randomFile(t, e.dir, "a.jpg", 1000)
	b, _ := randomFile(t, e.dir, "b.txt", 10)
	tree := filepath.Join(e.dir, "tree")
	randomFile(t, tree, "x/1.bin", 100)
	randomFile(t, tree, "x/y/2.bin", 200)
	randomFile(t, tree, "3.bin", 300)

	e.must("put", a, "t/photos")                   // -> a.jpg
	e.must("put", b, "t/photos/notes/renamed.txt") // -> notes/renamed.txt
	e.must("put", a, b, "t/photos/2024")           // several sources: a prefix -> 2024/a.jpg, 2024/b.txt
	e.must("put", "-r", tree, "t/photos/backup")   // -> backup/x/1.bin ...
	e.expect(2, "is a directory (use -r)", "put", tree, "t/photos")

	r = e.must("ls", "t/photos")
	for _, want := range []string{"a.jpg", "PRE 2024/", "PRE backup/", "PRE notes/", "[", "1000B"} {
		if !strings.Contains(strings.Join(strings.Fields(r.stdout), " "), want) {
			t.Errorf("ls t/photos lacks %q:\n%s", want, r.stdout)
		}
	}
	r = e.must("ls", "t/photos/backup") // a folder without the trailing slash
	if !strings.Contains(r.stdout, "3.bin") || !strings.Contains(r.stdout, "x/") {
		t.Errorf("ls t/photos/backup:\n%s", r.stdout)
	}
	entries := decodeJSONLines[lsEntry](t, e.must("ls", "-r", "--json", "t/photos/backup/").stdout)
	var keys []string
	for _, en := range entries {
		keys = append(keys, en.Key)
		if en.Type != "file" || en.LastModified.IsZero() || en.ETag == "" {
			t.Errorf("ls -r --json entry %+v", en)
		}
	}
	if want := []string{"backup/3.bin", "backup/x/1.bin", "backup/x/y/2.bin"}; !slices.Equal(keys, want) {
		t.Errorf("ls -r keys = %v, want %v", keys, want)
	}

	// cat, get, stat
	if r := e.must("cat", "t/photos/a.jpg"); r.stdout != string(aData) {
		t.Errorf("cat returned %d bytes, want %d", len(r.stdout), len(aData))
	}
	out := filepath.Join(e.dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	e.must("get", "t/photos/2024/a.jpg", out) // into a directory
	if got := readFile(t, filepath.Join(out, "a.jpg")); !bytes.Equal(got, aData) {
		t.Error("get into a directory: content differs")
	}
	gets := decodeJSONLines[getResult](t, e.must("get", "--json", "t/photos/a.jpg", filepath.Join(out, "copy.jpg")).stdout)
	if len(gets) != 1 || gets[0].Size != 1000 || gets[0].Verified != "md5" {
		t.Errorf("get --json = %+v", gets)
	}
	if _, err := os.Stat(filepath.Join(out, "copy.jpg"+partSuffix)); !os.IsNotExist(err) {
		t.Errorf("get left its .part file: %v", err)
	}

	r = e.must("stat", "t/photos/a.jpg")
	for _, want := range []string{"a.jpg", "1000 bytes", "image/jpeg", "AES256", "ETag"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stat lacks %q:\n%s", want, r.stdout)
		}
	}
	stats := decodeJSONLines[statResult](t, e.must("stat", "--json", "t/photos/a.jpg").stdout)
	if len(stats) != 1 || stats[0].Size != 1000 || stats[0].Type != "image/jpeg" || stats[0].Encryption != "AES256" || len(stats[0].ETag) != 32 {
		t.Errorf("stat --json = %+v", stats)
	}

	// presign: GET and PUT through plain HTTP.
	url := strings.TrimSpace(e.must("presign", "--quiet", "t/photos/a.jpg").stdout)
	resp, err := e.httpClient().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(body, aData) {
		t.Errorf("presigned GET: status %d, %d bytes", resp.StatusCode, len(body))
	}
	var ps struct{ URL, Method string }
	if err := json.Unmarshal([]byte(e.must("presign", "--put", "--expires", "10m", "--json", "t/photos/up.txt").stdout), &ps); err != nil || ps.Method != "PUT" {
		t.Fatalf("presign --put --json: %+v %v", ps, err)
	}
	req, _ := http.NewRequest(http.MethodPut, ps.URL, strings.NewReader("uploaded via presigned URL"))
	if resp, err := e.httpClient().Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("presigned PUT: %v %v", resp, err)
	}
	if r := e.must("cat", "t/photos/up.txt"); r.stdout != "uploaded via presigned URL" {
		t.Errorf("cat after presigned PUT = %q", r.stdout)
	}
	e.expect(2, "--expires", "presign", "--expires", "200h", "t/photos/a.jpg")

	// rm
	e.must("rm", "t/photos/up.txt")
	e.expect(1, `object "up.txt" does not exist in bucket "photos"`, "rm", "t/photos/up.txt")
	e.expect(2, "use -r", "rm", "t/photos/backup/")
	e.expect(1, "stdin is not a terminal (pass --yes)", "rm", "-r", "t/photos/backup")

	e.terminal = true
	r = e.runCtx(context.Background(), "n\n", "rm", "-r", "t/photos/backup")
	if r.code != 1 || !strings.Contains(r.stderr, "Remove 3 objects? [y/N]") || !strings.Contains(r.stderr, "t/photos/backup/x/1.bin") {
		t.Errorf("rm -r answered no: %s", r)
	}
	r = e.runCtx(context.Background(), "y\n", "rm", "-r", "t/photos/backup")
	if r.code != 0 || !strings.Contains(r.stdout, "Removed 3 objects") {
		t.Errorf("rm -r answered yes: %s", r)
	}
	e.terminal = false
	rmOut := decodeJSONLines[map[string]any](t, e.must("rm", "-r", "--yes", "--json", "t/photos/2024/").stdout)
	if len(rmOut) != 1 || rmOut[0]["removed"] != float64(2) {
		t.Errorf("rm -r --json = %v", rmOut)
	}

	// rb
	e.expect(1, `bucket "photos" is not empty`, "rb", "t/photos")
	e.expect(1, "pass --yes", "rb", "--force", "t/photos")
	rb := decodeJSONLines[map[string]any](t, e.must("rb", "--force", "--yes", "--json", "t/photos").stdout)
	if len(rb) != 1 || rb[0]["objects_removed"] != float64(2) {
		t.Errorf("rb --json = %v", rb)
	}
	e.expect(1, `bucket "photos" does not exist`, "ls", "t/photos")
	e.expect(1, `bucket "photos" does not exist`, "rb", "t/photos")
	e.must("mb", "t/empty")
	e.must("rb", "t/empty")
}

func TestE2EStdinAndProgress(t *testing.T) {
	e := newE2E(t)
	e.must("mb", "t/bkt")
	r := e.runCtx(context.Background(), "from stdin", "put", "-", "t/bkt/in.txt")
	if r.code != 0 {
		t.Fatal(r)
	}
	if got := e.must("cat", "t/bkt/in.txt").stdout; got != "from stdin" {
		t.Errorf("cat = %q", got)
	}
	e.expect(2, "target must name a KEY", "put", "-", "t/bkt/")

	// With stderr on a terminal, put and get draw progress bars.
	p, data := randomFile(t, e.dir, "p.bin", 300<<10)
	e.terminal = true
	r = e.must("put", p, "t/bkt/p.bin")
	if !strings.Contains(r.stderr, "100%") || !strings.Contains(r.stderr, "300 KiB") {
		t.Errorf("put progress:\n%q", r.stderr)
	}
	dst := filepath.Join(e.dir, "p.out")
	r = e.must("get", "t/bkt/p.bin", dst)
	if !strings.Contains(r.stderr, "100%") {
		t.Errorf("get progress:\n%q", r.stderr)
	}
	r = e.must("get", "--quiet", "t/bkt/p.bin", dst)
	if r.stderr != "" || r.stdout != "" {
		t.Errorf("get --quiet printed %s", r)
	}
	if !bytes.Equal(readFile(t, dst), data) {
		t.Error("get: content differs")
	}
}

func TestE2EMultipart40MiB(t *testing.T) {
	if testing.Short() {
		t.Skip("40 MiB upload")
	}
	e := newE2E(t)
	e.must("mb", "t/big")
	p, data := randomFile(t, e.dir, "big.bin", 40<<20)
	res := decodeJSONLines[putResult](t, e.must("put", "--json", p, "t/big/big.bin").stdout)
	if len(res) != 1 || !res[0].Multipart || res[0].Size != 40<<20 || !strings.HasSuffix(res[0].ETag, "-3") {
		t.Fatalf("put --json = %+v (want a 3-part multipart upload)", res)
	}
	// Again with a progress bar, fed by the parallel part uploads.
	e.terminal = true
	if r := e.must("put", p, "t/big/big.bin"); !strings.Contains(r.stderr, "100%") || !strings.Contains(r.stderr, "40/40 MiB") {
		t.Errorf("multipart progress: %q", r.stderr[max(0, len(r.stderr)-300):])
	}
	e.terminal = false
	dst := filepath.Join(e.dir, "big.out")
	gets := decodeJSONLines[getResult](t, e.must("get", "--json", "t/big/big.bin", dst).stdout)
	if len(gets) != 1 || gets[0].Verified != "size" {
		t.Errorf("get --json = %+v", gets)
	}
	if !bytes.Equal(readFile(t, dst), data) {
		t.Error("multipart round trip: content differs")
	}
}

// TestE2EPutResume leaves an unfinished multipart upload with one good and
// one wrong part (as an interrupted put of an older version of the file
// would), then checks that put reuses the good part, resends the wrong one
// and the missing one, and completes.
func TestE2EPutResume(t *testing.T) {
	e := newE2E(t)
	e.must("mb", "t/res")
	const part = 5 << 20
	p, data := randomFile(t, e.dir, "r.bin", 2*part+1234)
	ctx := context.Background()
	c := e.s3()
	id, err := c.NewMultipartUpload(ctx, "res", "r.bin", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObjectPart(ctx, "res", "r.bin", id, 1, bytes.NewReader(data[:part]), part, minio.PutObjectPartOptions{}); err != nil {
		t.Fatal(err)
	}
	wrong := bytes.Repeat([]byte{'x'}, part)
	if _, err := c.PutObjectPart(ctx, "res", "r.bin", id, 2, bytes.NewReader(wrong), part, minio.PutObjectPartOptions{}); err != nil {
		t.Fatal(err)
	}

	r := e.must("put", "--json", "--part-size", "5MiB", p, "t/res/r.bin")
	res := decodeJSONLines[putResult](t, r.stdout)
	if len(res) != 1 || res[0].PartsReused != 1 || !strings.HasSuffix(res[0].ETag, "-3") {
		t.Fatalf("resumed put = %+v, want 1 reused part of 3", res)
	}
	out := filepath.Join(e.dir, "r.out")
	e.must("get", "t/res/r.bin", out)
	if !bytes.Equal(readFile(t, out), data) {
		t.Fatal("resumed upload: content differs")
	}
	ups, err := c.ListMultipartUploads(ctx, "res", "", "", "", "", 100)
	if err != nil || len(ups.Uploads) != 0 {
		t.Errorf("unfinished uploads left: %+v %v", ups.Uploads, err)
	}
}

// TestE2EPutInterrupted interrupts a put (as Ctrl-C would) after its first
// part and runs it again: the second run sends only the missing parts.
func TestE2EPutInterrupted(t *testing.T) {
	fake, endpoint, ak, sk, ca := startFake(t)
	e := newE2EFor(t, endpoint, ak, sk, ca)
	e.must("mb", "t/res")
	const part = 5 << 20
	p, data := randomFile(t, e.dir, "i.bin", 3*part+10)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fake.mu.Lock()
	fake.afterPart = func(int) { cancel() }
	fake.mu.Unlock()
	r := e.runCtx(ctx, "", "put", "--part-size", "5MiB", "--parallel", "1", p, "t/res/i.bin")
	if r.code != 1 || !strings.Contains(r.stderr, "interrupted") || !strings.Contains(r.stderr, "resume") {
		t.Fatalf("interrupted put: %s", r)
	}
	fake.mu.Lock()
	fake.afterPart = nil
	first := len(fake.partsPut)
	fake.mu.Unlock()
	if first < 1 || first >= 4 {
		t.Fatalf("first run stored %d parts", first)
	}

	res := decodeJSONLines[putResult](t, e.must("put", "--json", "--part-size", "5MiB", p, "t/res/i.bin").stdout)
	fake.mu.Lock()
	second := slices.Clone(fake.partsPut[first:])
	fake.mu.Unlock()
	if len(res) != 1 || res[0].PartsReused != first || len(second) != 4-first {
		t.Errorf("second run: reused %+v, sent parts %v (first run sent %d)", res, second, first)
	}
	out := filepath.Join(e.dir, "i.out")
	e.must("get", "t/res/i.bin", out)
	if !bytes.Equal(readFile(t, out), data) {
		t.Fatal("content differs after resume")
	}
}

func TestE2EGetResume(t *testing.T) {
	e := newE2E(t)
	e.must("mb", "t/gets")
	p, data := randomFile(t, e.dir, "g.bin", 300_000)
	e.must("put", p, "t/gets/g.bin")
	dst := filepath.Join(e.dir, "g.out")

	// A partial download resumes with a Range request.
	if err := os.WriteFile(dst+partSuffix, data[:100_000], 0o600); err != nil {
		t.Fatal(err)
	}
	res := decodeJSONLines[getResult](t, e.must("get", "--json", "t/gets/g.bin", dst).stdout)
	if len(res) != 1 || res[0].ResumedFrom != 100_000 || res[0].Verified != "md5" {
		t.Errorf("get --json = %+v", res)
	}
	if !bytes.Equal(readFile(t, dst), data) {
		t.Error("resumed get: content differs")
	}

	// A partial file that is not a prefix of the object fails the MD5 check
	// and is removed, so the next get starts afresh.
	if err := os.WriteFile(dst+partSuffix, make([]byte, 100_000), 0o600); err != nil {
		t.Fatal(err)
	}
	e.expect(1, "do not match the object's ETag", "get", "t/gets/g.bin", dst)
	if _, err := os.Stat(dst + partSuffix); !os.IsNotExist(err) {
		t.Errorf(".part not removed: %v", err)
	}
	e.must("get", "t/gets/g.bin", dst)
	if !bytes.Equal(readFile(t, dst), data) {
		t.Error("get after a bad .part: content differs")
	}

	// A .part longer than the object is discarded.
	if err := os.WriteFile(dst+partSuffix, make([]byte, 400_000), 0o600); err != nil {
		t.Fatal(err)
	}
	e.must("get", "t/gets/g.bin", dst)
	if !bytes.Equal(readFile(t, dst), data) {
		t.Error("get after a long .part: content differs")
	}
}

// TestE2EGetResumeRange checks the request a resumed get sends.
func TestE2EGetResumeRange(t *testing.T) {
	fake, endpoint, ak, sk, ca := startFake(t)
	e := newE2EFor(t, endpoint, ak, sk, ca)
	e.must("mb", "t/gets")
	p, data := randomFile(t, e.dir, "g.bin", 300_000)
	e.must("put", p, "t/gets/g.bin")
	dst := filepath.Join(e.dir, "g.out")
	if err := os.WriteFile(dst+partSuffix, data[:100_000], 0o600); err != nil {
		t.Fatal(err)
	}
	e.must("get", "t/gets/g.bin", dst)
	fake.mu.Lock()
	ranges := slices.Clone(fake.ranges)
	fake.mu.Unlock()
	if !slices.Equal(ranges, []string{"bytes=100000-"}) {
		t.Errorf("Range headers = %q", ranges)
	}
}

func TestE2EErrors(t *testing.T) {
	endpoint, ak, sk, ca := startServer(t)
	e := newE2EFor(t, endpoint, ak, sk, ca)
	e.must("mb", "t/bkt")

	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + l.Addr().String()
	l.Close()
	e.must("alias", "set", "down", closed, "k", "s")
	e.must("alias", "set", "noca", endpoint, ak, sk)
	e.must("alias", "set", "badkey", endpoint, "NOSUCHKEY", sk, "--ca", ca)

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"ls", "nosuch/b"}, 1, `unknown alias "nosuch"`},
		{[]string{"ls", "down"}, 1, "connection refused (is `coffer serve` running there?)"},
		{[]string{"put", "--part-size", "5MiB", "e2e_test.go", "down/bkt"}, 1, "connection refused"},
		{[]string{"ls", "noca"}, 1, "the server's certificate is not trusted: pass --ca or use `coffer alias import`"},
		{[]string{"ls", "badkey"}, 1, "does not know this alias's access key"},
		{[]string{"ls", "t/nosuch"}, 1, `bucket "nosuch" does not exist`},
		{[]string{"stat", "t/bkt/missing"}, 1, `object "missing" does not exist in bucket "bkt"`},
		{[]string{"cat", "t/bkt/missing"}, 1, `object "missing" does not exist in bucket "bkt"`},
		{[]string{"get", "t/bkt/missing", filepath.Join(e.dir, "x")}, 1, `object "missing" does not exist`},
		{[]string{"put", "no-such-file", "t/bkt"}, 1, "no such file or directory"},
	} {
		r := e.run(tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) || !strings.HasPrefix(r.stderr, "coffer: ") {
			t.Errorf("coffer %s: want exit %d and %q, got %s", strings.Join(tc.args, " "), tc.code, tc.want, r)
		}
	}

	// --insecure works without the CA, with a warning.
	r := e.must("ls", "--insecure", "noca")
	if !strings.Contains(r.stderr, "warning: --insecure") || !strings.Contains(r.stdout, "bkt/") {
		t.Errorf("ls --insecure: %s", r)
	}
}

// TestE2EAccessDenied uses the fake's read-only key (the real server has no
// way to make a restricted user yet).
func TestE2EAccessDenied(t *testing.T) {
	fake, endpoint, ak, sk, ca := startFake(t)
	e := newE2EFor(t, endpoint, ak, sk, ca)
	e.must("alias", "set", "ro", endpoint, fake.readOnlyKey, sk, "--ca", ca)
	e.expect(1, "coffer: make bucket ro/new: access denied", "mb", "ro/new")
	e.expect(1, "coffer: rotate keys on ro: access denied: user READONLY may not manage keys", "key", "rotate", "ro")
}

// TestE2EKeyRotate rotates the server's key and watches the rewrap finish.
func TestE2EKeyRotate(t *testing.T) {
	e := newE2E(t)
	e.must("mb", "t/keys")
	p, _ := randomFile(t, e.dir, "k.bin", 100)
	e.must("put", p, "t/keys/k.bin")
	before := decodeJSONLines[keyStatus](t, e.must("key", "status", "--json", "t").stdout)
	if len(before) != 1 || before[0].Current < 1 || len(before[0].Versions) == 0 {
		t.Fatalf("key status --json = %+v", before)
	}
	var rot struct{ Version int }
	if err := json.Unmarshal([]byte(e.must("key", "rotate", "--json", "t").stdout), &rot); err != nil || rot.Version != before[0].Current+1 {
		t.Fatalf("key rotate --json = %+v, %v (current was %d)", rot, err, before[0].Current)
	}
	after := decodeJSONLines[keyStatus](t, e.must("key", "status", "--watch", "--json", "t").stdout)
	last := after[len(after)-1]
	if last.Current != rot.Version || last.Rewrap.Running || last.Rewrap.Remaining != 0 || last.Rewrap.Error != "" {
		t.Errorf("after the rewrap: %+v", last)
	}
	r := e.must("key", "status", "t")
	if !strings.Contains(r.stdout, "Current key version: "+strconv.Itoa(rot.Version)) {
		t.Errorf("key status:\n%s", r.stdout)
	}
	if got := e.must("cat", "t/keys/k.bin").stdout; len(got) != 100 {
		t.Errorf("object unreadable after rotation: %d bytes", len(got))
	}
}

func TestE2EKeyAdmin(t *testing.T) {
	fake, endpoint, ak, sk, ca := startFake(t)
	e := newE2EFor(t, endpoint, ak, sk, ca)

	r := e.must("key", "status", "t")
	for _, want := range []string{"Current key version: 1", "VERSION", "DATA KEYS", "every data key is under the current version"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("key status lacks %q:\n%s", want, r.stdout)
		}
	}
	var rot map[string]any
	if err := json.Unmarshal([]byte(e.must("key", "rotate", "--json", "t").stdout), &rot); err != nil || rot["version"] != float64(2) {
		t.Fatalf("key rotate --json = %v %v", rot, err)
	}
	r = e.must("key", "status", "t", "--watch")
	if !strings.Contains(r.stdout, "Rewrap: running") || !strings.Contains(r.stdout, "every data key is under the current version") {
		t.Errorf("key status --watch:\n%s", r.stdout)
	}
	e.must("key", "rotate", "t")
	sts := decodeJSONLines[keyStatus](t, e.must("key", "status", "--watch", "--json", "t").stdout)
	if len(sts) != 3 || !sts[0].Rewrap.Running || sts[2].Rewrap.Running || sts[2].Current != 3 || len(sts[2].Versions) != 3 {
		t.Errorf("key status --watch --json = %+v", sts)
	}
	fake.mu.Lock()
	auth := slices.Clone(fake.adminAuth)
	fake.mu.Unlock()
	for _, a := range auth {
		if !strings.HasPrefix(a, "AWS4-HMAC-SHA256 Credential="+ak+"/") || !strings.Contains(a, "/us-east-1/s3/aws4_request") {
			t.Errorf("admin request not signed for s3 in us-east-1: %q", a)
		}
	}
	e.expect(2, "unknown subcommand", "key", "spin", "t")
	e.expect(2, "invalid alias name", "key", "status", "t/bucket")
}

// TestE2EImplicitLocal uses the server's credentials.json without any
// configured alias, then imports it.
func TestE2EImplicitLocal(t *testing.T) {
	endpoint, ak, sk, ca := startServer(t)
	h := newHarness(t)
	data := t.TempDir()
	creds, _ := json.Marshal(serverCredentials{Endpoint: endpoint, AccessKey: ak, SecretKey: sk, CAFile: ca, Region: "us-east-1"})
	if err := os.WriteFile(filepath.Join(data, credentialsFileName), creds, 0o600); err != nil {
		t.Fatal(err)
	}
	h.expect(1, `unknown alias "local"`, "ls", "local")
	h.env["COFFER_DATA_DIR"] = data
	h.must("mb", "local/implicit")
	if r := h.must("ls", "local"); !strings.Contains(r.stdout, "implicit/") {
		t.Errorf("ls local: %s", r)
	}
	r := h.must("alias", "ls")
	if !strings.Contains(r.stdout, "local (from "+filepath.Join(data, credentialsFileName)+")") || strings.Contains(r.stdout, sk) {
		t.Errorf("alias ls: %s", r)
	}

	h.env["COFFER_DATA_DIR"] = filepath.Join(t.TempDir(), "gone")
	h.must("alias", "import", "prod", "--data-dir", data)
	if r := h.must("ls", "prod"); !strings.Contains(r.stdout, "implicit/") {
		t.Errorf("ls prod: %s", r)
	}
	h.expect(1, "credentials.json not found", "alias", "import", "x", "--data-dir", t.TempDir())
}

func TestE2EIncompleteAndDefaultDestination(t *testing.T) {
	e := newE2E(t)
	e.must("mb", "t/inc")
	ctx := context.Background()
	if _, err := e.s3().NewMultipartUpload(ctx, "inc", "dir/half.bin", minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	out := decodeJSONLines[map[string]any](t, e.must("rm", "--incomplete", "--json", "t/inc/dir/").stdout)
	if len(out) != 1 || out[0]["aborted"] != float64(1) {
		t.Errorf("rm --incomplete = %v", out)
	}
	ups, err := e.s3().ListMultipartUploads(ctx, "inc", "", "", "", "", 100)
	if err != nil || len(ups.Uploads) != 0 {
		t.Errorf("uploads left: %+v %v", ups.Uploads, err)
	}

	// get without FILE writes the key's base name into the current directory.
	p, data := randomFile(t, e.dir, "src.txt", 42)
	e.must("put", p, "t/inc/deep/name.txt")
	t.Chdir(t.TempDir())
	e.must("get", "t/inc/deep/name.txt")
	if !bytes.Equal(readFile(t, "name.txt"), data) {
		t.Error("get to the default destination: content differs")
	}
	if r := e.must("get", "t/inc/deep/name.txt", "-"); r.stdout != string(data) {
		t.Errorf("get to - wrote %q", r.stdout)
	}
}
