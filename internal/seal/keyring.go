package seal

// The keyring: versioned KEKs, each 32 random bytes wrapped by the root key
// and persisted through a KEKStore. New DEKs and small secrets are sealed
// under the current (highest) version; older versions stay loaded so that
// everything they wrapped can still be opened until it is rewrapped.

import (
	"cmp"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// StoredKEK is one KEK version wrapped by the root key.
type StoredKEK struct {
	Version int
	Wrapped []byte
	Created time.Time
}

// KEKStore persists wrapped KEKs. meta.Store implementations satisfy it
// through a small adapter in the server.
//
// PutKEK should fail when the version already exists, so that two processes
// rotating at once cannot both install the same version.
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

// Domain strings separate what each key wraps; they are part of the
// associated data, never of the ciphertext.
const (
	kekDomain    = "coffer/kek/v1"
	dekDomain    = "coffer/dek/v1"
	secretDomain = "coffer/secret/v1"
)

const (
	kekSize      = 32
	versionSize  = 4
	gcmNonceSize = 12
	gcmTagSize   = 16
	// wrapOverhead is what a wrapped DEK or sealed secret adds to its
	// plaintext: version, nonce and tag.
	wrapOverhead = versionSize + gcmNonceSize + gcmTagSize
	// maxKEKVersion keeps versions representable both in the 4-byte prefix
	// and in an int on 32-bit platforms.
	maxKEKVersion = math.MaxInt32
)

// kek is one unwrapped KEK, held only as a ready AEAD.
type kek struct {
	aead    cipher.AEAD
	created time.Time
}

// Keyring holds the unwrapped KEKs in memory. It is safe for concurrent use.
// Create it with NewKeyring.
type Keyring struct {
	store KEKStore
	root  cipher.AEAD // the root key, as AES-256-GCM

	rotateMu sync.Mutex // serializes Rotate and Reload

	mu      sync.RWMutex // guards keks and current
	keks    map[int]kek
	current int
}

// NewKeyring loads every KEK version from store (creating version 1 when the
// store holds none) and unwraps them with root.
func NewKeyring(ctx context.Context, root RootKey, store KEKStore) (*Keyring, error) {
	if store == nil {
		return nil, errors.New("seal: new keyring: nil KEKStore")
	}
	rootAEAD, err := newGCM(root[:])
	if err != nil {
		return nil, fmt.Errorf("seal: new keyring: %w", err)
	}
	k := &Keyring{store: store, root: rootAEAD, keks: make(map[int]kek)}
	if err := k.load(ctx); err != nil {
		return nil, err
	}
	k.mu.RLock()
	empty := len(k.keks) == 0
	k.mu.RUnlock()
	if empty {
		if _, err := k.add(ctx, 1); err != nil {
			return nil, fmt.Errorf("seal: new keyring: %w", err)
		}
	}
	return k, nil
}

// Reload reads the store again and loads KEK versions added since (by
// another process sharing the store), switching to the highest version.
// Versions already loaded are kept as they are.
func (k *Keyring) Reload(ctx context.Context) error {
	if k.root == nil {
		return errors.New("seal: reload keyring: keyring not created with NewKeyring")
	}
	k.rotateMu.Lock()
	defer k.rotateMu.Unlock()
	return k.load(ctx)
}

// load unwraps every stored version the keyring does not hold yet. It
// installs nothing unless every new version unwraps.
func (k *Keyring) load(ctx context.Context) error {
	stored, err := k.store.ListKEKs(ctx)
	if err != nil {
		return fmt.Errorf("seal: load keyring: %w", err)
	}
	k.mu.RLock()
	have := make(map[int]bool, len(k.keks))
	for v := range k.keks {
		have[v] = true
	}
	k.mu.RUnlock()

	loaded := make(map[int]kek, len(stored))
	for _, s := range stored {
		if s.Version < 1 || s.Version > maxKEKVersion {
			return fmt.Errorf("seal: load keyring: invalid KEK version %d in store", s.Version)
		}
		if _, dup := loaded[s.Version]; dup {
			return fmt.Errorf("seal: load keyring: KEK version %d stored twice", s.Version)
		}
		if have[s.Version] {
			loaded[s.Version] = kek{}
			continue
		}
		key, err := unwrapKEK(k.root, s.Version, s.Wrapped)
		if err != nil {
			return fmt.Errorf("seal: load keyring: root key does not open KEK version %d (wrong root key or tampered store): %w", s.Version, err)
		}
		aead, err := newGCM(key)
		clear(key)
		if err != nil {
			return fmt.Errorf("seal: load keyring: KEK version %d: %w", s.Version, err)
		}
		loaded[s.Version] = kek{aead: aead, created: s.Created}
	}

	k.mu.Lock()
	defer k.mu.Unlock()
	for v, e := range loaded {
		if e.aead == nil {
			continue // already held
		}
		k.keks[v] = e
		k.current = max(k.current, v)
	}
	return nil
}

// add creates KEK version v, persists it and only then makes it current.
// The caller holds rotateMu or owns k exclusively.
func (k *Keyring) add(ctx context.Context, v int) (int, error) {
	if v > maxKEKVersion {
		return 0, fmt.Errorf("KEK version %d exceeds the maximum %d", v, maxKEKVersion)
	}
	key := make([]byte, kekSize)
	defer clear(key)
	if _, err := rand.Read(key); err != nil {
		return 0, fmt.Errorf("generate KEK version %d: %w", v, err)
	}
	aead, err := newGCM(key)
	if err != nil {
		return 0, fmt.Errorf("KEK version %d: %w", v, err)
	}
	wrapped, err := wrapKEK(k.root, v, key)
	if err != nil {
		return 0, fmt.Errorf("wrap KEK version %d: %w", v, err)
	}
	created := time.Now().UTC()
	if err := k.store.PutKEK(ctx, StoredKEK{Version: v, Wrapped: wrapped, Created: created}); err != nil {
		return 0, fmt.Errorf("store KEK version %d: %w", v, err)
	}
	k.mu.Lock()
	k.keks[v] = kek{aead: aead, created: created}
	k.current = max(k.current, v)
	k.mu.Unlock()
	return v, nil
}

// Current returns the KEK version new keys are wrapped with.
func (k *Keyring) Current() int {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.current
}

// Versions lists the KEK versions, oldest first.
func (k *Keyring) Versions() []KEKInfo {
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := make([]KEKInfo, 0, len(k.keks))
	for v, e := range k.keks {
		out = append(out, KEKInfo{Version: v, Created: e.created, Current: v == k.current})
	}
	slices.SortFunc(out, func(a, b KEKInfo) int { return cmp.Compare(a.Version, b.Version) })
	return out
}

// Rotate creates, stores and switches to a new KEK version.
func (k *Keyring) Rotate(ctx context.Context) (int, error) {
	if k.root == nil {
		return 0, errors.New("seal: rotate: keyring not created with NewKeyring")
	}
	k.rotateMu.Lock()
	defer k.rotateMu.Unlock()
	v, err := k.add(ctx, k.Current()+1)
	if err != nil {
		return 0, fmt.Errorf("seal: rotate: %w", err)
	}
	return v, nil
}

// NewDEK returns a random DEK and its wrapping under the current KEK with
// associated data ad (the blob id).
func (k *Keyring) NewDEK(ad []byte) (DEK, []byte, error) {
	var dek DEK
	if _, err := rand.Read(dek[:]); err != nil {
		return DEK{}, nil, fmt.Errorf("seal: generate DEK: %w", err)
	}
	wrapped, _, err := k.seal(dekDomain, dek[:], ad)
	if err != nil {
		return DEK{}, nil, fmt.Errorf("seal: wrap DEK: %w", err)
	}
	return dek, wrapped, nil
}

// UnwrapDEK opens a wrapped DEK. ErrIntegrity if it fails to open.
func (k *Keyring) UnwrapDEK(wrapped, ad []byte) (DEK, error) {
	pt, err := k.open(dekDomain, wrapped, ad)
	if err != nil {
		return DEK{}, fmt.Errorf("seal: unwrap DEK: %w", err)
	}
	defer clear(pt)
	var dek DEK
	if len(pt) != len(dek) {
		return DEK{}, fmt.Errorf("seal: unwrap DEK: %w: key is %d bytes", ErrIntegrity, len(pt))
	}
	copy(dek[:], pt)
	return dek, nil
}

// RewrapDEK re-wraps a wrapped DEK under the current KEK and returns the new
// wrapping and its version. It always produces a fresh wrapping, even when
// wrapped already names the current version; callers that want to skip those
// compare WrappedVersion with Current first.
func (k *Keyring) RewrapDEK(wrapped, ad []byte) ([]byte, int, error) {
	pt, err := k.open(dekDomain, wrapped, ad)
	if err != nil {
		return nil, 0, fmt.Errorf("seal: rewrap DEK: %w", err)
	}
	defer clear(pt)
	if len(pt) != len(DEK{}) {
		return nil, 0, fmt.Errorf("seal: rewrap DEK: %w: key is %d bytes", ErrIntegrity, len(pt))
	}
	out, v, err := k.seal(dekDomain, pt, ad)
	if err != nil {
		return nil, 0, fmt.Errorf("seal: rewrap DEK: %w", err)
	}
	return out, v, nil
}

// WrappedVersion returns the KEK version a wrapped key or sealed value names.
func WrappedVersion(wrapped []byte) (int, error) {
	if len(wrapped) < wrapOverhead {
		return 0, fmt.Errorf("%w: wrapped value is %d bytes, shorter than the %d-byte minimum", ErrIntegrity, len(wrapped), wrapOverhead)
	}
	v := binary.BigEndian.Uint32(wrapped)
	if v > maxKEKVersion {
		return 0, fmt.Errorf("%w: version %d", ErrUnknownKEK, v)
	}
	return int(v), nil
}

// Seal encrypts a small secret (an S3 secret key, user metadata) under the
// current KEK with associated data ad.
func (k *Keyring) Seal(plaintext, ad []byte) ([]byte, error) {
	out, _, err := k.seal(secretDomain, plaintext, ad)
	if err != nil {
		return nil, fmt.Errorf("seal: seal secret: %w", err)
	}
	return out, nil
}

// Open decrypts what Seal produced. ErrIntegrity if it fails to open.
func (k *Keyring) Open(sealed, ad []byte) ([]byte, error) {
	pt, err := k.open(secretDomain, sealed, ad)
	if err != nil {
		return nil, fmt.Errorf("seal: open secret: %w", err)
	}
	return pt, nil
}

// seal encrypts plaintext under the current KEK in the wrapped format:
// version || nonce || ciphertext || tag.
func (k *Keyring) seal(domain string, plaintext, ad []byte) ([]byte, int, error) {
	k.mu.RLock()
	v := k.current
	e, ok := k.keks[v]
	k.mu.RUnlock()
	if !ok {
		return nil, 0, errors.New("keyring has no current KEK")
	}
	var nonce [gcmNonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, 0, fmt.Errorf("generate nonce: %w", err)
	}
	out := make([]byte, versionSize, wrapOverhead+len(plaintext))
	binary.BigEndian.PutUint32(out, uint32(v))
	out = append(out, nonce[:]...)
	out = e.aead.Seal(out, nonce[:], plaintext, associatedData(domain, out[:versionSize], ad))
	return out, v, nil
}

// open reverses seal.
func (k *Keyring) open(domain string, sealed, ad []byte) ([]byte, error) {
	v, err := WrappedVersion(sealed)
	if err != nil {
		return nil, err
	}
	k.mu.RLock()
	e, ok := k.keks[v]
	k.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: version %d", ErrUnknownKEK, v)
	}
	nonce := sealed[versionSize : versionSize+gcmNonceSize]
	pt, err := e.aead.Open(nil, nonce, sealed[versionSize+gcmNonceSize:], associatedData(domain, sealed[:versionSize], ad))
	if err != nil {
		return nil, fmt.Errorf("%w: KEK version %d does not open it", ErrIntegrity, v)
	}
	return pt, nil
}

