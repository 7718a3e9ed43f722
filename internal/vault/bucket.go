package vault

// Buckets: a name and a creation time. A bucket must be empty of objects to
// be deleted; its in-progress multipart uploads go with it.

import (
	"context"
	"fmt"

	"github.com/coffer-vault/coffer/internal/meta"
)

// CreateBucket creates an empty bucket. ErrBucketExists if it exists.
func (s *Service) CreateBucket(ctx context.Context, name string) error {
	if err := ValidBucketName(name); err != nil {
		return err
	}
	err := s.meta.CreateBucket(ctx, meta.Bucket{Name: name, Created: s.clock()})
	return metaErr(fmt.Sprintf("create bucket %q", name), err)
}

// HeadBucket describes a bucket. ErrNoSuchBucket if it does not exist.
func (s *Service) HeadBucket(ctx context.Context, name string) (BucketInfo, error) {
	if err := ValidBucketName(name); err != nil {
		return BucketInfo{}, err
	}
	b, err := s.meta.GetBucket(ctx, name)
	if err != nil {
		return BucketInfo{}, metaErr(fmt.Sprintf("bucket %q", name), err)
	}
	return BucketInfo{Name: b.Name, Created: b.Created}, nil
}

// ListBuckets lists every bucket in name order.
func (s *Service) ListBuckets(ctx context.Context) ([]BucketInfo, error) {
	bs, err := s.meta.ListBuckets(ctx)
	if err != nil {
		return nil, metaErr("list buckets", err)
	}
	out := make([]BucketInfo, len(bs))
	for i, b := range bs {
		out[i] = BucketInfo{Name: b.Name, Created: b.Created}
	}
	return out, nil
}

// DeleteBucket deletes an empty bucket (ErrBucketNotEmpty otherwise) and
// the parts of its in-progress multipart uploads.
func (s *Service) DeleteBucket(ctx context.Context, name string) error {
	if err := ValidBucketName(name); err != nil {
		return err
	}
	parts, err := s.meta.DeleteBucket(ctx, name)
	if err != nil {
		return metaErr(fmt.Sprintf("delete bucket %q", name), err)
	}
	s.deleteBlobs(ctx, parts)
	return nil
}
