package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/coffer-vault/coffer/internal/meta"
)

// PutPolicyDoc creates or replaces a policy document.
func (s *Store) PutPolicyDoc(ctx context.Context, p meta.PolicyDoc) error {
	err := s.write(ctx, func(r runner) error {
		_, err := r.exec(`INSERT INTO policies (name, document) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET document = excluded.document`, p.Name, p.Document)
		return err
	})
	if err != nil {
		return fmt.Errorf("meta/sqlite: put policy %q: %w", p.Name, err)
	}
	return nil
}

// ListPolicyDocs returns every stored policy by name.
func (s *Store) ListPolicyDocs(ctx context.Context) ([]meta.PolicyDoc, error) {
	rows, err := s.read(ctx).query(`SELECT name, document FROM policies ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("meta/sqlite: list policies: %w", err)
	}
	defer rows.Close()
	var out []meta.PolicyDoc
	for rows.Next() {
		var p meta.PolicyDoc
		if err := rows.Scan(&p.Name, &p.Document); err != nil {
			return nil, fmt.Errorf("meta/sqlite: list policies: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// PutRoleDef creates or replaces a role.
func (s *Store) PutRoleDef(ctx context.Context, rd meta.RoleDef) error {
	if err := checkRoles(rd.Policies); err != nil {
		return fmt.Errorf("meta/sqlite: put role %q: policy names: %w", rd.Name, err)
	}
	mfa := 0
	if rd.MFAAtLogin {
		mfa = 1
	}
	err := s.write(ctx, func(r runner) error {
		_, err := r.exec(`INSERT INTO roles (name, policies, mfa_at_login) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET policies = excluded.policies, mfa_at_login = excluded.mfa_at_login`,
			rd.Name, strings.Join(rd.Policies, ","), mfa)
		return err
	})
	if err != nil {
		return fmt.Errorf("meta/sqlite: put role %q: %w", rd.Name, err)
	}
	return nil
}

// ListRoleDefs returns every stored role by name.
func (s *Store) ListRoleDefs(ctx context.Context) ([]meta.RoleDef, error) {
	rows, err := s.read(ctx).query(`SELECT name, policies, mfa_at_login FROM roles ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("meta/sqlite: list roles: %w", err)
	}
	defer rows.Close()
	var out []meta.RoleDef
	for rows.Next() {
		var rd meta.RoleDef
		var policies string
		var mfa int
		if err := rows.Scan(&rd.Name, &policies, &mfa); err != nil {
			return nil, fmt.Errorf("meta/sqlite: list roles: %w", err)
		}
		if policies != "" {
			rd.Policies = strings.Split(policies, ",")
		}
		rd.MFAAtLogin = mfa != 0
		out = append(out, rd)
	}
	return out, rows.Err()
}

// deleteByName deletes the row of table named name, or returns missing.
func (s *Store) deleteByName(ctx context.Context, table, name string, missing error) error {
	return s.write(ctx, func(r runner) error {
		return r.execSome(missing, `DELETE FROM `+table+` WHERE name = ?`, name)
	})
}

// DeletePolicyDoc removes a stored policy; meta.ErrNoSuchPolicy if absent.
func (s *Store) DeletePolicyDoc(ctx context.Context, name string) error {
	if err := s.deleteByName(ctx, "policies", name, meta.ErrNoSuchPolicy); err != nil {
		return fmt.Errorf("meta/sqlite: delete policy %q: %w", name, err)
	}
	return nil
}

// DeleteRoleDef removes a stored role; meta.ErrNoSuchRole if absent.
func (s *Store) DeleteRoleDef(ctx context.Context, name string) error {
	if err := s.deleteByName(ctx, "roles", name, meta.ErrNoSuchRole); err != nil {
		return fmt.Errorf("meta/sqlite: delete role %q: %w", name, err)
	}
	return nil
}

// DeleteGroup removes a group; meta.ErrNoSuchGroup if absent.
func (s *Store) DeleteGroup(ctx context.Context, name string) error {
	if err := s.deleteByName(ctx, "groups", name, meta.ErrNoSuchGroup); err != nil {
		return fmt.Errorf("meta/sqlite: delete group %q: %w", name, err)
	}
	return nil
}
