package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"
)

// Session lifetimes for the admin plane (issue 4).
const (
	SessionIdle     = 15 * time.Minute
	SessionAbsolute = 12 * time.Hour
)

// Session errors.
var (
	ErrSessionExpired = errors.New("auth: session expired")
	ErrBadToken       = errors.New("auth: malformed session token")
)

// NewSessionToken returns a random 256-bit opaque token for the client and
// the hash to store: a stolen session table yields no usable token.
func NewSessionToken() (token string, hash []byte) {
	b := make([]byte, 32)
	rand.Read(b)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashSessionToken(token)
}

// HashSessionToken is the lookup key for a presented token. The token has
// 256 random bits, so SHA-256 is enough and lookups stay cheap; comparing
// hashes by database lookup does not leak the token through timing.
func HashSessionToken(token string) []byte {
	sum := sha256.Sum256([]byte("coffer/session/v1\x00" + token))
	return sum[:]
}

// ValidToken reports whether token has the shape NewSessionToken makes, so
// garbage is refused before any lookup.
func ValidToken(token string) error {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != 32 {
		return ErrBadToken
	}
	return nil
}

// SessionTimes are the times a session is judged by.
type SessionTimes struct {
	Created  time.Time
	LastSeen time.Time
}

// CheckSession returns nil while the session is inside both its idle and its
// absolute lifetime at now, and ErrSessionExpired after either.
func CheckSession(s SessionTimes, now time.Time) error {
	if now.Sub(s.LastSeen) >= SessionIdle || now.Sub(s.Created) >= SessionAbsolute {
		return ErrSessionExpired
	}
	return nil
}
