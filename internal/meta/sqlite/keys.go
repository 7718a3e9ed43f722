package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/coffer-vault/coffer/internal/meta"
)

// Access keys.

const accessKeyCols = `id, sealed_secret, owner, created, expires, mfa_at, last_used, policy`

func scanAccessKey(sc interface{ Scan(...any) error }) (meta.AccessKey, error) {
	var k meta.AccessKey
	var created, expires, mfaAt, lastUsed int64
	if err := sc.Scan(&k.ID, &k.SealedSecret, &k.Owner, &created, &expires, &mfaAt, &lastUsed, &k.Policy); err != nil {
		return k, err
	}
	k.Created, k.Expires, k.MFAAt, k.LastUsed = fromNanos(created), fromNanos(expires), fromNanos(mfaAt), fromNanos(lastUsed)
	return k, nil
}

// SetAccessKeyOwner moves every key of one owner to another (the bootstrap
// key passes to the first admin user) and says how many moved.
func (s *Store) SetAccessKeyOwner(ctx context.Context, from, to string) (int, error) {
	var n int64
	err := s.write(ctx, func(r runner) (err error) {
		n, err = r.execCount(`UPDATE access_keys SET owner = ? WHERE owner = ?`, to, from)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("meta/sqlite: set access key owner: %w", err)
	}
	return int(n), nil
}

// PutAccessKey stores a new access key; meta.ErrExists if the id is taken.
func (s *Store) PutAccessKey(ctx context.Context, k meta.AccessKey) error {
	secret := k.SealedSecret
	if secret == nil {
		secret = []byte{}
	}
	err := s.write(ctx, func(r runner) error {
		taken, err := r.exists(`SELECT 1 FROM access_keys WHERE id = ?`, k.ID)
		if err != nil {
			return err
		}
		if taken {
			return meta.ErrExists
		}
		_, err = r.exec(`INSERT INTO access_keys (`+accessKeyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			k.ID, secret, k.Owner, nanos(k.Created), nanos(k.Expires), nanos(k.MFAAt), nanos(k.LastUsed), k.Policy)
		return err
	})
	if err != nil {
		return fmt.Errorf("meta/sqlite: put access key %q: %w", k.ID, err)
	}
	return nil
}

// GetAccessKey returns an access key; meta.ErrNoSuchAccessKey if absent.
func (s *Store) GetAccessKey(ctx context.Context, id string) (meta.AccessKey, error) {
	st, err := s.read(ctx).stmt(`SELECT ` + accessKeyCols + ` FROM access_keys WHERE id = ?`)
	var k meta.AccessKey
	if err == nil {
		k, err = scanAccessKey(st.QueryRowContext(ctx, id))
	}
	if errors.Is(err, sql.ErrNoRows) {
		err = meta.ErrNoSuchAccessKey
	}
	if err != nil {
		return meta.AccessKey{}, fmt.Errorf("meta/sqlite: get access key %q: %w", id, err)
	}
	return k, nil
}

// ListAccessKeys returns all access keys by id.
func (s *Store) ListAccessKeys(ctx context.Context) ([]meta.AccessKey, error) {
	rows, err := s.read(ctx).query(`SELECT ` + accessKeyCols + ` FROM access_keys ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("meta/sqlite: list access keys: %w", err)
	}
	defer rows.Close()
	var out []meta.AccessKey
	for rows.Next() {
		k, err := scanAccessKey(rows)
		if err != nil {
			return nil, fmt.Errorf("meta/sqlite: list access keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("meta/sqlite: list access keys: %w", err)
	}
	return out, nil
}

// DeleteAccessKey removes an access key; meta.ErrNoSuchAccessKey if absent.
func (s *Store) DeleteAccessKey(ctx context.Context, id string) error {
	err := s.write(ctx, func(r runner) error {
		return r.execSome(meta.ErrNoSuchAccessKey, `DELETE FROM access_keys WHERE id = ?`, id)
	})
	if err != nil {
		return fmt.Errorf("meta/sqlite: delete access key %q: %w", id, err)
	}
	return nil
}

// TouchAccessKey records when the key last authenticated a request.
func (s *Store) TouchAccessKey(ctx context.Context, id string, lastUsed time.Time) error {
	err := s.write(ctx, func(r runner) error {
		return r.execSome(meta.ErrNoSuchAccessKey, `UPDATE access_keys SET last_used = ? WHERE id = ?`, nanos(lastUsed), id)
	})
	if err != nil {
		return fmt.Errorf("meta/sqlite: touch access key %q: %w", id, err)
	}
	return nil
}

// KEKs.

// ListKEKs returns the stored KEK versions in ascending order.
func (s *Store) ListKEKs(ctx context.Context) ([]meta.StoredKEK, error) {
	rows, err := s.read(ctx).query(`SELECT version, wrapped, created FROM keks ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("meta/sqlite: list keks: %w", err)
	}
	defer rows.Close()
	var out []meta.StoredKEK
	for rows.Next() {
		var k meta.StoredKEK
		var created int64
		if err := rows.Scan(&k.Version, &k.Wrapped, &created); err != nil {
			return nil, fmt.Errorf("meta/sqlite: list keks: %w", err)
		}
		k.Created = fromNanos(created)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("meta/sqlite: list keks: %w", err)
	}
	return out, nil
}

// PutKEK stores a KEK version; meta.ErrExists if the version is taken.
func (s *Store) PutKEK(ctx context.Context, k meta.StoredKEK) error {
	wrapped := k.Wrapped
	if wrapped == nil {
		wrapped = []byte{}
	}
	err := s.write(ctx, func(r runner) error {
		taken, err := r.exists(`SELECT 1 FROM keks WHERE version = ?`, k.Version)
		if err != nil {
			return err
		}
		if taken {
			return meta.ErrExists
		}
		_, err = r.exec(`INSERT INTO keks (version, wrapped, created) VALUES (?, ?, ?)`, k.Version, wrapped, nanos(k.Created))
		return err
	})
	if err != nil {
		return fmt.Errorf("meta/sqlite: put kek %d: %w", k.Version, err)
	}
	return nil
}

// DEKs: every row of segments, object segments and upload parts alike.

// ListDEKs returns up to limit DEKs wrapped by a KEK version below
// belowVersion, oldest version first. Rewrapping what it returns moves
// those rows out of the selection, so repeated calls make progress.
func (s *Store) ListDEKs(ctx context.Context, belowVersion, limit int) ([]meta.DEKRef, error) {
	if limit < 1 {
		return nil, fmt.Errorf("meta/sqlite: list deks: limit %d < 1", limit)
	}
	rows, err := s.read(ctx).query(`SELECT blob_id, wrapped_dek, kek_version FROM segments
		WHERE kek_version < ? ORDER BY kek_version LIMIT ?`, belowVersion, limit)
	if err != nil {
		return nil, fmt.Errorf("meta/sqlite: list deks: %w", err)
	}
	defer rows.Close()
	var out []meta.DEKRef
	for rows.Next() {
		var d meta.DEKRef
		if err := rows.Scan(&d.BlobID, &d.WrappedDEK, &d.KEKVersion); err != nil {
			return nil, fmt.Errorf("meta/sqlite: list deks: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("meta/sqlite: list deks: %w", err)
	}
	return out, nil
}

// UpdateDEK replaces the wrapped DEK of blobID if it still equals old.
func (s *Store) UpdateDEK(ctx context.Context, blobID string, old, new []byte, newVersion int) error {
	if new == nil {
		new = []byte{}
	}
	if old == nil {
		old = []byte{}
	}
	err := s.write(ctx, func(r runner) error {
		return r.execSome(meta.ErrConflict, `UPDATE segments SET wrapped_dek = ?, kek_version = ? WHERE blob_id = ? AND wrapped_dek = ?`,
			new, newVersion, blobID, old)
	})
	if err != nil {
		return fmt.Errorf("meta/sqlite: update dek of blob %s: %w", blobID, err)
	}
	return nil
}

// CountDEKs returns how many DEKs each KEK version wraps.
func (s *Store) CountDEKs(ctx context.Context) (map[int]int64, error) {
	rows, err := s.read(ctx).query(`SELECT kek_version, COUNT(*) FROM segments GROUP BY kek_version`)
	if err != nil {
		return nil, fmt.Errorf("meta/sqlite: count deks: %w", err)
	}
	defer rows.Close()
	out := make(map[int]int64)
	for rows.Next() {
		var v int
		var n int64
		if err := rows.Scan(&v, &n); err != nil {
			return nil, fmt.Errorf("meta/sqlite: count deks: %w", err)
		}
		out[v] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("meta/sqlite: count deks: %w", err)
	}
	return out, nil
}

// blobIDPage is how many ids BlobIDs reads per statement; fn runs between
// pages, never while a statement holds a snapshot open.
const blobIDPage = 1000

// BlobIDs calls fn for every referenced blob id in ascending order. It
// pages through the table, so ids added or removed while it runs may or
// may not be seen; an error from fn stops it and is returned as is.
func (s *Store) BlobIDs(ctx context.Context, fn func(id string) error) error {
	r := s.read(ctx)
	after := ""
	for {
		ids, err := func() ([]string, error) {
			rows, err := r.query(`SELECT blob_id FROM segments WHERE blob_id > ? ORDER BY blob_id LIMIT ?`, after, blobIDPage)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			ids := make([]string, 0, blobIDPage)
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					return nil, err
				}
				ids = append(ids, id)
			}
			return ids, rows.Err()
		}()
		if err != nil {
			return fmt.Errorf("meta/sqlite: blob ids: %w", err)
		}
		for _, id := range ids {
			if err := fn(id); err != nil {
				return err
			}
		}
		if len(ids) < blobIDPage {
			return nil
		}
		after = ids[len(ids)-1]
	}
}
