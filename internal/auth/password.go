package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/ccojocar/zxcvbn-go"
	"golang.org/x/crypto/argon2"
)

// Password rules (NIST SP 800-63B §5.1.1.2): a length floor, a generous
// ceiling, no composition rules, and a refusal of common and guessable
// passwords, judged by zxcvbn rather than a hand-made list.
const (
	MinPasswordLen = 12   // characters (runes)
	MaxPasswordLen = 1024 // characters; far above 800-63B's 64
	// MinPasswordScore is the lowest zxcvbn score (0..4) accepted.
	MinPasswordScore = 3
)

// Errors CheckPassword returns; callers show them to the user.
var (
	ErrPasswordTooShort = fmt.Errorf("password must be at least %d characters", MinPasswordLen)
	ErrPasswordTooLong  = fmt.Errorf("password must be at most %d characters", MaxPasswordLen)
	ErrPasswordWeak     = errors.New("password is too easy to guess")
	ErrPasswordInvalid  = errors.New("password is not valid UTF-8")
)

// CheckPassword applies the password rules. related are words the password
// must not lean on (user name, e-mail, "coffer"), which zxcvbn penalises.
func CheckPassword(password string, related ...string) error {
	if !utf8.ValidString(password) {
		return ErrPasswordInvalid
	}
	n := utf8.RuneCountInString(password)
	switch {
	case n < MinPasswordLen:
		return ErrPasswordTooShort
	case n > MaxPasswordLen:
		return ErrPasswordTooLong
	}
	// zxcvbn's cost grows with length; the score of a long password is
	// decided by its first 100 characters.
	probe := password
	if n > 100 {
		probe = string([]rune(password)[:100])
	}
	if zxcvbn.PasswordStrength(probe, append([]string{"coffer"}, related...)).Score < MinPasswordScore {
		return ErrPasswordWeak
	}
	return nil
}

// Argon2Params are argon2id's cost parameters. They are stored with every
// hash, so raising them later only affects new hashes (and Verify says when
// an old one should be rehashed).
type Argon2Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// DefaultArgon2 is OWASP's minimum for argon2id (m=19 MiB, t=2, p=1), the
// floor the identity issue sets.
var DefaultArgon2 = Argon2Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
	// Upper bounds on stored parameters, so a tampered hash cannot make
	// Verify allocate or spin without limit.
	maxMemoryKiB = 1 << 21 // 2 GiB
	maxTime      = 64
)

// ErrMalformedHash reports a stored hash that cannot be parsed.
var ErrMalformedHash = errors.New("auth: malformed password hash")

// HashPassword returns the PHC string of password under p:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (unpadded base64).
func HashPassword(password string, p Argon2Params) (string, error) {
	if p.MemoryKiB == 0 || p.Time == 0 || p.Threads == 0 {
		return "", errors.New("auth: argon2 parameters must be positive")
	}
	salt := make([]byte, saltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches the stored hash, in time
// that does not depend on where they differ. rehash is true when the hash
// was made with weaker parameters than want: store a fresh HashPassword.
func VerifyPassword(password, stored string, want Argon2Params) (ok, rehash bool, err error) {
	p, salt, key, err := parseHash(stored)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(key)))
	ok = subtle.ConstantTimeCompare(got, key) == 1
	rehash = p.MemoryKiB < want.MemoryKiB || p.Time < want.Time || p.Threads < want.Threads
	return ok, rehash, nil
}

func parseHash(s string) (p Argon2Params, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, ErrMalformedHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, ErrMalformedHash
	}
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &threads); err != nil {
		return p, nil, nil, ErrMalformedHash
	}
	if p.MemoryKiB == 0 || p.MemoryKiB > maxMemoryKiB || p.Time == 0 || p.Time > maxTime || threads == 0 || threads > 255 {
		return p, nil, nil, ErrMalformedHash
	}
	p.Threads = uint8(threads)
	b64 := base64.RawStdEncoding
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, ErrMalformedHash
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, ErrMalformedHash
	}
	return p, salt, key, nil
}
