package auth

import (
	"context"
	"errors"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/coffer-vault/coffer/internal/meta/sqlite"
	"github.com/coffer-vault/coffer/internal/seal"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

const goodPassword = "tangerine-Harbour-91-lantern"

func newService(t *testing.T, mfaRoles ...string) (*Service, *sqlite.Store, *clock) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var root seal.RootKey
	root[0] = 1
	keys, err := seal.NewKeyring(ctx, root, st)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	s, err := New(Config{
		Store: st, Sealer: keys, Now: c.now,
		Argon2: Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}, // fast, for tests only
		IPs:    NewIPLimiter(1000, 1000, 100),
		MFARequired: func(roles []string) bool {
			for _, r := range roles {
				for _, m := range mfaRoles {
					if r == m {
						return true
					}
				}
			}
			return false
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, st, c
}

func TestLoginSessionLogout(t *testing.T) {
	ctx := context.Background()
	s, _, c := newService(t)
	if err := s.AddUser(ctx, "ana", "password1234", nil); !errors.Is(err, ErrPasswordWeak) {
		t.Fatalf("weak password: %v", err)
	}
	if err := s.AddUser(ctx, "Ana Smith", goodPassword, nil); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("bad name: %v", err)
	}
	if err := s.AddUser(ctx, "ana", goodPassword, []string{"editor"}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Login(ctx, LoginRequest{User: "ana", Password: goodPassword, IP: "10.0.0.1"})
	if err != nil || res.Token == "" || res.MFA || res.MustEnrollMFA {
		t.Fatalf("Login = %+v, %v", res, err)
	}
	id, err := s.Authenticate(ctx, res.Token)
	if err != nil || id.User != "ana" || id.Roles[0] != "editor" || id.MFA {
		t.Fatalf("Authenticate = %+v, %v", id, err)
	}
	for _, bad := range []string{"", "garbage", res.Token[:len(res.Token)-2] + "AA"} {
		if _, err := s.Authenticate(ctx, bad); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("Authenticate(%q) = %v", bad, err)
		}
	}
	// Idle timeout: 14 minutes of quiet is fine and resets the idle clock; 15 is not.
	c.add(14 * time.Minute)
	if _, err := s.Authenticate(ctx, res.Token); err != nil {
		t.Fatalf("after 14 idle minutes: %v", err)
	}
	c.add(14 * time.Minute) // 28 minutes after login, 14 after the last request
	if _, err := s.Authenticate(ctx, res.Token); err != nil {
		t.Fatalf("activity did not reset the idle clock: %v", err)
	}
	// Requests closer together than sessionTouchEvery are not written down,
	// so the idle clock runs from the last one that was.
	c.add(sessionTouchEvery / 2)
	if _, err := s.Authenticate(ctx, res.Token); err != nil {
		t.Fatal(err)
	}
	c.add(SessionIdle - sessionTouchEvery/2)
	if _, err := s.Authenticate(ctx, res.Token); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("idle clock ran from an unrecorded request: %v", err)
	}
	res, _ = s.Login(ctx, LoginRequest{User: "ana", Password: goodPassword})
	c.add(14 * time.Minute)
	c.add(15 * time.Minute)
	if _, err := s.Authenticate(ctx, res.Token); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("after 15 idle minutes: %v", err)
	}
	res, _ = s.Login(ctx, LoginRequest{User: "ana", Password: goodPassword})
	if err := s.Logout(ctx, res.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, res.Token); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("after logout: %v", err)
	}
	// A password change ends every session.
	res, _ = s.Login(ctx, LoginRequest{User: "ana", Password: goodPassword})
	if err := s.SetPassword(ctx, "ana", "quasar-Murmur-58-plinth-vault"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, res.Token); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("session survived a password change: %v", err)
	}
}

