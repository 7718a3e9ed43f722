package seal

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
)

// KeyWrapper wraps small keys under a key derived from the root key for one
// purpose (HKDF-SHA256 with the purpose as info), so keys of different
// subsystems are never wrapped under the same AEAD key. Wrapped keys are
// nonce (12) || AES-256-GCM ciphertext || tag.
//
// It serves keys that must be readable from the data directory alone, with
// no metadata store: the audit ledger's per-subject payload keys, which
// `coffer audit verify DATA_DIR` opens offline.
type KeyWrapper struct {
	aead cipher.AEAD
}

// NewKeyWrapper returns the wrapper for purpose under root.
func NewKeyWrapper(root RootKey, purpose string) (*KeyWrapper, error) {
	k, err := hkdf.Key(sha256.New, root[:], nil, "coffer/seal/keywrap/v1/"+purpose, 32)
	if err != nil {
		return nil, fmt.Errorf("seal: derive wrapping key: %w", err)
	}
	a, err := newGCM(k)
	if err != nil {
		return nil, err
	}
	return &KeyWrapper{aead: a}, nil
}

// WrapKey seals key with ad.
func (w *KeyWrapper) WrapKey(key, ad []byte) ([]byte, error) {
	out := make([]byte, gcmNonceSize, gcmNonceSize+len(key)+gcmTagSize)
	rand.Read(out)
	return w.aead.Seal(out, out, key, ad), nil
}

// UnwrapKey opens a wrapped key; a wrong root key, purpose or ad, or any
// change to wrapped, gives ErrIntegrity.
func (w *KeyWrapper) UnwrapKey(wrapped, ad []byte) ([]byte, error) {
	if len(wrapped) < gcmNonceSize+gcmTagSize {
		return nil, ErrIntegrity
	}
	k, err := w.aead.Open(nil, wrapped[:gcmNonceSize], wrapped[gcmNonceSize:], ad)
	if err != nil {
		return nil, ErrIntegrity
	}
	return k, nil
}
