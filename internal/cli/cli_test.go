package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

func TestParseRemote(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    remotePath
		wantErr string
	}{
		{"local", remotePath{Alias: "local"}, ""},
		{"local/", remotePath{Alias: "local"}, ""},
		{"local/photos", remotePath{Alias: "local", Bucket: "photos"}, ""},
		{"local/photos/", remotePath{Alias: "local", Bucket: "photos"}, ""},
		{"local/photos/2024/a.jpg", remotePath{"local", "photos", "2024/a.jpg"}, ""},
		{"local/photos/2024/", remotePath{"local", "photos", "2024/"}, ""},
		{"my-srv_2/b/k with space", remotePath{"my-srv_2", "b", "k with space"}, ""},
		{"local/photos/a//b", remotePath{"local", "photos", "a//b"}, ""},
		{"", remotePath{}, "empty path"},
		{"/abs/path", remotePath{}, "is a local path"},
		{"./rel", remotePath{}, "is a local path"},
		{"local//key", remotePath{}, "empty bucket name"},
		{"bad.alias/b", remotePath{}, "invalid alias name"},
		{"-x/b", remotePath{}, "invalid alias name"},
	} {
		got, err := parseRemote(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseRemote(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseRemote(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestNeedObjectAndBucket(t *testing.T) {
	for _, tc := range []struct {
		in                 string
		objectOK, bucketOK bool
	}{
		{"a/b/k", true, false},
		{"a/b/dir/", false, false},
		{"a/b", false, true},
		{"a/b/", false, true},
		{"a", false, false},
	} {
		_, errO := needObject(tc.in)
		_, errB := needBucket(tc.in)
		if (errO == nil) != tc.objectOK || (errB == nil) != tc.bucketOK {
			t.Errorf("%q: needObject err %v, needBucket err %v", tc.in, errO, errB)
		}
	}
}

func TestPutTargetKey(t *testing.T) {
	for _, tc := range []struct {
		target   string
		local    string
		asPrefix bool
		want     string
	}{
		{"l/b", "dir/a.jpg", false, "a.jpg"},
		{"l/b/", "a.jpg", false, "a.jpg"},
		{"l/b/x.jpg", "dir/a.jpg", false, "x.jpg"},
		{"l/b/2024/", "a.jpg", false, "2024/a.jpg"},
		{"l/b/2024", "a.jpg", true, "2024/a.jpg"},
		{"l/b", "a.jpg", true, "a.jpg"},
	} {
		p, err := parseRemote(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		if got := putTargetKey(p, tc.local, tc.asPrefix); got != tc.want {
			t.Errorf("putTargetKey(%q, %q, %v) = %q, want %q", tc.target, tc.local, tc.asPrefix, got, tc.want)
		}
	}
	for _, tc := range []struct{ prefix, rel, want string }{
		{"", "x/1", "x/1"},
		{"p", "x/1", "p/x/1"},
		{"p/", "x/1", "p/x/1"},
	} {
		if got := joinKey(tc.prefix, tc.rel); got != tc.want {
			t.Errorf("joinKey(%q, %q) = %q, want %q", tc.prefix, tc.rel, got, tc.want)
		}
	}
}

func TestPlanPut(t *testing.T) {
	dir := t.TempDir()
	randomFile(t, dir, "tree/a", 1)
	randomFile(t, dir, "tree/sub/b", 2)
	f, _ := randomFile(t, dir, "f.txt", 3)
	tree := filepath.Join(dir, "tree")
	target, _ := parseRemote("l/bkt/pre")
	jobs, err := planPut([]string{tree}, target, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []putJob{{filepath.Join(tree, "a"), "pre/a", 1}, {filepath.Join(tree, "sub", "b"), "pre/sub/b", 2}}
	if !reflect.DeepEqual(jobs, want) {
		t.Errorf("planPut -r = %+v, want %+v", jobs, want)
	}
	if _, err := planPut([]string{tree}, target, false); err == nil || !strings.Contains(err.Error(), "use -r") {
		t.Errorf("planPut dir without -r: %v", err)
	}
	jobs, err = planPut([]string{f, filepath.Join(tree, "a")}, target, false)
	if err != nil || jobs[0].key != "pre/f.txt" || jobs[1].key != "pre/a" {
		t.Errorf("planPut two files = %+v, %v", jobs, err)
	}
}

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		min, max  int
		wantPos   []string
		wantJSON  bool
		wantRec   bool
		wantErr   string
		wantUsage bool
		dashArgs  bool
	}{
		{args: []string{"a", "b"}, min: 1, max: -1, wantPos: []string{"a", "b"}},
		{args: []string{"-r", "a", "--json", "b"}, min: 1, max: -1, wantPos: []string{"a", "b"}, wantJSON: true, wantRec: true},
		{args: []string{"a", "--recursive", "b", "-json"}, min: 1, max: -1, wantPos: []string{"a", "b"}, wantJSON: true, wantRec: true},
		{args: []string{"a", "--", "-r", "--json"}, min: 1, max: -1, wantPos: []string{"a", "-r", "--json"}},
		{args: []string{"-", "b"}, min: 2, max: 2, wantPos: []string{"-", "b"}},
		{args: []string{"--bogus", "a"}, min: 1, max: 1, wantErr: "unknown flag -bogus"},
		{args: []string{}, min: 1, max: 1, wantErr: "not enough arguments"},
		{args: []string{"a", "b"}, min: 1, max: 1, wantErr: "too many arguments"},
		{args: []string{"a", "--help"}, min: 1, max: 1, wantUsage: true},
		{args: []string{"-h"}, min: 1, max: 1, wantUsage: true},
		// With dashArgs, "-words" that name no flag are arguments (secret keys).
		{args: []string{"a", "-s3cr3t", "--json"}, min: 2, max: 2, dashArgs: true, wantPos: []string{"a", "-s3cr3t"}, wantJSON: true},
		{args: []string{"-Xy=z", "-r"}, min: 1, max: 1, dashArgs: true, wantPos: []string{"-Xy=z"}, wantRec: true},
	} {
		var out bytes.Buffer
		a := newApp(nil, &out, &out, nil)
		fs := newFlags("test", "coffer test ARGS")
		var rec bool
		fs.boolFlag(&rec, "recursive", "r", "recursive")
		fs.dashArgs = tc.dashArgs
		pos, err := a.parse(fs, tc.args, tc.min, tc.max)
		switch {
		case tc.wantUsage:
			if !errors.Is(err, errHelpShown) || !strings.Contains(out.String(), "Usage: coffer test ARGS") || !strings.Contains(out.String(), "-r, --recursive") {
				t.Errorf("%q: err %v, help %q", tc.args, err, out.String())
			}
		case tc.wantErr != "":
			var ue *usageError
			if !errors.As(err, &ue) || !strings.Contains(ue.msg, tc.wantErr) {
				t.Errorf("%q: err %v, want usage error %q", tc.args, err, tc.wantErr)
			}
		default:
			if err != nil || !reflect.DeepEqual(pos, tc.wantPos) || fs.common.json != tc.wantJSON || rec != tc.wantRec {
				t.Errorf("%q: pos %q json %v rec %v err %v", tc.args, pos, fs.common.json, rec, err)
			}
		}
	}
}

// TestUsageErrors checks command lines that fail before any request.
func TestUsageErrors(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		args []string
		code int
		want string // in stderr, or stdout for code 0
	}{
		{nil, 2, "no command given"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"help"}, 0, "Commands:"},
		{[]string{"--help"}, 0, "presign"},
		{[]string{"help", "put"}, 0, "--part-size"},
		{[]string{"put", "--help"}, 0, "Usage: coffer put"},
		{[]string{"ls", "-h"}, 0, "-r, --recursive"},
		{[]string{"alias", "--help"}, 0, "import NAME --data-dir DIR"},
		{[]string{"key", "--help"}, 0, "rotate ALIAS"},
		{[]string{"alias"}, 2, "missing subcommand"},
		{[]string{"alias", "nope"}, 2, `unknown subcommand "nope"`},
		{[]string{"alias", "set", "x"}, 2, "not enough arguments"},
		{[]string{"alias", "set", "x.y", "https://h", "a", "s"}, 2, "invalid alias name"},
		{[]string{"alias", "set", "x", "ftp://h", "a", "s"}, 2, "must start with https://"},
		{[]string{"alias", "set", "x", "https://h/path", "a", "s"}, 2, "must not have a path"},
		{[]string{"alias", "set", "x", "https://u:p@h", "a", "s"}, 2, "not the URL"},
		{[]string{"alias", "import", "x"}, 2, "--data-dir is required"},
		{[]string{"ls"}, 2, "not enough arguments"},
		{[]string{"ls", "--bogus", "x"}, 2, "unknown flag -bogus"},
		{[]string{"mb", "local"}, 2, "names no bucket"},
		{[]string{"mb", "local/b/k"}, 2, "names an object"},
		{[]string{"put", "a"}, 2, "not enough arguments"},
		{[]string{"put", "a", "local"}, 2, "names no bucket"},
		{[]string{"put", "--part-size", "1MiB", "a", "local/b"}, 2, "--part-size"},
		{[]string{"put", "--part-size", "lots", "a", "local/b"}, 2, "--part-size"},
		{[]string{"put", "--parallel", "0", "a", "local/b"}, 2, "--parallel"},
		{[]string{"get", "local/b"}, 2, "names no object"},
		{[]string{"get", "local/b/dir/"}, 2, "is a prefix"},
		{[]string{"cat"}, 2, "not enough arguments"},
		{[]string{"rm", "local/b"}, 2, "names no object"},
		{[]string{"rm", "-r", "local"}, 2, "names no bucket"},
		{[]string{"presign", "--expires", "0s", "local/b/k"}, 2, "--expires"},
		{[]string{"presign", "--expires", "soon", "local/b/k"}, 2, "invalid value"},
		{[]string{"key"}, 2, "missing subcommand"},
		{[]string{"key", "status"}, 2, "not enough arguments"},
		{[]string{"ls", "local"}, 1, `unknown alias "local"`},
		{[]string{"alias", "rm", "nope"}, 1, `unknown alias "nope"`},
	} {
		r := h.run(tc.args...)
		where := r.stderr
		if tc.code == 0 {
			where = r.stdout
		}
		if r.code != tc.code || !strings.Contains(where, tc.want) {
			t.Errorf("coffer %s: want exit %d with %q, got %s", strings.Join(tc.args, " "), tc.code, tc.want, r)
		}
		if tc.code != 0 && !strings.HasPrefix(r.stderr, "coffer: ") && !strings.HasPrefix(r.stderr, "Usage:") {
			t.Errorf("coffer %s: stderr does not start with \"coffer: \": %q", strings.Join(tc.args, " "), r.stderr)
		}
	}
}

func TestConfigDir(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"COFFER_CONFIG_DIR": "/c", "XDG_CONFIG_HOME": "/x", "HOME": "/h"}, "/c"},
		{map[string]string{"XDG_CONFIG_HOME": "/x", "HOME": "/h"}, "/x/coffer"},
		{map[string]string{"HOME": "/h"}, "/h/.config/coffer"},
	} {
		got, err := configDir(func(k string) string { return tc.env[k] })
		if err != nil || got != tc.want {
			t.Errorf("configDir(%v) = %q, %v; want %q", tc.env, got, err, tc.want)
		}
	}
}

func TestConfigRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "coffer")
	path := filepath.Join(dir, configFileName)

	c, err := loadConfig(path, nil)
	if err != nil || len(c.Aliases) != 0 {
		t.Fatalf("missing file: %+v, %v", c, err)
	}
	c.Aliases["a"] = Alias{URL: "https://a:9000", AccessKey: "AK", SecretKey: "SK", CAFile: "/ca.pem", Region: "eu-west-1"}
	if err := saveConfig(path, c); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config mode = %v, %v; want 0600", st.Mode(), err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("config dir mode = %v, %v; want 0700", st.Mode(), err)
	}
	got, err := loadConfig(path, nil)
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip = %+v, %v; want %+v", got, err, c)
	}

	// Overwrite: the file is replaced by rename (a new inode), keeps 0600,
	// and no temporary file is left behind.
	before, _ := os.Stat(path)
	delete(c.Aliases, "a")
	c.Aliases["b"] = Alias{URL: "http://b", AccessKey: "x", SecretKey: "y"}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := saveConfig(path, c); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(path)
	if os.SameFile(before, after) {
		t.Error("config was rewritten in place, not replaced atomically")
	}
	if after.Mode().Perm() != 0o600 {
		t.Errorf("mode after rewrite = %v", after.Mode())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("config dir holds %d entries, want only config.json", len(entries))
	}
	got, _ = loadConfig(path, nil)
	if _, ok := got.Aliases["a"]; ok || got.Aliases["b"].URL != "http://b" {
		t.Errorf("after rewrite: %+v", got)
	}

	// A world-readable file gets a warning; invalid JSON an error.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	var warned string
	if _, err := loadConfig(path, func(s string) { warned = s }); err != nil || !strings.Contains(warned, "chmod 600") {
		t.Errorf("no warning for a 0644 config: %q %v", warned, err)
	}
	if err := os.WriteFile(path, []byte("{nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConfig(path, nil); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Errorf("invalid JSON: %v", err)
	}
}

