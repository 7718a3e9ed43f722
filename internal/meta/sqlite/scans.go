package sqlite

// Content scanning: object labels (object_scans) and bucket scan settings
// (bucket_scan), schema version 7.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/coffer-vault/coffer/internal/meta"
)

// putScan records sc for the object row id (whose version it must be), in
// the caller's write transaction.
func putScan(r runner, id int64, sc meta.ObjectScan) error {
	labels := sc.Labels
	if labels == nil {
		labels = []meta.Label{}
	}
	b, err := json.Marshal(labels)
	if err != nil {
		return err
	}
	_, err = r.exec(`INSERT INTO object_scans (object_id, version_id, scanned, labels) VALUES (?, ?, ?, ?)
		ON CONFLICT (object_id) DO UPDATE SET version_id = excluded.version_id, scanned = excluded.scanned, labels = excluded.labels`,
		id, sc.VersionID, nanos(sc.Scanned), string(b))
	return err
}

// GetObjectScan returns the scan state of the current version.
func (s *Store) GetObjectScan(ctx context.Context, bucket, key string) (meta.ObjectScan, error) {
	r := s.read(ctx)
	var (
		sc      meta.ObjectScan
		scanned sql.NullInt64
		labels  sql.NullString
	)
	err := r.queryRow(`SELECT o.version_id, o.size, s.scanned, s.labels
		FROM objects o LEFT JOIN object_scans s ON s.object_id = o.id AND s.version_id = o.version_id
		WHERE o.bucket = ? AND o.key = ?`, []any{bucket, key}, &sc.VersionID, &sc.Size, &scanned, &labels)
	if errors.Is(err, sql.ErrNoRows) {
		err = missing(r, bucket, meta.ErrNoSuchObject)
	}
	if err == nil && scanned.Valid {
		sc.Scanned = fromNanos(scanned.Int64)
		if sc.Scanned.IsZero() {
			err = errors.New("scan record without a time")
		} else {
			err = json.Unmarshal([]byte(labels.String), &sc.Labels)
		}
	}
	if err != nil {
		return meta.ObjectScan{}, fmt.Errorf("meta/sqlite: get object scan %q/%q: %w", bucket, key, err)
	}
	return sc, nil
}

// SetObjectScan records sc if sc.VersionID is still the current version.
func (s *Store) SetObjectScan(ctx context.Context, bucket, key string, sc meta.ObjectScan) error {
	err := s.write(ctx, func(r runner) error {
		var (
			id      int64
			version string
		)
		err := r.queryRow(`SELECT id, version_id FROM objects WHERE bucket = ? AND key = ?`, []any{bucket, key}, &id, &version)
		if errors.Is(err, sql.ErrNoRows) {
			return missing(r, bucket, meta.ErrNoSuchObject)
		}
		if err != nil {
			return err
		}
		if version != sc.VersionID {
			return meta.ErrConflict
		}
		return putScan(r, id, sc)
	})
	if err != nil {
		return fmt.Errorf("meta/sqlite: set object scan %q/%q: %w", bucket, key, err)
	}
	return nil
}

// ListUnscanned returns current versions without a scan record, by object
// row id.
func (s *Store) ListUnscanned(ctx context.Context, after int64, limit int) ([]meta.ScanJob, error) {
	if limit < 1 {
		return nil, fmt.Errorf("meta/sqlite: list unscanned: limit %d < 1", limit)
	}
	rows, err := s.read(ctx).query(`SELECT o.id, o.bucket, o.key, o.version_id, o.size
		FROM objects o LEFT JOIN object_scans s ON s.object_id = o.id AND s.version_id = o.version_id
		WHERE s.object_id IS NULL AND o.id > ? ORDER BY o.id LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("meta/sqlite: list unscanned: %w", err)
	}
	defer rows.Close()
	var out []meta.ScanJob
	for rows.Next() {
		var j meta.ScanJob
		if err := rows.Scan(&j.Seq, &j.Bucket, &j.Key, &j.VersionID, &j.Size); err != nil {
			return nil, fmt.Errorf("meta/sqlite: list unscanned: %w", err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("meta/sqlite: list unscanned: %w", err)
	}
	return out, nil
}

// PutBucketScan replaces a bucket's scan settings.
func (s *Store) PutBucketScan(ctx context.Context, bucket string, bs meta.BucketScan) error {
	err := s.write(ctx, func(r runner) error {
		ok, err := bucketExists(r, bucket)
		if err != nil {
			return err
		}
		if !ok {
			return meta.ErrNoSuchBucket
		}
		if len(bs.Reject) == 0 && bs.MinConfidence == 0 {
			_, err = r.exec(`DELETE FROM bucket_scan WHERE bucket = ?`, bucket)
			return err
		}
		_, err = r.exec(`INSERT INTO bucket_scan (bucket, reject, min_confidence) VALUES (?, ?, ?)
			ON CONFLICT (bucket) DO UPDATE SET reject = excluded.reject, min_confidence = excluded.min_confidence`,
			bucket, strings.Join(bs.Reject, ","), bs.MinConfidence)
		return err
	})
	if err != nil {
		return fmt.Errorf("meta/sqlite: put bucket scan %q: %w", bucket, err)
	}
	return nil
}

// GetBucketScan returns a bucket's scan settings.
func (s *Store) GetBucketScan(ctx context.Context, bucket string) (meta.BucketScan, error) {
	r := s.read(ctx)
	var (
		bs     meta.BucketScan
		reject sql.NullString
		minC   sql.NullInt64
	)
	err := r.queryRow(`SELECT bs.reject, bs.min_confidence FROM buckets b LEFT JOIN bucket_scan bs ON bs.bucket = b.name
		WHERE b.name = ?`, []any{bucket}, &reject, &minC)
	if errors.Is(err, sql.ErrNoRows) {
		err = meta.ErrNoSuchBucket
	}
	if err != nil {
		return meta.BucketScan{}, fmt.Errorf("meta/sqlite: get bucket scan %q: %w", bucket, err)
	}
	if reject.String != "" {
		bs.Reject = strings.Split(reject.String, ",")
	}
	bs.MinConfidence = int(minC.Int64)
	return bs, nil
}
