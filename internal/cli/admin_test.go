package cli

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
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
