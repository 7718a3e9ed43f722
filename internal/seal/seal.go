// Package seal owns Coffer's keys and encryption at rest: the root key, the
// versioned keyring of key-encryption keys (KEKs), per-object data keys
// (DEKs) and the segmented stream format object data is sealed in.
//
// # Key hierarchy
//
// root key (file, 0600) -> KEK versions (stored wrapped by the root key
// through a KEKStore) -> one random DEK per sealed segment (stored wrapped by
// a KEK, with the blob id as associated data) -> object data, sealed with
// DARE 2.0 (github.com/minio/sio) under a key derived from the DEK and the
// object's Binding, so ciphertext moved to another name fails to open.
//
// Rotating the keyring adds a KEK version; wrapped DEKs are moved to it with
// [Keyring.RewrapDEK]. Object data is never re-encrypted. Deleting a wrapped
// DEK destroys the object (crypto-shredding).
//
// # Formats
//
// Root key file: exactly 32 random bytes, mode 0600 (see rootkey.go).
//
// Wrapped KEK ([StoredKEK].Wrapped): nonce (12 bytes) || AES-256-GCM
// ciphertext and tag of the 32-byte KEK under the root key, with associated
// data "coffer/kek/v1" || 0x00 || version (uint32, big endian).
//
// Wrapped DEK and sealed secret (see keyring.go):
//
//	version (uint32, big endian) || nonce (12 bytes) || ciphertext || tag (16 bytes)
//
// sealed with AES-256-GCM under KEK version, with associated data
// domain || 0x00 || version (4 bytes) || caller's ad, where domain is
// "coffer/dek/v1" for DEKs and "coffer/secret/v1" for small secrets, so one
// can never be opened as the other. Nonces are random: a KEK should be
// rotated well before it has wrapped 2^32 values.
//
// Sealed object stream (see stream.go): DARE 2.0 exactly as minio/sio
// writes it: packages of 64 KiB plaintext, each a 16-byte header, the
// ciphertext and a 16-byte tag; the package sequence number is mixed into
// the nonce and the last package carries a final flag, so truncation,
// reordering and dropping packages are detected. The cipher suite is
// AES-256-GCM on CPUs with AES hardware and ChaCha20-Poly1305 otherwise;
// readers accept both. The sio key is
//
//	HKDF-SHA256(secret = DEK, salt = none, info = "coffer/object/v1" ||
//	    len(Bucket) || Bucket || len(Key) || Key ||
//	    len(VersionID) || VersionID || Part)
//
// with lengths and Part as 8-byte big-endian integers. An empty object is an
// empty stream: zero ciphertext bytes.
//
// # Errors
//
// Every authentication failure wraps [ErrIntegrity]; a wrapped value that
// names a KEK version the keyring lacks wraps [ErrUnknownKEK]. Errors never
// contain key material.
package seal

import (
	"errors"
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
