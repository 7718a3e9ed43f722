package vault

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/coffer-vault/coffer/internal/blob"
	"github.com/coffer-vault/coffer/internal/meta"
)

// faultyBlobs injects an operating-system error into one blob step.
type faultyBlobs struct {
	blob.Store
	step string // "create", "write" or "commit"
	err  error
}

func (f *faultyBlobs) Create(ctx context.Context, id string) (blob.Writer, error) {
	if f.step == "create" {
		return nil, fmt.Errorf("create %s: %w", id, f.err)
	}
	w, err := f.Store.Create(ctx, id)
	return &faultyWriter{Writer: w, f: f}, err
}

type faultyWriter struct {
	blob.Writer
	f *faultyBlobs
}

func (w *faultyWriter) Write(p []byte) (int, error) {
	if w.f.step == "write" {
		return 0, fmt.Errorf("write: %w", w.f.err)
	}
	return w.Writer.Write(p)
}

func (w *faultyWriter) Commit() error {
	if w.f.step == "commit" {
		return fmt.Errorf("fsync: %w", w.f.err)
	}
	return w.Writer.Commit()
}

// faultyMeta fails object writes with an operating-system error.
type faultyMeta struct {
	meta.Store
	err error
}

func (f *faultyMeta) PutObject(ctx context.Context, o meta.Object) (*meta.Object, error) {
	return nil, fmt.Errorf("sqlite: %w", f.err)
}

func (f *faultyMeta) PutObjectIf(ctx context.Context, o meta.Object, _ meta.Precondition) (*meta.Object, error) {
	return f.PutObject(ctx, o)
}

// TestStorageErrors checks that a full or read-only disk is reported as
// ErrStorageFull or ErrStorageReadOnly, with the OS error still in the
// chain, and that nothing becomes visible.
func TestStorageErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		step string
		err  error
		want error
	}{
		{"create", syscall.EROFS, ErrStorageReadOnly},
		{"create", syscall.EACCES, ErrStorageReadOnly},
		{"write", syscall.ENOSPC, ErrStorageFull},
		{"write", syscall.EPERM, ErrStorageReadOnly},
		{"commit", syscall.ENOSPC, ErrStorageFull},
		{"commit", syscall.EDQUOT, ErrStorageFull},
		{"meta", syscall.ENOSPC, ErrStorageFull},
		{"meta", syscall.EROFS, ErrStorageReadOnly},
	}
	for _, tt := range tests {
		e := newEnv(t)
		b := e.bucket(t, "data")
		blobs := e.svc.blobs
		if tt.step == "meta" {
			e.svc.meta = &faultyMeta{Store: e.meta, err: tt.err}
		} else {
			e.svc.blobs = &faultyBlobs{Store: blobs, step: tt.step, err: tt.err}
		}
		name := fmt.Sprintf("%s %v", tt.step, tt.err)
		_, err := e.svc.PutObject(ctx, b, "k", strings.NewReader("data"), 4, PutOptions{})
		wantErr(t, name, err, tt.want)
		wantErr(t, name+" (OS error kept)", err, tt.err)
		e.svc.blobs, e.svc.meta = blobs, e.meta
		_, err = e.svc.OpenObject(ctx, b, "k")
		wantErr(t, name+": object visible", err, ErrNoSuchKey)
		if ids := e.blobIDs(t); len(ids) != 0 {
			t.Errorf("%s: blobs left: %v", name, ids)
		}
	}
}
