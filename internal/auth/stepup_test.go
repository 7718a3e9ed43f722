package auth

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// TestVerifyMFARefreshesTheSession: a session logged in with a code ages;
// VerifyMFA with a new code stamps it again, refuses a replayed or wrong
// code (counted against the account), and spends a recovery code once.
func TestVerifyMFARefreshesTheSession(t *testing.T) {
	ctx := context.Background()
	s, st, c := newService(t, "admin")
	s.AddUser(ctx, "root", goodPassword, []string{"admin"})
	s.AddUser(ctx, "plain", goodPassword, []string{"viewer"})
	uri, codes, err := s.EnrollTOTP(ctx, "root")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(uri)
	secret := u.Query().Get("secret")
	code, _ := totp.GenerateCode(secret, c.now())
	res, err := s.Login(ctx, LoginRequest{User: "root", Password: goodPassword, Code: code})
	if err != nil {
		t.Fatal(err)
	}
	c.add(6 * time.Minute)
	if id, _ := s.Authenticate(ctx, res.Token); c.now().Sub(id.MFAAt) < 6*time.Minute {
		t.Fatalf("proof not aged: %+v", id)
	}
	if _, err := s.VerifyMFA(ctx, res.Token, MFAProof{Code: code}); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("a code from six minutes ago: %v", err)
	}
	code2, _ := totp.GenerateCode(secret, c.now())
	id, err := s.VerifyMFA(ctx, res.Token, MFAProof{Code: code2})
	if err != nil || !id.MFA || !id.MFAAt.Equal(c.now()) {
		t.Fatalf("VerifyMFA: %+v, %v", id, err)
	}
	if id, _ := s.Authenticate(ctx, res.Token); !id.MFAAt.Equal(c.now()) {
		t.Fatalf("the session's proof was not refreshed: %+v", id)
	}
	if _, err := s.VerifyMFA(ctx, res.Token, MFAProof{Code: code2}); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("replayed code: %v", err)
	}
	// The success in between cleared the first failure; the replay counts.
	if stored, _ := st.GetUser(ctx, "root"); stored.Failures != 1 {
		t.Fatalf("failed verification not counted: %d", stored.Failures)
	}
	if _, err := s.VerifyMFA(ctx, res.Token, MFAProof{RecoveryCode: codes[3]}); err != nil {
		t.Fatalf("recovery code: %v", err)
	}
	if _, err := s.VerifyMFA(ctx, res.Token, MFAProof{RecoveryCode: codes[3]}); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("recovery code used twice: %v", err)
	}
	if _, err := s.VerifyMFA(ctx, "not-a-token", MFAProof{Code: "123456"}); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("no session: %v", err)
	}
	pl, _ := s.Login(ctx, LoginRequest{User: "plain", Password: goodPassword})
	if _, err := s.VerifyMFA(ctx, pl.Token, MFAProof{Code: "123456"}); !errors.Is(err, ErrNoMFA) {
		t.Fatalf("account without MFA: %v", err)
	}

	// Regenerated recovery codes replace the old ones.
	fresh, err := s.RegenerateRecoveryCodes(ctx, "root")
	if err != nil || len(fresh) != RecoveryCodeCount {
		t.Fatalf("regenerate: %d codes, %v", len(fresh), err)
	}
	if _, err := s.VerifyMFA(ctx, res.Token, MFAProof{RecoveryCode: codes[4]}); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("an old recovery code still works: %v", err)
	}
	if _, err := s.VerifyMFA(ctx, res.Token, MFAProof{RecoveryCode: fresh[0]}); err != nil {
		t.Fatalf("a new recovery code: %v", err)
	}
	if _, err := s.RegenerateRecoveryCodes(ctx, "plain"); !errors.Is(err, ErrNoMFA) {
		t.Fatalf("regenerate without MFA: %v", err)
	}
}
