//go:build !coffer_fakes3

package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestE2ESessionsKeysAndDeletion: coffer session ls|rm, key create
// --policy and key ls with last use, and policy|role|group rm, through the
// CLI against the real server.
func TestE2ESessionsKeysAndDeletion(t *testing.T) {
	srv, e := newRealE2E(t)
	e.loginMFARoot(t, srv)
	ctx := context.Background()

	// Sessions. ana logs in twice on her own alias: two sessions.
	if r := e.runCtx(ctx, stdinLines(e2ePassword), "user", "add", "t", "ana", "--role", "editor"); r.code != 0 {
		t.Fatalf("user add: %s", r)
	}
	e.must("alias", "set", "a", srv.Endpoint(), e.accessKey, e.secretKey, "--ca", srv.CAFile())
	for range 2 {
		if r := e.runCtx(ctx, stdinLines(e2ePassword), "login", "a", "--user", "ana"); r.code != 0 {
			t.Fatalf("ana logs in: %s", r)
		}
	}
	type sess struct {
		ID      string `json:"id"`
		MFA     bool   `json:"mfa"`
		Current bool   `json:"current"`
	}
	var mine []sess
	if err := json.Unmarshal([]byte(e.must("session", "ls", "a", "--json").stdout), &mine); err != nil || len(mine) != 2 {
		t.Fatalf("ana's sessions: %v %v", mine, err)
	}
	var current, other string
	for _, s := range mine {
		if s.Current {
			current = s.ID
		} else {
			other = s.ID
		}
	}
	if current == "" || other == "" {
		t.Fatalf("no current session marked: %v", mine)
	}
	table := e.must("session", "ls", "a").stdout
	if !strings.Contains(table, "LAST SEEN") || !strings.Contains(table, "* "+current) || strings.Contains(table, "* "+other) {
		t.Fatalf("session ls table:\n%s", table)
	}
	// The administrator sees ana's sessions (none of them is root's current one).
	var hers []sess
	json.Unmarshal([]byte(e.must("session", "ls", "t", "--user", "ana", "--json").stdout), &hers)
	if len(hers) != 2 || hers[0].Current || hers[1].Current {
		t.Fatalf("root lists ana's sessions: %v", hers)
	}
	// ana may not look at or end root's sessions.
	e.expect(1, "", "session", "ls", "a", "--user", "root")
	var roots []sess
	json.Unmarshal([]byte(e.must("session", "ls", "t", "--json").stdout), &roots)
	if len(roots) != 1 || !roots[0].Current || !roots[0].MFA {
		t.Fatalf("root's sessions: %v", roots)
	}
	e.expect(1, "", "session", "rm", "a", roots[0].ID, "--user", "root")
	e.expect(1, "no such session", "session", "rm", "a", "ffffffffffffffffffffffff")
	e.must("session", "rm", "a", other)
	json.Unmarshal([]byte(e.must("session", "ls", "a", "--json").stdout), &mine)
	if len(mine) != 1 || mine[0].ID != current {
		t.Fatalf("after revoking the other session: %v", mine)
	}
	// An administrator ends one of ana's sessions: her CLI is logged out.
	if r := e.must("session", "rm", "t", current, "--user", "ana", "--json"); !strings.Contains(r.stdout, `"success"`) {
		t.Fatalf("session rm --json: %s", r)
	}
	e.expect(1, "log in", "whoami", "a")
	e.expect(2, "not enough arguments", "session", "ls")
	e.expect(2, "", "session", "frobnicate", "t")

	// Access keys narrowed by a policy, with their last use.
	e.must("mb", "t/footage")
	doc := filepath.Join(e.dir, "day1.json")
	os.WriteFile(doc, []byte(`{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":["s3:PutObject","s3:GetObject"],"Resource":"arn:coffer:s3:::footage/day1/*"}]}`), 0o600)
	bad := filepath.Join(e.dir, "bad.json")
	os.WriteFile(bad, []byte(`{"Version":"2026-01-01"`), 0o600)
	e.expect(1, "not valid JSON", "key", "create", "t", "--policy", bad)
	os.WriteFile(bad, []byte(`{"Version":"1999-01-01","Statement":[]}`), 0o600)
	e.expect(1, "Version", "key", "create", "t", "--policy", bad)
	var before []json.RawMessage
	json.Unmarshal([]byte(e.must("key", "ls", "t", "--json").stdout), &before)
	r := e.must("key", "create", "t", "--policy", doc, "--save-as", "n")
	keyID := strings.Fields(strings.SplitN(r.stdout, "\n", 2)[0])[2]
	src := filepath.Join(e.dir, "clip.mov")
	os.WriteFile(src, []byte("take 1"), 0o600)
	e.must("put", src, "n/footage/day1/clip.mov")
	e.expect(1, "denied", "put", src, "n/footage/day2/clip.mov")
	e.expect(1, "denied", "ls", "n/footage")
	var keys []struct {
		ID       string          `json:"access_key"`
		LastUsed *time.Time      `json:"last_used"`
		Policy   json.RawMessage `json:"policy"`
	}
	json.Unmarshal([]byte(e.must("key", "ls", "t", "--json").stdout), &keys)
	if len(keys) != len(before)+1 {
		t.Fatalf("keys: %d, had %d (the refused policies must create none)", len(keys), len(before))
	}
	found := false
	for _, k := range keys {
		if k.ID == keyID {
			found = true
			if k.LastUsed == nil || len(k.Policy) == 0 {
				t.Fatalf("the narrowed key in key ls --json: %+v", k)
			}
		}
	}
	if !found {
		t.Fatalf("key %s not listed: %+v", keyID, keys)
	}
	table = e.must("key", "ls", "t").stdout
	if !strings.Contains(table, "LAST USED") || !strings.Contains(table, "narrowed") {
		t.Fatalf("key ls table:\n%s", table)
	}

	// Deleting policies, roles and groups: refused while in use, naming the users.
	os.WriteFile(doc, []byte(`{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`), 0o600)
	e.must("policy", "add", "t", "reader", doc)
	e.must("role", "add", "t", "readers", "--policy", "reader")
	e.must("group", "add", "t", "night", "--role", "readers")
	e.must("user", "groups", "t", "ana", "--group", "night")
	e.expect(1, "role readers", "policy", "rm", "t", "reader")
	e.expect(1, "group night", "role", "rm", "t", "readers")
	e.expect(1, "user ana", "group", "rm", "t", "night")
	e.expect(1, "built-in", "policy", "rm", "t", "coffer-admin")
	e.expect(1, "built-in", "role", "rm", "t", "viewer")
	e.expect(1, "no such group", "group", "rm", "t", "nope")
	e.must("user", "groups", "t", "ana", "--group", "")
	if r := e.must("group", "rm", "t", "night", "--json"); !strings.Contains(r.stdout, `"success"`) {
		t.Fatalf("group rm --json: %s", r)
	}
	if r := e.must("role", "rm", "t", "readers"); !strings.Contains(r.stdout, "Role readers deleted") {
		t.Fatalf("role rm: %s", r)
	}
	e.must("policy", "rm", "t", "reader")
	if r := e.must("policy", "ls", "t"); strings.Contains(r.stdout, "reader\n") {
		t.Fatalf("deleted policy listed:\n%s", r.stdout)
	}
	if r := e.must("role", "ls", "t"); strings.Contains(r.stdout, "readers") {
		t.Fatalf("deleted role listed:\n%s", r.stdout)
	}
	if r := e.must("group", "ls", "t"); strings.Contains(r.stdout, "night") {
		t.Fatalf("deleted group listed:\n%s", r.stdout)
	}
}
