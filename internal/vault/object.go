package vault

// Objects: put, copy and delete. A write seals the bytes into a new blob,
// commits it (fsync), and only then records the version in the meta store,
// atomically replacing the previous one. The replaced version's metadata
// rows, and with them its wrapped data keys, are gone at that moment
// (crypto-shredding); its blobs are deleted afterwards. A crash between the
// blob commit and the metadata commit leaves an orphan blob that Recover
// removes; it never leaves a visible partial object.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/coffer-vault/coffer/internal/meta"
	"github.com/coffer-vault/coffer/internal/seal"
)

// PutObject stores body (exactly size bytes; size -1 reads to EOF) as the
// new current version. A read error from body (for example a failed digest
// check at EOF) aborts the write and is returned wrapped; nothing changes.
func (s *Service) PutObject(ctx context.Context, bucket, key string, body io.Reader, size int64, opts PutOptions) (ObjectInfo, error) {
	if err := validBucketKey(bucket, key); err != nil {
		return ObjectInfo{}, err
	}
	if err := checkSize(size, s.maxPutSize); err != nil {
		return ObjectInfo{}, err
	}
	if err := validPutOptions(opts); err != nil {
		return ObjectInfo{}, err
	}
	op := fmt.Sprintf("put %s/%s", bucket, key)
	if err := s.bucketExists(ctx, bucket); err != nil {
		return ObjectInfo{}, fmt.Errorf("%s: %w", op, err)
	}
	m := metaFromOptions(opts)
	cond := meta.Precondition{IfNoneMatch: opts.IfNoneMatch, IfMatch: strings.Trim(opts.IfMatch, `"`)}
	if cond != (meta.Precondition{}) {
		// Fail fast, before the body is read; the write checks again atomically.
		cur, err := s.meta.GetObject(ctx, bucket, key)
		switch {
		case err == nil && cond.IfNoneMatch, err == nil && cond.IfMatch != "" && cur.ETag != cond.IfMatch:
			return ObjectInfo{}, fmt.Errorf("%s: %w", op, ErrPreconditionFailed)
		case err != nil && !errors.Is(err, meta.ErrNoSuchObject):
			return ObjectInfo{}, metaErr(op, err)
		case err != nil && cond.IfMatch != "":
			return ObjectInfo{}, fmt.Errorf("%s: %w", op, ErrNoSuchKey)
		}
	}
	return s.putSingle(ctx, op, bucket, key, body, size, m, opts.Tags, opts.ChecksumAfter, cond)
}

// putSingle writes body as a one-segment version with metadata m and tags.
// checksumAfter, if non-nil, may supply the checksum once the body is read.
// The object replaces the current one only if cond holds.
func (s *Service) putSingle(ctx context.Context, op, bucket, key string, body io.Reader, size int64, m objectMeta, tags map[string]string, checksumAfter func() string, cond meta.Precondition) (ObjectInfo, error) {
	versionID := newID()
	// Seal the tags first: if that fails there is no blob to clean up.
	sealedTags, err := s.sealTags(tags, bucket, key, versionID)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("%s: %w", op, err)
	}
	g, err := s.bucketGate(ctx, bucket)
	if err != nil {
		return ObjectInfo{}, err
	}
	var ss *streamScanner
	if s.scanInline(size, g) {
		ss = s.newStreamScanner(g, 0)
		defer ss.release()
	}
	seg, err := s.writeSegment(ctx, seal.Binding{Bucket: bucket, Key: key, VersionID: versionID}, body, size, ss)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("%s: %w", op, err)
	}
	if checksumAfter != nil {
		if c := checksumAfter(); c != "" {
			m.Checksum = c
		}
	}
	sealedMeta, err := s.sealMeta(m, bucket, key, versionID)
	if err != nil {
		s.deleteBlobs(ctx, []meta.Segment{seg})
		return ObjectInfo{}, fmt.Errorf("%s: %w", op, err)
	}
	o := meta.Object{
		Bucket:       bucket,
		Key:          key,
		VersionID:    versionID,
		Size:         seg.Size,
		ETag:         seg.ETag,
		LastModified: seg.Created,
		Meta:         sealedMeta,
		Tags:         sealedTags,
		Segments:     []meta.Segment{seg},
	}
	if ss != nil {
		o.Scan = ss.result(s.clock())
	}
	replaced, err := s.meta.PutObjectIf(ctx, o, cond)
	if err != nil {
		s.deleteBlobs(ctx, o.Segments)
		return ObjectInfo{}, metaErr(op, err)
	}
	if replaced != nil {
		s.deleteBlobs(ctx, replaced.Segments)
	}
	s.afterWrite(ctx, o)
	return objectInfo(o, m, len(tags)), nil
}

