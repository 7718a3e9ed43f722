//go:build !coffer_fakes3

package cli

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/coffer-vault/coffer/internal/server"
)

// startServer starts the real Coffer server on a loopback port with a
// fresh data directory and returns its URL, bootstrap administrator
// credentials and local CA file. Every end-to-end test that goes through
// it runs against the real stack; tests that look inside the server
// (which parts arrived, which Range was sent, a read-only user) use the
// in-memory fake of fakes3_test.go through startFake. Build with
// -tags coffer_fakes3 to run them all against the fake.
func startServer(t *testing.T) (endpoint, accessKey, secretKey, caFile string) {
	t.Helper()
	srv := startRealServer(t)
	creds := srv.NewCredentials()
	if creds == nil {
		t.Fatal("the server created no bootstrap credentials")
	}
	return srv.Endpoint(), creds.AccessKey, creds.SecretKey, srv.CAFile()
}

// startRealServer starts the real server on a loopback port with a fresh
// data directory; it is shut down when the test ends.
func startRealServer(t *testing.T) *server.Server {
	t.Helper()
	srv, err := server.Start(context.Background(), server.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("server shutdown: %v", err)
		}
	})
	return srv
}

// newRealE2E starts the real server and a harness whose alias "t" holds
// its bootstrap credentials; the identity tests need the server itself
// (its one-time setup token).
func newRealE2E(t *testing.T) (*server.Server, *e2e) {
	t.Helper()
	srv := startRealServer(t)
	c := srv.NewCredentials()
	if c == nil {
		t.Fatal("the server created no bootstrap credentials")
	}
	return srv, newE2EFor(t, srv.Endpoint(), c.AccessKey, c.SecretKey, srv.CAFile())
}

// e2ePassword is the password the end-to-end tests give their users.
const e2ePassword = "tangerine-Harbour-91-lantern"

// stdinLines is what a user types: each line ended by a newline.
func stdinLines(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

// mfaRoot is the first admin after loginMFARoot.
type mfaRoot struct {
	secret string    // the TOTP secret of root's authenticator
	codes  []string  // root's recovery codes
	at     time.Time // when the login code was made (its time step is used up)
}

// loginMFARoot creates the first admin, root (password e2ePassword), on
// alias "t", logs in, enrols a TOTP authenticator and logs in again with a
// code, so that the session holds a fresh MFA proof.
func (e *e2e) loginMFARoot(t *testing.T, srv *server.Server) mfaRoot {
	t.Helper()
	ctx := context.Background()
	if r := e.runCtx(ctx, stdinLines(srv.SetupToken(), e2ePassword), "setup", "t", "--user", "root"); r.code != 0 {
		t.Fatalf("setup: %s", r)
	}
	if r := e.runCtx(ctx, stdinLines(e2ePassword), "login", "t", "--user", "root"); r.code != 0 {
		t.Fatalf("login: %s", r)
	}
	r := e.must("mfa", "enroll", "t", "--json")
	var enrol struct {
		URI   string   `json:"otpauth_uri"`
		Codes []string `json:"recovery_codes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &enrol); err != nil {
		t.Fatalf("mfa enroll --json: %s (%v)", r, err)
	}
	u, err := url.Parse(enrol.URI)
	if err != nil {
		t.Fatalf("otpauth URI %q: %v", enrol.URI, err)
	}
	root := mfaRoot{secret: u.Query().Get("secret"), codes: enrol.Codes, at: time.Now()}
	code, err := totp.GenerateCode(root.secret, root.at)
	if err != nil {
		t.Fatal(err)
	}
	if r := e.runCtx(ctx, stdinLines(e2ePassword, code), "login", "t", "--user", "root"); r.code != 0 {
		t.Fatalf("login with a code: %s", r)
	}
	return root
}
