// Package fs implements blob.Store on a local directory, the embedded
// default.
//
// Layout:
//
//	<dir>/<id[0:2]>/<id>   committed blobs, fanned out by the first two hex digits
//	<dir>/tmp/             blobs being written, under unique temporary names
//
// A blob is written to a temporary file through a 1 MiB buffer; Commit
// flushes it, fsyncs the file, renames it into place and fsyncs the
// fan-out directory, so a committed blob survives a crash and an
// uncommitted one is never visible under its id. A fan-out directory is
// created on demand and its parent fsynced when it is. Blob ids are
// validated with blob.ValidID before any path is built from them.
//
// Errors from the operating system (ENOSPC, EROFS, EACCES, ...) are
// returned wrapped, so errors.Is(err, syscall.ENOSPC) works for callers
// that map them to S3 errors.
package fs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/coffer-vault/coffer/internal/blob"
)

const (
	// bufSize is the write buffer: big enough that sealed segments reach
	// the disk in few large writes.
	bufSize = 1 << 20
	tmpDir  = "tmp"
)

// file is what a Writer needs of its temporary file; tests substitute one
// that fails.
type file interface {
	io.Writer
	Sync() error
	Close() error
	Name() string
}

// Store is a blob.Store on a directory. It is safe for concurrent use.
type Store struct {
	dir string
	tmp string
	// bufs recycles write buffers, so many small blobs do not each
	// allocate 1 MiB.
	bufs sync.Pool
	// createTemp creates a temporary file in dir; os.CreateTemp unless a
	// test injects failures.
	createTemp func(dir, pattern string) (file, error)
}

var _ blob.Store = (*Store)(nil)

// Open returns a Store on dir, creating dir and dir/tmp if needed.
func Open(dir string) (*Store, error) {
	dir = filepath.Clean(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("blob/fs: open %s: %w", dir, err)
	}
	tmp := filepath.Join(dir, tmpDir)
	switch err := os.Mkdir(tmp, 0o700); {
	case err == nil:
		if err := syncDir(dir); err != nil {
			return nil, fmt.Errorf("blob/fs: open %s: %w", dir, err)
		}
	case errors.Is(err, fs.ErrExist):
		if fi, err := os.Stat(tmp); err != nil {
			return nil, fmt.Errorf("blob/fs: open %s: %w", dir, err)
		} else if !fi.IsDir() {
			return nil, fmt.Errorf("blob/fs: open %s: %s is not a directory", dir, tmp)
		}
	default:
		return nil, fmt.Errorf("blob/fs: open %s: %w", dir, err)
	}
	s := &Store{
		dir: dir,
		tmp: tmp,
		createTemp: func(dir, pattern string) (file, error) {
			return os.CreateTemp(dir, pattern)
		},
	}
	s.bufs.New = func() any { return bufio.NewWriterSize(nil, bufSize) }
	return s, nil
}

// path returns where blob id lives once committed. id must be valid.
func (s *Store) path(id string) string {
	return filepath.Join(s.dir, id[:2], id)
}

func checkID(op, id string) error {
	if !blob.ValidID(id) {
		return fmt.Errorf("blob/fs: %s %q: %w", op, id, blob.ErrInvalidID)
	}
	return nil
}

// Create starts writing blob id into a temporary file.
func (s *Store) Create(ctx context.Context, id string) (blob.Writer, error) {
	if err := checkID("create", id); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blob/fs: create %s: %w", id, err)
	}
	f, err := s.createTemp(s.tmp, id+".*")
	if err != nil {
		return nil, fmt.Errorf("blob/fs: create %s: %w", id, err)
	}
	bw := s.bufs.Get().(*bufio.Writer)
	bw.Reset(f)
	return &writer{s: s, id: id, f: f, bw: bw}, nil
}

// writer writes one blob. It is not safe for concurrent use.
type writer struct {
	s    *Store
	id   string
	f    file
	bw   *bufio.Writer
	err  error // sticky write error
	done bool  // committed or aborted
}

func (w *writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("blob/fs: write %s: writer closed", w.id)
	}
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.bw.Write(p)
	if err != nil {
		w.err = fmt.Errorf("blob/fs: write %s: %w", w.id, err)
		return n, w.err
	}
	return n, nil
}

// release returns the buffer to the pool, dropping its reference to the file.
func (w *writer) release() {
	if w.bw != nil {
		w.bw.Reset(nil)
		w.s.bufs.Put(w.bw)
		w.bw = nil
	}
}

