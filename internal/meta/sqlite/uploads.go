package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/coffer-vault/coffer/internal/meta"
)

const uploadCols = `id, bucket, key, initiated, meta, tags`

func scanUpload(sc interface{ Scan(...any) error }) (meta.Upload, error) {
	var u meta.Upload
	var initiated int64
	if err := sc.Scan(&u.ID, &u.Bucket, &u.Key, &initiated, &u.Meta, &u.Tags); err != nil {
		return u, err
	}
	u.Initiated = fromNanos(initiated)
	u.Meta, u.Tags = nilIfEmpty(u.Meta), nilIfEmpty(u.Tags)
	return u, nil
}

// loadUpload reads upload id; meta.ErrNoSuchUpload when there is none.
func loadUpload(r runner, id string) (meta.Upload, error) {
	rows, err := r.query(`SELECT `+uploadCols+` FROM uploads WHERE id = ?`, id)
	if err != nil {
		return meta.Upload{}, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return meta.Upload{}, err
		}
		return meta.Upload{}, meta.ErrNoSuchUpload
	}
	return scanUpload(rows)
}

// CreateUpload records a new multipart upload: meta.ErrNoSuchBucket if the
// bucket is gone, meta.ErrExists if the id is taken.
func (s *Store) CreateUpload(ctx context.Context, u meta.Upload) error {
	err := s.write(ctx, func(r runner) error {
		ok, err := bucketExists(r, u.Bucket)
		if err != nil {
			return err
		}
		if !ok {
			return meta.ErrNoSuchBucket
		}
		taken, err := r.exists(`SELECT 1 FROM uploads WHERE id = ?`, u.ID)
		if err != nil {
			return err
		}
		if taken {
			return meta.ErrExists
		}
		_, err = r.exec(`INSERT INTO uploads (`+uploadCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
			u.ID, u.Bucket, u.Key, nanos(u.Initiated), u.Meta, u.Tags)
		return err
	})
	if err != nil {
		return fmt.Errorf("meta/sqlite: create upload %q/%q: %w", u.Bucket, u.Key, err)
	}
	return nil
}

// GetUpload returns the upload only if it belongs to (bucket, key).
func (s *Store) GetUpload(ctx context.Context, bucket, key, uploadID string) (meta.Upload, error) {
	u, err := loadUpload(s.read(ctx), uploadID)
	if err == nil && (u.Bucket != bucket || u.Key != key) {
		err = meta.ErrNoSuchUpload
	}
	if err != nil {
		return meta.Upload{}, fmt.Errorf("meta/sqlite: get upload %q: %w", uploadID, err)
	}
	return u, nil
}

// ListUploads lists uploads ordered by (key, initiated, id). With only
// KeyMarker, uploads of keys after it follow; with UploadIDMarker too,
// uploads after that upload in the same order follow (if that upload is
// gone, those of KeyMarker with a greater id).
func (s *Store) ListUploads(ctx context.Context, bucket string, opts meta.UploadListOptions) ([]meta.Upload, bool, error) {
	if opts.Limit < 1 {
		return nil, false, fmt.Errorf("meta/sqlite: list uploads %q: limit %d < 1", bucket, opts.Limit)
	}
	r := s.read(ctx)
	out, err := func() ([]meta.Upload, error) {
		q := `SELECT ` + uploadCols + ` FROM uploads WHERE bucket = ? AND key >= ?`
		args := []any{bucket, opts.Prefix}
		if end, ok := prefixEnd(opts.Prefix); ok {
			q += ` AND key < ?`
			args = append(args, end)
		}
		switch {
		case opts.KeyMarker == "":
		case opts.UploadIDMarker == "":
			q += ` AND key > ?`
			args = append(args, opts.KeyMarker)
		default:
			var initiated int64
			err := r.queryRow(`SELECT initiated FROM uploads WHERE id = ? AND bucket = ? AND key = ?`,
				[]any{opts.UploadIDMarker, bucket, opts.KeyMarker}, &initiated)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				q += ` AND (key > ? OR (key = ? AND id > ?))`
				args = append(args, opts.KeyMarker, opts.KeyMarker, opts.UploadIDMarker)
			case err != nil:
				return nil, err
			default:
				q += ` AND (key > ? OR (key = ? AND (initiated > ? OR (initiated = ? AND id > ?))))`
				args = append(args, opts.KeyMarker, opts.KeyMarker, initiated, initiated, opts.UploadIDMarker)
			}
		}
		q += ` ORDER BY key, initiated, id LIMIT ?`
		args = append(args, opts.Limit+1)
		rows, err := r.query(q, args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []meta.Upload
		for rows.Next() {
			u, err := scanUpload(rows)
			if err != nil {
				return nil, err
			}
			out = append(out, u)
		}
		return out, rows.Err()
	}()
	if err == nil && len(out) == 0 {
		err = emptyListing(r, meta.ErrNoSuchBucket, `SELECT 1 FROM buckets WHERE name = ?`, bucket)
	}
	if err != nil {
		return nil, false, fmt.Errorf("meta/sqlite: list uploads %q: %w", bucket, err)
	}
	more := len(out) > opts.Limit
	if more {
		out = out[:opts.Limit]
	}
	return out, more, nil
}

