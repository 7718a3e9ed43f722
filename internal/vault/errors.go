package vault

// Error translation. Callers of this package branch with errors.Is on vault
// sentinels only: meta store sentinels are mapped to their vault twins, and
// disk trouble (full, read-only) from either store is classified so the HTTP
// layer can answer clearly instead of with a bare 500.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"syscall"

	"github.com/coffer-vault/coffer/internal/blob"
	"github.com/coffer-vault/coffer/internal/meta"
)

// metaErr maps a meta store error to the vault sentinel it stands for and
// adds op as context. Unknown errors keep their chain.
func metaErr(op string, err error) error {
	if err == nil {
		return nil
	}
	for _, m := range [...]struct{ from, to error }{
		{meta.ErrNoSuchBucket, ErrNoSuchBucket},
		{meta.ErrNoSuchObject, ErrNoSuchKey},
		{meta.ErrNoSuchUpload, ErrNoSuchUpload},
		{meta.ErrBucketExists, ErrBucketExists},
		{meta.ErrBucketNotEmpty, ErrBucketNotEmpty},
		{meta.ErrPrecondition, ErrPreconditionFailed},
	} {
		if errors.Is(err, m.from) {
			return fmt.Errorf("%s: %w", op, m.to)
		}
	}
	return fmt.Errorf("%s: %w", op, storageErr(err))
}

// storageErr classifies disk errors: out of space becomes ErrStorageFull,
// a refused write ErrStorageReadOnly. The original error stays in the chain.
func storageErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrStorageFull), errors.Is(err, ErrStorageReadOnly):
		return err
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%w: %w", ErrStorageFull, err)
	case errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("%w: %w", ErrStorageReadOnly, err)
	}
	return err
}

// idBytes is the size of random ids (version, blob and upload ids).
const idBytes = 16

// newID returns a random 128-bit id in lowercase hex.
func newID() string {
	var b [idBytes]byte
	rand.Read(b[:]) // never fails (crypto/rand crashes the program instead)
	return hex.EncodeToString(b[:])
}

// deleteBlobs removes blobs after their metadata is gone. Failures are
// logged, not returned: the change the caller asked for is already durable,
// the blobs' keys are already destroyed, and Recover removes leftovers.
func (s *Service) deleteBlobs(ctx context.Context, segs []meta.Segment) {
	ctx = context.WithoutCancel(ctx)
	for _, seg := range segs {
		if seg.BlobID == "" {
			continue
		}
		if err := s.blobs.Delete(ctx, seg.BlobID); err != nil && !errors.Is(err, blob.ErrNotFound) {
			s.log.Warn("vault: delete blob", "blob", seg.BlobID, "err", err)
		}
	}
}

// bucketExists returns nil, an error wrapping ErrNoSuchBucket, or a store error.
func (s *Service) bucketExists(ctx context.Context, bucket string) error {
	if _, err := s.meta.GetBucket(ctx, bucket); err != nil {
		return metaErr(fmt.Sprintf("bucket %q", bucket), err)
	}
	return nil
}

// missing turns a "no such object" from the meta store into ErrNoSuchBucket
// when the bucket itself is gone, so callers see the more useful error.
func (s *Service) missing(ctx context.Context, op, bucket string, err error) error {
	if errors.Is(err, meta.ErrNoSuchObject) {
		if berr := s.bucketExists(ctx, bucket); berr != nil {
			return fmt.Errorf("%s: %w", op, berr)
		}
	}
	return metaErr(op, err)
}
