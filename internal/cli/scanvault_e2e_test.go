//go:build !coffer_fakes3

package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2EScanGate: an administrator sets a bucket's scan.reject with the
// CLI; an upload holding an AWS key is then refused with the finding type
// and place (never the key), and the labels of an ungated upload show.
func TestE2EScanGate(t *testing.T) {
	srv, e := newRealE2E(t)
	e.loginMFARoot(t, srv)

	e.must("mb", "t/gated")
	e.expect(1, "unknown finding type", "bucket", "scan-reject", "t/gated", "secret:nope")
	if r := e.must("bucket", "scan-reject", "t/gated", "secret,pii:iban"); !strings.Contains(r.stdout, "pii:iban,secret") || !strings.Contains(r.stdout, "LIKELY") {
		t.Fatalf("bucket scan-reject: %s", r)
	}
	if r := e.must("bucket", "scan", "t/gated"); !strings.Contains(r.stdout, "pii:iban,secret") {
		t.Fatalf("bucket scan: %s", r)
	}
	const key = "AKIA4GXQ7TZ2KR9WMB3H"
	f := filepath.Join(e.dir, "deploy.env")
	os.WriteFile(f, []byte("# deploy\nAWS_ACCESS_KEY_ID="+key+"\n"), 0o600)
	r := e.expect(1, "secret:aws_access_key", "put", f, "t/gated/deploy.env")
	t.Logf("refused put: %s", r.stderr)
	if !strings.Contains(r.stderr, "line 2") || strings.Contains(r.stderr, key[4:]) {
		t.Fatalf("refused put: %s", r)
	}
	if r := e.must("ls", "t/gated"); strings.Contains(r.stdout, "deploy.env") {
		t.Fatalf("a refused upload is listed: %s", r)
	}
	e.must("bucket", "scan-reject", "t/gated", "none")
	e.must("put", f, "t/gated/deploy.env")
	if r := e.must("labels", "t/gated/deploy.env"); !strings.Contains(r.stdout, "secret:aws_access_key") || !strings.Contains(r.stdout, "line 2") {
		t.Fatalf("labels: %s", r)
	}
}