func TestAliasCommands(t *testing.T) {
	h := newHarness(t)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	_, _, _, _, fakeCA := startFake(t)
	if err := os.WriteFile(ca, readFile(t, fakeCA), 0o644); err != nil {
		t.Fatal(err)
	}

	// The secret comes from stdin ("-"), so it never is in argv.
	r := h.runCtx(context.Background(), "s3cr3t-from-stdin\n", "alias", "set", "prod", "https://vault.example:9000/", "AKPROD", "-", "--ca", ca, "--region", "eu-west-1")
	if r.code != 0 || strings.Contains(r.stdout+r.stderr, "s3cr3t") {
		t.Fatalf("alias set: %s", r)
	}
	h.terminal = true // on a terminal the secret is read without echo
	r = h.runCtx(context.Background(), "tty-secret", "alias", "set", "dev", "http://127.0.0.1:9000", "AKDEV", "-")
	h.terminal = false
	if r.code != 0 || !strings.Contains(r.stderr, "Secret key: ") || strings.Contains(r.stdout+r.stderr, "tty-secret") {
		t.Fatalf("alias set on a terminal: %s", r)
	}
	// Generated secret keys may start with "-".
	h.must("alias", "set", "dash", "https://h", "AK", "-dash-secret", "--region", "r1")
	if views := decodeJSONLines[aliasView](t, h.must("alias", "ls", "--json", "--show-secrets").stdout); len(views) != 3 || views[0].SecretKey != "-dash-secret" || views[0].Region != "r1" {
		t.Errorf("secret starting with '-': %+v", views)
	}
	h.must("alias", "rm", "dash")
	h.expect(1, "holds no PEM certificate", "alias", "set", "bad", "https://h", "a", "s", "--ca", filepath.Join("testdata", "..", "cli.go"))

	r = h.must("alias", "ls")
	if strings.Contains(r.stdout, "s3cr3t") || strings.Contains(r.stdout, "tty-secret") || !strings.Contains(r.stdout, "********") {
		t.Errorf("alias ls shows a secret:\n%s", r.stdout)
	}
	for _, want := range []string{"prod", "https://vault.example:9000", "AKPROD", "eu-west-1", ca, "dev", "us-east-1"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("alias ls lacks %q:\n%s", want, r.stdout)
		}
	}
	views := decodeJSONLines[aliasView](t, h.must("alias", "ls", "--json").stdout)
	if len(views) != 2 || views[0].Alias != "dev" || views[1].SecretKey != "" || views[1].CAFile != ca {
		t.Errorf("alias ls --json = %+v", views)
	}
	views = decodeJSONLines[aliasView](t, h.must("alias", "ls", "--json", "--show-secrets").stdout)
	if len(views) != 2 || views[1].SecretKey != "s3cr3t-from-stdin" || views[0].SecretKey != "tty-secret" {
		t.Errorf("alias ls --show-secrets = %+v", views)
	}

	path := filepath.Join(h.env["COFFER_CONFIG_DIR"], configFileName)
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("config.json mode %v, %v", st.Mode(), err)
	}
	var c Config
	if err := json.Unmarshal(readFile(t, path), &c); err != nil || c.Aliases["prod"].SecretKey != "s3cr3t-from-stdin" {
		t.Errorf("config.json = %+v, %v", c, err)
	}

	h.must("alias", "rm", "prod")
	h.expect(1, `unknown alias "prod"`, "ls", "prod/bucket")
	if r := h.run("ls", "prod"); !strings.Contains(r.stderr, "known aliases: dev") {
		t.Errorf("unknown alias lists the known ones: %s", r)
	}
}

