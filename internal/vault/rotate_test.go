package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/coffer-vault/coffer/internal/meta"
)

// conflictMeta makes the first UpdateDEK of each blob lose its CAS, as if
// the object changed between ListDEKs and UpdateDEK.
type conflictMeta struct {
	meta.Store
	lost map[string]bool
}

func (c *conflictMeta) UpdateDEK(ctx context.Context, blobID string, old, new []byte, v int) error {
	if !c.lost[blobID] {
		c.lost[blobID] = true
		return fmt.Errorf("update: %w", meta.ErrConflict)
	}
	return c.Store.UpdateDEK(ctx, blobID, old, new, v)
}

func TestRotateRewrap(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.svc.minPartSize = 1
	b := e.bucket(t, "data")
	objects := map[string][]byte{}
	for i := range 5 {
		k := fmt.Sprintf("obj-%d", i)
		objects[k] = randomBytes(1000+i, uint64(i))
		e.put(t, b, k, objects[k], PutOptions{Tags: map[string]string{"i": fmt.Sprint(i)}})
	}
	id, _ := e.svc.CreateMultipartUpload(ctx, b, "mp", PutOptions{})
	mp := []byte("part-one|part-two")
	parts := uploadParts(t, e, b, "mp", id, mp, []int{9, 8})
	if _, err := e.svc.CompleteMultipartUpload(ctx, b, "mp", id, parts); err != nil {
		t.Fatal(err)
	}
	objects["mp"] = mp
	open, _ := e.svc.CreateMultipartUpload(ctx, b, "open", PutOptions{})
	openParts := uploadParts(t, e, b, "open", open, []byte("pending"), []int{7})
	const deks = 5 + 2 + 1

	st, err := e.svc.KeyStatus(ctx)
	if err != nil || len(st) != 1 || st[0].Version != 1 || !st[0].Current || st[0].DEKs != deks || st[0].Created.IsZero() {
		t.Fatalf("KeyStatus = %+v, %v", st, err)
	}
	if _, err := e.keys.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	e.put(t, b, "after", []byte("new"), PutOptions{})
	objects["after"] = []byte("new")
	st, _ = e.svc.KeyStatus(ctx)
	if len(st) != 2 || st[0].DEKs != deks || st[1].DEKs != 1 || st[0].Current || !st[1].Current {
		t.Fatalf("after rotate KeyStatus = %+v", st)
	}

	// Metadata and tags sealed under version 1 must move too.
	sealed := int(st[0].Sealed)
	if sealed == 0 {
		t.Fatal("no sealed metadata counted under version 1")
	}

	// Every DEK loses its first CAS once; RewrapDEKs retries through ListDEKs.
	e.svc.meta = &conflictMeta{Store: e.meta, lost: map[string]bool{}}
	var calls []int
	n, err := e.svc.RewrapDEKs(ctx, 3, func(done int) { calls = append(calls, done) })
	e.svc.meta = e.meta
	if err != nil || n != deks+sealed {
		t.Fatalf("RewrapDEKs = %d, %v; want %d DEKs + %d sealed values", n, err, deks, sealed)
	}
	if len(calls) == 0 || calls[len(calls)-1] != n {
		t.Fatalf("progress calls %v", calls)
	}
	st, _ = e.svc.KeyStatus(ctx)
	if len(st) != 2 || st[0].DEKs != 0 || st[1].DEKs != deks+1 || st[0].Sealed != 0 {
		t.Fatalf("after rewrap KeyStatus = %+v: version 1 must protect nothing", st)
	}
	for k, want := range objects {
		if !bytes.Equal(e.get(t, b, k), want) {
			t.Fatalf("%s differs after rewrap", k)
		}
	}
	if _, err := e.svc.CompleteMultipartUpload(ctx, b, "open", open, openParts); err != nil {
		t.Fatal(err)
	}
	if got := string(e.get(t, b, "open")); got != "pending" {
		t.Fatalf("upload completed after rewrap reads %q", got)
	}
	// Nothing left: a second run does nothing.
	if n, err := e.svc.RewrapDEKs(ctx, 0, nil); n != 0 || err != nil {
		t.Fatalf("second RewrapDEKs = %d, %v", n, err)
	}

	// Cancellation stops a run; a later run finishes the job.
	e.keys.Rotate(ctx)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := e.svc.RewrapDEKs(cctx, 1, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled RewrapDEKs: %v", err)
	}
	if n, err := e.svc.RewrapDEKs(ctx, 1, nil); n < deks+1 || err != nil {
		t.Fatalf("resumed RewrapDEKs = %d, %v; want at least the %d DEKs", n, err, deks+1)
	}
	if st, _ := e.svc.KeyStatus(ctx); st[0].DEKs+st[0].Sealed+st[1].DEKs+st[1].Sealed != 0 {
		t.Fatalf("after the resumed run old versions still protect values: %+v", st)
	}
}

func TestRecover(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	b := e.bucket(t, "data")
	e.put(t, b, "kept", []byte("kept object"), PutOptions{})
	id, _ := e.svc.CreateMultipartUpload(ctx, b, "upload", PutOptions{})
	uploadParts(t, e, b, "upload", id, []byte("part"), []int{4})

	// A crash after a blob commit, before the metadata commit.
	orphan := newID()
	w, err := e.svc.blobs.Create(ctx, orphan)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("sealed bytes nobody references"))
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	// A crash mid-write: a temporary file.
	w2, err := e.svc.blobs.Create(ctx, newID())
	if err != nil {
		t.Fatal(err)
	}
	w2.Write([]byte("half a blob"))
	filesBefore := countFiles(t, e.blobDir)

	n, err := e.svc.Recover(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v; want 1 orphan", n, err)
	}
	w2.Abort()
	ids := e.blobIDs(t)
	if len(ids) != 2 || strings.Contains(strings.Join(ids, ","), orphan) {
		t.Fatalf("blobs after Recover: %v", ids)
	}
	if after := countFiles(t, e.blobDir); after != 2 || filesBefore < 4 {
		t.Fatalf("files under the blob dir: %d before, %d after Recover (want 2 after)", filesBefore, after)
	}
	if got := string(e.get(t, b, "kept")); got != "kept object" {
		t.Fatalf("kept object reads %q", got)
	}
	if _, err := e.svc.CompleteMultipartUpload(ctx, b, "upload", id, []CompletePart{{1, md5hex([]byte("part"))}}); err != nil {
		t.Fatalf("upload after Recover: %v", err)
	}
	if n, err := e.svc.Recover(ctx); n != 0 || err != nil {
		t.Fatalf("second Recover = %d, %v", n, err)
	}
}
