package fs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/coffer-vault/coffer/internal/blob"
	"github.com/coffer-vault/coffer/internal/blob/blobtest"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return openTemp(t) })
}

// tmpNames lists what is left in the temporary directory.
func tmpNames(t *testing.T, s *Store) []string {
	t.Helper()
	ents, err := os.ReadDir(s.tmp)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// expectClean checks that a failed write left nothing: no temporary file,
// nothing listed, nothing to open.
func expectClean(t *testing.T, s *Store, id string) {
	t.Helper()
	if names := tmpNames(t, s); len(names) != 0 {
		t.Errorf("temporary files left: %v", names)
	}
	if ids := blobtest.IDs(t, s); len(ids) != 0 {
		t.Errorf("List after a failed write = %v", ids)
	}
	if _, err := s.Open(t.Context(), id); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Open after a failed write = %v, want ErrNotFound", err)
	}
}

func TestLayout(t *testing.T) {
	s := openTemp(t)
	id := "abcdef0123456789abcdef0123456789"
	w, err := s.Create(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("hello"))
	if names := tmpNames(t, s); len(names) != 1 {
		t.Errorf("in-progress write: temporary files %v, want one", names)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(s.dir, "ab", id))
	if err != nil || string(data) != "hello" {
		t.Errorf("committed blob at <dir>/ab/<id> = %q, %v", data, err)
	}
	if names := tmpNames(t, s); len(names) != 0 {
		t.Errorf("after Commit: temporary files %v", names)
	}
	// Stray entries are not blobs.
	os.WriteFile(filepath.Join(s.dir, "README"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(s.dir, "ab", "not-a-blob"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(s.dir, "ab", "cd00000000000000"), []byte("x"), 0o600) // wrong fan-out
	os.Mkdir(filepath.Join(s.dir, "zz"), 0o700)
	if ids := blobtest.IDs(t, s); !slices.Equal(ids, []string{id}) {
		t.Errorf("List = %v, want only %s", ids, id)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	id := blobtest.NewID()
	data := blobtest.Payload(5000)
	blobtest.Put(t, s, id, data, 1000)
	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := blobtest.ReadAll(t, s2, id); !bytes.Equal(got, data) {
		t.Error("blob differs after reopening the directory")
	}
}

func TestSweepRemovesTempFiles(t *testing.T) {
	s := openTemp(t)
	for range 3 {
		w, err := s.Create(t.Context(), blobtest.NewID())
		if err != nil {
			t.Fatal(err)
		}
		w.Write(blobtest.Payload(1 << 20)) // flushed: a real file on disk
	}
	// Leftovers of a crashed process, including a directory.
	os.WriteFile(filepath.Join(s.tmp, "0123456789abcdef.123"), []byte("partial"), 0o600)
	os.MkdirAll(filepath.Join(s.tmp, "junk", "deeper"), 0o700)
	if n := len(tmpNames(t, s)); n != 5 {
		t.Fatalf("%d temporary entries before Sweep, want 5", n)
	}
	if err := s.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if names := tmpNames(t, s); len(names) != 0 {
		t.Errorf("after Sweep: %v", names)
	}
}

func TestOpenRefusesFileAsTmp(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tmp"), []byte("x"), 0o600)
	if _, err := Open(dir); err == nil {
		t.Error("Open accepted a directory whose tmp is a file")
	}
}

// The failure tests use real operating-system errors where the test can
// provoke them as root (a path component that is a file, a file-size
// limit) and an injected file for the errors it cannot (ENOSPC, EIO).

// TestDirReplacedByFile: the store's directory is gone and a file sits in
// its place (a volume unmounted under a running server): Create fails with
// the OS error and nothing is left behind once the directory is back.
func TestDirReplacedByFile(t *testing.T) {
	s := openTemp(t)
	moved := s.dir + ".moved"
	if err := os.Rename(s.dir, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.dir, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	id := blobtest.NewID()
	w, err := s.Create(t.Context(), id)
	if err == nil {
		w.Abort()
		t.Fatal("Create succeeded with the store directory replaced by a file")
	}
	if !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("Create error %v does not wrap ENOTDIR", err)
	}
	if err := s.List(t.Context(), func(string) error { return nil }); err == nil {
		t.Error("List succeeded on a file")
	}
	if _, err := s.Open(t.Context(), id); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Open = %v, want ErrNotFound", err)
	}
	os.Remove(s.dir)
	if err := os.Rename(moved, s.dir); err != nil {
		t.Fatal(err)
	}
	expectClean(t, s, id)
}

// TestCommitFailsOnBlockedFanout: the fan-out directory cannot be created
// (a file holds its name), so the rename fails: Commit returns the OS
// error, the temporary file is removed, nothing is visible.
func TestCommitFailsOnBlockedFanout(t *testing.T) {
	s := openTemp(t)
	id := "cd" + blobtest.NewID()
	if err := os.WriteFile(filepath.Join(s.dir, "cd"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := s.Create(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(blobtest.Payload(3000))
	err = w.Commit()
	if err == nil {
		t.Fatal("Commit succeeded into a blocked fan-out directory")
	}
	if !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("Commit error %v does not wrap ENOTDIR", err)
	}
	os.Remove(filepath.Join(s.dir, "cd"))
	expectClean(t, s, id)
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after a failed Commit: %v", err)
	}
}

// TestFileSizeLimit provokes a real write error from the kernel: with
// RLIMIT_FSIZE lowered, writing past the limit fails with EFBIG (Go
// ignores the SIGXFSZ that comes with it). The limit is process-wide, so
// this test must not run in parallel with others.
func TestFileSizeLimit(t *testing.T) {
	s := openTemp(t)
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	lim := old
	lim.Cur = 1 << 20
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
				t.Fatalf("restore RLIMIT_FSIZE: %v", err)
			}
		}
	}
	defer restore()

	id := blobtest.NewID()
	w, err := s.Create(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	data := blobtest.Payload(3 << 20)
	var werr error
	for off := 0; off < len(data) && werr == nil; off += 256 << 10 {
		_, werr = w.Write(data[off : off+256<<10])
	}
	cerr := w.Commit()
	restore()
	if cerr == nil {
		t.Fatal("Commit succeeded past the file size limit")
	}
	if !errors.Is(cerr, syscall.EFBIG) {
		t.Errorf("Commit error %v (write error %v) does not wrap EFBIG", cerr, werr)
	}
	expectClean(t, s, id)
}

// failingFile wraps a real temporary file and fails as a full or broken
// disk would.
type failingFile struct {
	*os.File
	room    int   // bytes accepted before Write fails with ENOSPC
	syncErr error // returned by Sync
}

func (f *failingFile) Write(p []byte) (int, error) {
	if len(p) > f.room {
		n, _ := f.File.Write(p[:f.room])
		f.room = 0
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	f.room -= len(p)
	return f.File.Write(p)
}

func (f *failingFile) Sync() error {
	if f.syncErr != nil {
		return &os.PathError{Op: "sync", Path: f.Name(), Err: f.syncErr}
	}
	return f.File.Sync()
}

func TestInjectedDiskErrors(t *testing.T) {
	cases := []struct {
		name    string
		room    int
		syncErr error
		size    int
		want    error
	}{
		{"no space while buffering", 100, nil, 3 << 20, syscall.ENOSPC},
		{"no space at flush", 100, nil, 4000, syscall.ENOSPC},
		{"sync fails", 1 << 30, syscall.EIO, 4000, syscall.EIO},
		{"read-only at sync", 1 << 30, syscall.EROFS, 10, syscall.EROFS},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := openTemp(t)
			s.createTemp = func(dir, pattern string) (file, error) {
				f, err := os.CreateTemp(dir, pattern)
				if err != nil {
					return nil, err
				}
				return &failingFile{File: f, room: c.room, syncErr: c.syncErr}, nil
			}
			id := blobtest.NewID()
			w, err := s.Create(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			data := blobtest.Payload(c.size)
			var werr error
			for off := 0; off < len(data) && werr == nil; off += 64 << 10 {
				_, werr = w.Write(data[off:min(off+64<<10, len(data))])
			}
			if werr != nil && !errors.Is(werr, c.want) {
				t.Errorf("Write error %v does not wrap %v", werr, c.want)
			}
			err = w.Commit()
			if !errors.Is(err, c.want) {
				t.Errorf("Commit = %v, want an error wrapping %v", err, c.want)
			}
			expectClean(t, s, id)
		})
	}
}

// TestReadOnlyDir uses permissions, which bind only a non-root user.
func TestReadOnlyDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions; TestDirReplacedByFile, TestFileSizeLimit and TestInjectedDiskErrors cover the failure paths")
	}
	s := openTemp(t)
	os.Chmod(s.tmp, 0o500)
	defer os.Chmod(s.tmp, 0o700)
	id := blobtest.NewID()
	w, err := s.Create(t.Context(), id)
	if err == nil {
		w.Abort()
		t.Fatal("Create succeeded in a read-only directory")
	}
	if !errors.Is(err, syscall.EACCES) {
		t.Errorf("Create error %v does not wrap EACCES", err)
	}
	os.Chmod(s.tmp, 0o700)
	expectClean(t, s, id)
}