// associatedData is domain || 0x00 || version || ad. Domains hold no NUL
// byte and the version is fixed-size, so the encoding is unambiguous.
func associatedData(domain string, version, ad []byte) []byte {
	out := make([]byte, 0, len(domain)+1+len(version)+len(ad))
	out = append(out, domain...)
	out = append(out, 0)
	out = append(out, version...)
	return append(out, ad...)
}

// kekAssociatedData binds a wrapped KEK to its version.
func kekAssociatedData(v int) []byte {
	var ver [versionSize]byte
	binary.BigEndian.PutUint32(ver[:], uint32(v))
	return associatedData(kekDomain, ver[:], nil)
}

// wrapKEK seals key under the root key: nonce || ciphertext || tag.
func wrapKEK(root cipher.AEAD, v int, key []byte) ([]byte, error) {
	var nonce [gcmNonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("generate nonce: %w", err)
	}
	out := make([]byte, 0, gcmNonceSize+len(key)+gcmTagSize)
	out = append(out, nonce[:]...)
	return root.Seal(out, nonce[:], key, kekAssociatedData(v)), nil
}

// unwrapKEK reverses wrapKEK.
func unwrapKEK(root cipher.AEAD, v int, wrapped []byte) ([]byte, error) {
	if len(wrapped) != gcmNonceSize+kekSize+gcmTagSize {
		return nil, fmt.Errorf("%w: wrapped KEK is %d bytes, want %d", ErrIntegrity, len(wrapped), gcmNonceSize+kekSize+gcmTagSize)
	}
	key, err := root.Open(nil, wrapped[:gcmNonceSize], wrapped[gcmNonceSize:], kekAssociatedData(v))
	if err != nil {
		return nil, ErrIntegrity
	}
	return key, nil
}

// newGCM returns AES-256-GCM under a 32-byte key.
func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("key is %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
