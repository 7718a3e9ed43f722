package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-vault/coffer/internal/policy"
)

// TestAdminRequestKeepsSecretsOffPlainHTTP: a password (login, setup: an
// unsigned request) or a session token goes only over TLS or to loopback;
// a SigV4-signed request, which reveals no secret, may use plain HTTP.
func TestAdminRequestKeepsSecretsOffPlainHTTP(t *testing.T) {
	const token = "tok-5f2c9e-secret"
	for _, tc := range []struct {
		url         string
		token       string
		sign        bool
		wantRefused bool
	}{
		{"http://192.0.2.7:9000", token, false, true},
		{"http://192.0.2.7:9000", "", false, true}, // login: the body holds the password
		{"http://vault.example:9000", token, true, true},
		{"http://192.0.2.7:9000", "", true, false}, // SigV4 only
		{"https://192.0.2.7:9000", token, false, false},
		{"http://127.0.0.1:9000", token, false, false},
		{"http://[::1]:9000", token, false, false},
		{"http://localhost:9000", "", false, false},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		r := &remote{endpoint: u}
		req, err := r.adminRequest(context.Background(), http.MethodPost, "/login", []byte(`{"password":"p"}`), tc.token, tc.sign)
		if refused := err != nil; refused != tc.wantRefused {
			t.Errorf("%s token=%t sign=%t: refused=%t (%v), want %t", tc.url, tc.token != "", tc.sign, refused, err, tc.wantRefused)
			continue
		}
		if err != nil {
			if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "password\":") {
				t.Errorf("the refusal names a secret: %v", err)
			}
			continue
		}
		if got := req.Header.Get("Authorization"); tc.token != "" && got != "Bearer "+token {
			t.Errorf("%s: Authorization = %q", tc.url, got)
		}
	}
}

// TestAdminReplyBounded: a reply larger than maxAdminResponse is refused
// as too large (not read whole, nor reported as bad JSON); one at the
// bound is read.
func TestAdminReplyBounded(t *testing.T) {
	for _, tc := range []struct {
		size    int
		wantErr string
	}{
		{maxAdminResponse, ""},
		{maxAdminResponse + 1, "larger than 4 MiB"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			// A JSON string of tc.size bytes in all.
			w.Write([]byte(`"` + strings.Repeat("x", tc.size-2) + `"`))
		}))
		u, _ := url.Parse(srv.URL)
		r := &remote{endpoint: u, http: srv.Client()}
		var out string
		err := r.adminCall(context.Background(), http.MethodGet, "/keys", nil, &out)
		srv.Close()
		switch {
		case tc.wantErr == "" && (err != nil || len(out) != tc.size-2):
			t.Errorf("a %d-byte reply: %v (read %d)", tc.size, err, len(out))
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("a %d-byte reply: %v, want %q", tc.size, err, tc.wantErr)
		}
	}
}

// TestPolicyFileBounded: a policy document larger than the server takes is
// refused before it is read whole or sent (policy add, key create --policy).
func TestPolicyFileBounded(t *testing.T) {
	h := newHarness(t)
	h.must("alias", "set", "t", "http://127.0.0.1:1", "AK", "SK")
	big := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(big, []byte(`{"x":"`+strings.Repeat("a", policy.MaxDocumentBytes)+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	h.expect(1, "larger than a policy document may be", "policy", "add", "t", "p", big)
	h.expect(1, "larger than a policy document may be", "key", "create", "t", "--policy", big)
}

// TestSessionsFileReadableByOthersWarns: session tokens readable by other
// users are pointed out, as the configuration is; the token is not shown.
func TestSessionsFileReadableByOthersWarns(t *testing.T) {
	h := newHarness(t)
	h.must("alias", "set", "t", "http://127.0.0.1:1", "AK", "SK")
	const token = "tok-9d41b7-secret"
	p := filepath.Join(h.env["COFFER_CONFIG_DIR"], "sessions.json")
	if err := os.WriteFile(p, []byte(`{"t":"`+token+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil { // past the umask
		t.Fatal(err)
	}
	r := h.run("whoami", "t")
	if !strings.Contains(r.stderr, "readable by other users") || strings.Contains(r.stderr+r.stdout, token) {
		t.Fatalf("whoami with a world-readable sessions.json: %s", r)
	}
}
