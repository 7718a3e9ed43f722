package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"strings"
)

// RecoveryCodeCount is how many single-use recovery codes enrolment issues.
const RecoveryCodeCount = 10

// recoveryEncoding is base32 without padding; 10 random bytes make 16
// characters (80 bits), shown as four groups of four.
var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewRecoveryCodes returns n fresh codes to show the user once, and their
// hashes to store. Codes carry 80 random bits, so a fast hash is enough:
// nobody can enumerate them from a stolen hash.
func NewRecoveryCodes(n int) (codes []string, hashes [][]byte) {
	for range n {
		b := make([]byte, 10)
		rand.Read(b)
		s := recoveryEncoding.EncodeToString(b)
		codes = append(codes, s[0:4]+"-"+s[4:8]+"-"+s[8:12]+"-"+s[12:16])
		hashes = append(hashes, hashRecoveryCode(s))
	}
	return codes, hashes
}

// MatchRecoveryCode returns the index of the stored hash code matches, or
// -1. It compares against every hash in constant time. The caller deletes
// the matched hash in the same transaction that accepts the login, so each
// code works once.
func MatchRecoveryCode(code string, hashes [][]byte) int {
	h := hashRecoveryCode(normalizeRecoveryCode(code))
	found := -1
	for i, stored := range hashes {
		if subtle.ConstantTimeCompare(h, stored) == 1 && found < 0 {
			found = i
		}
	}
	return found
}

// normalizeRecoveryCode accepts what people type: any case, dashes or spaces.
func normalizeRecoveryCode(code string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ':
			return -1
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, code)
}

func hashRecoveryCode(normalized string) []byte {
	sum := sha256.Sum256([]byte("coffer/recovery/v1\x00" + normalized))
	return sum[:]
}
