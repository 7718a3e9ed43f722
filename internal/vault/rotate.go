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
// one, batch by batch; progress (if non-nil) is called after each batch with
// the running total. It is resumable: a later call continues where an
// interrupted one stopped. It returns how many DEKs it rewrapped.
// batch <= 0 means 256.
func (s *Service) RewrapDEKs(ctx context.Context, batch int, progress func(done int)) (int, error) {
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
	counts, err := s.meta.CountDEKs(ctx)
	if err != nil {
		return nil, fmt.Errorf("key status: %w", storageErr(err))
	}
	var out []KeyVersionStatus
	for _, v := range s.keys.Versions() {
		out = append(out, KeyVersionStatus{Version: v.Version, Created: v.Created, Current: v.Current, DEKs: counts[v.Version]})
		delete(counts, v.Version)
	}
	for v, n := range counts {
		out = append(out, KeyVersionStatus{Version: v, DEKs: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}
