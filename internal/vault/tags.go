package vault

// Object tags. Tags are sealed like metadata, bound to the version they
// belong to. The meta store replaces tags only on the version they were
// sealed for (compare and swap), so PutTags seals again for a newer version
// if a PUT raced it.

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/coffer-vault/coffer/internal/meta"
)

// tagRetries bounds how often PutTags re-seals after losing a race with a PUT.
const tagRetries = 5

// GetTags returns the current version's tags (an empty map when none),
// with its scan labels as reserved tags ("coffer:label:TYPE" = confidence)
// when it has been scanned. S3 clients refuse more than MaxTags tags, so
// labels fill only the room the user's tags leave, the most confident
// first; Labels has them all.
func (s *Service) GetTags(ctx context.Context, bucket, key string) (map[string]string, error) {
	if err := validBucketKey(bucket, key); err != nil {
		return nil, err
	}
	op := fmt.Sprintf("get tags %s/%s", bucket, key)
	o, err := s.meta.GetObject(ctx, bucket, key)
	if err != nil {
		return nil, s.missing(ctx, op, bucket, err)
	}
	tags, err := s.openTags(o.Tags, bucket, key, o.VersionID)
	if err != nil {
		s.logIntegrity(bucket, key, "", err)
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	sc, err := s.meta.GetObjectScan(ctx, bucket, key)
	switch {
	case errors.Is(err, meta.ErrNoSuchObject):
		// Deleted since: answer with what was read.
	case err != nil:
		return nil, s.missing(ctx, op, bucket, err)
	case sc.VersionID == o.VersionID:
		if tags == nil {
			tags = map[string]string{}
		}
		maps.Copy(tags, labelTags(sc.Labels, MaxTags-len(tags)))
	}
	return tags, nil
}

// PutTags replaces the current version's tags; an empty map clears them.
func (s *Service) PutTags(ctx context.Context, bucket, key string, tags map[string]string) error {
	if err := validBucketKey(bucket, key); err != nil {
		return err
	}
	if err := validTags(tags); err != nil {
		return err
	}
	return s.setTags(ctx, fmt.Sprintf("put tags %s/%s", bucket, key), bucket, key, maps.Clone(tags))
}

// DeleteTags removes the current version's tags.
func (s *Service) DeleteTags(ctx context.Context, bucket, key string) error {
	if err := validBucketKey(bucket, key); err != nil {
		return err
	}
	return s.setTags(ctx, fmt.Sprintf("delete tags %s/%s", bucket, key), bucket, key, nil)
}

// setTags seals tags for the current version and stores them only if that
// version is still current (a compare-and-swap in the store), re-sealing for
// the new version when a PUT replaced it in between.
func (s *Service) setTags(ctx context.Context, op, bucket, key string, tags map[string]string) error {
	for range tagRetries {
		o, err := s.meta.GetObject(ctx, bucket, key)
		if err != nil {
			return s.missing(ctx, op, bucket, err)
		}
		sealed, err := s.sealTags(tags, bucket, key, o.VersionID)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		err = s.meta.SetTags(ctx, bucket, key, o.VersionID, sealed)
		if errors.Is(err, meta.ErrConflict) {
			continue
		}
		if err != nil {
			return s.missing(ctx, op, bucket, err)
		}
		return nil
	}
	return fmt.Errorf("%s: object keeps changing; tags not set", op)
}
