package vault

// Crash recovery. A write commits its blob before its metadata, so a crash
// in between leaves a committed blob that nothing references, and a crash
// mid-write leaves a temporary file. Neither is visible; Recover removes both.

import (
	"context"
	"errors"
	"fmt"

	"github.com/coffer-vault/coffer/internal/blob"
)

// Recover runs at start before serving: it sweeps temporary blob files and
// deletes committed blobs no metadata references (a crash between blob
// commit and metadata commit). It returns how many orphans it removed.
//
// It must not run while writes are in flight: a blob committed but not yet
// recorded would look orphaned.
func (s *Service) Recover(ctx context.Context) (int, error) {
	if err := s.blobs.Sweep(ctx); err != nil {
		return 0, fmt.Errorf("recover: sweep blobs: %w", err)
	}
	// List blobs before reading references, so a blob recorded in between
	// is seen as referenced rather than deleted.
	var listed []string
	if err := s.blobs.List(ctx, func(id string) error {
		listed = append(listed, id)
		return nil
	}); err != nil {
		return 0, fmt.Errorf("recover: list blobs: %w", err)
	}
	referenced := make(map[string]struct{}, len(listed))
	if err := s.meta.BlobIDs(ctx, func(id string) error {
		referenced[id] = struct{}{}
		return nil
	}); err != nil {
		return 0, fmt.Errorf("recover: list references: %w", err)
	}
	removed := 0
	for _, id := range listed {
		if _, ok := referenced[id]; ok {
			continue
		}
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		if err := s.blobs.Delete(ctx, id); err != nil && !errors.Is(err, blob.ErrNotFound) {
			return removed, fmt.Errorf("recover: delete orphan blob %s: %w", id, err)
		}
		removed++
	}
	if removed > 0 {
		s.log.Info("vault: recovered orphan blobs", "count", removed)
	}
	return removed, nil
}
