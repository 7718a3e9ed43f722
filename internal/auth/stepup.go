package auth

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/coffer-vault/coffer/internal/meta"
)

// ErrNoMFA: the account has no TOTP enrolled, so there is nothing to verify
// and no recovery codes to regenerate.
var ErrNoMFA = errors.New("auth: no MFA enrolled for this account")

// Now is the service's clock (Config.Now): the admin plane judges MFA
// proofs by it, so tests can age them.
func (s *Service) Now() time.Time { return s.cfg.Now() }

// MFAProof is a second factor presented for a running session (step-up).
type MFAProof struct {
	Code         string // TOTP code
	RecoveryCode string // instead of Code; used up
	IP           string
}

// VerifyMFA refreshes the MFA proof of the session behind token: a TOTP
// code (each time step accepted once, as at login) or a recovery code
// (used up) stamps the session's MFA time with now, so dangerous actions
// pass step-up without logging in again. It is throttled and counted
// against the account like a login; a wrong code is ErrBadCredentials.
func (s *Service) VerifyMFA(ctx context.Context, token string, proof MFAProof) (Identity, error) {
	now := s.cfg.Now()
	if !s.cfg.IPs.Allow(proof.IP, now) {
		return Identity{}, &ThrottledError{Err: ErrThrottled, RetryAfter: time.Second}
	}
	id, err := s.Authenticate(ctx, token)
	if err != nil {
		return Identity{}, err
	}
	u, err := s.cfg.Store.GetUser(ctx, id.User)
	if err != nil {
		return Identity{}, err
	}
	if err := s.admit(u, now); err != nil {
		return Identity{}, err
	}
	if len(u.TOTPSecret) == 0 {
		return Identity{}, ErrNoMFA
	}
	step, err := s.checkSecondFactor(ctx, u, proof.Code, proof.RecoveryCode, now)
	if err != nil {
		return Identity{}, err
	}
	err = s.cfg.Store.UpdateUser(ctx, u.Name, func(cur *meta.User) error {
		if err := useSecondFactor(cur, step, proof.RecoveryCode); err != nil {
			return err
		}
		cur.Failures, cur.LastFailure, cur.LockedUntil = 0, time.Time{}, time.Time{}
		return nil
	})
	if err != nil {
		return Identity{}, err
	}
	if err := s.cfg.Store.TouchSession(ctx, HashSessionToken(token), now.UTC(), now.UTC()); err != nil {
		return Identity{}, err
	}
	id.MFA, id.MFAAt = true, now.UTC()
	return id, nil
}

// RegenerateRecoveryCodes replaces a user's recovery codes with
// RecoveryCodeCount fresh ones, returned to be shown once; the old codes
// stop working. The TOTP secret is kept. The caller demands a fresh MFA
// proof first (the admin plane does).
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, name string) ([]string, error) {
	codes, hashes := NewRecoveryCodes(RecoveryCodeCount)
	err := s.cfg.Store.UpdateUser(ctx, name, func(u *meta.User) error {
		if len(u.TOTPSecret) == 0 {
			return ErrNoMFA
		}
		u.Recovery = slices.Concat(hashes...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}
