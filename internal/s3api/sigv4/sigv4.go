// Package sigv4 verifies AWS Signature Version 4 on incoming S3 requests:
// the Authorization header, presigned query strings (expiry enforced), and
// the request body's integrity as declared by x-amz-content-sha256:
// a literal SHA-256, UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD
// (aws-chunked, every chunk signature checked), and the -TRAILER variants
// (STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER)
// whose trailing x-amz-checksum-* value is verified. It follows the AWS
// SigV4 specification and never compares a signature in variable time.
//
// The specification is split over several AWS pages; the files of this
// package follow them one concept per file:
//
//   - canonical.go: the canonical request, string to sign and signing key
//     (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html,
//     https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html).
//   - auth.go: parsing the Authorization header and the presigned query
//     (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html).
//   - payload.go: the payload modes of x-amz-content-sha256 and the body
//     reader that checks a declared SHA-256 or checksum at EOF.
//   - chunked.go: the aws-chunked decoder with chunk and trailer signatures
//     (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html,
//     https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html).
//   - checksum.go: the x-amz-checksum-* algorithms.
//
// Verify authenticates the request head only; it never reads the body.
// Integrity of the body is enforced by Result.Body, which streams: it hands
// out bytes before the end of the body is known to be good (aws-chunked
// data is released before its chunk signature is checked at the chunk's
// end), so a caller must treat everything it has read as untrusted until
// Read returns io.EOF, and must discard it on any other error. Nothing is
// buffered beyond a small fixed window, whatever the body's size.
package sigv4

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
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

// DefaultRegion is the region a Verifier with an empty Region accepts.
const DefaultRegion = "us-east-1"

// DefaultMaxSkew is the clock skew a Verifier with a zero MaxSkew allows.
const DefaultMaxSkew = 15 * time.Minute

// MaxPresignExpires is the longest X-Amz-Expires a presigned URL may carry
// (seven days, as on AWS).
const MaxPresignExpires = 7 * 24 * time.Hour

// Verifier checks requests.
type Verifier struct {
	Creds  Credentials
	Region string // e.g. "us-east-1"; requests signed for another region are refused; empty means DefaultRegion
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

	// ChecksumAlgorithm names the additional checksum that Body verifies,
	// in S3's spelling ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"),
	// whether it came as an x-amz-checksum-* header or is announced by
	// x-amz-trailer. Empty when the request carries no checksum.
	ChecksumAlgorithm string

	body *bodyReader
}

// Checksum is an S3 additional checksum: the algorithm in S3's spelling
// ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256") and the standard base64
// encoding of the big-endian digest, as sent in x-amz-checksum-*.
type Checksum struct {
	Algo  string
	Value string
}

// String returns "ALGO:value", e.g. "CRC32:AAAAAA==".
func (c Checksum) String() string { return c.Algo + ":" + c.Value }

// Checksum returns the additional checksum of the payload once it has been
// verified, that is after Body's Read has returned io.EOF. It reports false
// before that, and when the request carried no checksum.
func (res *Result) Checksum() (Checksum, bool) {
	if res == nil || res.body == nil || !res.body.verified || res.body.checksum == nil {
		return Checksum{}, false
	}
	return res.body.checksum.result, true
}

// Anonymous reports whether r carries no authentication at all: no
// Authorization header and none of the query parameters of a SigV4 or SigV2
// presigned URL. Verify refuses such a request with AccessDenied; a caller
// that serves public objects can test Anonymous first.
func Anonymous(r *http.Request) bool {
	if len(r.Header.Values("Authorization")) > 0 {
		return false
	}
	q := r.URL.Query()
	for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Signature", "X-Amz-Credential", "AWSAccessKeyId", "Signature"} {
		if q.Has(k) {
			return false
		}
	}
	return true
}

