//go:build !coffer_fakes3

package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// TestE2EStepUpAndAttach: coffer mfa verify (code and recovery code),
// mfa recovery-codes, and policy attach|detach, through the CLI against
// the real server.
func TestE2EStepUpAndAttach(t *testing.T) {
	srv, e := newRealE2E(t)
	root := e.loginMFARoot(t, srv)
	ctx := context.Background()

	// Step-up: the next time step's code refreshes the proof; it works once.
	next, _ := totp.GenerateCode(root.secret, root.at.Add(30*time.Second))
	if r := e.runCtx(ctx, stdinLines(next), "mfa", "verify", "t"); r.code != 0 || !strings.Contains(r.stdout, "MFA verified") {
		t.Fatalf("mfa verify: %s", r)
	}
	if r := e.runCtx(ctx, stdinLines(next), "mfa", "verify", "t"); r.code != 1 || !strings.Contains(r.stderr, "already used") {
		t.Fatalf("mfa verify with a used code: %s", r)
	}
	if r := e.runCtx(ctx, stdinLines(root.codes[0]), "mfa", "verify", "t", "--recovery", "--json"); r.code != 0 || !strings.Contains(r.stdout, `"success"`) {
		t.Fatalf("mfa verify --recovery: %s", r)
	}
	var fresh struct {
		Codes []string `json:"recovery_codes"`
	}
	if err := json.Unmarshal([]byte(e.must("mfa", "recovery-codes", "t", "--json").stdout), &fresh); err != nil || len(fresh.Codes) != 10 {
		t.Fatalf("mfa recovery-codes: %v %v", fresh, err)
	}
	if r := e.runCtx(ctx, stdinLines(root.codes[1]), "mfa", "verify", "t", "--recovery"); r.code != 1 {
		t.Fatalf("an old recovery code after regeneration: %s", r)
	}
	if r := e.runCtx(ctx, stdinLines(fresh.Codes[1]), "mfa", "verify", "t", "--recovery"); r.code != 0 {
		t.Fatalf("a new recovery code: %s", r)
	}
	if r := e.must("mfa", "recovery-codes", "t"); strings.Count(r.stdout, "-") < 30 {
		t.Fatalf("mfa recovery-codes table:\n%s", r.stdout)
	}

	// Role composition.
	doc := filepath.Join(e.dir, "reader.json")
	os.WriteFile(doc, []byte(`{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:coffer:s3:::dailies/*"}]}`), 0o600)
	e.must("policy", "add", "t", "reader", doc)
	e.must("role", "add", "t", "crew", "--policy", "coffer-viewer")
	policiesOf := func(role string) []string {
		var roles []struct {
			Name     string   `json:"name"`
			Policies []string `json:"policies"`
		}
		json.Unmarshal([]byte(e.must("role", "ls", "t", "--json").stdout), &roles)
		for _, r := range roles {
			if r.Name == role {
				return r.Policies
			}
		}
		return nil
	}
	if r := e.must("policy", "attach", "t", "reader", "--role", "crew"); !strings.Contains(r.stdout, "attached to role crew") {
		t.Fatalf("policy attach: %s", r)
	}
	if got := policiesOf("crew"); !slices.Contains(got, "reader") || !slices.Contains(got, "coffer-viewer") {
		t.Fatalf("crew after attach: %v", got)
	}
	e.expect(1, "built-in roles cannot be changed", "policy", "attach", "t", "reader", "--role", "editor")
	e.expect(1, "no policy", "policy", "attach", "t", "nope", "--role", "crew")
	e.must("policy", "detach", "t", "coffer-viewer", "--role", "crew")
	e.expect(1, "does not hold", "policy", "detach", "t", "coffer-viewer", "--role", "crew")
	if got := policiesOf("crew"); slices.Contains(got, "coffer-viewer") || !slices.Contains(got, "reader") {
		t.Fatalf("crew after detach: %v", got)
	}
}
