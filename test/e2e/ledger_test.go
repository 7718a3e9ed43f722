package e2e

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// health returns the status of GET /health.
func (c *coffer) health() int {
	client := &http.Client{Transport: c.transport(), Timeout: 5 * time.Second}
	resp, err := client.Get(c.endpoint + "/health")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestLedgerFailsClosed runs the real server with its audit ledger on a
// 4 MiB tmpfs of its own and takes the ledger's storage away under it:
// the filesystem filled to the last byte, or the ledger directory made
// read-only (a read-only bind mount: as root, file modes would not stop
// writes). The ledger can no longer publish, /health turns unhealthy, and
// from then on writes, deletes and reads get 503 and change nothing. After
// the storage is given back and the server restarted, the refused writes
// are absent, the earlier objects are intact, and the ledger verifies.
func TestLedgerFailsClosed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		breakIt func(t *testing.T, ns *mountNS, hostAuditDir, auditDir string) (repair func())
	}{
		{"full", func(t *testing.T, _ *mountNS, hostAuditDir, _ string) func() {
			filler := filepath.Join(hostAuditDir, "filler")
			fill(t, filler)
			return func() {
				if err := os.Remove(filler); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"read-only", func(t *testing.T, ns *mountNS, hostAuditDir, auditDir string) func() {
			ns.run("mount", "--bind", auditDir, auditDir)
			ns.run("mount", "-o", "remount,bind,ro", auditDir)
			if err := os.WriteFile(filepath.Join(hostAuditDir, "probe"), nil, 0o600); err == nil {
				t.Fatal("the bind mount did not make the ledger directory read-only")
			}
			return func() { ns.run("umount", auditDir) }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ledgerFailsClosed(t, tc.breakIt)
		})
	}
}

// fill writes path until its filesystem has no byte left.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	for len(chunk) > 1 { // the last partial chunk
		chunk = chunk[:len(chunk)/2]
		f.Write(chunk)
	}
}

func ledgerFailsClosed(t *testing.T, breakIt func(t *testing.T, ns *mountNS, hostAuditDir, auditDir string) (repair func())) {
	ns := newTmpfsNamespace(t, "4m")
	dataDir := t.TempDir()
	auditDir := filepath.Join(ns.mnt, "audit")
	opts := ns.serverOptions()
	opts.args = []string{"--audit-dir", auditDir}
	srv := startCoffer(t, dataDir, opts)
	mc := srv.minio(1)
	ctx := context.Background()
	const bucket = "ledgered"
	if err := mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	put := func(key string) error {
		b := keyedBytes(key, 1000)
		_, err := mc.PutObject(ctx, bucket, key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{})
		return err
	}
	if err := put("before"); err != nil {
		t.Fatal(err)
	}
	repair := breakIt(t, ns, opts.hostRoot+auditDir, auditDir)

	// The ledger notices at its next checkpoint (within about a second).
	deadline := time.Now().Add(30 * time.Second)
	for srv.health() != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("the server stayed healthy without storage for its ledger")
		}
		put("poke") // events keep coming, as they would
		time.Sleep(50 * time.Millisecond)
	}
	wantServiceUnavailable(t, "PUT without a ledger", put("refused"))
	wantServiceUnavailable(t, "DELETE without a ledger", mc.RemoveObject(ctx, bucket, "before", minio.RemoveObjectOptions{}))
	_, err := readObject(mc, bucket, "before", 0, -1)
	wantServiceUnavailable(t, "GET without a ledger", err)
	srv.kill()

	// Give the storage back and start again.
	repair()
	srv = startCoffer(t, dataDir, opts)
	mc = srv.minio(1)
	for _, k := range remoteKeys(t, mc, bucket) {
		if k == "refused" {
			t.Error("a PUT refused for want of a ledger stored its object")
		}
	}
	if got, err := readObject(mc, bucket, "before", 0, -1); err != nil || !bytes.Equal(got, keyedBytes("before", 1000)) {
		t.Errorf("the object a refused DELETE named: %d bytes, %v", len(got), err)
	}
	srv.stop()
	out, err := exec.Command(cofferBin, "audit", "verify", "--data-dir", dataDir, opts.hostRoot+auditDir).CombinedOutput()
	if err != nil {
		t.Fatalf("audit verify after the ledger came back: %v\n%s", err, out)
	}
}
