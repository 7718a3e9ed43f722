package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/coffer-vault/coffer/internal/meta"
)

// Store is what the identity service keeps its users and sessions in;
// meta.Store implementations satisfy it.
type Store interface {
	CreateUser(ctx context.Context, u meta.User) error
	GetUser(ctx context.Context, name string) (meta.User, error)
	UpdateUser(ctx context.Context, name string, fn func(*meta.User) error) error
	DeleteUser(ctx context.Context, name string) error
	ListGroups(ctx context.Context) ([]meta.Group, error)
	PutSession(ctx context.Context, s meta.Session) error
	GetSession(ctx context.Context, hash []byte) (meta.Session, error)
	TouchSession(ctx context.Context, hash []byte, lastSeen, mfaAt time.Time) error
	DeleteSession(ctx context.Context, hash []byte) error
	DeleteUserSessions(ctx context.Context, user string) (int, error)
}

// Sealer seals TOTP secrets (the keyring).
type Sealer interface {
	Seal(plaintext, ad []byte) ([]byte, error)
	Open(sealed, ad []byte) ([]byte, error)
}

// Config wires a Service.
type Config struct {
	Store  Store
	Sealer Sealer
	// Argon2 are the hashing costs for new passwords; zero means DefaultArgon2.
	Argon2 Argon2Params
	// Lockout is the per-account policy; zero means DefaultLockout.
	Lockout LockoutPolicy
	// IPs throttles attempts per source address; nil means 30 at once, then 2/s.
	IPs *IPLimiter
	// Issuer names Coffer in authenticator apps; empty means "Coffer".
	Issuer string
	// MFARequired says whether holders of roles must log in with MFA.
	MFARequired func(roles []string) bool
	Now         func() time.Time
	// OnLock, if set, is told when failed logins lock an account (the
	// transition, not every refused attempt while it stays locked), so the
	// lock itself can be recorded.
	OnLock func(ctx context.Context, user string, until time.Time)
}

// Service logs users in and resolves sessions.
type Service struct {
	cfg       Config
	dummyHash string // verified for unknown users, so they take as long as wrong passwords
}

// Errors Login and Authenticate return. ErrBadCredentials is the one answer
// for an unknown user, a wrong password and a wrong second factor.
var (
	ErrBadCredentials = errors.New("auth: wrong user name, password or code")
	ErrMFARequired    = errors.New("auth: a one-time code or recovery code is required")
	ErrLocked         = errors.New("auth: account locked")
	ErrThrottled      = errors.New("auth: too many attempts; wait and retry")
	ErrInvalidName    = errors.New("auth: user names are 1-64 characters of a-z, 0-9, '.', '_' and '-'")
	ErrUnauthorized   = errors.New("auth: not logged in")
)

// ThrottledError says how long to wait; it wraps ErrThrottled or ErrLocked.
type ThrottledError struct {
	Err        error
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.RetryAfter.Round(time.Second))
}
func (e *ThrottledError) Unwrap() error { return e.Err }

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Argon2 == (Argon2Params{}) {
		cfg.Argon2 = DefaultArgon2
	}
	if cfg.Lockout == (LockoutPolicy{}) {
		cfg.Lockout = DefaultLockout
	}
	if cfg.IPs == nil {
		cfg.IPs = NewIPLimiter(2, 30, 100_000)
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "Coffer"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MFARequired == nil {
		cfg.MFARequired = func([]string) bool { return false }
	}
	dummy, err := HashPassword("unknown user: dummy password", cfg.Argon2)
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, dummyHash: dummy}, nil
}

// ValidUserName checks a user name.
func ValidUserName(name string) error {
	if len(name) == 0 || len(name) > 64 {
		return ErrInvalidName
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return ErrInvalidName
		}
	}
	return nil
}

// AddUser creates a user with a password that passes CheckPassword.
func (s *Service) AddUser(ctx context.Context, name, password string, roles []string) error {
	if err := ValidUserName(name); err != nil {
		return err
	}
	if err := CheckPassword(password, name); err != nil {
		return err
	}
	h, err := HashPassword(password, s.cfg.Argon2)
	if err != nil {
		return err
	}
	return s.cfg.Store.CreateUser(ctx, meta.User{Name: name, PasswordHash: h, Roles: slices.Clone(roles), Created: s.cfg.Now().UTC()})
}

