package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/coffer-vault/coffer/internal/meta"
)

// Buckets.

// CreateBucket creates a bucket; meta.ErrBucketExists if the name is taken.
func (s *Store) CreateBucket(ctx context.Context, b meta.Bucket) error {
	err := s.write(ctx, func(r runner) error {
		ok, err := bucketExists(r, b.Name)
		if err != nil {
			return err
		}
		if ok {
			return meta.ErrBucketExists
		}
		_, err = r.exec(`INSERT INTO buckets (name, created) VALUES (?, ?)`, b.Name, nanos(b.Created))
		return err
	})
	if err != nil {
		return fmt.Errorf("meta/sqlite: create bucket %q: %w", b.Name, err)
	}
	return nil
}

// GetBucket returns a bucket; meta.ErrNoSuchBucket if absent.
func (s *Store) GetBucket(ctx context.Context, name string) (meta.Bucket, error) {
	var created int64
	err := s.read(ctx).queryRow(`SELECT created FROM buckets WHERE name = ?`, []any{name}, &created)
	if errors.Is(err, sql.ErrNoRows) {
		err = meta.ErrNoSuchBucket
	}
	if err != nil {
		return meta.Bucket{}, fmt.Errorf("meta/sqlite: get bucket %q: %w", name, err)
	}
	return meta.Bucket{Name: name, Created: fromNanos(created)}, nil
}

