//go:build !coffer_fakes3

package cli

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// TestE2EIdentity: setup, login, MFA enrolment, login with a code, users,
// whoami and logout through the CLI against the real server.
func TestE2EIdentity(t *testing.T) {
	srv, e := newRealE2E(t)
	ctx := context.Background()

	if r := e.runCtx(ctx, stdinLines("wrong-token", e2ePassword), "setup", "t", "--user", "root"); r.code == 0 || !strings.Contains(r.stderr, "setup token is wrong") {
		t.Fatalf("setup with a wrong token: %s", r)
	}
	if r := e.runCtx(ctx, stdinLines(srv.SetupToken(), e2ePassword), "setup", "t", "--user", "root"); r.code != 0 {
		t.Fatalf("setup: %s", r)
	}
	e.expect(1, "not logged in", "whoami", "t")
	if r := e.runCtx(ctx, stdinLines("nope-"+e2ePassword), "login", "t", "--user", "root"); r.code == 0 || !strings.Contains(r.stderr, "wrong user name, password or code") {
		t.Fatalf("login with a wrong password: %s", r)
	}
	r := e.runCtx(ctx, stdinLines(e2ePassword), "login", "t", "--user", "root")
	if r.code != 0 || !strings.Contains(r.stdout, "coffer mfa enroll t") {
		t.Fatalf("first login: %s", r)
	}
	// The session file holds the token and nobody else may read it.
	p := filepath.Join(e.env["COFFER_CONFIG_DIR"], "sessions.json")
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("sessions.json: %v %v", st, err)
	}
	if r := e.runCtx(ctx, stdinLines(e2ePassword), "user", "add", "t", "ana"); r.code != 1 || !strings.Contains(r.stderr, "requires MFA") {
		t.Fatalf("creating a user without MFA: %s", r)
	}

	r = e.must("mfa", "enroll", "t", "--json")
	var enrol struct {
		URI   string   `json:"otpauth_uri"`
		Codes []string `json:"recovery_codes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &enrol); err != nil || len(enrol.Codes) != 10 {
		t.Fatalf("mfa enroll --json: %s (%v)", r, err)
	}
	u, _ := url.Parse(enrol.URI)
	code, _ := totp.GenerateCode(u.Query().Get("secret"), time.Now())
	if r := e.runCtx(ctx, stdinLines(e2ePassword, code), "login", "t", "--user", "root"); r.code != 0 || !strings.Contains(r.stdout, "with MFA") {
		t.Fatalf("login with a code: %s", r)
	}
	// Step-up on the S3 plane: the bootstrap key (now root's) cannot delete
	// a bucket; a key minted with --mfa can.
	e.must("mb", "t/scratch")
	e.expect(1, "denied", "rb", "t/scratch")
	if r := e.must("key", "create", "t", "--mfa", "--save-as", "m"); !strings.Contains(r.stdout, "Expires") {
		t.Fatalf("key create --mfa: %s", r)
	}
	e.must("rb", "m/scratch")
	// The MFA key is listed (not its secret) and can be revoked.
	ls := e.must("key", "ls", "t")
	if !strings.Contains(ls.stdout, "true") {
		t.Fatalf("key ls does not show the MFA key: %s", ls)
	}
	var keys []struct {
		ID  string `json:"access_key"`
		MFA bool   `json:"mfa"`
	}
	json.Unmarshal([]byte(e.must("key", "ls", "t", "--json").stdout), &keys)
	for _, k := range keys {
		if k.MFA {
			e.must("key", "rm", "t", k.ID)
		}
	}
	e.must("mb", "t/scratch2")
	if r := e.run("rb", "m/scratch2"); r.code != 1 || !strings.Contains(strings.ToLower(r.stderr), "access key") {
		t.Fatalf("a revoked key still works: %s", r)
	}
	if r := e.runCtx(ctx, stdinLines(e2ePassword), "user", "add", "t", "ana", "--role", "viewer"); r.code != 0 {
		t.Fatalf("user add: %s", r)
	}
	// Custom policy and role, assigned to ana.
	doc := filepath.Join(e.dir, "crew.json")
	os.WriteFile(doc, []byte(`{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:coffer:s3:::dailies/*"}]}`), 0o600)
	e.must("policy", "add", "t", "crew-write", doc)
	os.WriteFile(doc, []byte(`{"Version":"2026-01-01"`), 0o600)
	e.expect(1, "", "policy", "add", "t", "broken", doc)
	e.must("role", "add", "t", "crew", "--policy", "crew-write")
	e.expect(1, "no such policy", "role", "add", "t", "crew2", "--policy", "nope")
	e.must("user", "roles", "t", "ana", "--role", "viewer")
	e.must("group", "add", "t", "crews", "--role", "crew")
	e.expect(1, "no group", "user", "groups", "t", "ana", "--group", "nope")
	e.must("user", "groups", "t", "ana", "--group", "crews")
	if r := e.must("group", "ls", "t"); !strings.Contains(r.stdout, "crews") {
		t.Fatalf("group ls: %s", r)
	}
	if r := e.must("role", "ls", "t"); !strings.Contains(r.stdout, "crew-write") {
		t.Fatalf("role ls: %s", r)
	}
	if r := e.must("policy", "ls", "t"); !strings.Contains(r.stdout, "crew-write") || !strings.Contains(r.stdout, "coffer-viewer") {
		t.Fatalf("policy ls: %s", r)
	}
	if r := e.must("policy", "explain", "t", "--user", "ana", "--action", "s3:PutObject", "--resource", "arn:coffer:s3:::dailies/x"); !strings.Contains(r.stdout, "crew-write") {
		t.Fatalf("explain after role assignment: %s", r)
	}
	if r := e.must("user", "ls", "t"); !strings.Contains(r.stdout, "ana") || !strings.Contains(r.stdout, "root") {
		t.Fatalf("user ls: %s", r)
	}
	// Explain: which statement decides, for another user's role.
	if r := e.must("policy", "explain", "t", "--user", "ana", "--action", "s3:GetObject", "--resource", "arn:coffer:s3:::footage/a.mov"); !strings.Contains(r.stdout, "ALLOW") || !strings.Contains(r.stdout, "coffer-viewer/ReadObjects") {
		t.Fatalf("explain an allowed read: %s", r)
	}
	if r := e.must("policy", "explain", "t", "--user", "ana", "--action", "s3:PutObject", "--resource", "arn:coffer:s3:::footage/a.mov"); !strings.HasPrefix(r.stdout, "DENY") || !strings.Contains(r.stdout, "no statement allows") {
		t.Fatalf("explain a denied write: %s", r)
	}
	if r := e.must("policy", "explain", "t", "--user", "root", "--action", "admin:CreateUser", "--resource", "arn:coffer:admin:::users/x"); !strings.Contains(r.stdout, "ONLY WITH A FRESH MFA") {
		t.Fatalf("explain a step-up action: %s", r)
	}
	if r := e.must("whoami", "t"); !strings.Contains(r.stdout, "root") || !strings.Contains(r.stdout, "admin") {
		t.Fatalf("whoami: %s", r)
	}
	e.must("user", "lock", "t", "ana")
	if r := e.runCtx(ctx, stdinLines(e2ePassword), "login", "t", "--user", "ana"); r.code == 0 || !strings.Contains(r.stderr, "locked") {
		t.Fatalf("login of a locked user: %s", r)
	}
	e.must("user", "unlock", "t", "ana")
	if r := e.runCtx(ctx, stdinLines("", "quasar-Murmur-58-plinth-vault"), "user", "passwd", "t", "ana"); r.code != 0 {
		t.Fatalf("admin resets ana's password: %s", r)
	}
	e.must("user", "rm", "t", "ana")
	if r := e.must("user", "ls", "t"); strings.Contains(r.stdout, "ana") {
		t.Fatalf("removed user still listed: %s", r)
	}
	e.must("logout", "t")
	e.expect(1, "not logged in", "whoami", "t")
	// A recovery code logs in once.
	if r := e.runCtx(ctx, stdinLines(e2ePassword, enrol.Codes[0]), "login", "t", "--user", "root", "--recovery"); r.code != 0 {
		t.Fatalf("login with a recovery code: %s", r)
	}
	if r := e.runCtx(ctx, stdinLines(e2ePassword, enrol.Codes[0]), "login", "t", "--user", "root", "--recovery"); r.code == 0 {
		t.Fatalf("a recovery code worked twice: %s", r)
	}
}
