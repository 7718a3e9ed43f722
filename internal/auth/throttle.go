package auth

import (
	"sync"
	"time"
)

// Account lockout policy (issue 4): after SlowAfter consecutive failures
// each further attempt must wait an increasing delay; after LockAfter the
// account is locked for LockFor (an admin may unlock sooner).
type LockoutPolicy struct {
	SlowAfter int           // failures before delays start; 5
	LockAfter int           // failures that lock the account; 10
	BaseDelay time.Duration // first delay, doubled per further failure; 1 s
	MaxDelay  time.Duration // cap on the delay; 30 s
	LockFor   time.Duration // lock duration; 15 min
}

// DefaultLockout is the policy the identity issue asks for.
var DefaultLockout = LockoutPolicy{SlowAfter: 5, LockAfter: 10, BaseDelay: time.Second, MaxDelay: 30 * time.Second, LockFor: 15 * time.Minute}

// AccountState is what the store keeps per account for lockout.
type AccountState struct {
	Failures    int       // consecutive failures since the last success
	LastFailure time.Time //
	LockedUntil time.Time // zero when not locked
}

// Verdict says whether an attempt may be checked now.
type Verdict struct {
	Allowed    bool
	Locked     bool          // the account is locked (until LockedUntil)
	RetryAfter time.Duration // when not allowed: how long to wait
}

// Admit decides whether a login attempt for an account in state s may be
// checked at now. It must be called, and its verdict honoured, before the
// password is looked at, for unknown users too (with a zero state), so
// that both take the same path.
func (p LockoutPolicy) Admit(s AccountState, now time.Time) Verdict {
	if now.Before(s.LockedUntil) {
		return Verdict{Locked: true, RetryAfter: s.LockedUntil.Sub(now)}
	}
	if d := p.delay(s.Failures); d > 0 {
		if wait := s.LastFailure.Add(d).Sub(now); wait > 0 {
			return Verdict{RetryAfter: wait}
		}
	}
	return Verdict{Allowed: true}
}

// delay is the wait owed after failures consecutive failures.
func (p LockoutPolicy) delay(failures int) time.Duration {
	over := failures - p.SlowAfter
	if over < 0 {
		return 0
	}
	d := p.BaseDelay
	for range over {
		d *= 2
		if d >= p.MaxDelay {
			return p.MaxDelay
		}
	}
	return min(d, p.MaxDelay)
}

// Failed returns the state after a failed attempt at now, and whether this
// failure locked the account (an event worth an audit record and an alert).
// An expired lock starts a fresh count.
func (p LockoutPolicy) Failed(s AccountState, now time.Time) (AccountState, bool) {
	if !s.LockedUntil.IsZero() && !now.Before(s.LockedUntil) {
		s = AccountState{}
	}
	s.Failures++
	s.LastFailure = now
	if s.Failures >= p.LockAfter && s.LockedUntil.IsZero() {
		s.LockedUntil = now.Add(p.LockFor)
		return s, true
	}
	return s, false
}

// Succeeded returns the state after a successful login: counts cleared.
func (p LockoutPolicy) Succeeded(AccountState) AccountState { return AccountState{} }

// IPLimiter is a token bucket per source address across all accounts, so one
// address cannot spray guesses over many users. It keeps at most maxKeys
// addresses (the oldest idle ones are forgotten first) to bound memory.
type IPLimiter struct {
	rate    float64 // tokens per second
	burst   float64
	maxKeys int

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewIPLimiter allows burst attempts at once and rate per second after that.
func NewIPLimiter(rate float64, burst, maxKeys int) *IPLimiter {
	return &IPLimiter{rate: rate, burst: float64(burst), maxKeys: maxKeys, buckets: map[string]*bucket{}}
}

// Allow takes one token for ip at now; false means refuse (HTTP 429).
func (l *IPLimiter) Allow(ip string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[ip]
	if !ok {
		if len(l.buckets) >= l.maxKeys {
			l.evict(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[ip] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// evict drops full buckets (they carry no state), or else the idlest one.
func (l *IPLimiter) evict(now time.Time) {
	var idlest string
	var idleSince time.Time
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
			continue
		}
		if idlest == "" || b.last.Before(idleSince) {
			idlest, idleSince = k, b.last
		}
	}
	if len(l.buckets) >= l.maxKeys && idlest != "" {
		delete(l.buckets, idlest)
	}
}
