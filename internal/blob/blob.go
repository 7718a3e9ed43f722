// Package blob owns where ciphertext lives. A blob is an immutable byte
// string named by an opaque id chosen by the caller (never an object key, so
// no user input ever becomes a path). Implementations live in their own
// folders (fs is the embedded default, s3 arrives at scale) and pass the
// shared conformance suite in blobtest.
package blob

import (
	"context"
	"errors"
	"io"
)

// ErrNotFound is returned for a blob id that does not exist.
var ErrNotFound = errors.New("blob: not found")

// ErrInvalidID is returned for an id that is not 16 to 64 lowercase hex characters.
var ErrInvalidID = errors.New("blob: invalid id")

// Store holds blobs.
type Store interface {
	// Create starts writing a new blob. Nothing is visible under id until
	// Commit returns nil; Abort (or a crash) leaves nothing behind but
	// temporary files that Sweep removes.
	Create(ctx context.Context, id string) (Writer, error)
	// Open returns a reader over a committed blob.
	Open(ctx context.Context, id string) (Reader, error)
	// Delete removes a blob; ErrNotFound if it does not exist.
	Delete(ctx context.Context, id string) error
	// List calls fn for every committed blob id.
	List(ctx context.Context, fn func(id string) error) error
	// Sweep removes temporary files of uncommitted writes. Call it at start,
	// before serving.
	Sweep(ctx context.Context) error
}

// Writer receives a blob's bytes.
type Writer interface {
	io.Writer
	// Commit makes the blob durable (data fsynced) and visible atomically.
	Commit() error
	// Abort discards the blob. Safe to call after Commit (no-op).
	Abort() error
}

// Reader reads a committed blob.
type Reader interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// ValidID reports whether id is an acceptable blob id.
func ValidID(id string) bool {
	if len(id) < 16 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
