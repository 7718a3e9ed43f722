package e2e

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/coffer-vault/coffer/internal/audit"
	"github.com/coffer-vault/coffer/internal/seal"
	"github.com/coffer-vault/coffer/internal/server"
)

// TestLedgerCrashKeepsAcknowledgedEvents kills -9 the server while sixteen
// clients write and read small objects, restarts it, and checks that every
// request that got a success response has its event in the ledger, and
// that the ledger (tree, checkpoints and payloads) verifies.
func TestLedgerCrashKeepsAcknowledgedEvents(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startCoffer(t, dir, serverOptions{})
	const bucket = "ledger-crash"
	if err := srv.minio(0).MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	var (
		mu          sync.Mutex
		puts, reads = map[string]bool{}, map[string]bool{}
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mc := srv.minio(1)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				key := fmt.Sprintf("w%02d/%06d", w, i)
				b := keyedBytes(key, 512)
				if _, err := mc.PutObject(ctx, bucket, key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
					continue
				}
				mu.Lock()
				puts[key] = true
				mu.Unlock()
				if i%2 == 0 {
					if got, err := readObject(mc, bucket, key, 0, -1); err == nil && bytes.Equal(got, b) {
						mu.Lock()
						reads[key] = true
						mu.Unlock()
					}
				}
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	srv.kill()
	time.AfterFunc(200*time.Millisecond, cancel)
	waitGroupTimeout(t, &wg, time.Minute)
	mu.Lock()
	defer mu.Unlock()
	t.Logf("acknowledged before the kill: %d PUTs, %d GETs", len(puts), len(reads))
	if len(puts) < 16 {
		t.Fatalf("only %d PUTs acknowledged; the crash would test little", len(puts))
	}

	// Restart (crash recovery cuts any unacknowledged tail), then stop
	// cleanly so the last checkpoint covers everything.
	startCoffer(t, dir, serverOptions{}).stop()

	root, _, err := seal.LoadOrCreateRootKey(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := server.LedgerSealer(dir, root)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(context.Background(), server.LedgerDir(dir), audit.VerifyOptions{Sealer: sealer})
	if err != nil {
		t.Fatalf("the ledger does not verify after kill -9: %v", err)
	}
	t.Logf("ledger after the crash: %d entries, %d checkpoints, %d payloads checked", rep.Size, rep.Checkpoints, rep.PayloadsChecked)
	if rep.LatestSize != rep.Size {
		t.Errorf("the latest checkpoint covers %d of %d entries", rep.LatestSize, rep.Size)
	}
	logged := map[string]map[string]bool{"s3:PutObject": {}, "s3:GetObject": {}}
	err = audit.ReadPayloads(context.Background(), server.LedgerDir(dir), sealer, func(ev audit.Event) error {
		if m := logged[ev.Action]; m != nil && ev.Resource.Bucket == bucket && ev.Outcome.Result == audit.ResultAllowed {
			m[ev.Resource.Key] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for key := range puts {
		if !logged["s3:PutObject"][key] {
			t.Errorf("acknowledged PUT %s has no event in the ledger", key)
		}
	}
	for key := range reads {
		if !logged["s3:GetObject"][key] {
			t.Errorf("acknowledged GET %s has no event in the ledger", key)
		}
	}
}
