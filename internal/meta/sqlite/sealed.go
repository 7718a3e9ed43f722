package sqlite

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/coffer-vault/coffer/internal/meta"
)

// sealedColumn says where one kind of sealed value lives. Sealed values
// start with their KEK version as a big-endian uint32, so comparing the
// first four bytes as a BLOB (memcmp) compares versions.
type sealedColumn struct {
	kind   meta.SealedKind
	table  string
	column string
	// selectCols yields bucket, key, id; where identifies one row by them.
	selectCols string
	where      string
}

var sealedColumns = []sealedColumn{
	{meta.SealedObjectMeta, "objects", "meta", "bucket, key, version_id", "bucket = ? AND key = ? AND version_id = ?"},
	{meta.SealedObjectTags, "objects", "tags", "bucket, key, version_id", "bucket = ? AND key = ? AND version_id = ?"},
	{meta.SealedUploadMeta, "uploads", "meta", "bucket, key, id", "bucket = ? AND key = ? AND id = ?"},
	{meta.SealedUploadTags, "uploads", "tags", "bucket, key, id", "bucket = ? AND key = ? AND id = ?"},
	{meta.SealedAccessKey, "access_keys", "sealed_secret", "'', '', id", "? = '' AND ? = '' AND id = ?"},
}

func columnOf(kind meta.SealedKind) (sealedColumn, error) {
	for _, c := range sealedColumns {
		if c.kind == kind {
			return c, nil
		}
	}
	return sealedColumn{}, fmt.Errorf("meta/sqlite: unknown sealed kind %d", kind)
}

func versionPrefix(v int) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(v))
	return b[:]
}

// ListSealed implements meta.Store.
func (s *Store) ListSealed(ctx context.Context, kinds []meta.SealedKind, belowVersion, limit int) ([]meta.SealedRef, error) {
	if limit < 1 {
		return nil, fmt.Errorf("meta/sqlite: list sealed: limit %d < 1", limit)
	}
	r := s.read(ctx)
	var out []meta.SealedRef
	for _, kind := range kinds {
		c, err := columnOf(kind)
		if err != nil {
			return nil, err
		}
		q := fmt.Sprintf(`SELECT %s, %s FROM %s WHERE %s IS NOT NULL AND substr(%s, 1, 4) < ? LIMIT ?`,
			c.selectCols, c.column, c.table, c.column, c.column)
		rows, err := r.query(q, versionPrefix(belowVersion), limit-len(out))
		if err != nil {
			return nil, fmt.Errorf("meta/sqlite: list sealed: %w", err)
		}
		for rows.Next() {
			ref := meta.SealedRef{Kind: kind}
			if err := rows.Scan(&ref.Bucket, &ref.Key, &ref.ID, &ref.Value); err != nil {
				rows.Close()
				return nil, fmt.Errorf("meta/sqlite: list sealed: %w", err)
			}
			out = append(out, ref)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("meta/sqlite: list sealed: %w", err)
		}
		if len(out) >= limit {
			break
		}
	}
	return out, nil
}

// UpdateSealed implements meta.Store.
func (s *Store) UpdateSealed(ctx context.Context, ref meta.SealedRef, value []byte) error {
	c, err := columnOf(ref.Kind)
	if err != nil {
		return err
	}
	q := fmt.Sprintf(`UPDATE %s SET %s = ? WHERE %s AND %s = ?`, c.table, c.column, c.where, c.column)
	err = s.write(ctx, func(r runner) error {
		return r.execSome(meta.ErrConflict, q, value, ref.Bucket, ref.Key, ref.ID, ref.Value)
	})
	if err != nil {
		return fmt.Errorf("meta/sqlite: update sealed value: %w", err)
	}
	return nil
}

// CountSealed implements meta.Store.
func (s *Store) CountSealed(ctx context.Context) (map[int]int64, error) {
	r := s.read(ctx)
	out := map[int]int64{}
	for _, c := range sealedColumns {
		q := fmt.Sprintf(`SELECT substr(%s, 1, 4), count(*) FROM %s WHERE %s IS NOT NULL GROUP BY 1`, c.column, c.table, c.column)
		rows, err := r.query(q)
		if err != nil {
			return nil, fmt.Errorf("meta/sqlite: count sealed: %w", err)
		}
		for rows.Next() {
			var prefix []byte
			var n int64
			if err := rows.Scan(&prefix, &n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("meta/sqlite: count sealed: %w", err)
			}
			if len(prefix) == 4 {
				out[int(binary.BigEndian.Uint32(prefix))] += n
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("meta/sqlite: count sealed: %w", err)
		}
	}
	return out, nil
}
