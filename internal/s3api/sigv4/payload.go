package sigv4

// This file maps x-amz-content-sha256 to a payload mode and builds the
// reader that enforces it:
//
//	<64 hex digits>                              SHA-256 of the body, checked at EOF
//	UNSIGNED-PAYLOAD                             body passed through
//	STREAMING-AWS4-HMAC-SHA256-PAYLOAD           aws-chunked, every chunk signed
//	STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER   aws-chunked, signed chunks and signed trailer
//	STREAMING-UNSIGNED-PAYLOAD-TRAILER           aws-chunked, no signatures, trailer
//
// Independently of the mode, an x-amz-checksum-* header (or trailer named
// by x-amz-trailer) is verified over the decoded payload at EOF.

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
)

const (
	payloadUnsigned                 = "UNSIGNED-PAYLOAD"
	payloadStreamingSigned          = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	payloadStreamingSignedTrailer   = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	payloadStreamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

// payloadMode is the parsed value of x-amz-content-sha256.
type payloadMode struct {
	chunked bool   // aws-chunked framing
	signed  bool   // chunk signatures (chunked only)
	trailer bool   // a trailer follows the last chunk (chunked only)
	sha256  []byte // the declared digest, for a literal SHA-256
}

// parsePayloadMode interprets an x-amz-content-sha256 value.
func parsePayloadMode(v string, presigned bool) (payloadMode, error) {
	switch v {
	case payloadUnsigned:
		return payloadMode{}, nil
	case payloadStreamingSigned:
		return payloadMode{chunked: true, signed: true}, nil
	case payloadStreamingSignedTrailer:
		return payloadMode{chunked: true, signed: true, trailer: true}, nil
	case payloadStreamingUnsignedTrailer:
		return payloadMode{chunked: true, trailer: true}, nil
	}
	if len(v) == 2*sha256.Size && isHex(v) {
		sum, _ := hex.DecodeString(v)
		return payloadMode{sha256: sum}, nil
	}
	what := "x-amz-content-sha256"
	if presigned {
		what = "X-Amz-Content-Sha256"
	}
	return payloadMode{}, errInvalidArgument(what + " must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-UNSIGNED-PAYLOAD-TRAILER or a valid sha256 value.")
}

// bodyPlan is what the body reader must check, decided from the headers.
type bodyPlan struct {
	decodedLength int64         // aws-chunked: x-amz-decoded-content-length
	checksumAlgo  *checksumAlgo // nil when no checksum is declared
	checksumWant  []byte        // from an x-amz-checksum-* header; nil for a trailer
	trailerName   string        // the trailer carrying the checksum, lowercase
}

// planBody reads the headers that govern the body: the checksum header or
// x-amz-trailer, and x-amz-decoded-content-length for aws-chunked.
//
// An x-amz-checksum-* header describes the body except on the two requests
// where S3 gives it another meaning: CompleteMultipartUpload (POST with
// uploadId), where it is the whole object's checksum, and copies
// (x-amz-copy-source), which have no payload of their own. There it is left
// to the handler.
func planBody(mode payloadMode, r *http.Request, hdrs map[string][]string) (bodyPlan, error) {
	var p bodyPlan
	bodyChecksum := !(r.Method == http.MethodPost && r.URL.Query().Has("uploadId")) && len(hdrs["x-amz-copy-source"]) == 0
	if bodyChecksum {
		for _, a := range checksumAlgos() {
			vs, ok := hdrs[a.header()]
			if !ok {
				continue
			}
			if p.checksumAlgo != nil {
				return p, errInvalidRequest("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
			}
			want, ok := decodeChecksum(a, strings.Join(vs, ","))
			if len(vs) != 1 || !ok {
				return p, errInvalidRequest("Value for " + a.header() + " header is invalid.")
			}
			p.checksumAlgo, p.checksumWant = a, want
		}
	}

	var trailers []string
	for _, v := range hdrs["x-amz-trailer"] {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.ToLower(strings.TrimSpace(t)); t != "" {
				trailers = append(trailers, t)
			}
		}
	}
	switch {
	case len(trailers) > 0 && !mode.trailer:
		return p, errInvalidRequest("x-amz-trailer requires x-amz-content-sha256 " + payloadStreamingUnsignedTrailer + " or " + payloadStreamingSignedTrailer + ".")
	case len(trailers) > 1:
		return p, errInvalidRequest("Expecting a single x-amz-trailer. Multiple checksum Types are not allowed.")
	case len(trailers) == 1:
		a, ok := checksumByHeader(trailers[0])
		if !ok {
			return p, errInvalidRequest("The value specified in the x-amz-trailer header is not supported")
		}
		if p.checksumAlgo != nil {
			return p, errInvalidRequest("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		p.checksumAlgo, p.trailerName = a, trailers[0]
	}

	if mode.chunked {
		vs := hdrs["x-amz-decoded-content-length"]
		if len(vs) == 0 {
			return p, &Error{Code: "MissingContentLength", Message: "You must provide the x-amz-decoded-content-length header for an aws-chunked body.", Status: http.StatusLengthRequired}
		}
		n, err := strconv.ParseInt(vs[0], 10, 64)
		if len(vs) != 1 || err != nil || n < 0 || !allDigits(vs[0]) {
			return p, errInvalidArgument("x-amz-decoded-content-length is not a valid length.")
		}
		p.decodedLength = n
	}
	return p, nil
}

// contentLength returns the decoded payload length, -1 when unknown.
func (p bodyPlan) contentLength(mode payloadMode, r *http.Request) int64 {
	if mode.chunked {
		return p.decodedLength
	}
	if r.Body == nil || r.Body == http.NoBody {
		return 0
	}
	return r.ContentLength
}

// checksumState accumulates and, at EOF, checks one additional checksum.
type checksumState struct {
	algo   *checksumAlgo
	h      hash.Hash
	result Checksum
}

// bodyReader is Result.Body. It reads the raw body or the aws-chunked
// decoder over it, feeds the declared digests and checks them when the
// source reaches EOF. Errors are sticky.
type bodyReader struct {
	src      io.Reader
	closer   io.Closer
	chunked  *chunkedReader // nil unless aws-chunked
	sha      hash.Hash      // nil unless a literal SHA-256 was declared
	shaWant  []byte
	checksum *checksumState // nil unless a checksum was declared
	ckWant   []byte         // from the header; nil means from the trailer
	verified bool           // every check passed; Read returned io.EOF
	err      error
}

func newBodyReader(body io.ReadCloser, mode payloadMode, plan bodyPlan, cs chunkSigner) *bodyReader {
	if body == nil {
		body = http.NoBody
	}
	b := &bodyReader{src: body, closer: body}
	if mode.chunked {
		b.chunked = newChunkedReader(body, mode, plan.decodedLength, plan.trailerName, cs)
		b.src = b.chunked
	}
	if mode.sha256 != nil {
		b.sha, b.shaWant = sha256.New(), mode.sha256
	}
	if plan.checksumAlgo != nil {
		b.checksum = &checksumState{algo: plan.checksumAlgo, h: plan.checksumAlgo.new()}
		b.ckWant = plan.checksumWant
	}
	return b
}

// Read implements io.Reader; see Result.Body.
func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.src.Read(p)
	if n > 0 {
		if b.sha != nil {
			b.sha.Write(p[:n])
		}
		if b.checksum != nil {
			b.checksum.h.Write(p[:n])
		}
	}
	switch {
	case err == io.EOF:
		if ferr := b.finish(); ferr != nil {
			b.err = ferr
			return n, ferr
		}
		b.verified = true
		b.err = io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrIncompleteBody):
		b.err = fmt.Errorf("%w: %w", ErrIncompleteBody, err)
	case err != nil:
		b.err = err
	}
	return n, b.err
}

// finish runs the end-of-body checks.
func (b *bodyReader) finish() error {
	if b.sha != nil && !bytes.Equal(b.sha.Sum(nil), b.shaWant) {
		return ErrContentSHA256Mismatch
	}
	if b.checksum == nil {
		return nil
	}
	want := b.ckWant
	if want == nil {
		v, ok := b.chunked.trailerValue()
		if !ok {
			return fmt.Errorf("%w: trailer %s is missing", ErrMalformedChunk, b.checksum.algo.header())
		}
		if want, ok = decodeChecksum(b.checksum.algo, v); !ok {
			return fmt.Errorf("%w: trailer %s is not a valid value", ErrMalformedChunk, b.checksum.algo.header())
		}
	}
	got := b.checksum.h.Sum(nil)
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%w: %s", ErrChecksumMismatch, b.checksum.algo.header())
	}
	b.checksum.result = Checksum{Algo: b.checksum.algo.name, Value: base64.StdEncoding.EncodeToString(got)}
	return nil
}

// Close closes the request body.
func (b *bodyReader) Close() error {
	return b.closer.Close()
}
