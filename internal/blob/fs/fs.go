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
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"github.com/coffer-vault/coffer/internal/blob"

	"golang.org/x/sys/unix"
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
		dir:        dir,
		tmp:        tmp,
		createTemp: createDirect,
	}
	s.bufs.New = func() any { return newAlignedBuf() }
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
	w := &writer{s: s, id: id, f: f, buf: s.bufs.Get().(*alignedBuf)}
	if fd, ok := f.(fder); ok {
		flags, err := unix.FcntlInt(fd.Fd(), unix.F_GETFL, 0)
		w.direct = err == nil && flags&unix.O_DIRECT != 0
	}
	return w, nil
}

// align is the alignment O_DIRECT needs of memory, offsets and lengths.
const align = 4096

// alignedBuf is a bufSize write buffer whose memory starts on an align
// boundary, so it can be written with O_DIRECT.
type alignedBuf struct {
	b []byte
	n int // bytes filled
}

func newAlignedBuf() *alignedBuf {
	raw := make([]byte, bufSize+align)
	off := 0
	if r := int(uintptr(unsafe.Pointer(&raw[0])) & (align - 1)); r != 0 {
		off = align - r
	}
	return &alignedBuf{b: raw[off : off+bufSize]}
}

// createDirect creates a temporary file for writing with O_DIRECT, so a
// large blob goes from the sealing buffer to the disk without being copied
// through the page cache (as MinIO writes its parts); where the filesystem
// refuses O_DIRECT (tmpfs), it falls back to a plain file.
func createDirect(dir, pattern string) (file, error) {
	var rnd [8]byte
	rand.Read(rnd[:])
	name := filepath.Join(dir, strings.Replace(pattern, "*", hex.EncodeToString(rnd[:]), 1))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_DIRECT, 0o600)
	if errors.Is(err, unix.EINVAL) {
		f, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	}
	return f, err
}

// writer writes one blob. It is not safe for concurrent use.
type writer struct {
	s      *Store
	id     string
	f      file
	buf    *alignedBuf
	direct bool  // f was opened with O_DIRECT
	err    error // sticky write error
	done   bool  // committed or aborted

	written int64 // bytes accepted by Write
	queued  int64 // bytes already handed to the kernel's writeback
}

// writebackEvery is how many bytes a writer lets the page cache collect
// before it asks the kernel to start writing them back (sync_file_range,
// without waiting). A large blob then reaches the disk while it streams in,
// and the fsync at Commit has little left to do, instead of flushing a
// whole object after the last byte (the way RocksDB's bytes_per_sync works).
const writebackEvery = 8 << 20

// fder is an *os.File's descriptor accessor.
type fder interface{ Fd() uintptr }

func (w *writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("blob/fs: write %s: writer closed", w.id)
	}
	if w.err != nil {
		return 0, w.err
	}
	total := len(p)
	for len(p) > 0 {
		c := copy(w.buf.b[w.buf.n:], p)
		w.buf.n += c
		p = p[c:]
		if w.buf.n == len(w.buf.b) {
			if err := w.flush(w.buf.n); err != nil {
				w.err = fmt.Errorf("blob/fs: write %s: %w", w.id, err)
				return total - len(p), w.err
			}
		}
	}
	return total, nil
}

// flush writes the first n buffered bytes (n a multiple of align unless the
// file is not direct) and keeps the rest at the start of the buffer.
func (w *writer) flush(n int) error {
	if n == 0 {
		return nil
	}
	if _, err := w.f.Write(w.buf.b[:n]); err != nil {
		return err
	}
	w.written += int64(n)
	w.buf.n = copy(w.buf.b, w.buf.b[n:w.buf.n])
	if !w.direct && w.written-w.queued >= writebackEvery {
		if f, ok := w.f.(fder); ok {
			// Only a hint: an error here changes nothing, Commit's fsync decides.
			_ = unix.SyncFileRange(int(f.Fd()), w.queued, w.written-w.queued, unix.SYNC_FILE_RANGE_WRITE)
		}
		w.queued = w.written
	}
	return nil
}

// flushTail writes whatever is buffered. With O_DIRECT the aligned part
// goes first; the unaligned tail is written after O_DIRECT is switched off.
func (w *writer) flushTail() error {
	if !w.direct {
		return w.flush(w.buf.n)
	}
	if err := w.flush(w.buf.n &^ (align - 1)); err != nil {
		return err
	}
	if w.buf.n == 0 {
		return nil
	}
	fd := w.f.(fder).Fd()
	flags, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	if _, err := unix.FcntlInt(fd, unix.F_SETFL, flags&^unix.O_DIRECT); err != nil {
		return err
	}
	w.direct = false
	return w.flush(w.buf.n)
}

// release returns the buffer to the pool, dropping its reference to the file.
func (w *writer) release() {
	if w.buf != nil {
		w.buf.n = 0
		w.s.bufs.Put(w.buf)
		w.buf = nil
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
	if err := w.flushTail(); err != nil {
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
	// Objects are mostly read front to back: ask for a larger readahead
	// (only a hint; blobs are written with O_DIRECT, so a fresh one is not
	// in the page cache).
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_SEQUENTIAL)
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