func BenchmarkSmallBlobs(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	data := blobtest.Payload(4096)
	b.SetBytes(int64(len(data)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w, err := s.Create(b.Context(), blobtest.NewID())
			if err != nil {
				b.Error(err)
				return
			}
			w.Write(data)
			if err := w.Commit(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestDirectWrites proves the O_DIRECT path (aligned body, then an
// unaligned tail written after O_DIRECT is switched off) stores every size
// exactly, on a filesystem that accepts O_DIRECT.
func TestDirectWrites(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	sizes := []int{1, align - 1, align, align + 1, bufSize - 1, bufSize, bufSize + align + 7, 3*bufSize + 5}
	for i, size := range sizes {
		id := blobtest.NewID()
		w, err := s.Create(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !w.(*writer).direct {
			w.Abort()
			t.Skip("this filesystem refuses O_DIRECT; the buffered path is covered by the conformance suite")
		}
		want := bytes.Repeat([]byte{byte(i + 1), 0x5a, byte(size)}, size/3+1)[:size]
		// Uneven write sizes, so buffer boundaries fall everywhere.
		for p, step := want, 1; len(p) > 0; step = step*3 + 1 {
			n := min(step, len(p))
			if _, err := w.Write(p[:n]); err != nil {
				t.Fatal(err)
			}
			p = p[n:]
		}
		if err := w.Commit(); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		got, err := os.ReadFile(s.path(id))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("size %d: stored %d bytes that differ from what was written", size, len(got))
		}
	}
}