// ListBuckets returns all buckets by name.
func (s *Store) ListBuckets(ctx context.Context) ([]meta.Bucket, error) {
	rows, err := s.read(ctx).query(`SELECT name, created FROM buckets ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("meta/sqlite: list buckets: %w", err)
	}
	defer rows.Close()
	var out []meta.Bucket
	for rows.Next() {
		var b meta.Bucket
		var created int64
		if err := rows.Scan(&b.Name, &created); err != nil {
			return nil, fmt.Errorf("meta/sqlite: list buckets: %w", err)
		}
		b.Created = fromNanos(created)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("meta/sqlite: list buckets: %w", err)
	}
	return out, nil
}

// DeleteBucket removes an empty bucket with its multipart uploads, in one
// transaction, and returns the uploads' parts so the caller can delete
// their blobs.
func (s *Store) DeleteBucket(ctx context.Context, name string) ([]meta.Segment, error) {
	var segs []meta.Segment
	err := s.write(ctx, func(r runner) error {
		segs = nil
		ok, err := bucketExists(r, name)
		if err != nil {
			return err
		}
		if !ok {
			return meta.ErrNoSuchBucket
		}
		full, err := r.exists(`SELECT 1 FROM objects WHERE bucket = ? LIMIT 1`, name)
		if err != nil {
			return err
		}
		if full {
			return meta.ErrBucketNotEmpty
		}
		rows, err := r.query(`SELECT `+segCols+` FROM segments s JOIN uploads u ON s.upload_id = u.id
			WHERE u.bucket = ? ORDER BY u.id, s.number`, name)
		if err != nil {
			return err
		}
		if segs, err = scanSegments(rows); err != nil {
			return err
		}
		if _, err := r.exec(`DELETE FROM segments WHERE upload_id IN (SELECT id FROM uploads WHERE bucket = ?)`, name); err != nil {
			return err
		}
		if _, err := r.exec(`DELETE FROM uploads WHERE bucket = ?`, name); err != nil {
			return err
		}
		_, err = r.exec(`DELETE FROM buckets WHERE name = ?`, name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("meta/sqlite: delete bucket %q: %w", name, err)
	}
	return segs, nil
}

func bucketExists(r runner, name string) (bool, error) {
	return r.exists(`SELECT 1 FROM buckets WHERE name = ?`, name)
}

// missing returns the error for an object or upload that was not found:
// meta.ErrNoSuchBucket if the bucket itself is gone, else notFound.
func missing(r runner, bucket string, notFound error) error {
	ok, err := bucketExists(r, bucket)
	switch {
	case err != nil:
		return err
	case !ok:
		return meta.ErrNoSuchBucket
	}
	return notFound
}

// Objects.

const (
	objCols = `o.id, o.bucket, o.key, o.version_id, o.size, o.etag, o.last_modified, o.meta, o.tags, o.checksum`
	segCols = `s.number, s.blob_id, s.size, s.etag, s.wrapped_dek, s.kek_version, s.binding, s.created`

	selectObject = `SELECT ` + objCols + `, ` + segCols + `
		FROM objects o LEFT JOIN segments s ON s.object_id = o.id
		WHERE o.bucket = ? AND o.key = ? ORDER BY s.number`
)

// loadObject reads the current version of (bucket, key) with its segments
// in one statement, hence from one snapshot. found is false when there is
// none.
func loadObject(r runner, bucket, key string) (o meta.Object, id int64, found bool, err error) {
	rows, err := r.query(selectObject, bucket, key)
	if err != nil {
		return o, 0, false, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			lastMod                    int64
			num, size, kekVer, created sql.NullInt64
			blobID, etag, binding      sql.NullString
			wrapped                    []byte
		)
		if err := rows.Scan(&id, &o.Bucket, &o.Key, &o.VersionID, &o.Size, &o.ETag, &lastMod, &o.Meta, &o.Tags, &o.Checksum,
			&num, &blobID, &size, &etag, &wrapped, &kekVer, &binding, &created); err != nil {
			return o, 0, false, err
		}
		found = true
		o.LastModified = fromNanos(lastMod)
		if blobID.Valid {
			o.Segments = append(o.Segments, meta.Segment{
				Number:     int(num.Int64),
				BlobID:     blobID.String,
				Size:       size.Int64,
				ETag:       etag.String,
				WrappedDEK: wrapped,
				KEKVersion: int(kekVer.Int64),
				Binding:    binding.String,
				Created:    fromNanos(created.Int64),
			})
		}
	}
	if err := rows.Err(); err != nil {
		return o, 0, false, err
	}
	o.Meta, o.Tags = nilIfEmpty(o.Meta), nilIfEmpty(o.Tags)
	return o, id, found, nil
}

// scanSegments reads rows of segCols and closes rows.
func scanSegments(rows *sql.Rows) ([]meta.Segment, error) {
	defer rows.Close()
	var out []meta.Segment
	for rows.Next() {
		var sg meta.Segment
		var created int64
		if err := rows.Scan(&sg.Number, &sg.BlobID, &sg.Size, &sg.ETag, &sg.WrappedDEK, &sg.KEKVersion, &sg.Binding, &created); err != nil {
			return nil, err
		}
		sg.Created = fromNanos(created)
		out = append(out, sg)
	}
	return out, rows.Err()
}

const insertSegment = `INSERT INTO segments
	(blob_id, object_id, upload_id, number, size, etag, wrapped_dek, kek_version, binding, created)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// putSegment records sg as owned by object objectID or upload uploadID
// (exactly one is non-nil).
func putSegment(r runner, sg meta.Segment, objectID, uploadID any) error {
	if sg.WrappedDEK == nil {
		sg.WrappedDEK = []byte{} // NOT NULL; nil would bind as NULL
	}
	_, err := r.exec(insertSegment, sg.BlobID, objectID, uploadID, sg.Number, sg.Size, sg.ETag,
		sg.WrappedDEK, sg.KEKVersion, sg.Binding, nanos(sg.Created))
	return err
}

// putObject is PutObject inside a write transaction.
func putObject(r runner, o meta.Object, c meta.Precondition) (*meta.Object, error) {
	ok, err := bucketExists(r, o.Bucket)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, meta.ErrNoSuchBucket
	}
	old, id, found, err := loadObject(r, o.Bucket, o.Key)
	if err != nil {
		return nil, err
	}
	switch {
	case c.IfNoneMatch && found:
		return nil, meta.ErrPrecondition
	case c.IfMatch != "" && !found:
		return nil, meta.ErrNoSuchObject
	case c.IfMatch != "" && old.ETag != c.IfMatch:
		return nil, meta.ErrPrecondition
	}
	if found {
		// Dropping the old segment rows destroys the old wrapped DEKs.
		if _, err := r.exec(`DELETE FROM segments WHERE object_id = ?`, id); err != nil {
			return nil, err
		}
		if _, err := r.exec(`UPDATE objects SET version_id = ?, size = ?, etag = ?, last_modified = ?, meta = ?, tags = ?, checksum = ?
			WHERE id = ?`, o.VersionID, o.Size, o.ETag, nanos(o.LastModified), o.Meta, o.Tags, o.Checksum, id); err != nil {
			return nil, err
		}
	} else {
		if err := r.queryRow(`INSERT INTO objects (bucket, key, version_id, size, etag, last_modified, meta, tags, checksum)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			[]any{o.Bucket, o.Key, o.VersionID, o.Size, o.ETag, nanos(o.LastModified), o.Meta, o.Tags, o.Checksum}, &id); err != nil {
			return nil, err
		}
	}
	for _, sg := range o.Segments {
		if err := putSegment(r, sg, id, nil); err != nil {
			return nil, fmt.Errorf("segment %d (blob %s): %w", sg.Number, sg.BlobID, err)
		}
	}
	if found {
		// The old version's labels go with it.
		if _, err := r.exec(`DELETE FROM object_scans WHERE object_id = ?`, id); err != nil {
			return nil, err
		}
	}
	if o.Scan != nil {
		sc := *o.Scan
		sc.VersionID = o.VersionID
		if err := putScan(r, id, sc); err != nil {
			return nil, fmt.Errorf("scan labels: %w", err)
		}
	}
	if !found {
		return nil, nil
	}
	return &old, nil
}

// PutObject makes o the current version in one transaction: the previous
// version's row and segment rows (its wrapped DEKs) are replaced and the
// previous version is returned.
func (s *Store) PutObject(ctx context.Context, o meta.Object) (*meta.Object, error) {
	return s.PutObjectIf(ctx, o, meta.Precondition{})
}

// PutObjectIf is PutObject when c holds, checked in the same transaction.
func (s *Store) PutObjectIf(ctx context.Context, o meta.Object, c meta.Precondition) (*meta.Object, error) {
	var replaced *meta.Object
	err := s.write(ctx, func(r runner) error {
		var err error
		replaced, err = putObject(r, o, c)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("meta/sqlite: put object %q/%q: %w", o.Bucket, o.Key, err)
	}
	return replaced, nil
}

// GetObject returns the current version with its segments in part order.
func (s *Store) GetObject(ctx context.Context, bucket, key string) (meta.Object, error) {
	r := s.read(ctx)
	o, _, found, err := loadObject(r, bucket, key)
	if err == nil && !found {
		err = missing(r, bucket, meta.ErrNoSuchObject)
	}
	if err != nil {
		return meta.Object{}, fmt.Errorf("meta/sqlite: get object %q/%q: %w", bucket, key, err)
	}
	return o, nil
}

// DeleteObject removes the object and its segment rows, destroying its
// wrapped DEKs (crypto-shredding), and returns what it removed.
func (s *Store) DeleteObject(ctx context.Context, bucket, key string) (meta.Object, error) {
	var old meta.Object
	err := s.write(ctx, func(r runner) error {
		o, id, found, err := loadObject(r, bucket, key)
		if err != nil {
			return err
		}
		if !found {
			return missing(r, bucket, meta.ErrNoSuchObject)
		}
		if _, err := r.exec(`DELETE FROM segments WHERE object_id = ?`, id); err != nil {
			return err
		}
		if _, err := r.exec(`DELETE FROM objects WHERE id = ?`, id); err != nil {
			return err
		}
		old = o
		return nil
	})
	if err != nil {
		return meta.Object{}, fmt.Errorf("meta/sqlite: delete object %q/%q: %w", bucket, key, err)
	}
	return old, nil
}

// ListObjects lists in byte-wise key order. The prefix is a key range, not a
// LIKE pattern, so '%' and '_' in it are literal.
func (s *Store) ListObjects(ctx context.Context, bucket string, opts meta.ListOptions) ([]meta.Object, bool, error) {
	if opts.Limit < 1 {
		return nil, false, fmt.Errorf("meta/sqlite: list objects %q: limit %d < 1", bucket, opts.Limit)
	}
	q := `SELECT o.bucket, o.key, o.version_id, o.size, o.etag, o.last_modified, o.meta, o.tags, o.checksum
		FROM objects o WHERE o.bucket = ? AND o.key > ? AND o.key >= ?`
	args := []any{bucket, opts.After, opts.Prefix}
	if end, ok := prefixEnd(opts.Prefix); ok {
		q += ` AND o.key < ?`
		args = append(args, end)
	}
	q += ` ORDER BY o.key LIMIT ?`
	args = append(args, opts.Limit+1)

	r := s.read(ctx)
	out, err := func() ([]meta.Object, error) {
		rows, err := r.query(q, args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []meta.Object
		for rows.Next() {
			var o meta.Object
			var lastMod int64
			if err := rows.Scan(&o.Bucket, &o.Key, &o.VersionID, &o.Size, &o.ETag, &lastMod, &o.Meta, &o.Tags, &o.Checksum); err != nil {
				return nil, err
			}
			o.LastModified = fromNanos(lastMod)
			o.Meta, o.Tags = nilIfEmpty(o.Meta), nilIfEmpty(o.Tags)
			out = append(out, o)
		}
		return out, rows.Err()
	}()
	if err == nil && len(out) == 0 {
		err = emptyListing(r, meta.ErrNoSuchBucket, `SELECT 1 FROM buckets WHERE name = ?`, bucket)
	}
	if err != nil {
		return nil, false, fmt.Errorf("meta/sqlite: list objects %q: %w", bucket, err)
	}
	more := len(out) > opts.Limit
	if more {
		out = out[:opts.Limit]
	}
	return out, more, nil
}

// SetTags replaces the sealed tags of the current version if it is still
// versionID; nil clears them.
func (s *Store) SetTags(ctx context.Context, bucket, key, versionID string, tags []byte) error {
	if len(tags) == 0 {
		tags = nil
	}
	err := s.write(ctx, func(r runner) error {
		n, err := r.execCount(`UPDATE objects SET tags = ? WHERE bucket = ? AND key = ? AND version_id = ?`, tags, bucket, key, versionID)
		if err != nil {
			return err
		}
		if n == 0 {
			if ok, err := r.exists(`SELECT 1 FROM objects WHERE bucket = ? AND key = ?`, bucket, key); err != nil {
				return err
			} else if ok {
				return meta.ErrConflict
			}
			return missing(r, bucket, meta.ErrNoSuchObject)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("meta/sqlite: set tags %q/%q: %w", bucket, key, err)
	}
	return nil
}