// SetPassword replaces a user's password and ends all their sessions.
func (s *Service) SetPassword(ctx context.Context, name, password string) error {
	if err := CheckPassword(password, name); err != nil {
		return err
	}
	h, err := HashPassword(password, s.cfg.Argon2)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.UpdateUser(ctx, name, func(u *meta.User) error { u.PasswordHash = h; return nil }); err != nil {
		return err
	}
	_, err = s.cfg.Store.DeleteUserSessions(ctx, name)
	return err
}

func totpAD(user string) []byte { return []byte("coffer/totp/" + user) }

// EnrollTOTP gives a user a new TOTP secret and a fresh set of recovery
// codes (replacing any earlier ones) and ends their sessions. It returns the
// otpauth:// URI for the authenticator app and the recovery codes, both
// shown once; only the sealed secret and the codes' hashes are stored.
func (s *Service) EnrollTOTP(ctx context.Context, name string) (uri string, recovery []string, err error) {
	secret, uri, err := NewTOTP(s.cfg.Issuer, name, TOTPConfig{})
	if err != nil {
		return "", nil, err
	}
	sealed, err := s.cfg.Sealer.Seal([]byte(secret), totpAD(name))
	if err != nil {
		return "", nil, fmt.Errorf("auth: seal TOTP secret: %w", err)
	}
	codes, hashes := NewRecoveryCodes(RecoveryCodeCount)
	err = s.cfg.Store.UpdateUser(ctx, name, func(u *meta.User) error {
		u.TOTPSecret, u.TOTPLastStep, u.Recovery = sealed, 0, slices.Concat(hashes...)
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	if _, err := s.cfg.Store.DeleteUserSessions(ctx, name); err != nil {
		return "", nil, err
	}
	return uri, codes, nil
}

// LoginRequest is one login attempt.
type LoginRequest struct {
	User, Password string
	Code           string // TOTP code, when the user has enrolled
	RecoveryCode   string // instead of Code
	IP             string
}

// LoginResult is a successful login.
type LoginResult struct {
	Token string // the session token; shown to the client only
	MFA   bool   // the session carries an MFA proof
	// MustEnrollMFA: the user's roles need MFA and none is enrolled yet;
	// the session may only enrol (the admin plane enforces it).
	MustEnrollMFA bool
}

// Login checks a password (and second factor), applies throttling and
// lockout, and opens a session. Unknown users, wrong passwords and wrong
// codes get the same error after the same work.
func (s *Service) Login(ctx context.Context, req LoginRequest) (LoginResult, error) {
	now := s.cfg.Now()
	if !s.cfg.IPs.Allow(req.IP, now) {
		return LoginResult{}, &ThrottledError{Err: ErrThrottled, RetryAfter: time.Second}
	}
	u, err := s.cfg.Store.GetUser(ctx, req.User)
	known := err == nil
	if err != nil && !errors.Is(err, meta.ErrNoSuchUser) {
		return LoginResult{}, err
	}
	if known {
		if err := s.admit(u, now); err != nil {
			return LoginResult{}, err
		}
	}
	hash := s.dummyHash
	if known {
		hash = u.PasswordHash
	}
	ok, rehash, err := VerifyPassword(req.Password, hash, s.cfg.Argon2)
	if err != nil && known {
		return LoginResult{}, fmt.Errorf("auth: stored password of %q: %w", req.User, err)
	}
	if !known || !ok {
		return LoginResult{}, s.fail(ctx, u, known, now, ErrBadCredentials)
	}

	mfa := len(u.TOTPSecret) > 0
	var step int64
	if mfa {
		if step, err = s.checkSecondFactor(ctx, u, req.Code, req.RecoveryCode, now); err != nil {
			return LoginResult{}, err
		}
	}
	newHash := ""
	if rehash {
		newHash, _ = HashPassword(req.Password, s.cfg.Argon2)
	}
	err = s.cfg.Store.UpdateUser(ctx, u.Name, func(cur *meta.User) error {
		if mfa {
			if err := useSecondFactor(cur, step, req.RecoveryCode); err != nil {
				return err
			}
		}
		if newHash != "" {
			cur.PasswordHash = newHash
		}
		st := s.cfg.Lockout.Succeeded(AccountState{})
		cur.Failures, cur.LastFailure, cur.LockedUntil = st.Failures, st.LastFailure, st.LockedUntil
		return nil
	})
	if err != nil {
		return LoginResult{}, err
	}
	token, th := NewSessionToken()
	se := meta.Session{Hash: th, User: u.Name, Created: now.UTC(), LastSeen: now.UTC()}
	if mfa {
		se.MFAAt = now.UTC()
	}
	if err := s.cfg.Store.PutSession(ctx, se); err != nil {
		return LoginResult{}, err
	}
	roles, err := EffectiveRoles(ctx, s.cfg.Store, u)
	if err != nil {
		return LoginResult{}, err
	}
	return LoginResult{Token: token, MFA: mfa, MustEnrollMFA: !mfa && s.cfg.MFARequired(roles)}, nil
}

// fail records a failed attempt for a known user (locking the account when
// the policy says so) and returns err.
func (s *Service) fail(ctx context.Context, u meta.User, known bool, now time.Time, err error) error {
	if !known {
		return err
	}
	var lockedUntil time.Time
	uerr := s.cfg.Store.UpdateUser(ctx, u.Name, func(cur *meta.User) error {
		st, locked := s.cfg.Lockout.Failed(AccountState{Failures: cur.Failures, LastFailure: cur.LastFailure, LockedUntil: cur.LockedUntil}, now)
		if locked {
			lockedUntil = st.LockedUntil
		}
		cur.Failures, cur.LastFailure, cur.LockedUntil = st.Failures, st.LastFailure, st.LockedUntil
		return nil
	})
	if uerr != nil {
		return uerr
	}
	if !lockedUntil.IsZero() && s.cfg.OnLock != nil {
		s.cfg.OnLock(ctx, u.Name, lockedUntil)
	}
	return err
}

// admit applies the account lockout policy to an attempt on u.
func (s *Service) admit(u meta.User, now time.Time) error {
	st := AccountState{Failures: u.Failures, LastFailure: u.LastFailure, LockedUntil: u.LockedUntil}
	v := s.cfg.Lockout.Admit(st, now)
	if v.Allowed {
		return nil
	}
	e := ErrThrottled
	if v.Locked {
		e = ErrLocked
	}
	return &ThrottledError{Err: e, RetryAfter: v.RetryAfter}
}

// checkSecondFactor checks the TOTP code (or else the recovery code) of a
// user with TOTP enrolled, counting a wrong one as a failed attempt
// (ErrBadCredentials). It returns the TOTP step matched, 0 when the
// recovery code matched; useSecondFactor then spends it.
func (s *Service) checkSecondFactor(ctx context.Context, u meta.User, code, recovery string, now time.Time) (int64, error) {
	switch {
	case code != "":
		secret, err := s.cfg.Sealer.Open(u.TOTPSecret, totpAD(u.Name))
		if err != nil {
			return 0, fmt.Errorf("auth: open TOTP secret of %q: %w", u.Name, err)
		}
		step, err := CheckTOTP(string(secret), code, now, u.TOTPLastStep, TOTPConfig{})
		if err != nil {
			return 0, s.fail(ctx, u, true, now, ErrBadCredentials)
		}
		return step, nil
	case recovery != "":
		if MatchRecoveryCode(recovery, splitHashes(u.Recovery)) < 0 {
			return 0, s.fail(ctx, u, true, now, ErrBadCredentials)
		}
		return 0, nil
	}
	return 0, ErrMFARequired
}

// useSecondFactor spends, in the transaction that accepts it, what
// checkSecondFactor matched: the TOTP step (step > 0) or the recovery
// code. ErrBadCredentials if a concurrent attempt spent it first.
func useSecondFactor(cur *meta.User, step int64, recovery string) error {
	if step > 0 {
		if step <= cur.TOTPLastStep {
			return ErrBadCredentials
		}
		cur.TOTPLastStep = step
		return nil
	}
	hs := splitHashes(cur.Recovery)
	i := MatchRecoveryCode(recovery, hs)
	if i < 0 {
		return ErrBadCredentials
	}
	cur.Recovery = slices.Concat(slices.Delete(hs, i, i+1)...)
	return nil
}

func splitHashes(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= 32 {
		out = append(out, b[:32:32])
		b = b[32:]
	}
	return out
}

// Identity is who a session belongs to.
type Identity struct {
	User  string
	Roles []string
	MFA   bool
	MFAAt time.Time
}

// sessionTouchEvery is how stale a session's LastSeen may get before
// Authenticate records new activity.
const sessionTouchEvery = time.Minute

// Authenticate resolves a session token, enforcing the idle and absolute
// lifetimes (an expired session is deleted), and records the activity.
func (s *Service) Authenticate(ctx context.Context, token string) (Identity, error) {
	if ValidToken(token) != nil {
		return Identity{}, ErrUnauthorized
	}
	now := s.cfg.Now()
	h := HashSessionToken(token)
	se, err := s.cfg.Store.GetSession(ctx, h)
	if errors.Is(err, meta.ErrNoSuchSession) {
		return Identity{}, ErrUnauthorized
	}
	if err != nil {
		return Identity{}, err
	}
	if CheckSession(SessionTimes{Created: se.Created, LastSeen: se.LastSeen}, now) != nil {
		s.cfg.Store.DeleteSession(ctx, h)
		return Identity{}, ErrUnauthorized
	}
	u, err := s.cfg.Store.GetUser(ctx, se.User)
	if errors.Is(err, meta.ErrNoSuchUser) {
		return Identity{}, ErrUnauthorized
	}
	if err != nil {
		return Identity{}, err
	}
	if now.Before(u.LockedUntil) {
		return Identity{}, ErrUnauthorized
	}
	// Recording activity is a durable write (and moves the store's write
	// generation, emptying identity caches), so it is made at most once a
	// sessionTouchEvery: the idle clock may then run out up to that much
	// early, never late.
	if now.Sub(se.LastSeen) >= sessionTouchEvery {
		if err := s.cfg.Store.TouchSession(ctx, h, now.UTC(), time.Time{}); err != nil {
			return Identity{}, err
		}
	}
	roles, err := EffectiveRoles(ctx, s.cfg.Store, u)
	if err != nil {
		return Identity{}, err
	}
	return Identity{User: u.Name, Roles: roles, MFA: !se.MFAAt.IsZero(), MFAAt: se.MFAAt}, nil
}

// Logout ends the session of token.
func (s *Service) Logout(ctx context.Context, token string) error {
	if ValidToken(token) != nil {
		return nil
	}
	return s.cfg.Store.DeleteSession(ctx, HashSessionToken(token))
}

// adminLock is how long an administrator's lock lasts: until unlocked.
const adminLock = 100 * 365 * 24 * time.Hour

// Lock locks an account until Unlock and ends its sessions.
func (s *Service) Lock(ctx context.Context, name string) error {
	until := s.cfg.Now().Add(adminLock).UTC()
	if err := s.cfg.Store.UpdateUser(ctx, name, func(u *meta.User) error { u.LockedUntil = until; return nil }); err != nil {
		return err
	}
	_, err := s.cfg.Store.DeleteUserSessions(ctx, name)
	return err
}

// Unlock clears a lock (an administrator's or the lockout policy's) and the
// failure count.
func (s *Service) Unlock(ctx context.Context, name string) error {
	return s.cfg.Store.UpdateUser(ctx, name, func(u *meta.User) error {
		u.LockedUntil, u.Failures, u.LastFailure = time.Time{}, 0, time.Time{}
		return nil
	})
}

// DeleteUser removes a user and their sessions.
func (s *Service) DeleteUser(ctx context.Context, name string) error {
	return s.cfg.Store.DeleteUser(ctx, name)
}

// ResetMFA removes a user's TOTP secret and recovery codes (a lost phone)
// and ends their sessions; they enrol again at their next login.
func (s *Service) ResetMFA(ctx context.Context, name string) error {
	err := s.cfg.Store.UpdateUser(ctx, name, func(u *meta.User) error {
		u.TOTPSecret, u.TOTPLastStep, u.Recovery = nil, 0, nil
		return nil
	})
	if err != nil {
		return err
	}
	_, err = s.cfg.Store.DeleteUserSessions(ctx, name)
	return err
}

// EffectiveRoles are a user's own roles plus those of their groups, each once.
func EffectiveRoles(ctx context.Context, groups interface {
	ListGroups(ctx context.Context) ([]meta.Group, error)
}, u meta.User) ([]string, error) {
	roles := slices.Clone(u.Roles)
	if len(u.Groups) == 0 {
		return roles, nil
	}
	gs, err := groups.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	for _, g := range gs {
		if slices.Contains(u.Groups, g.Name) {
			for _, r := range g.Roles {
				if !slices.Contains(roles, r) {
					roles = append(roles, r)
				}
			}
		}
	}
	return roles, nil
}
