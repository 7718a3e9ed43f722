package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/coffer-vault/coffer/internal/meta"
)

// IndexAuditEvents adds records to the audit index in one transaction,
// replacing rows with the same ledger index.
func (s *Store) IndexAuditEvents(ctx context.Context, recs []meta.AuditIndexRecord) error {
	if len(recs) == 0 {
		return nil
	}
	for _, r := range recs {
		if r.Index < 0 {
			return fmt.Errorf("meta/sqlite: index audit events: negative index %d", r.Index)
		}
	}
	err := s.write(ctx, func(r runner) error {
		for _, rec := range recs {
			_, err := r.exec(`INSERT INTO audit_events
				(ledger_index, time, actor, access_key, action, resource, outcome, source_ip)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (ledger_index) DO UPDATE SET
					time = excluded.time, actor = excluded.actor, access_key = excluded.access_key,
					action = excluded.action, resource = excluded.resource,
					outcome = excluded.outcome, source_ip = excluded.source_ip`,
				rec.Index, nanos(rec.Time), rec.Actor, rec.AccessKey, rec.Action, rec.Resource, rec.Outcome, rec.SourceIP)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("meta/sqlite: index audit events: %w", err)
	}
	return nil
}

// SearchAudit returns the audit index records q selects.
func (s *Store) SearchAudit(ctx context.Context, q meta.AuditQuery) ([]meta.AuditIndexRecord, error) {
	limit := q.Limit
	switch {
	case limit < 0:
		return nil, fmt.Errorf("meta/sqlite: search audit: limit %d < 0", limit)
	case limit == 0:
		limit = meta.DefaultAuditLimit
	case limit > meta.MaxAuditLimit:
		limit = meta.MaxAuditLimit
	}
	var where []string
	var args []any
	eq := func(col, v string) {
		where = append(where, col+" = ?")
		args = append(args, v)
	}
	// prefix selects col values starting with p as a range, no LIKE.
	prefix := func(col, p string) {
		where = append(where, col+" >= ?")
		args = append(args, p)
		if end, ok := prefixEnd(p); ok {
			where = append(where, col+" < ?")
			args = append(args, end)
		}
	}
	if q.Actor != "" {
		eq("actor", q.Actor)
	}
	if p, ok := strings.CutSuffix(q.Action, "*"); ok {
		if p != "" {
			prefix("action", p)
		}
	} else if q.Action != "" {
		eq("action", q.Action)
	}
	if q.ResourcePrefix != "" {
		prefix("resource", q.ResourcePrefix)
	}
	if q.Outcome != "" {
		eq("outcome", q.Outcome)
	}
	if !q.Since.IsZero() {
		where = append(where, "time >= ?")
		args = append(args, nanos(q.Since))
	}
	if !q.Until.IsZero() {
		where = append(where, "time < ?")
		args = append(args, nanos(q.Until))
	}
	if q.FromIndex > 0 {
		where = append(where, "ledger_index >= ?")
		args = append(args, q.FromIndex)
	}
	if q.BeforeIndex > 0 {
		where = append(where, "ledger_index < ?")
		args = append(args, q.BeforeIndex)
	}
	query := `SELECT ledger_index, time, actor, access_key, action, resource, outcome, source_ip FROM audit_events`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	if q.Newest {
		query += " ORDER BY ledger_index DESC LIMIT ?"
	} else {
		query += " ORDER BY ledger_index LIMIT ?"
	}
	args = append(args, limit)
	rows, err := s.read(ctx).query(query, args...)
	if err != nil {
		return nil, fmt.Errorf("meta/sqlite: search audit: %w", err)
	}
	defer rows.Close()
	var out []meta.AuditIndexRecord
	for rows.Next() {
		var r meta.AuditIndexRecord
		var t int64
		if err := rows.Scan(&r.Index, &t, &r.Actor, &r.AccessKey, &r.Action, &r.Resource, &r.Outcome, &r.SourceIP); err != nil {
			return nil, fmt.Errorf("meta/sqlite: search audit: %w", err)
		}
		r.Time = fromNanos(t)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("meta/sqlite: search audit: %w", err)
	}
	return out, nil
}

// DeleteAuditActor removes the audit index rows of one actor.
func (s *Store) DeleteAuditActor(ctx context.Context, user string) (int64, error) {
	var n int64
	err := s.write(ctx, func(r runner) (err error) {
		n, err = r.execCount(`DELETE FROM audit_events WHERE actor = ?`, user)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("meta/sqlite: delete audit actor: %w", err)
	}
	return n, nil
}
