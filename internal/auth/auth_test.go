package auth

import (
	"encoding/base32"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
)

// TestTOTPRFC6238 checks the test vectors of RFC 6238 Appendix B (8 digits,
// SHA-1, SHA-256, SHA-512).
func TestTOTPRFC6238(t *testing.T) {
	seeds := map[otp.Algorithm]string{
		otp.AlgorithmSHA1:   "12345678901234567890",
		otp.AlgorithmSHA256: "12345678901234567890123456789012",
		otp.AlgorithmSHA512: "1234567890123456789012345678901234567890123456789012345678901234",
	}
	tests := []struct {
		unix int64
		algo otp.Algorithm
		code string
	}{
		{59, otp.AlgorithmSHA1, "94287082"}, {59, otp.AlgorithmSHA256, "46119246"}, {59, otp.AlgorithmSHA512, "90693936"},
		{1111111109, otp.AlgorithmSHA1, "07081804"}, {1111111109, otp.AlgorithmSHA256, "68084774"}, {1111111109, otp.AlgorithmSHA512, "25091201"},
		{1111111111, otp.AlgorithmSHA1, "14050471"}, {1111111111, otp.AlgorithmSHA256, "67062674"}, {1111111111, otp.AlgorithmSHA512, "99943326"},
		{1234567890, otp.AlgorithmSHA1, "89005924"}, {1234567890, otp.AlgorithmSHA256, "91819424"}, {1234567890, otp.AlgorithmSHA512, "93441116"},
		{2000000000, otp.AlgorithmSHA1, "69279037"}, {2000000000, otp.AlgorithmSHA256, "90698825"}, {2000000000, otp.AlgorithmSHA512, "38618901"},
		{20000000000, otp.AlgorithmSHA1, "65353130"}, {20000000000, otp.AlgorithmSHA256, "77737706"}, {20000000000, otp.AlgorithmSHA512, "47863826"},
	}
	for _, tc := range tests {
		t.Run(tc.algo.String()+"/"+tc.code, func(t *testing.T) {
			secret := base32.StdEncoding.EncodeToString([]byte(seeds[tc.algo]))
			cfg := TOTPConfig{Algorithm: tc.algo, Digits: otp.DigitsEight}
			step, err := CheckTOTP(secret, tc.code, time.Unix(tc.unix, 0), 0, cfg)
			if err != nil {
				t.Fatalf("RFC 6238 vector refused: %v", err)
			}
			if want := tc.unix / 30; step != want {
				t.Errorf("step = %d, want %d", step, want)
			}
			// One digit off is refused.
			bad := []byte(tc.code)
			bad[7] = '0' + (bad[7]-'0'+1)%10
			if _, err := CheckTOTP(secret, string(bad), time.Unix(tc.unix, 0), 0, cfg); !errors.Is(err, ErrTOTPInvalid) {
				t.Errorf("code one digit off: err = %v, want ErrTOTPInvalid", err)
			}
		})
	}
}