// Commit flushes, fsyncs, and renames the blob into place, then fsyncs
// the directory that now holds it. On any failure the temporary file is
// removed and nothing is visible under the id.
func (w *writer) Commit() error {
	if w.done {
		return fmt.Errorf("blob/fs: commit %s: writer closed", w.id)
	}
	w.done = true
	err := w.commit()
	if err != nil {
		os.Remove(w.f.Name())
		return fmt.Errorf("blob/fs: commit %s: %w", w.id, err)
	}
	return nil
}

func (w *writer) commit() error {
	defer w.release()
	if w.err != nil {
		w.f.Close()
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		w.f.Close()
		return err
	}
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		return err
	}
	if err := w.f.Close(); err != nil {
		return err
	}
	fan := filepath.Join(w.s.dir, w.id[:2])
	switch err := os.Mkdir(fan, 0o700); {
	case err == nil:
		// The new directory entry must itself be durable.
		if err := syncDir(w.s.dir); err != nil {
			return err
		}
	case errors.Is(err, fs.ErrExist):
	default:
		return err
	}
	final := w.s.path(w.id)
	if err := os.Rename(w.f.Name(), final); err != nil {
		return err
	}
	if err := syncDir(fan); err != nil {
		// Visible but maybe not durable: take it back rather than let the
		// caller build on it.
		os.Remove(final)
		return err
	}
	return nil
}

// Abort discards the blob; after Commit it does nothing.
func (w *writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.release()
	cerr := w.f.Close()
	if err := os.Remove(w.f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob/fs: abort %s: %w", w.id, err)
	}
	_ = cerr // the data is being thrown away; a close error changes nothing
	return nil
}

// reader is a committed blob open for reading.
type reader struct {
	*os.File
	size int64
}

func (r *reader) Size() int64 { return r.size }

// Open opens committed blob id; blob.ErrNotFound if there is none.
func (s *Store) Open(ctx context.Context, id string) (blob.Reader, error) {
	if err := checkID("open", id); err != nil {
		return nil, err
	}
	f, err := os.Open(s.path(id))
	if notExist(err) {
		return nil, fmt.Errorf("blob/fs: open %s: %w", id, blob.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blob/fs: open %s: %w", id, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("blob/fs: open %s: %w", id, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("blob/fs: open %s: not a regular file", id)
	}
	return &reader{File: f, size: fi.Size()}, nil
}

// Delete removes blob id durably; blob.ErrNotFound if there is none.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := checkID("delete", id); err != nil {
		return err
	}
	err := os.Remove(s.path(id))
	if notExist(err) {
		return fmt.Errorf("blob/fs: delete %s: %w", id, blob.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("blob/fs: delete %s: %w", id, err)
	}
	if err := syncDir(filepath.Join(s.dir, id[:2])); err != nil {
		return fmt.Errorf("blob/fs: delete %s: %w", id, err)
	}
	return nil
}

// List calls fn for every committed blob, in id order. Entries that are not
// blobs (tmp, stray files) are skipped. An error from fn stops the walk and
// is returned as is.
func (s *Store) List(ctx context.Context, fn func(id string) error) error {
	fans, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("blob/fs: list: %w", err)
	}
	for _, fan := range fans {
		name := fan.Name()
		if !fan.IsDir() || len(name) != 2 || !isHex(name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("blob/fs: list: %w", err)
		}
		ents, err := os.ReadDir(filepath.Join(s.dir, name))
		if err != nil {
			return fmt.Errorf("blob/fs: list: %w", err)
		}
		for _, e := range ents {
			id := e.Name()
			if !e.Type().IsRegular() || !blob.ValidID(id) || id[:2] != name {
				continue
			}
			if err := fn(id); err != nil {
				return err
			}
		}
	}
	return nil
}

// Sweep removes everything in the temporary directory. Call it before any
// Create, at start.
func (s *Store) Sweep(ctx context.Context) error {
	ents, err := os.ReadDir(s.tmp)
	if err != nil {
		return fmt.Errorf("blob/fs: sweep: %w", err)
	}
	var errs []error
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("blob/fs: sweep: %w", err)
		}
		if err := os.RemoveAll(filepath.Join(s.tmp, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("blob/fs: sweep: %w", err)
	}
	return nil
}

// notExist reports whether err says a path is absent, including a path
// whose fan-out directory is not a directory (nothing can be stored there).
func notExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// syncDir fsyncs a directory so that entries created, renamed or removed in
// it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
