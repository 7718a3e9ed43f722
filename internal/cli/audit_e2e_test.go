//go:build !coffer_fakes3

package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-vault/coffer/internal/server"
)

// TestE2EAudit: the ledger's key, proofs fetched from the server and
// checked, then offline verification of the data directory, and a
// tampered ledger that fails with exit status 1 naming the spot.
func TestE2EAudit(t *testing.T) {
	dataDir := t.TempDir()
	srv, err := server.Start(context.Background(), server.Config{DataDir: dataDir, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			srv.Shutdown(context.Background())
		}
	})
	c := srv.NewCredentials()
	e := newE2EFor(t, srv.Endpoint(), c.AccessKey, c.SecretKey, srv.CAFile())
	e.must("mb", "t/ledgered")
	file, _ := randomFile(t, t.TempDir(), "f.bin", 1000)
	for range 3 {
		e.must("put", file, "t/ledgered/")
	}
	key := srv.AuditPublicKey()
	if r := e.must("audit", "pubkey", "t"); strings.TrimSpace(r.stdout) != key {
		t.Fatalf("audit pubkey t = %q, want %q", r.stdout, key)
	}
	if r := e.must("audit", "prove", "2", "--alias", "t"); !strings.Contains(r.stdout, "proof verified") {
		t.Fatalf("prove: %s", r)
	}
	if r := e.must("audit", "consistency", "1", "3", "--alias", "t"); !strings.Contains(r.stdout, "proof verified") {
		t.Fatalf("consistency: %s", r)
	}
	e.expect(1, "not in the latest checkpoint", "audit", "prove", "100000", "--alias", "t")
	// Over HTTPS, from the public /ledger/ files, with the pinned key.
	if r := e.must("audit", "verify", "--pubkey", key, "--ca", srv.CAFile(), srv.Endpoint()+"/ledger/"); !strings.Contains(r.stdout, "OK:") {
		t.Fatalf("remote verify: %s", r)
	}
	e.expect(2, "needs --pubkey", "audit", "verify", "--ca", srv.CAFile(), srv.Endpoint()+"/ledger/")

	// Search (the index follows the ledger in the background) and tail.
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := e.must("audit", "search", "t", "--action", "s3:PutObject", "--json")
		if strings.Count(r.stdout, `"action":"s3:PutObject"`) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("search never found the 3 PUTs: %s", r)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := e.must("audit", "search", "t", "--action", "s3:*", "--outcome", "denied"); strings.Contains(r.stdout, "s3:PutObject") {
		t.Fatalf("search for denials found allowed PUTs: %s", r)
	}
	if r := e.must("audit", "tail", "t", "--from", "0"); !strings.Contains(r.stdout, "system:Start") || !strings.Contains(r.stdout, "s3:PutObject") {
		t.Fatalf("tail: %s", r)
	}
	e.expect(2, "neither an RFC 3339 time nor a duration", "audit", "search", "t", "--since", "yesterday")

	// A failed login records events about "ghost"; erase them: they can no
	// longer be read or found, while the tree still verifies (checked
	// offline below). Nobody may erase their own record.
	if r := e.runCtx(context.Background(), "not-ghosts-password-at-all\n", "login", "t", "--user", "ghost"); r.code == 0 {
		t.Fatalf("login as ghost worked: %s", r)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if r := e.must("audit", "search", "t", "--actor", "ghost", "--json"); strings.Contains(r.stdout, `"actor":"ghost"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the index never found ghost's failed login")
		}
	}
	e.expect(1, "pass --yes", "audit", "erase", "t", "ghost")
	e.expect(2, "name the user once", "audit", "erase", "t", "ghost", "--subject", "ghost", "--yes")
	e.expect(1, "someone else than its subject", "audit", "erase", "t", "--subject", "admin", "--yes")
	e.must("audit", "erase", "t", "--subject", "ghost", "--yes")
	if r := e.must("audit", "search", "t", "--actor", "ghost", "--json"); strings.Contains(r.stdout, `"actor":"ghost"`) {
		t.Fatalf("the index still names the erased subject: %s", r)
	}
	if r := e.must("audit", "tail", "t", "--from", "0"); !strings.Contains(r.stdout, "(erased)") {
		t.Fatalf("tail after erasure shows no erased records: %s", r)
	}

	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	stopped = true
	if r := e.must("audit", "pubkey", dataDir); strings.TrimSpace(r.stdout) != key {
		t.Fatalf("audit pubkey DIR = %q", r.stdout)
	}
	r := e.must("audit", "verify", "--pubkey", key, dataDir)
	if !strings.Contains(r.stdout, "OK:") || strings.Contains(r.stdout, " 0 checked") || strings.Contains(r.stdout, " 0 erased") {
		t.Fatalf("verify: %s", r)
	}
	e.must("audit", "prove", "1", "--dir", dataDir)

	// Someone else's key: the checkpoints are not this log's.
	other := strings.Replace(key, "coffer/audit+", "coffer/audit+00", 1)
	e.expect(1, "does NOT verify", "audit", "verify", "--pubkey", other, dataDir)

	// One byte of one leaf record changed.
	segs, _ := filepath.Glob(filepath.Join(dataDir, "audit", "log", "*"))
	if len(segs) == 0 {
		t.Fatal("no leaf segments")
	}
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	b[40] ^= 1
	if err := os.WriteFile(segs[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	r = e.expect(1, "does NOT verify", "audit", "verify", "--json", dataDir)
	if !strings.Contains(r.stdout, `"bad_index"`) {
		t.Fatalf("verify --json of a tampered ledger names no index: %s", r)
	}
}