func TestLoginNoEnumerationAndLockout(t *testing.T) {
	ctx := context.Background()
	s, st, c := newService(t)
	var lockedUsers []string
	s.cfg.OnLock = func(_ context.Context, user string, until time.Time) {
		lockedUsers = append(lockedUsers, user)
		if !until.After(c.now()) {
			t.Errorf("locked until %v, not after now", until)
		}
	}
	s.AddUser(ctx, "bob", goodPassword, nil)
	_, errUnknown := s.Login(ctx, LoginRequest{User: "nobody", Password: goodPassword})
	_, errWrong := s.Login(ctx, LoginRequest{User: "bob", Password: "wrong-" + goodPassword})
	if !errors.Is(errUnknown, ErrBadCredentials) || errUnknown.Error() != errWrong.Error() {
		t.Fatalf("unknown user %q vs wrong password %q: must be the same answer", errUnknown, errWrong)
	}
	// Brute force: keep guessing, honouring every delay, until locked.
	locked := false
	for i := 0; i < 20 && !locked; i++ {
		_, err := s.Login(ctx, LoginRequest{User: "bob", Password: "guess"})
		var te *ThrottledError
		switch {
		case errors.As(err, &te) && errors.Is(err, ErrLocked):
			locked = true
		case errors.As(err, &te):
			c.add(te.RetryAfter)
		case !errors.Is(err, ErrBadCredentials):
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	u, _ := st.GetUser(ctx, "bob")
	if !locked || u.Failures < 10 {
		t.Fatalf("not locked after %d failures", u.Failures)
	}
	if _, err := s.Login(ctx, LoginRequest{User: "bob", Password: goodPassword}); !errors.Is(err, ErrLocked) {
		t.Fatalf("the right password during the lock: %v", err)
	}
	if len(lockedUsers) != 1 || lockedUsers[0] != "bob" {
		t.Fatalf("OnLock told %q; want the lock of bob once (the transition, not each refusal)", lockedUsers)
	}
	c.add(15 * time.Minute)
	if _, err := s.Login(ctx, LoginRequest{User: "bob", Password: goodPassword}); err != nil {
		t.Fatalf("after the lock expired: %v", err)
	}
	if u, _ := st.GetUser(ctx, "bob"); u.Failures != 0 {
		t.Fatalf("success did not reset failures: %d", u.Failures)
	}
}

func TestLoginThrottlesPerIP(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newService(t)
	s.cfg.IPs = NewIPLimiter(0.001, 3, 10)
	for i := range 3 {
		if _, err := s.Login(ctx, LoginRequest{User: "u" + string(rune('a'+i)), Password: "x", IP: "198.51.100.9"}); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if _, err := s.Login(ctx, LoginRequest{User: "ud", Password: "x", IP: "198.51.100.9"}); !errors.Is(err, ErrThrottled) {
		t.Fatalf("fourth attempt from one address across accounts: %v", err)
	}
}

func TestLoginTOTPAndRecovery(t *testing.T) {
	ctx := context.Background()
	s, st, c := newService(t, "admin")
	s.AddUser(ctx, "root", goodPassword, []string{"admin"})
	res, err := s.Login(ctx, LoginRequest{User: "root", Password: goodPassword})
	if err != nil || !res.MustEnrollMFA || res.MFA {
		t.Fatalf("admin without MFA enrolled: %+v, %v; want MustEnrollMFA", res, err)
	}
	uri, codes, err := s.EnrollTOTP(ctx, "root")
	if err != nil || len(codes) != RecoveryCodeCount {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, res.Token); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("enrolment did not end the earlier session: %v", err)
	}
	u, _ := url.Parse(uri)
	secret := u.Query().Get("secret")
	if stored, _ := st.GetUser(ctx, "root"); string(stored.TOTPSecret) == secret || len(stored.TOTPSecret) == 0 {
		t.Fatal("TOTP secret stored in plaintext (or not at all)")
	}
	if _, err := s.Login(ctx, LoginRequest{User: "root", Password: goodPassword}); !errors.Is(err, ErrMFARequired) {
		t.Fatalf("login without a code: %v", err)
	}
	code, _ := totp.GenerateCode(secret, c.now())
	res, err = s.Login(ctx, LoginRequest{User: "root", Password: goodPassword, Code: code})
	if err != nil || !res.MFA || res.MustEnrollMFA {
		t.Fatalf("login with a code: %+v, %v", res, err)
	}
	if id, _ := s.Authenticate(ctx, res.Token); !id.MFA || !id.MFAAt.Equal(c.now()) {
		t.Fatalf("session lacks the MFA proof: %+v", id)
	}
	if _, err := s.Login(ctx, LoginRequest{User: "root", Password: goodPassword, Code: code}); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("replayed code: %v", err)
	}
	if _, err := s.Login(ctx, LoginRequest{User: "root", Password: goodPassword, Code: "000000"}); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong code: %v", err)
	}
	if _, err := s.Login(ctx, LoginRequest{User: "root", Password: goodPassword, RecoveryCode: codes[0]}); err != nil {
		t.Fatalf("recovery code: %v", err)
	}
	if _, err := s.Login(ctx, LoginRequest{User: "root", Password: goodPassword, RecoveryCode: codes[0]}); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("recovery code used twice: %v", err)
	}
	if _, err := s.Login(ctx, LoginRequest{User: "root", Password: "wrong-" + goodPassword, Code: code}); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("right code, wrong password: %v", err)
	}
	// A lost phone: an MFA reset removes the secret and the codes and ends
	// the sessions; the next login must enrol again.
	res, _ = s.Login(ctx, LoginRequest{User: "root", Password: goodPassword, RecoveryCode: codes[1]})
	if err := s.ResetMFA(ctx, "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, res.Token); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("a session survived the MFA reset: %v", err)
	}
	if stored, _ := st.GetUser(ctx, "root"); stored.TOTPSecret != nil || stored.Recovery != nil {
		t.Fatal("MFA reset left the secret or the recovery codes")
	}
	if res, err := s.Login(ctx, LoginRequest{User: "root", Password: goodPassword}); err != nil || !res.MustEnrollMFA {
		t.Fatalf("login after the reset: %+v, %v; want MustEnrollMFA", res, err)
	}
}
