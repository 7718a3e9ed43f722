package server

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/coffer-vault/coffer/internal/meta"
	"github.com/coffer-vault/coffer/internal/s3api/sigv4"
)

// adminOwner owns the bootstrap access key. Identity and roles arrive with the
// identity issue; until then an access key owned by adminOwner may call the
// admin plane and every other key may not.
const adminOwner = "admin"

// sealer is what access keys need from the keyring.
type sealer interface {
	Seal(plaintext, ad []byte) ([]byte, error)
	Open(sealed, ad []byte) ([]byte, error)
}

// accessKeys resolves S3 access keys whose secrets are sealed in the
// metadata store. It implements sigv4.Credentials.
type accessKeys struct {
	store meta.Store
	keys  sealer
	now   func() time.Time
	cache *identityCache // nil: read the store every time
}

func secretAD(id string) []byte { return []byte("coffer/accesskey/" + id) }

// SecretKey implements sigv4.Credentials. Unknown and expired keys get the
// same answer.
func (a *accessKeys) SecretKey(ctx context.Context, id string) (string, error) {
	k, err := a.cache.accessKey(ctx, a.store, id)
	if errors.Is(err, meta.ErrNoSuchAccessKey) {
		return "", sigv4.ErrUnknownAccessKey
	}
	if err != nil {
		return "", fmt.Errorf("access key lookup: %w", err)
	}
	if !k.Expires.IsZero() && !a.now().Before(k.Expires) {
		return "", sigv4.ErrUnknownAccessKey
	}
	secret, err := a.keys.Open(k.SealedSecret, secretAD(id))
	if err != nil {
		return "", fmt.Errorf("open secret of access key %s: %w", id, err)
	}
	rememberKey(ctx, k)
	return string(secret), nil
}

// create mints a new access key for owner and returns its id and secret.
func (a *accessKeys) create(ctx context.Context, owner string, expires, mfaAt time.Time) (id, secret string, err error) {
	return a.mint(ctx, meta.AccessKey{Owner: owner, Expires: expires, MFAAt: mfaAt})
}

// mint creates a key like tmpl (owner, expiry, MFA time, inline policy)
// with a fresh id and secret, and returns them. The secret is stored only
// sealed.
func (a *accessKeys) mint(ctx context.Context, tmpl meta.AccessKey) (id, secret string, err error) {
	idBytes := make([]byte, 15)
	secretBytes := make([]byte, 30)
	rand.Read(idBytes)
	rand.Read(secretBytes)
	id = "CF" + base32.StdEncoding.EncodeToString(idBytes)[:18]
	secret = base64.RawURLEncoding.EncodeToString(secretBytes)
	sealed, err := a.keys.Seal([]byte(secret), secretAD(id))
	if err != nil {
		return "", "", fmt.Errorf("seal access key secret: %w", err)
	}
	k := tmpl
	k.ID, k.SealedSecret, k.Created, k.LastUsed = id, sealed, a.now().UTC(), time.Time{}
	err = a.store.PutAccessKey(ctx, k)
	if err != nil {
		return "", "", fmt.Errorf("store access key: %w", err)
	}
	return id, secret, nil
}
