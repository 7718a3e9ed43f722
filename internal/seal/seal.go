// Package seal owns Coffer's keys and encryption at rest: the root key, the
// versioned keyring of key-encryption keys (KEKs), per-object data keys
// (DEKs) and the segmented stream format object data is sealed in.
//
// Key hierarchy: root key (file, 0600) -> KEK versions (stored wrapped by the
// root key through a KEKStore) -> one random DEK per sealed segment (stored
// wrapped by a KEK, with the blob id as associated data) -> object data,
// sealed with DARE 2.0 (github.com/minio/sio: AES-256-GCM, 64 KiB packages,
// sequence number and final flag authenticated) under a key derived from the
// DEK and the object's Binding, so ciphertext moved to another name fails.
package seal

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrIntegrity reports ciphertext that fails authentication: tampered,
// truncated, reordered, swapped or opened under the wrong name or key.
var ErrIntegrity = errors.New("seal: integrity check failed")

// ErrUnknownKEK reports a wrapped key that names a KEK version the keyring lacks.
var ErrUnknownKEK = errors.New("seal: unknown key version")

// RootKey is the 256-bit key at the top of the hierarchy.
type RootKey [32]byte

// DEK is a 256-bit data key.
type DEK [32]byte

// StoredKEK is one KEK version wrapped by the root key.
type StoredKEK struct {
	Version int
	Wrapped []byte
	Created time.Time
}

// KEKStore persists wrapped KEKs. meta.Store implementations satisfy it
// through a small adapter in the server.
type KEKStore interface {
	ListKEKs(ctx context.Context) ([]StoredKEK, error)
	PutKEK(ctx context.Context, k StoredKEK) error
}

// KEKInfo describes one KEK version.
type KEKInfo struct {
	Version int
	Created time.Time
	Current bool
}

// Binding names what a sealed stream belongs to. It is bound into the key
// the stream is sealed under.
type Binding struct {
	Bucket    string
	Key       string
	VersionID string
	Part      int
}

// PackageSize is the plaintext size of one sealed package (DARE 2.0).
const PackageSize = 64 << 10

// LoadOrCreateRootKey reads the root key file at path, or creates it (random,
// mode 0600, fsynced) when it does not exist. It refuses a file with group or
// other permissions or of the wrong length.
func LoadOrCreateRootKey(path string) (k RootKey, created bool, err error) {
	panic("not implemented")
}

// Keyring holds the unwrapped KEKs in memory. It is safe for concurrent use.
type Keyring struct{}

// NewKeyring loads every KEK version from store (creating version 1 when the
// store holds none) and unwraps them with root.
func NewKeyring(ctx context.Context, root RootKey, store KEKStore) (*Keyring, error) {
	panic("not implemented")
}

// Current returns the KEK version new keys are wrapped with.
func (k *Keyring) Current() int { panic("not implemented") }

// Versions lists the KEK versions, oldest first.
func (k *Keyring) Versions() []KEKInfo { panic("not implemented") }

// Rotate creates, stores and switches to a new KEK version.
func (k *Keyring) Rotate(ctx context.Context) (int, error) { panic("not implemented") }

// NewDEK returns a random DEK and its wrapping under the current KEK with
// associated data ad (the blob id).
func (k *Keyring) NewDEK(ad []byte) (DEK, []byte, error) { panic("not implemented") }

// UnwrapDEK opens a wrapped DEK. ErrIntegrity if it fails to open.
func (k *Keyring) UnwrapDEK(wrapped, ad []byte) (DEK, error) { panic("not implemented") }

// RewrapDEK re-wraps a wrapped DEK under the current KEK and returns the new
// wrapping and its version.
func (k *Keyring) RewrapDEK(wrapped, ad []byte) ([]byte, int, error) { panic("not implemented") }

// WrappedVersion returns the KEK version a wrapped key or sealed value names.
func WrappedVersion(wrapped []byte) (int, error) { panic("not implemented") }

// Seal encrypts a small secret (an S3 secret key, user metadata) under the
// current KEK with associated data ad.
func (k *Keyring) Seal(plaintext, ad []byte) ([]byte, error) { panic("not implemented") }

// Open decrypts what Seal produced. ErrIntegrity if it fails to open.
func (k *Keyring) Open(sealed, ad []byte) ([]byte, error) { panic("not implemented") }

// CiphertextSize returns the sealed size of plain plaintext bytes.
func CiphertextSize(plain int64) int64 { panic("not implemented") }

// EncryptWriter returns a writer that seals what is written to it into dst.
// Close must be called to write the final package; it does not close dst.
func EncryptWriter(dst io.Writer, dek DEK, b Binding) (io.WriteCloser, error) {
	panic("not implemented")
}

// DecryptRange returns a reader of plaintext bytes [off, off+length) of a
// stream of plainSize bytes sealed in src. It reads and decrypts only the
// packages that cover the range. Reads fail with ErrIntegrity on tampering.
func DecryptRange(src io.ReaderAt, plainSize int64, dek DEK, b Binding, off, length int64) (io.Reader, error) {
	panic("not implemented")
}