func TestProgressRender(t *testing.T) {
	var term bytes.Buffer
	p := newProgressBar(&term, 10<<20, "video.mov", 0)
	for i := 0; i < 10; i++ {
		p.Add(1 << 20)
		if i == 4 {
			out := term.String()
			if !strings.Contains(out, "50%") || !strings.Contains(out, "5.0/10 MiB") || !strings.Contains(out, "/s") {
				t.Errorf("half way: %q", out)
			}
			if !strings.Contains(out, "video.mov") || !strings.Contains(out, "\r") {
				t.Errorf("bar does not redraw its line: %q", out)
			}
		}
	}
	p.Finish()
	out := term.String()
	last := out[strings.LastIndex(strings.TrimSuffix(out, "\n"), "\r")+1:]
	if !strings.Contains(last, "100%") || !strings.Contains(last, "10/10 MiB") || !strings.HasSuffix(last, "\n") {
		t.Errorf("final line %q", last)
	}
	// ETA: "[elapsed:remaining]" while running.
	if !strings.Contains(out, ":") || !strings.Contains(out, "[") {
		t.Errorf("no ETA in %q", out)
	}

	// Bars are off unless stderr is a terminal, and with --quiet or --json.
	a := newApp(nil, &bytes.Buffer{}, &bytes.Buffer{}, nil)
	a.isTerminal = func(any) bool { return true }
	if a.newProgress(&commonFlags{}, 10, "x") == nil {
		t.Error("no bar on a terminal")
	}
	for _, cf := range []commonFlags{{quiet: true}, {json: true}} {
		if a.newProgress(&cf, 10, "x") != nil {
			t.Errorf("bar with %+v", cf)
		}
	}
	if a.newProgress(&commonFlags{}, -1, "x") != nil {
		t.Error("bar for an unknown size")
	}
	a.isTerminal = func(any) bool { return false }
	if a.newProgress(&commonFlags{}, 10, "x") != nil {
		t.Error("bar without a terminal")
	}
	var nilBar *progress // a nil bar is a no-op
	nilBar.Add(1)
	nilBar.Finish()
	nilBar.Abort()
}

