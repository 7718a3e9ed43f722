// Package sigv4 verifies AWS Signature Version 4 on incoming S3 requests:
// the Authorization header, presigned query strings (expiry enforced), and
// the request body's integrity as declared by x-amz-content-sha256:
// a literal SHA-256, UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD
// (aws-chunked, every chunk signature checked), and the -TRAILER variants
// (STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER)
// whose trailing x-amz-checksum-* value is verified. It follows the AWS
// SigV4 specification and never compares a signature in variable time.
package sigv4

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"
)

// Error is a verification failure with the S3 error code to send.
type Error struct {
	Code    string // e.g. SignatureDoesNotMatch, AccessDenied, InvalidAccessKeyId
	Message string // safe to show the client; never contains a secret
	Status  int    // HTTP status
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Sentinels wrapped by body read errors, so callers can map them.
var (
	ErrContentSHA256Mismatch = errors.New("sigv4: x-amz-content-sha256 does not match the body") // XAmzContentSHA256Mismatch
	ErrChunkSignature        = errors.New("sigv4: chunk signature mismatch")                     // SignatureDoesNotMatch
	ErrChecksumMismatch      = errors.New("sigv4: trailing checksum mismatch")                   // BadDigest
	ErrMalformedChunk        = errors.New("sigv4: malformed aws-chunked body")                   // IncompleteBody
	ErrIncompleteBody        = errors.New("sigv4: body shorter than declared")                   // IncompleteBody
)

// ErrUnknownAccessKey is returned by a Credentials lookup for an unknown id.
var ErrUnknownAccessKey = errors.New("sigv4: unknown access key")

// Credentials looks up the secret for an access key id.
type Credentials interface {
	SecretKey(ctx context.Context, accessKeyID string) (string, error)
}

// Verifier checks requests.
type Verifier struct {
	Creds  Credentials
	Region string // e.g. "us-east-1"; requests signed for another region are refused
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxSkew is the allowed clock skew; zero means 15 minutes.
	MaxSkew time.Duration
}

// Result is a verified request.
type Result struct {
	AccessKeyID string
	// Body yields the decoded payload (chunk framing removed) and fails its
	// Read with an error wrapping one of the sentinels above when the body
	// does not match what was signed or declared. Read returns io.EOF only
	// after every check has passed.
	Body io.ReadCloser
	// ContentLength is the decoded payload length (from
	// x-amz-decoded-content-length for aws-chunked), -1 when unknown.
	ContentLength int64
	// Presigned is true for a query-string signed request.
	Presigned bool
}

// Verify authenticates r. Anonymous requests (no Authorization header and no
// X-Amz-Signature) get an *Error with code AccessDenied.
func (v *Verifier) Verify(r *http.Request) (*Result, error) { panic("not implemented") }
