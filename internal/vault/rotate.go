package vault

// Key rotation. Rotating the keyring adds a KEK version; data keys wrapped by
// older versions are then rewrapped batch by batch. Object data is never
// re-encrypted: only the 60-odd bytes of each wrapped DEK change. Every
// update is a compare-and-swap on the old wrapping, so a DEK whose object
// changed meanwhile is simply skipped (its replacement is already wrapped
// by the current KEK).

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/coffer-vault/coffer/internal/meta"
)

// defaultRewrapBatch is the batch size when RewrapDEKs is given 0 or less.
const defaultRewrapBatch = 256

// maxIdleRewrapBatches bounds consecutive batches that rewrap nothing (every
// DEK lost its compare-and-swap) before RewrapDEKs gives up.
const maxIdleRewrapBatches = 3

// RewrapDEKs rewraps every DEK under an older KEK version with the current
// one, batch by batch, then reseals the object and upload metadata and tags
// sealed under an older version; progress (if non-nil) is called after each
// batch with the running total. It is resumable: a later call continues
// where an interrupted one stopped. It returns how many values it rewrapped.
// batch <= 0 means 256. (Access-key secrets belong to their owner's
// package, which reseals them with Reseal.)
func (s *Service) RewrapDEKs(ctx context.Context, batch int, progress func(done int)) (int, error) {
	n, err := s.rewrapDEKs(ctx, batch, progress)
	if err != nil {
		return n, err
	}
	kinds := []meta.SealedKind{meta.SealedObjectMeta, meta.SealedObjectTags, meta.SealedUploadMeta, meta.SealedUploadTags}
	m, err := s.Reseal(ctx, kinds, func(ref meta.SealedRef) []byte {
		purpose := purposeMeta
		if ref.Kind == meta.SealedObjectTags || ref.Kind == meta.SealedUploadTags {
			purpose = purposeTags
		}
		return recordAD(purpose, ref.Bucket, ref.Key, ref.ID)
	}, batch, func(done int) {
		if progress != nil {
			progress(n + done)
		}
	})
	return n + m, err
}

// Reseal moves values of the given kinds sealed under an older KEK version
// to the current one (open, seal again with the same associated data, which
// ad names; compare-and-swap on the old bytes). It returns how many it
// resealed.
func (s *Service) Reseal(ctx context.Context, kinds []meta.SealedKind, ad func(meta.SealedRef) []byte, batch int, progress func(done int)) (int, error) {
	if batch <= 0 {
		batch = defaultRewrapBatch
	}
	done, idle := 0, 0
	for {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		refs, err := s.meta.ListSealed(ctx, kinds, s.keys.Current(), batch)
		if err != nil {
			return done, fmt.Errorf("reseal: list: %w", storageErr(err))
		}
		if len(refs) == 0 {
			return done, nil
		}
		n := 0
		for _, ref := range refs {
			plain, err := s.keys.Open(ref.Value, ad(ref))
			if err != nil {
				s.log.Error("vault: reseal: sealed value fails to open", "kind", int(ref.Kind), "bucket", ref.Bucket, "key", ref.Key)
				return done, fmt.Errorf("reseal %s/%s: %w", ref.Bucket, ref.Key, err)
			}
			sealed, err := s.keys.Seal(plain, ad(ref))
			clear(plain)
			if err != nil {
				return done, fmt.Errorf("reseal %s/%s: %w", ref.Bucket, ref.Key, err)
			}
			err = s.meta.UpdateSealed(ctx, ref, sealed)
			switch {
			case errors.Is(err, meta.ErrConflict):
				continue // replaced meanwhile, under the current version
			case err != nil:
				return done, fmt.Errorf("reseal %s/%s: %w", ref.Bucket, ref.Key, storageErr(err))
			}
			n++
			done++
		}
		if progress != nil {
			progress(done)
		}
		if n == 0 {
			if idle++; idle >= maxIdleRewrapBatches {
				return done, fmt.Errorf("reseal: no progress after %d batches of conflicts", idle)
			}
		} else {
			idle = 0
		}
	}
}

func (s *Service) rewrapDEKs(ctx context.Context, batch int, progress func(done int)) (int, error) {
	if batch <= 0 {
		batch = defaultRewrapBatch
	}
	done, idle := 0, 0
	for {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		refs, err := s.meta.ListDEKs(ctx, s.keys.Current(), batch)
		if err != nil {
			return done, fmt.Errorf("rewrap: list keys: %w", storageErr(err))
		}
		if len(refs) == 0 {
			return done, nil
		}
		n := 0
		for _, ref := range refs {
			if err := ctx.Err(); err != nil {
				return done, err
			}
			wrapped, version, err := s.keys.RewrapDEK(ref.WrappedDEK, []byte(ref.BlobID))
			if err != nil {
				if errors.Is(err, ErrIntegrity) {
					s.log.Error("vault: rewrap: wrapped key fails to open", "blob", ref.BlobID, "kek", ref.KEKVersion)
				}
				return done, fmt.Errorf("rewrap key of blob %s: %w", ref.BlobID, err)
			}
			err = s.meta.UpdateDEK(ctx, ref.BlobID, ref.WrappedDEK, wrapped, version)
			switch {
			case errors.Is(err, meta.ErrConflict):
				continue // the object changed meanwhile
			case err != nil:
				return done, fmt.Errorf("rewrap key of blob %s: %w", ref.BlobID, storageErr(err))
			}
			n++
			done++
		}
		if progress != nil {
			progress(done)
		}
		if n == 0 {
			if idle++; idle >= maxIdleRewrapBatches {
				return done, fmt.Errorf("rewrap: no progress after %d batches of conflicts", idle)
			}
		} else {
			idle = 0
		}
	}
}

// KeyStatus lists KEK versions and how many DEKs each wraps, oldest first.
// A version that wraps DEKs but is missing from the keyring is listed too,
// with a zero Created time, since those DEKs cannot be opened.
func (s *Service) KeyStatus(ctx context.Context) ([]KeyVersionStatus, error) {
	deks, err := s.meta.CountDEKs(ctx)
	if err != nil {
		return nil, fmt.Errorf("key status: %w", storageErr(err))
	}
	sealed, err := s.meta.CountSealed(ctx)
	if err != nil {
		return nil, fmt.Errorf("key status: %w", storageErr(err))
	}
	var out []KeyVersionStatus
	for _, v := range s.keys.Versions() {
		out = append(out, KeyVersionStatus{Version: v.Version, Created: v.Created, Current: v.Current, DEKs: deks[v.Version], Sealed: sealed[v.Version]})
		delete(deks, v.Version)
		delete(sealed, v.Version)
	}
	// Versions the keyring does not know (a sign of trouble) are still shown.
	for v, n := range deks {
		out = append(out, KeyVersionStatus{Version: v, DEKs: n, Sealed: sealed[v]})
		delete(sealed, v)
	}
	for v, n := range sealed {
		out = append(out, KeyVersionStatus{Version: v, Sealed: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}