func TestTOTPReplayAndWindow(t *testing.T) {
	secret, uri, err := NewTOTP("Coffer", "alice", TOTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(uri, "otpauth://totp/Coffer:alice?") || !strings.Contains(uri, "secret="+secret) {
		t.Fatalf("enrolment URI = %q", uri)
	}
	now := time.Unix(1_800_000_015, 0)
	cur := mustCode(t, secret, now)
	step, err := CheckTOTP(secret, cur, now, 0, TOTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		code     string
		at       time.Time
		lastStep int64
		want     error
	}{
		{"same code again is a replay", cur, now, step, ErrTOTPReplayed},
		{"previous step's code after the current one was used", mustCode(t, secret, now.Add(-30*time.Second)), now, step, ErrTOTPReplayed},
		{"next step's code is accepted once", mustCode(t, secret, now.Add(30*time.Second)), now, step, nil},
		{"two steps old is outside the window", mustCode(t, secret, now.Add(-60*time.Second)), now, 0, ErrTOTPInvalid},
		{"wrong length", "12345", now, 0, ErrTOTPInvalid},
		{"empty", "", now, 0, ErrTOTPInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CheckTOTP(secret, tc.code, tc.at, tc.lastStep, TOTPConfig{})
			if !errors.Is(err, tc.want) && !(err == nil && tc.want == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func mustCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totpCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPasswordHashing(t *testing.T) {
	fast := Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1} // tests only
	h, err := HashPassword("tangerine-Harbour-91-lantern", fast)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string with its parameters", h)
	}
	if h2, _ := HashPassword("tangerine-Harbour-91-lantern", fast); h2 == h {
		t.Fatal("two hashes of one password are equal: no random salt")
	}
	ok, rehash, err := VerifyPassword("tangerine-Harbour-91-lantern", h, fast)
	if err != nil || !ok || rehash {
		t.Fatalf("right password: ok=%v rehash=%v err=%v", ok, rehash, err)
	}
	if ok, _, _ := VerifyPassword("tangerine-Harbour-91-lanterN", h, fast); ok {
		t.Fatal("wrong password accepted")
	}
	if _, rehash, _ := VerifyPassword("tangerine-Harbour-91-lantern", h, DefaultArgon2); !rehash {
		t.Error("a hash below the wanted parameters is not flagged for rehash")
	}
	parts := strings.Split(h, "$")
	tampered := []struct{ name, hash string }{
		{"other algorithm", strings.Replace(h, "argon2id", "argon2i", 1)},
		{"other version", strings.Replace(h, "v=19", "v=16", 1)},
		{"memory bomb", strings.Replace(h, "m=64", "m=99999999", 1)},
		{"zero time", strings.Replace(h, "t=1", "t=0", 1)},
		{"bad salt", strings.Join([]string{"", parts[1], parts[2], parts[3], "!!", parts[5]}, "$")},
		{"short key", strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4], "AAAA"}, "$")},
		{"truncated", h[:len(h)/2]},
		{"empty", ""},
	}
	for _, tc := range tampered {
		t.Run(tc.name, func(t *testing.T) {
			if ok, _, err := VerifyPassword("tangerine-Harbour-91-lantern", tc.hash, fast); ok || !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("ok=%v err=%v, want ErrMalformedHash", ok, err)
			}
		})
	}
	// Flipping the stored key makes the right password fail.
	key := []byte(parts[5])
	key[0] ^= 'A' ^ 'B'
	if key[0] == parts[5][0] {
		key[0] = 'C'
	}
	flipped := strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4], string(key)}, "$")
	if ok, _, _ := VerifyPassword("tangerine-Harbour-91-lantern", flipped, fast); ok {
		t.Fatal("a tampered hash still verified")
	}
}

func TestCheckPassword(t *testing.T) {
	tests := []struct {
		name     string
		password string
		related  []string
		want     error
	}{
		{"strong passphrase", "tangerine-Harbour-91-lantern", nil, nil},
		{"long random", "x7#Qp!vZ2@mLr9$Kd", nil, nil},
		{"unicode counts runes", "雪山-river-Ωmega-四十二-fjörd", nil, nil},
		{"eleven characters", "aB3$eF6&hI9", nil, ErrPasswordTooShort},
		{"common password", "password1234", nil, ErrPasswordWeak},
		{"keyboard walk", "qwertyuiop123", nil, ErrPasswordWeak},
		{"repeated", "aaaaaaaaaaaaaaaa", nil, ErrPasswordWeak},
		{"built on the user's name", "alicesmith2024", []string{"alice", "smith", "alicesmith"}, ErrPasswordWeak},
		{"too long", strings.Repeat("ab9!", 300), nil, ErrPasswordTooLong},
		{"invalid UTF-8", "abcdefghijk\xff\xfe", nil, ErrPasswordInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := CheckPassword(tc.password, tc.related...); !errors.Is(err, tc.want) && !(err == nil && tc.want == nil) {
				t.Fatalf("CheckPassword = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestRecoveryCodes(t *testing.T) {
	codes, hashes := NewRecoveryCodes(RecoveryCodeCount)
	if len(codes) != RecoveryCodeCount || len(hashes) != RecoveryCodeCount {
		t.Fatalf("got %d codes, %d hashes", len(codes), len(hashes))
	}
	seen := map[string]bool{}
	for i, c := range codes {
		if len(c) != 19 || seen[c] {
			t.Fatalf("code %q malformed or repeated", c)
		}
		seen[c] = true
		for _, h := range hashes {
			if strings.Contains(string(h), c) {
				t.Fatal("a stored hash contains its code")
			}
		}
		if got := MatchRecoveryCode(c, hashes); got != i {
			t.Fatalf("code %d matched index %d", i, got)
		}
	}
	typed := strings.ToLower(strings.ReplaceAll(codes[3], "-", " "))
	if got := MatchRecoveryCode(typed, hashes); got != 3 {
		t.Errorf("code typed in lower case with spaces matched %d, want 3", got)
	}
	if got := MatchRecoveryCode("AAAA-BBBB-CCCC-DDDD", hashes); got != -1 {
		t.Errorf("unknown code matched %d", got)
	}
	// Single use: once its hash is removed the code no longer works.
	used := append(hashes[:3:3], hashes[4:]...)
	if got := MatchRecoveryCode(codes[3], used); got != -1 {
		t.Errorf("used code still matched %d", got)
	}
}
