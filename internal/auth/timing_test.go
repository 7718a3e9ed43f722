package auth

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/coffer-vault/coffer/internal/meta/sqlite"
	"github.com/coffer-vault/coffer/internal/seal"
)

// TestUnknownUserHashCost: a login for a user that does not exist verifies
// a dummy hash made with the service's own argon2id costs, so it does the
// same work as a wrong password for a user that does, and response times
// do not enumerate accounts. (BenchmarkLoginFailure measures both.)
func TestUnknownUserHashCost(t *testing.T) {
	for _, p := range []Argon2Params{{}, {MemoryKiB: 64, Time: 3, Threads: 2}} {
		s, err := New(Config{Argon2: p})
		if err != nil {
			t.Fatal(err)
		}
		got, _, _, err := parseHash(s.dummyHash)
		if err != nil {
			t.Fatal(err)
		}
		if got != s.cfg.Argon2 {
			t.Errorf("dummy hash costs %+v, service hashes with %+v", got, s.cfg.Argon2)
		}
	}
}

// BenchmarkLoginFailure: with the production argon2id costs, a login for
// an unknown user and one with a wrong password for a known user should
// take the same time (argon2 dominates both; the known user adds the
// failure counter write).
func BenchmarkLoginFailure(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "meta.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var root seal.RootKey
	keys, err := seal.NewKeyring(ctx, root, st)
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Config{Store: st, Sealer: keys, IPs: NewIPLimiter(1e9, 1e9, 100)}) // DefaultArgon2
	if err != nil {
		b.Fatal(err)
	}
	if err := s.AddUser(ctx, "ann", goodPassword, []string{"viewer"}); err != nil {
		b.Fatal(err)
	}
	for _, user := range []string{"ann", "nobody"} {
		b.Run(user, func(b *testing.B) {
			for b.Loop() {
				_, err := s.Login(ctx, LoginRequest{User: user, Password: "wrong-" + goodPassword, IP: "192.0.2.7"})
				if !errors.Is(err, ErrBadCredentials) {
					b.Fatalf("login %s: %v, want ErrBadCredentials", user, err)
				}
				// Keep ann below the lockout delay, which would answer early.
				b.StopTimer()
				if err := s.Unlock(ctx, "ann"); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
