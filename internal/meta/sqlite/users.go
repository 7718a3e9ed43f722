package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coffer-vault/coffer/internal/meta"
)

const userCols = `name, password_hash, totp_secret, totp_last_step, recovery, roles, failures, last_failure, locked_until, created, groups`

func scanUser(sc interface{ Scan(...any) error }) (meta.User, error) {
	var u meta.User
	var roles, groups string
	var lastFailure, lockedUntil, created int64
	err := sc.Scan(&u.Name, &u.PasswordHash, &u.TOTPSecret, &u.TOTPLastStep, &u.Recovery, &roles,
		&u.Failures, &lastFailure, &lockedUntil, &created, &groups)
	if err != nil {
		return u, err
	}
	if roles != "" {
		u.Roles = strings.Split(roles, ",")
	}
	if groups != "" {
		u.Groups = strings.Split(groups, ",")
	}
	u.LastFailure, u.LockedUntil, u.Created = fromNanos(lastFailure), fromNanos(lockedUntil), fromNanos(created)
	return u, nil
}

func userArgs(u meta.User) []any {
	return []any{u.Name, u.PasswordHash, nilIfEmpty(u.TOTPSecret), u.TOTPLastStep, nilIfEmpty(u.Recovery),
		strings.Join(u.Roles, ","), u.Failures, nanos(u.LastFailure), nanos(u.LockedUntil), nanos(u.Created), strings.Join(u.Groups, ",")}
}

func checkRoles(roles []string) error {
	for _, r := range roles {
		if r == "" || strings.Contains(r, ",") {
			return fmt.Errorf("role name %q is empty or contains a comma", r)
		}
	}
	return nil
}

