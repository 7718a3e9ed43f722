package s3api

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"strings"

	"github.com/minio/crc64nvme"

	"github.com/coffer-vault/coffer/internal/s3api/sigv4"
)

// checksumAlgo is one of the S3 additional checksum algorithms.
type checksumAlgo struct {
	name    string // as stored: "CRC32", ...
	header  string // canonical header name
	newHash func() hash.Hash
}

// checksumAlgos lists the algorithms S3 defines, in S3's order.
var checksumAlgos = []checksumAlgo{
	{"CRC32", "X-Amz-Checksum-Crc32", func() hash.Hash { return crc32.NewIEEE() }},
	{"CRC32C", "X-Amz-Checksum-Crc32c", func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) }},
	{"CRC64NVME", "X-Amz-Checksum-Crc64nvme", func() hash.Hash { return crc64nvme.New() }},
	{"SHA1", "X-Amz-Checksum-Sha1", sha1.New},
	{"SHA256", "X-Amz-Checksum-Sha256", sha256.New},
}

// checksumHeader returns the response header for a stored "ALGO:base64"
// checksum, or "" for an algorithm we do not know.
func checksumHeader(stored string) (name, value string) {
	algo, val, ok := strings.Cut(stored, ":")
	if !ok {
		return "", ""
	}
	for _, a := range checksumAlgos {
		if a.name == algo {
			return a.header, val
		}
	}
	return "", ""
}

// bodyReader verifies a request payload as it is read: its length, its
// Content-MD5 and any x-amz-checksum-* value sent as a header; at the end it
// also knows the checksum of an algorithm whose value came in the trailer
// (which sigv4 has verified). Read returns io.EOF only when every check has
// passed; otherwise it returns an error the vault aborts the write with.
type bodyReader struct {
	src  io.Reader
	size int64 // declared length, -1 when unknown
	n    int64

	md5     hash.Hash
	wantMD5 []byte

	algo    *checksumAlgo
	sum     hash.Hash
	wantSum []byte // nil when the value travels in the trailer

	err error // sticky: the final result once reached
}

// newBodyReader wraps the verified payload of rq (size bytes, -1 unknown).
// It fails with InvalidDigest for a malformed Content-MD5 and InvalidRequest
// for a malformed or ambiguous x-amz-checksum-* header.
func newBodyReader(rq *request, size int64) (*bodyReader, error) {
	br := &bodyReader{src: rq.body, size: size}
	hdr := rq.r.Header
	if v, ok := hdr["Content-Md5"]; ok {
		want, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v[0]))
		if err != nil || len(want) != md5.Size {
			return nil, apiErr("InvalidDigest", "The Content-MD5 you specified was invalid.")
		}
		br.md5, br.wantMD5 = md5.New(), want
	}
	trailer := map[string]bool{}
	for _, v := range hdr.Values("X-Amz-Trailer") {
		for _, name := range strings.Split(v, ",") {
			trailer[strings.ToLower(strings.TrimSpace(name))] = true
		}
	}
	for i := range checksumAlgos {
		a := &checksumAlgos[i]
		v := hdr.Get(a.header)
		inTrailer := trailer[strings.ToLower(a.header)]
		if v == "" && !inTrailer {
			continue
		}
		if br.algo != nil {
			return nil, apiErr("InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		br.algo, br.sum = a, a.newHash()
		if v != "" {
			want, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
			if err != nil || len(want) != br.sum.Size() {
				return nil, apiErr("InvalidRequest", "Value for %s header is invalid.", strings.ToLower(a.header))
			}
			br.wantSum = want
		}
	}
	return br, nil
}

// Read implements io.Reader.
func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.size >= 0 && b.n >= b.size {
		return 0, b.finish()
	}
	if len(p) == 0 {
		return 0, nil
	}
	if b.size >= 0 && int64(len(p)) > b.size-b.n {
		p = p[:b.size-b.n]
	}
	n, err := b.src.Read(p)
	b.n += int64(n)
	if b.md5 != nil {
		b.md5.Write(p[:n])
	}
	if b.sum != nil {
		b.sum.Write(p[:n])
	}
	switch {
	case err == io.EOF:
		if b.size >= 0 && b.n < b.size {
			b.err = apiErr("IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.")
			return n, b.err
		}
		b.err = b.verify()
		return n, b.err
	case err != nil:
		b.err = bodyError(err)
		return n, b.err
	case b.size >= 0 && b.n == b.size:
		// All declared bytes are in: read on to the source's EOF now, so its
		// own checks (chunk signatures, trailers) run even if the consumer
		// stops at exactly size bytes.
		if ferr := b.finish(); ferr != io.EOF {
			return n, ferr
		}
		return n, nil
	}
	return n, nil
}

// finish reads the source to its end, expecting no more bytes, and verifies.
func (b *bodyReader) finish() error {
	if b.err != nil {
		return b.err
	}
	var one [1]byte
	for {
		n, err := b.src.Read(one[:])
		if n > 0 {
			b.err = apiErr("IncompleteBody", "The request body is longer than its declared length.")
			return b.err
		}
		if err == io.EOF {
			b.err = b.verify()
			return b.err
		}
		if err != nil {
			b.err = bodyError(err)
			return b.err
		}
	}
}

// verify checks the digests once the whole payload has been read.
func (b *bodyReader) verify() error {
	if b.md5 != nil && !bytes.Equal(b.md5.Sum(nil), b.wantMD5) {
		return apiErr("BadDigest", "The Content-MD5 you specified did not match what we received.")
	}
	if b.wantSum != nil && !bytes.Equal(b.sum.Sum(nil), b.wantSum) {
		return apiErr("BadDigest", "The %s you specified did not match the calculated checksum.", strings.ToLower(b.algo.header))
	}
	return io.EOF
}

// checksum returns the verified checksum as "ALGO:base64" once Read has
// returned io.EOF, or "" when the request carried none.
func (b *bodyReader) checksum() string {
	if b.sum == nil || b.err != io.EOF {
		return ""
	}
	return b.algo.name + ":" + base64.StdEncoding.EncodeToString(b.sum.Sum(nil))
}

// setChecksumHeader echoes the verified checksum on a response.
func (b *bodyReader) setChecksumHeader(h http.Header) {
	if c := b.checksum(); c != "" {
		name, v := checksumHeader(c)
		h.Set(name, v)
	}
}

// bodyError classifies a read error from the request payload: sigv4's own
// verdicts pass through to the error table, anything else (a short body, a
// dropped connection) is an incomplete body.
func bodyError(err error) error {
	var se *sigv4.Error
	var ae *Error
	if errors.As(err, &se) || errors.As(err, &ae) {
		return err
	}
	for _, s := range []error{sigv4.ErrContentSHA256Mismatch, sigv4.ErrChunkSignature,
		sigv4.ErrChecksumMismatch, sigv4.ErrMalformedChunk, sigv4.ErrIncompleteBody} {
		if errors.Is(err, s) {
			return err
		}
	}
	e := apiErr("IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.")
	e.err = err
	return e
}