// Verify authenticates r. Anonymous requests (no Authorization header and no
// X-Amz-Signature) get an *Error with code AccessDenied.
//
// Every refusal is an *Error. Any other error (the Credentials lookup
// failing for a reason other than ErrUnknownAccessKey, a nil Creds) is an
// internal failure that the caller should answer with 500 InternalError.
// Verify does not read r.Body; Result.Body does, checking it as it goes.
func (v *Verifier) Verify(r *http.Request) (*Result, error) {
	a, err := v.parseAuth(r)
	if err != nil {
		return nil, err
	}
	hdrs := lowerHeaders(r)
	if err := v.checkRequestTime(a); err != nil {
		return nil, err
	}
	if err := checkSignedHeaders(a, hdrs); err != nil {
		return nil, err
	}
	mode, err := parsePayloadMode(a.payloadHash, a.presigned)
	if err != nil {
		return nil, err
	}
	plan, err := planBody(mode, r, hdrs)
	if err != nil {
		return nil, err
	}

	if v.Creds == nil {
		return nil, errors.New("sigv4: Verifier has no Credentials")
	}
	secret, err := v.Creds.SecretKey(r.Context(), a.accessKey)
	if errors.Is(err, ErrUnknownAccessKey) {
		return nil, errInvalidAccessKeyID()
	}
	if err != nil {
		return nil, fmt.Errorf("sigv4: look up access key: %w", err)
	}

	canon, err := canonicalRequest(r, a, hdrs)
	if err != nil {
		return nil, err
	}
	key := signingKey(secret, a.scope)
	want := signatureHex(key, stringToSign(a.amzDate, a.scope.String(), canon))
	if !signaturesEqual(a.signature, want) {
		return nil, errSignatureDoesNotMatch()
	}

	body := newBodyReader(r.Body, mode, plan, chunkSigner{key: key, amzDate: a.amzDate, scope: a.scope.String(), seed: want})
	res := &Result{
		AccessKeyID:   a.accessKey,
		Body:          body,
		ContentLength: plan.contentLength(mode, r),
		Presigned:     a.presigned,
		body:          body,
	}
	if plan.checksumAlgo != nil {
		res.ChecksumAlgorithm = plan.checksumAlgo.name
	}
	return res, nil
}

// now returns the verifier's clock reading.
func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// region returns the region requests must be signed for.
func (v *Verifier) region() string {
	if v.Region == "" {
		return DefaultRegion
	}
	return v.Region
}

// maxSkew returns the allowed clock skew.
func (v *Verifier) maxSkew() time.Duration {
	if v.MaxSkew <= 0 {
		return DefaultMaxSkew
	}
	return v.MaxSkew
}

// checkRequestTime enforces the clock skew window for header auth and the
// validity window [X-Amz-Date - skew, X-Amz-Date + X-Amz-Expires] for
// presigned URLs.
func (v *Verifier) checkRequestTime(a *authInfo) error {
	now := v.now()
	skew := v.maxSkew()
	if a.presigned {
		if a.date.After(now.Add(skew)) {
			return &Error{Code: "AccessDenied", Message: "Request is not valid yet", Status: http.StatusForbidden}
		}
		if now.After(a.date.Add(a.expires)) {
			return &Error{Code: "AccessDenied", Message: "Request has expired", Status: http.StatusForbidden}
		}
		return nil
	}
	if d := now.Sub(a.date); d > skew || d < -skew {
		return &Error{Code: "RequestTimeTooSkewed", Message: "The difference between the request time and the server's time is too large.", Status: http.StatusForbidden}
	}
	return nil
}

// checkSignedHeaders enforces what S3 requires to be covered by the
// signature: host, the date header in use, x-amz-content-sha256 for header
// auth, and every x-amz-* header present in the request (so that nobody can
// add, say, x-amz-copy-source or x-amz-meta-* to a captured request).
func checkSignedHeaders(a *authInfo, hdrs map[string][]string) error {
	signed := make(map[string]bool, len(a.signedHeaders))
	for _, h := range a.signedHeaders {
		signed[h] = true
	}
	required := []string{"host"}
	if !a.presigned {
		required = append(required, "x-amz-content-sha256", a.dateHeader)
	}
	for _, h := range required {
		if !signed[h] {
			return errHeadersNotSigned()
		}
	}
	for name := range hdrs {
		if strings.HasPrefix(name, "x-amz-") && !signed[name] {
			return errHeadersNotSigned()
		}
	}
	return nil
}

// Errors shared by several files. Messages follow AWS's wording where AWS
// has one, and never include a secret or an expected signature.

func errAccessDenied(msg string) *Error {
	return &Error{Code: "AccessDenied", Message: msg, Status: http.StatusForbidden}
}

func errHeadersNotSigned() *Error {
	return errAccessDenied("There were headers present in the request which were not signed")
}

func errInvalidAccessKeyID() *Error {
	return &Error{Code: "InvalidAccessKeyId", Message: "The AWS Access Key Id you provided does not exist in our records.", Status: http.StatusForbidden}
}

func errSignatureDoesNotMatch() *Error {
	return &Error{Code: "SignatureDoesNotMatch", Message: "The request signature we calculated does not match the signature you provided. Check your key and signing method.", Status: http.StatusForbidden}
}

func errHeaderMalformed(detail string) *Error {
	return &Error{Code: "AuthorizationHeaderMalformed", Message: "The authorization header is malformed; " + detail, Status: http.StatusBadRequest}
}

func errQueryMalformed(detail string) *Error {
	return &Error{Code: "AuthorizationQueryParametersError", Message: detail, Status: http.StatusBadRequest}
}

func errInvalidRequest(msg string) *Error {
	return &Error{Code: "InvalidRequest", Message: msg, Status: http.StatusBadRequest}
}

func errInvalidArgument(msg string) *Error {
	return &Error{Code: "InvalidArgument", Message: msg, Status: http.StatusBadRequest}
}
