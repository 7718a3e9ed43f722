package auth

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestSessionTokens(t *testing.T) {
	tok, h := NewSessionToken()
	if err := ValidToken(tok); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(HashSessionToken(tok), h) {
		t.Fatal("hash of the issued token differs from the stored hash")
	}
	if bytes.Contains(h, []byte(tok)) {
		t.Fatal("stored hash contains the token")
	}
	tok2, _ := NewSessionToken()
	if tok2 == tok {
		t.Fatal("two sessions got the same token")
	}
	for _, bad := range []string{"", "short", tok + "A", tok[:len(tok)-1] + "!"} {
		if !errors.Is(ValidToken(bad), ErrBadToken) {
			t.Errorf("ValidToken(%q) accepted", bad)
		}
	}
}

func TestSessionLifetimes(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		s    SessionTimes
		now  time.Time
		want error
	}{
		{"fresh", SessionTimes{t0, t0}, t0.Add(time.Minute), nil},
		{"idle 14 min", SessionTimes{t0, t0}, t0.Add(14 * time.Minute), nil},
		{"idle 15 min", SessionTimes{t0, t0}, t0.Add(15 * time.Minute), ErrSessionExpired},
		{"active but 12 h old", SessionTimes{t0, t0.Add(12*time.Hour - time.Minute)}, t0.Add(12 * time.Hour), ErrSessionExpired},
		{"active, 11 h old", SessionTimes{t0, t0.Add(11 * time.Hour)}, t0.Add(11*time.Hour + time.Minute), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := CheckSession(tc.s, tc.now); !errors.Is(err, tc.want) && !(err == nil && tc.want == nil) {
				t.Fatalf("CheckSession = %v, want %v", err, tc.want)
			}
		})
	}
}
