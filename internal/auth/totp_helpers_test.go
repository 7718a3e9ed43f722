package auth

import (
	"time"

	"github.com/pquerna/otp/totp"
)

// totpCode is the library's code for secret at t with the default settings.
func totpCode(secret string, at time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: 6})
}
