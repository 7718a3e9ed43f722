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

// TestLedgerFullFailsClosed runs the real server with its audit ledger on a
// 4 MiB tmpfs of its own and fills that filesystem: the ledger can no
// longer publish, /health turns unhealthy, and from then on writes, deletes
// and reads get 503 and change nothing. After space is freed and the
// server restarted, the refused writes are absent, the earlier objects are
// intact, and the ledger verifies.
func TestLedgerFullFailsClosed(t *testing.T) {
	t.Parallel()
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

	// Fill the ledger's filesystem to the last byte.
	filler := filepath.Join(opts.hostRoot+auditDir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
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
	f.Close()

	// The ledger notices at its next checkpoint (within about a second).
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; srv.health() != http.StatusServiceUnavailable; i++ {
		if time.Now().After(deadline) {
			t.Fatal("the server stayed healthy with its ledger's filesystem full")
		}
		put("poke") // events keep coming, as they would
		time.Sleep(50 * time.Millisecond)
	}
	wantServiceUnavailable(t, "PUT with a full ledger", put("refused"))
	wantServiceUnavailable(t, "DELETE with a full ledger", mc.RemoveObject(ctx, bucket, "before", minio.RemoveObjectOptions{}))
	_, err = readObject(mc, bucket, "before", 0, -1)
	wantServiceUnavailable(t, "GET with a full ledger", err)
	srv.kill()

	// Free the space and start again.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	srv = startCoffer(t, dataDir, opts)
	mc = srv.minio(1)
	keys := remoteKeys(t, mc, bucket)
	for _, k := range keys {
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
		t.Fatalf("audit verify after the full ledger: %v\n%s", err, out)
	}
}