// PutPart records part sg.Number of the upload, replacing (and returning)
// a previous part with that number.
func (s *Store) PutPart(ctx context.Context, uploadID string, sg meta.Segment) (*meta.Segment, error) {
	var replaced *meta.Segment
	err := s.write(ctx, func(r runner) error {
		replaced = nil
		ok, err := r.exists(`SELECT 1 FROM uploads WHERE id = ?`, uploadID)
		if err != nil {
			return err
		}
		if !ok {
			return meta.ErrNoSuchUpload
		}
		rows, err := r.query(`SELECT `+segCols+` FROM segments s WHERE s.upload_id = ? AND s.number = ?`, uploadID, sg.Number)
		if err != nil {
			return err
		}
		old, err := scanSegments(rows)
		if err != nil {
			return err
		}
		if len(old) > 0 {
			if _, err := r.exec(`DELETE FROM segments WHERE blob_id = ?`, old[0].BlobID); err != nil {
				return err
			}
			replaced = &old[0]
		}
		return putSegment(r, sg, nil, uploadID)
	})
	if err != nil {
		return nil, fmt.Errorf("meta/sqlite: put part %d of upload %q: %w", sg.Number, uploadID, err)
	}
	return replaced, nil
}

// ListParts returns parts numbered above after, in order.
func (s *Store) ListParts(ctx context.Context, uploadID string, after, limit int) ([]meta.Segment, bool, error) {
	if limit < 1 {
		return nil, false, fmt.Errorf("meta/sqlite: list parts of upload %q: limit %d < 1", uploadID, limit)
	}
	r := s.read(ctx)
	out, err := func() ([]meta.Segment, error) {
		rows, err := r.query(`SELECT `+segCols+` FROM segments s WHERE s.upload_id = ? AND s.number > ?
			ORDER BY s.number LIMIT ?`, uploadID, after, limit+1)
		if err != nil {
			return nil, err
		}
		return scanSegments(rows)
	}()
	if err == nil && len(out) == 0 {
		err = emptyListing(r, meta.ErrNoSuchUpload, `SELECT 1 FROM uploads WHERE id = ?`, uploadID)
	}
	if err != nil {
		return nil, false, fmt.Errorf("meta/sqlite: list parts of upload %q: %w", uploadID, err)
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}

// dropUpload deletes the upload and its part rows and returns the parts.
func dropUpload(r runner, id string) ([]meta.Segment, error) {
	rows, err := r.query(`SELECT `+segCols+` FROM segments s WHERE s.upload_id = ? ORDER BY s.number`, id)
	if err != nil {
		return nil, err
	}
	parts, err := scanSegments(rows)
	if err != nil {
		return nil, err
	}
	if _, err := r.exec(`DELETE FROM segments WHERE upload_id = ?`, id); err != nil {
		return nil, err
	}
	if _, err := r.exec(`DELETE FROM uploads WHERE id = ?`, id); err != nil {
		return nil, err
	}
	return parts, nil
}

// CompleteUpload turns the upload into object o in one transaction. o must
// name the upload's bucket and key (else meta.ErrNoSuchUpload); its
// segments are normally parts of the upload, matched by BlobID.
func (s *Store) CompleteUpload(ctx context.Context, uploadID string, o meta.Object) (*meta.Object, []meta.Segment, error) {
	var (
		replaced *meta.Object
		unused   []meta.Segment
	)
	err := s.write(ctx, func(r runner) error {
		replaced, unused = nil, nil
		u, err := loadUpload(r, uploadID)
		if err != nil {
			return err
		}
		if u.Bucket != o.Bucket || u.Key != o.Key {
			return meta.ErrNoSuchUpload
		}
		parts, err := dropUpload(r, uploadID)
		if err != nil {
			return err
		}
		used := make(map[string]bool, len(o.Segments))
		for _, sg := range o.Segments {
			used[sg.BlobID] = true
		}
		for _, p := range parts {
			if !used[p.BlobID] {
				unused = append(unused, p)
			}
		}
		replaced, err = putObject(r, o, meta.Precondition{})
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("meta/sqlite: complete upload %q: %w", uploadID, err)
	}
	return replaced, unused, nil
}

// AbortUpload removes the upload and returns its parts.
func (s *Store) AbortUpload(ctx context.Context, uploadID string) ([]meta.Segment, error) {
	var parts []meta.Segment
	err := s.write(ctx, func(r runner) error {
		if _, err := loadUpload(r, uploadID); err != nil {
			return err
		}
		var err error
		parts, err = dropUpload(r, uploadID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("meta/sqlite: abort upload %q: %w", uploadID, err)
	}
	return parts, nil
}
