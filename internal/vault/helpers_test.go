package vault

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	blobfs "github.com/coffer-vault/coffer/internal/blob/fs"
	"github.com/coffer-vault/coffer/internal/meta"
	"github.com/coffer-vault/coffer/internal/meta/sqlite"
	"github.com/coffer-vault/coffer/internal/seal"
	"github.com/coffer-vault/coffer/internal/testutil"
)

// env is a Service over the real stores in one temporary data directory.
type env struct {
	dir     string // the data directory
	blobDir string
	svc     *Service
	keys    *seal.Keyring
	meta    meta.Store
	logs    *testutil.SyncBuffer
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	return openEnv(tb, tb.TempDir())
}

// openEnv opens (or creates) the stores in the data directory dir, as a
// server start does.
func openEnv(tb testing.TB, dir string) *env {
	tb.Helper()
	ctx := context.Background()
	root, _, err := seal.LoadOrCreateRootKey(filepath.Join(dir, "root.key"))
	if err != nil {
		tb.Fatal(err)
	}
	ms, err := sqlite.Open(ctx, filepath.Join(dir, "meta.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ms.Close() })
	blobDir := filepath.Join(dir, "blobs")
	bs, err := blobfs.Open(blobDir)
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := seal.NewKeyring(ctx, root, ms)
	if err != nil {
		tb.Fatal(err)
	}
	logs := &testutil.SyncBuffer{}
	svc := New(Config{Meta: ms, Blobs: bs, Keys: keys, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	return &env{dir: dir, blobDir: blobDir, svc: svc, keys: keys, meta: ms, logs: logs}
}

// bucket creates a bucket and returns its name.
func (e *env) bucket(tb testing.TB, name string) string {
	tb.Helper()
	if err := e.svc.CreateBucket(context.Background(), name); err != nil {
		tb.Fatal(err)
	}
	return name
}

// put stores data and fails the test on error.
func (e *env) put(tb testing.TB, bucket, key string, data []byte, opts PutOptions) ObjectInfo {
	tb.Helper()
	info, err := e.svc.PutObject(context.Background(), bucket, key, bytes.NewReader(data), int64(len(data)), opts)
	if err != nil {
		tb.Fatalf("put %s/%s: %v", bucket, key, err)
	}
	return info
}

// readRange reads [off, off+n) of an object; it returns what it read
// before any error, and the error.
func (e *env) readRange(tb testing.TB, bucket, key string, off, n int64) ([]byte, error) {
	tb.Helper()
	ctx := context.Background()
	r, err := e.svc.OpenObject(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	rc, err := r.Range(ctx, off, n)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// get reads a whole object and fails the test on error.
func (e *env) get(tb testing.TB, bucket, key string) []byte {
	tb.Helper()
	r, err := e.svc.OpenObject(context.Background(), bucket, key)
	if err != nil {
		tb.Fatalf("open %s/%s: %v", bucket, key, err)
	}
	size := r.Info().Size
	r.Close()
	b, err := e.readRange(tb, bucket, key, 0, size)
	if err != nil {
		tb.Fatalf("read %s/%s: %v", bucket, key, err)
	}
	return b
}

// blobIDs lists the committed blobs.
func (e *env) blobIDs(tb testing.TB) []string {
	tb.Helper()
	var ids []string
	if err := e.svc.blobs.List(context.Background(), func(id string) error {
		ids = append(ids, id)
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return ids
}

// blobPath finds the file that holds blob id, whatever the layout.
func (e *env) blobPath(tb testing.TB, id string) string {
	tb.Helper()
	var found string
	filepath.WalkDir(e.blobDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(d.Name(), id) {
			found = p
		}
		return nil
	})
	if found == "" {
		tb.Fatalf("no file for blob %s under %s", id, e.blobDir)
	}
	return found
}

// segments returns the stored segments of an object.
func (e *env) segments(tb testing.TB, bucket, key string) []meta.Segment {
	tb.Helper()
	o, err := e.meta.GetObject(context.Background(), bucket, key)
	if err != nil {
		tb.Fatal(err)
	}
	return o.Segments
}

// dekCount is the total number of wrapped DEKs in the meta store.
func (e *env) dekCount(tb testing.TB) int64 {
	tb.Helper()
	counts, err := e.meta.CountDEKs(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	var n int64
	for _, c := range counts {
		n += c
	}
	return n
}

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// wantErr fails unless err matches want (nil means no error).
func wantErr(tb testing.TB, what string, err, want error) {
	tb.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		tb.Errorf("%s: err = %v, want %v", what, err, want)
	}
}

// flipByte flips one bit of byte off of a file.
func flipByte(tb testing.TB, path string, off int64) {
	tb.Helper()
	os.Chmod(path, 0o600) // blob files may be read-only
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		tb.Fatal(err)
	}
	b[0] ^= 0x01
	if _, err := f.WriteAt(b[:], off); err != nil {
		tb.Fatal(err)
	}
}

func statFile(p string) (os.FileInfo, error) { return os.Stat(p) }

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed+1)) }

// countFiles counts regular files under dir.
func countFiles(tb testing.TB, dir string) int {
	tb.Helper()
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}
