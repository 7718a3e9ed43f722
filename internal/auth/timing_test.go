package auth

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

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

// TestLoginTimingUnknownVsWrongPassword: with the production argon2id
// costs, a login for a user that does not exist takes as long as one with
// a wrong password for a user that does (the dummy hash is verified), so
// response times do not enumerate accounts. Attempts alternate between the
// two kinds, so load on the machine hits both alike, and medians are
// compared with a wide band: argon2 dominates both, and what differs (the
// failure counter write for a known user) is a small fraction.
func TestLoginTimingUnknownVsWrongPassword(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes with production argon2 costs")
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var root seal.RootKey
	keys, err := seal.NewKeyring(ctx, root, st)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Store: st, Sealer: keys, IPs: NewIPLimiter(1000, 1000, 100)}) // DefaultArgon2
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddUser(ctx, "ann", goodPassword, []string{"viewer"}); err != nil {
		t.Fatal(err)
	}
	attempt := func(user string) time.Duration {
		start := time.Now()
		_, err := s.Login(ctx, LoginRequest{User: user, Password: "wrong-" + goodPassword, IP: "192.0.2.7"})
		d := time.Since(start)
		if !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("login %s: %v, want ErrBadCredentials", user, err)
		}
		// Keep ann below the lockout delay, which would answer early.
		if err := s.Unlock(ctx, "ann"); err != nil {
			t.Fatal(err)
		}
		return d
	}
	attempt("ann") // warm up
	attempt("nobody")
	const n = 15
	var known, unknown []time.Duration
	for range n {
		known = append(known, attempt("ann"))
		unknown = append(unknown, attempt("nobody"))
	}
	median := func(ds []time.Duration) time.Duration {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	mk, mu := median(known), median(unknown)
	ratio := float64(mk) / float64(mu)
	t.Logf("median login: wrong password %v, unknown user %v, ratio %.2f", mk, mu, ratio)
	if ratio < 0.5 || ratio > 2 {
		t.Fatalf("wrong password %v vs unknown user %v (ratio %.2f): distinguishable", mk, mu, ratio)
	}
}