// DeleteObject removes an object and shreds its keys. Deleting a missing key
// in an existing bucket succeeds.
func (s *Service) DeleteObject(ctx context.Context, bucket, key string) error {
	if err := validBucketKey(bucket, key); err != nil {
		return err
	}
	op := fmt.Sprintf("delete %s/%s", bucket, key)
	o, err := s.meta.DeleteObject(ctx, bucket, key)
	if errors.Is(err, meta.ErrNoSuchObject) {
		if berr := s.bucketExists(ctx, bucket); berr != nil {
			return fmt.Errorf("%s: %w", op, berr)
		}
		return nil
	}
	if err != nil {
		return metaErr(op, err)
	}
	s.deleteBlobs(ctx, o.Segments)
	return nil
}

// CopyObject copies the current version of src to dst as a new version.
// The bytes are decrypted and sealed again under a new data key, since the
// binding (bucket, key, version) changes. Without ReplaceMeta the source's
// metadata is kept, without ReplaceTags its tags. Copying an object onto
// itself with neither is ErrInvalidCopy. A source larger than MaxPutSize is
// ErrEntityTooLarge, as in S3.
func (s *Service) CopyObject(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string, opts CopyOptions) (ObjectInfo, error) {
	if err := validBucketKey(srcBucket, srcKey); err != nil {
		return ObjectInfo{}, err
	}
	if err := validBucketKey(dstBucket, dstKey); err != nil {
		return ObjectInfo{}, err
	}
	if opts.ReplaceMeta {
		m := opts.Meta
		m.Tags = nil
		if err := validPutOptions(m); err != nil {
			return ObjectInfo{}, err
		}
	}
	if opts.ReplaceTags {
		if err := validTags(opts.Meta.Tags); err != nil {
			return ObjectInfo{}, err
		}
	}
	if srcBucket == dstBucket && srcKey == dstKey && !opts.ReplaceMeta && !opts.ReplaceTags {
		return ObjectInfo{}, fmt.Errorf("%w: %s/%s", ErrInvalidCopy, srcBucket, srcKey)
	}
	op := fmt.Sprintf("copy %s/%s to %s/%s", srcBucket, srcKey, dstBucket, dstKey)
	if err := s.bucketExists(ctx, dstBucket); err != nil {
		return ObjectInfo{}, fmt.Errorf("%s: %w", op, err)
	}
	r, err := s.OpenObject(ctx, srcBucket, srcKey)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("%s: %w", op, err)
	}
	defer r.Close()
	if r.obj.Size > s.maxPutSize {
		return ObjectInfo{}, fmt.Errorf("%s: %w: source is %d bytes", op, ErrEntityTooLarge, r.obj.Size)
	}

	m := r.meta
	if opts.ReplaceMeta {
		m = metaFromOptions(opts.Meta)
	}
	var tags map[string]string
	if opts.ReplaceTags {
		tags = opts.Meta.Tags
	} else {
		tags, err = s.openTags(r.obj.Tags, r.obj.Bucket, r.obj.Key, r.obj.VersionID)
		if err != nil {
			s.logIntegrity(srcBucket, srcKey, "", err)
			return ObjectInfo{}, fmt.Errorf("%s: %w", op, err)
		}
	}

	body, err := r.Range(ctx, 0, r.obj.Size)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("%s: %w", op, err)
	}
	defer body.Close()
	info, err := s.putSingle(ctx, op, dstBucket, dstKey, body, r.obj.Size, m, tags, nil, meta.Precondition{})
	if err != nil {
		return ObjectInfo{}, err
	}
	return info, nil
}

// objectInfo describes o with its opened metadata m.
func objectInfo(o meta.Object, m objectMeta, tagCount int) ObjectInfo {
	info := ObjectInfo{
		Bucket:       o.Bucket,
		Key:          o.Key,
		VersionID:    o.VersionID,
		Size:         o.Size,
		ETag:         o.ETag,
		LastModified: o.LastModified,
		ContentType:  m.ContentType,
		Headers:      m.Headers,
		UserMeta:     m.UserMeta,
		Checksum:     m.Checksum,
		TagCount:     tagCount,
	}
	if isMultipart(o) {
		info.PartsCount = len(o.Segments)
	}
	return info
}

// isMultipart reports an object made by CompleteMultipartUpload: its ETag
// has the "-N" suffix only multipart ETags carry. Its segments are bound to
// their part numbers; a single PUT's one segment is bound to part 0.
func isMultipart(o meta.Object) bool { return strings.Contains(o.ETag, "-") }
