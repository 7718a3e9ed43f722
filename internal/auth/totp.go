package auth

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTPConfig says how codes are made (RFC 6238). The zero value means the
// authenticator-app defaults: SHA-1, 6 digits, 30 s steps, one step of skew.
type TOTPConfig struct {
	Algorithm otp.Algorithm
	Digits    otp.Digits
	Period    uint // seconds per step
	Skew      uint // steps accepted either side of now
}

func (c TOTPConfig) withDefaults() TOTPConfig {
	if c.Digits == 0 {
		c.Digits = otp.DigitsSix
	}
	if c.Period == 0 {
		c.Period = 30
	}
	if c.Skew == 0 {
		c.Skew = 1
	}
	return c
}

// Errors CheckTOTP returns.
var (
	ErrTOTPInvalid  = errors.New("auth: wrong one-time code")
	ErrTOTPReplayed = errors.New("auth: one-time code already used")
)

// NewTOTP creates a random TOTP secret for account and returns it (base32,
// to be stored sealed) with its otpauth:// URI for enrolment (QR code).
func NewTOTP(issuer, account string, cfg TOTPConfig) (secret, uri string, err error) {
	cfg = cfg.withDefaults()
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      cfg.Period,
		Digits:      cfg.Digits,
		Algorithm:   cfg.Algorithm,
		SecretSize:  20,
	})
	if err != nil {
		return "", "", fmt.Errorf("auth: new TOTP secret: %w", err)
	}
	return key.Secret(), key.URL(), nil
}

// CheckTOTP validates code against secret at now. A code is accepted once:
// lastStep is the time step of the last code accepted for this secret (0
// for none), and a code of that step or an earlier one is refused as a
// replay, even if it is still inside the skew window. On success it returns
// the step to store as the new lastStep.
func CheckTOTP(secret, code string, now time.Time, lastStep int64, cfg TOTPConfig) (int64, error) {
	cfg = cfg.withDefaults()
	code = strings.TrimSpace(code)
	if len(code) != cfg.Digits.Length() {
		return 0, ErrTOTPInvalid
	}
	opts := totp.ValidateOpts{Period: cfg.Period, Digits: cfg.Digits, Algorithm: cfg.Algorithm}
	period := int64(cfg.Period)
	current := now.Unix() / period
	var matched int64 = -1
	// Check every step in the window without stopping early, so the time
	// taken does not say which step matched.
	for step := current - int64(cfg.Skew); step <= current+int64(cfg.Skew); step++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*period, 0), opts)
		if err != nil {
			return 0, fmt.Errorf("auth: TOTP secret: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && matched < 0 {
			matched = step
		}
	}
	switch {
	case matched < 0:
		return 0, ErrTOTPInvalid
	case matched <= lastStep:
		return 0, ErrTOTPReplayed
	}
	return matched, nil
}
