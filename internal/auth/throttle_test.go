package auth

import (
	"testing"
	"time"
)

// TestLockoutBruteForce plays a brute-force run against one account.
func TestLockoutBruteForce(t *testing.T) {
	p := DefaultLockout
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var s AccountState
	var locked bool
	for i := 1; i <= 10; i++ {
		v := p.Admit(s, now)
		if !v.Allowed {
			// Honour the delay, as a patient attacker would.
			if v.Locked {
				t.Fatalf("locked before failure %d", i)
			}
			if i <= p.SlowAfter {
				t.Fatalf("attempt %d delayed (%v); delays start after %d failures", i, v.RetryAfter, p.SlowAfter)
			}
			now = now.Add(v.RetryAfter)
			if !p.Admit(s, now).Allowed {
				t.Fatalf("attempt %d still refused after waiting the delay", i)
			}
		}
		s, locked = p.Failed(s, now)
		if locked != (i == 10) {
			t.Fatalf("failure %d: locked=%v", i, locked)
		}
	}
	v := p.Admit(s, now.Add(time.Minute))
	if v.Allowed || !v.Locked {
		t.Fatal("account not locked after 10 failures")
	}
	// Delays grow with each failure past the fifth, up to the cap.
	if d6, d9 := p.delay(6), p.delay(9); !(d6 > 0 && d9 > d6 && d9 <= p.MaxDelay) {
		t.Errorf("delays do not increase: 6 -> %v, 9 -> %v", d6, d9)
	}
	// Auto-unlock after 15 minutes, with a fresh count.
	after := s.LockedUntil.Add(time.Second)
	if !p.Admit(s, after).Allowed {
		t.Fatal("lock did not expire")
	}
	s2, locked := p.Failed(s, after)
	if locked || s2.Failures != 1 {
		t.Fatalf("after the lock expired: failures=%d locked=%v, want a fresh count", s2.Failures, locked)
	}
	if got := p.Succeeded(s2); got != (AccountState{}) {
		t.Fatalf("success did not clear the state: %+v", got)
	}
}

func TestIPLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewIPLimiter(1, 5, 3) // 5 at once, then 1/s; remember 3 addresses
	for i := range 5 {
		if !l.Allow("10.0.0.1", now) {
			t.Fatalf("burst attempt %d refused", i)
		}
	}
	if l.Allow("10.0.0.1", now) {
		t.Fatal("sixth immediate attempt allowed")
	}
	if !l.Allow("10.0.0.2", now) {
		t.Fatal("another address is limited by the first one's bucket")
	}
	if !l.Allow("10.0.0.1", now.Add(1100*time.Millisecond)) {
		t.Fatal("a token did not refill after a second")
	}
	// Memory stays bounded however many addresses appear.
	for i := range 100 {
		l.Allow(string(rune('a'+i%26))+string(rune('a'+i/26)), now)
	}
	if n := len(l.buckets); n > 3 {
		t.Fatalf("limiter holds %d addresses, bound is 3", n)
	}
}