func TestDescribe(t *testing.T) {
	urlErr := func(err error) error {
		return &url.Error{Op: "Get", URL: "https://vault:9000/b", Err: err}
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{urlErr(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), "cannot connect to vault:9000: connection refused"},
		{&transportError{host: "h:1", err: syscall.ECONNREFUSED}, "cannot connect to h:1: connection refused"},
		{urlErr(x509.UnknownAuthorityError{}), "the server's certificate is not trusted: pass --ca or use `coffer alias import`"},
		{urlErr(x509.HostnameError{Certificate: &x509.Certificate{}, Host: "vault"}), "not valid for vault:9000"},
		{urlErr(&net.DNSError{Name: "nohost", Err: "no such host", IsNotFound: true}), `cannot resolve host "nohost"`},
		{minio.ErrorResponse{Code: "NoSuchBucket", BucketName: "b"}, `bucket "b" does not exist`},
		{fmt.Errorf("get x: %w", minio.ErrorResponse{Code: "NoSuchKey", BucketName: "b", Key: "k", Message: "The specified key does not exist."}), `get x: object "k" does not exist in bucket "b"`},
		{minio.ErrorResponse{Code: "AccessDenied", BucketName: "b", Key: "k"}, "access denied to b/k"},
		{minio.ErrorResponse{Code: "InvalidAccessKeyId"}, "does not know this alias's access key"},
		{minio.ErrorResponse{Code: "SignatureDoesNotMatch"}, "secret key is probably wrong"},
		{minio.ErrorResponse{Code: "BucketNotEmpty", BucketName: "b"}, "--force"},
		{minio.ErrorResponse{Code: "WeirdThing", Message: "Something odd."}, "Something odd (WeirdThing)"},
		{&adminError{Status: 403, Code: "AccessDenied", Message: "no"}, "access denied: no"},
		{&adminError{Status: 404}, "no such admin API"},
		{&adminError{Status: 409, Code: "RotationInProgress", Message: "a rewrap is still running"}, "a rewrap is still running"},
		{errInterrupted, "interrupted"},
		{context.DeadlineExceeded, "timed out"},
		{errors.New("plain"), "plain"},
	} {
		if got := describe(tc.err); !strings.Contains(got, tc.want) {
			t.Errorf("describe(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestPermanentNetError(t *testing.T) {
	if !isPermanentNetError(&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}) {
		t.Error("connection refused is permanent")
	}
	if isPermanentNetError(&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}) {
		t.Error("connection reset may be retried")
	}
}

func TestFmtDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Hour: "1h", 90 * time.Minute: "1h30m", 10 * time.Minute: "10m", 90 * time.Second: "1m30s"} {
		if got := fmtDuration(d); got != want {
			t.Errorf("fmtDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestTLSConfig(t *testing.T) {
	_, _, _, _, ca := startFake(t)
	tc, err := tlsConfig(ca, false)
	if err != nil || tc.MinVersion != tls.VersionTLS12 || tc.RootCAs == nil || tc.InsecureSkipVerify {
		t.Fatalf("tlsConfig(ca) = %+v, %v", tc, err)
	}
	if tc, err := tlsConfig("", false); err != nil || tc.RootCAs != nil || tc.MinVersion != tls.VersionTLS12 {
		t.Errorf("tlsConfig without CA = %+v, %v (want system roots)", tc, err)
	}
	if tc, err := tlsConfig("", true); err != nil || !tc.InsecureSkipVerify {
		t.Errorf("tlsConfig insecure = %+v, %v", tc, err)
	}
	if _, err := tlsConfig(filepath.Join(t.TempDir(), "missing.pem"), false); err == nil {
		t.Error("tlsConfig with a missing CA file succeeded")
	}
}

func TestPrintEnrolmentDrawsQR(t *testing.T) {
	var b strings.Builder
	uri := "otpauth://totp/Coffer:root?issuer=Coffer&secret=JBSWY3DPEHPK3PXP"
	printEnrolment(&b, uri, []string{"AAAA-BBBB-CCCC-DDDD"})
	out := b.String()
	if !strings.Contains(out, "▀") && !strings.Contains(out, "▄") && !strings.Contains(out, "█") {
		t.Fatalf("no QR code drawn:\n%s", out)
	}
	if !strings.Contains(out, uri) || !strings.Contains(out, "AAAA-BBBB-CCCC-DDDD") {
		t.Fatalf("URI or recovery code missing:\n%s", out)
	}
	if lines := strings.Count(out, "\n"); lines < 15 {
		t.Fatalf("only %d lines: the QR code is missing", lines)
	}
}