// CreateUser stores a new user; meta.ErrExists if the name is taken.
func (s *Store) CreateUser(ctx context.Context, u meta.User) error {
	if err := checkRoles(append(slices.Clone(u.Roles), u.Groups...)); err != nil {
		return fmt.Errorf("meta/sqlite: create user %q: %w", u.Name, err)
	}
	err := s.write(ctx, func(r runner) error {
		taken, err := r.exists(`SELECT 1 FROM users WHERE name = ?`, u.Name)
		if err != nil {
			return err
		}
		if taken {
			return meta.ErrExists
		}
		_, err = r.exec(`INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, userArgs(u)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("meta/sqlite: create user %q: %w", u.Name, err)
	}
	return nil
}

func getUser(r runner, name string) (meta.User, error) {
	stmt, err := r.stmt(`SELECT ` + userCols + ` FROM users WHERE name = ?`)
	if err != nil {
		return meta.User{}, err
	}
	u, err := scanUser(stmt.QueryRowContext(r.ctx, name))
	if errors.Is(err, sql.ErrNoRows) {
		return u, meta.ErrNoSuchUser
	}
	return u, err
}

// GetUser returns a user; meta.ErrNoSuchUser if absent.
func (s *Store) GetUser(ctx context.Context, name string) (meta.User, error) {
	u, err := getUser(s.read(ctx), name)
	if err != nil {
		return u, fmt.Errorf("meta/sqlite: get user %q: %w", name, err)
	}
	return u, nil
}

// ListUsers returns every user by name.
func (s *Store) ListUsers(ctx context.Context) ([]meta.User, error) {
	rows, err := s.read(ctx).query(`SELECT ` + userCols + ` FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("meta/sqlite: list users: %w", err)
	}
	defer rows.Close()
	var out []meta.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("meta/sqlite: list users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// UpdateUser is a read-modify-write of one user in one transaction.
func (s *Store) UpdateUser(ctx context.Context, name string, fn func(*meta.User) error) error {
	err := s.write(ctx, func(r runner) error {
		u, err := getUser(r, name)
		if err != nil {
			return err
		}
		if err := fn(&u); err != nil {
			return err
		}
		u.Name = name // the key cannot change
		if err := checkRoles(append(slices.Clone(u.Roles), u.Groups...)); err != nil {
			return err
		}
		args := userArgs(u)
		_, err = r.exec(`UPDATE users SET password_hash = ?, totp_secret = ?, totp_last_step = ?, recovery = ?, roles = ?,
			failures = ?, last_failure = ?, locked_until = ?, created = ?, groups = ? WHERE name = ?`, append(args[1:], name)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("meta/sqlite: update user %q: %w", name, err)
	}
	return nil
}

// DeleteUser removes a user and, by cascade, their sessions.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	err := s.write(ctx, func(r runner) error {
		if _, err := r.exec(`DELETE FROM sessions WHERE user_name = ?`, name); err != nil {
			return err
		}
		return r.execSome(meta.ErrNoSuchUser, `DELETE FROM users WHERE name = ?`, name)
	})
	if err != nil {
		return fmt.Errorf("meta/sqlite: delete user %q: %w", name, err)
	}
	return nil
}

// PutSession stores a new session for an existing user.
func (s *Store) PutSession(ctx context.Context, se meta.Session) error {
	err := s.write(ctx, func(r runner) error {
		ok, err := r.exists(`SELECT 1 FROM users WHERE name = ?`, se.User)
		if err != nil {
			return err
		}
		if !ok {
			return meta.ErrNoSuchUser
		}
		_, err = r.exec(`INSERT INTO sessions (hash, user_name, created, last_seen, mfa_at) VALUES (?, ?, ?, ?, ?)`,
			se.Hash, se.User, nanos(se.Created), nanos(se.LastSeen), nanos(se.MFAAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("meta/sqlite: put session: %w", err)
	}
	return nil
}

// GetSession returns a session by token hash; meta.ErrNoSuchSession if absent.
func (s *Store) GetSession(ctx context.Context, hash []byte) (meta.Session, error) {
	var se meta.Session
	var created, lastSeen, mfaAt int64
	err := s.read(ctx).queryRow(`SELECT hash, user_name, created, last_seen, mfa_at FROM sessions WHERE hash = ?`,
		[]any{hash}, &se.Hash, &se.User, &created, &lastSeen, &mfaAt)
	if errors.Is(err, sql.ErrNoRows) {
		err = meta.ErrNoSuchSession
	}
	if err != nil {
		return se, fmt.Errorf("meta/sqlite: get session: %w", err)
	}
	se.Created, se.LastSeen, se.MFAAt = fromNanos(created), fromNanos(lastSeen), fromNanos(mfaAt)
	return se, nil
}

// TouchSession records activity (and a fresh MFA proof when mfaAt is set).
func (s *Store) TouchSession(ctx context.Context, hash []byte, lastSeen, mfaAt time.Time) error {
	err := s.write(ctx, func(r runner) error {
		return r.execSome(meta.ErrNoSuchSession, `UPDATE sessions SET last_seen = ?, mfa_at = CASE WHEN ? = 0 THEN mfa_at ELSE ? END WHERE hash = ?`,
			nanos(lastSeen), nanos(mfaAt), nanos(mfaAt), hash)
	})
	if err != nil {
		return fmt.Errorf("meta/sqlite: touch session: %w", err)
	}
	return nil
}

// DeleteSession ends one session; ending a missing one is not an error.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	err := s.write(ctx, func(r runner) error {
		_, err := r.exec(`DELETE FROM sessions WHERE hash = ?`, hash)
		return err
	})
	if err != nil {
		return fmt.Errorf("meta/sqlite: delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions ends every session of user and says how many.
func (s *Store) DeleteUserSessions(ctx context.Context, user string) (int, error) {
	var n int64
	err := s.write(ctx, func(r runner) (err error) {
		n, err = r.execCount(`DELETE FROM sessions WHERE user_name = ?`, user)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("meta/sqlite: delete sessions of %q: %w", user, err)
	}
	return int(n), nil
}

// PutGroup creates or replaces a group.
func (s *Store) PutGroup(ctx context.Context, g meta.Group) error {
	if err := checkRoles(g.Roles); err != nil {
		return fmt.Errorf("meta/sqlite: put group %q: %w", g.Name, err)
	}
	err := s.write(ctx, func(r runner) error {
		_, err := r.exec(`INSERT INTO groups (name, roles) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET roles = excluded.roles`, g.Name, strings.Join(g.Roles, ","))
		return err
	})
	if err != nil {
		return fmt.Errorf("meta/sqlite: put group %q: %w", g.Name, err)
	}
	return nil
}

// ListGroups returns every group by name.
func (s *Store) ListGroups(ctx context.Context) ([]meta.Group, error) {
	rows, err := s.read(ctx).query(`SELECT name, roles FROM groups ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("meta/sqlite: list groups: %w", err)
	}
	defer rows.Close()
	var out []meta.Group
	for rows.Next() {
		var g meta.Group
		var roles string
		if err := rows.Scan(&g.Name, &roles); err != nil {
			return nil, fmt.Errorf("meta/sqlite: list groups: %w", err)
		}
		if roles != "" {
			g.Roles = strings.Split(roles, ",")
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// ListSessions returns a user's sessions, oldest first.
func (s *Store) ListSessions(ctx context.Context, user string) ([]meta.Session, error) {
	rows, err := s.read(ctx).query(`SELECT hash, user_name, created, last_seen, mfa_at FROM sessions WHERE user_name = ? ORDER BY created, hash`, user)
	if err != nil {
		return nil, fmt.Errorf("meta/sqlite: list sessions: %w", err)
	}
	defer rows.Close()
	var out []meta.Session
	for rows.Next() {
		var se meta.Session
		var created, lastSeen, mfaAt int64
		if err := rows.Scan(&se.Hash, &se.User, &created, &lastSeen, &mfaAt); err != nil {
			return nil, fmt.Errorf("meta/sqlite: list sessions: %w", err)
		}
		se.Created, se.LastSeen, se.MFAAt = fromNanos(created), fromNanos(lastSeen), fromNanos(mfaAt)
		out = append(out, se)
	}
	return out, rows.Err()
}
