package vault

// Listing with a delimiter. The meta store lists keys in byte order after a
// marker; this file rolls keys that contain the delimiter (after the prefix)
// into common prefixes. A common prefix is emitted once, and the scan then
// jumps past every key under it by continuing after commonPrefix + "\xff":
// 0xFF never occurs in valid UTF-8, so no valid key under the prefix sorts
// after that marker and every key not under it that sorts after the prefix
// does. Entries (objects and common prefixes) are counted together against
// MaxKeys, and an entry is returned only when it is strictly greater than
// After, so a client that continues from NextAfter sees every entry exactly
// once, even when a page ends on a common prefix.

import (
	"context"
	"fmt"
	"strings"

	"github.com/coffer-vault/coffer/internal/meta"
)

// maxListKeys caps one page, as S3 does.
const maxListKeys = 1000

// skipPast is appended to a common prefix to continue after every key under it.
const skipPast = "\xff"

// ListObjects lists the current versions in bucket selected by p, in key
// order. MaxKeys above 1000 is treated as 1000; 0 returns no entries but
// reports in IsTruncated whether any exist.
func (s *Service) ListObjects(ctx context.Context, bucket string, p ListParams) (ListResult, error) {
	if err := ValidBucketName(bucket); err != nil {
		return ListResult{}, err
	}
	if p.MaxKeys < 0 {
		return ListResult{}, fmt.Errorf("%w: negative max-keys", ErrInvalidArgument)
	}
	if len(p.Prefix) > MaxKeyLen || len(p.After) > MaxKeyLen+len(skipPast) || len(p.Delimiter) > MaxKeyLen {
		return ListResult{}, fmt.Errorf("%w: prefix, delimiter or marker too long", ErrInvalidArgument)
	}
	maxKeys := min(p.MaxKeys, maxListKeys)
	op := fmt.Sprintf("list %s", bucket)
	if err := s.bucketExists(ctx, bucket); err != nil {
		return ListResult{}, fmt.Errorf("%s: %w", op, err)
	}

	var res ListResult
	count := 0
	// emit adds an entry or, once the page is full, marks it truncated.
	// It reports whether listing should go on.
	emit := func(o *meta.Object, prefix string) bool {
		if count == maxKeys {
			res.IsTruncated = true
			return false
		}
		count++
		if o != nil {
			res.Objects = append(res.Objects, ObjectInfo{
				Bucket: bucket, Key: o.Key, Size: o.Size, ETag: o.ETag, LastModified: o.LastModified,
			})
			res.NextAfter = o.Key
		} else {
			res.CommonPrefixes = append(res.CommonPrefixes, prefix)
			res.NextAfter = prefix
		}
		return true
	}

	cursor := p.After
	for {
		// One entry beyond the page tells whether the listing is truncated.
		limit := min(max(maxKeys-count+1, 1), maxListKeys)
		objs, more, err := s.meta.ListObjects(ctx, bucket, meta.ListOptions{Prefix: p.Prefix, After: cursor, Limit: limit})
		if err != nil {
			return ListResult{}, metaErr(op, err)
		}
		skip := "" // the common prefix being skipped within this batch
		for i := range objs {
			o := &objs[i]
			if skip != "" && strings.HasPrefix(o.Key, skip) {
				continue
			}
			skip = ""
			cp := commonPrefix(o.Key, p.Prefix, p.Delimiter)
			switch {
			case cp == "":
				if o.Key <= p.After {
					continue // the store honours After; this is belt and braces
				}
				if !emit(o, "") {
					return res, nil
				}
				cursor = o.Key
			default:
				// A common prefix at or before After was returned on an
				// earlier page (or is excluded); skip its keys either way.
				if cp > p.After && !emit(nil, cp) {
					return res, nil
				}
				skip = cp
				cursor = cp + skipPast
			}
		}
		if !more || len(objs) == 0 {
			return res, nil
		}
		if skip == "" {
			cursor = objs[len(objs)-1].Key
		}
	}
}

// commonPrefix returns the common prefix key rolls into: prefix plus the
// rest of key up to and including the first delimiter after prefix, or ""
// when there is none.
func commonPrefix(key, prefix, delimiter string) string {
	if delimiter == "" || !strings.HasPrefix(key, prefix) {
		return ""
	}
	i := strings.Index(key[len(prefix):], delimiter)
	if i < 0 {
		return ""
	}
	return key[:len(prefix)+i+len(delimiter)]
}
