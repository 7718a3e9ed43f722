package s3api

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/minio/crc64nvme"

	"github.com/coffer-vault/coffer/internal/s3api/sigv4"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func testRequest(body io.Reader, hdr map[string]string) *request {
	r, _ := http.NewRequest(http.MethodPut, "/b/k", nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	return &request{r: r, body: body, size: -1}
}

func codeOf(err error) string {
	if err == nil {
		return ""
	}
	if err == io.EOF {
		return "EOF"
	}
	return toAPIError(err).Code
}

func TestBodyReader(t *testing.T) {
	const data = "hello, coffer"
	sum := md5.Sum([]byte(data))
	s1 := sha1.Sum([]byte(data))
	s256 := sha256.Sum256([]byte(data))
	c32 := binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE([]byte(data)))
	c32c := binary.BigEndian.AppendUint32(nil, crc32.Checksum([]byte(data), crc32.MakeTable(crc32.Castagnoli)))
	h64 := crc64nvme.New()
	h64.Write([]byte(data))
	c64 := h64.Sum(nil)

	tests := []struct {
		name    string
		body    string
		size    int64
		hdr     map[string]string
		newErr  string // error code from newBodyReader
		readErr string // code of the final read error; "" means success
		stored  string // checksum() afterwards
	}{
		{"plain", data, int64(len(data)), nil, "", "", ""},
		{"unknown size", data, -1, nil, "", "", ""},
		{"md5 ok", data, -1, map[string]string{"Content-MD5": b64(sum[:])}, "", "", ""},
		{"md5 mismatch", data + "!", -1, map[string]string{"Content-MD5": b64(sum[:])}, "", "BadDigest", ""},
		{"md5 malformed", data, -1, map[string]string{"Content-MD5": "not base64"}, "InvalidDigest", "", ""},
		{"md5 wrong length", data, -1, map[string]string{"Content-MD5": b64(sum[:8])}, "InvalidDigest", "", ""},
		{"crc32", data, -1, map[string]string{"X-Amz-Checksum-Crc32": b64(c32)}, "", "", "CRC32:" + b64(c32)},
		{"crc32c", data, -1, map[string]string{"X-Amz-Checksum-Crc32c": b64(c32c)}, "", "", "CRC32C:" + b64(c32c)},
		{"crc64nvme", data, -1, map[string]string{"X-Amz-Checksum-Crc64nvme": b64(c64)}, "", "", "CRC64NVME:" + b64(c64)},
		{"sha1", data, -1, map[string]string{"X-Amz-Checksum-Sha1": b64(s1[:])}, "", "", "SHA1:" + b64(s1[:])},
		{"sha256", data, -1, map[string]string{"X-Amz-Checksum-Sha256": b64(s256[:])}, "", "", "SHA256:" + b64(s256[:])},
		{"crc32 mismatch", "x" + data, -1, map[string]string{"X-Amz-Checksum-Crc32": b64(c32)}, "", "BadDigest", ""},
		{"sha256 mismatch", strings.ToUpper(data), -1, map[string]string{"X-Amz-Checksum-Sha256": b64(s256[:])}, "", "BadDigest", ""},
		{"checksum malformed", data, -1, map[string]string{"X-Amz-Checksum-Crc32": b64(s1[:])}, "InvalidRequest", "", ""},
		{"two checksums", data, -1, map[string]string{"X-Amz-Checksum-Crc32": b64(c32), "X-Amz-Checksum-Sha1": b64(s1[:])}, "InvalidRequest", "", ""},
		{"trailer computed", data, -1, map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32c"}, "", "", "CRC32C:" + b64(c32c)},
		{"short body", data, int64(len(data)) + 5, nil, "", "IncompleteBody", ""},
		{"long body", data, int64(len(data)) - 1, nil, "", "IncompleteBody", ""},
		{"empty", "", 0, map[string]string{"Content-MD5": b64(md5.New().Sum(nil))}, "", "", ""},
	}
	for _, tt := range tests {
		br, err := newBodyReader(testRequest(strings.NewReader(tt.body), tt.hdr), tt.size)
		if codeOf(err) != tt.newErr {
			t.Errorf("%s: newBodyReader err = %v, want %s", tt.name, err, tt.newErr)
			continue
		}
		if err != nil {
			continue
		}
		got, err := io.ReadAll(iotest.OneByteReader(br))
		if codeOf(err) != tt.readErr {
			t.Errorf("%s: read err = %v, want %q", tt.name, err, tt.readErr)
		}
		if err == nil && string(got) != tt.body {
			t.Errorf("%s: read %q", tt.name, got)
		}
		if c := br.checksum(); c != tt.stored {
			t.Errorf("%s: checksum() = %q, want %q", tt.name, c, tt.stored)
		}
	}
}

// TestBodyReaderExactConsumer checks that a consumer that stops at exactly
// size bytes still sees a digest failure: the reader looks for the source's
// EOF as soon as the declared length is in.
func TestBodyReaderExactConsumer(t *testing.T) {
	data := "0123456789"
	bad := md5.Sum([]byte("other"))
	br, err := newBodyReader(testRequest(strings.NewReader(data), map[string]string{"Content-MD5": b64(bad[:])}), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(data))
	n, err := br.Read(buf)
	if n != len(data) || codeOf(err) != "BadDigest" {
		t.Errorf("Read = %d, %v; want %d, BadDigest", n, err, len(data))
	}
	if _, err := br.Read(buf); codeOf(err) != "BadDigest" {
		t.Errorf("error not sticky: %v", err)
	}
}

// TestBodyReaderSourceErrors checks how errors of the payload source are
// classified.
func TestBodyReaderSourceErrors(t *testing.T) {
	tests := []struct {
		err  error
		code string
	}{
		{io.ErrUnexpectedEOF, "IncompleteBody"},
		{errors.New("connection reset"), "IncompleteBody"},
		{fmt.Errorf("chunk 2: %w", sigv4.ErrChunkSignature), "SignatureDoesNotMatch"},
		{sigv4.ErrContentSHA256Mismatch, "XAmzContentSHA256Mismatch"},
		{sigv4.ErrChecksumMismatch, "BadDigest"},
		{sigv4.ErrMalformedChunk, "IncompleteBody"},
	}
	for _, tt := range tests {
		src := io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(tt.err))
		br, _ := newBodyReader(testRequest(src, nil), 10)
		_, err := io.ReadAll(br)
		if codeOf(err) != tt.code {
			t.Errorf("source error %v -> %v (%s), want %s", tt.err, err, codeOf(err), tt.code)
		}
	}
}

func TestStripAWSChunked(t *testing.T) {
	for in, want := range map[string]string{
		"aws-chunked":       "",
		"aws-chunked,gzip":  "gzip",
		"gzip, aws-chunked": "gzip",
		"gzip":              "gzip",
		"":                  "",
	} {
		if got := stripAWSChunked(in); got != want {
			t.Errorf("stripAWSChunked(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPutOptions(t *testing.T) {
	h := http.Header{}
	h.Set("Content-Type", "text/plain")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Encoding", "aws-chunked")
	h.Set("Content-Disposition", `attachment; filename="a.txt"`)
	h.Set("Content-Language", "de")
	h.Set("Expires", "Thu, 01 Dec 2094 16:00:00 GMT")
	h.Set("X-Amz-Meta-Project", "Alpha")
	h.Set("x-amz-meta-Other", "b")
	h.Set("X-Amz-Tagging", "k1=v1&k2=v%202")
	opts, err := putOptions(h)
	if err != nil {
		t.Fatal(err)
	}
	if opts.ContentType != "text/plain" || opts.Headers["Cache-Control"] != "no-cache" ||
		opts.Headers["Content-Language"] != "de" || opts.Headers["Expires"] == "" ||
		opts.Headers["Content-Disposition"] == "" {
		t.Errorf("opts = %+v", opts)
	}
	if _, ok := opts.Headers["Content-Encoding"]; ok {
		t.Errorf("aws-chunked stored as Content-Encoding: %+v", opts.Headers)
	}
	if opts.UserMeta["project"] != "Alpha" || opts.UserMeta["other"] != "b" {
		t.Errorf("user meta = %+v", opts.UserMeta)
	}
	if opts.Tags["k1"] != "v1" || opts.Tags["k2"] != "v 2" {
		t.Errorf("tags = %+v", opts.Tags)
	}

	bad := []struct {
		hdr, val, code string
	}{
		{"X-Amz-Meta-Big", strings.Repeat("x", 3000), "MetadataTooLarge"},
		{"X-Amz-Tagging", "a=1&a=2", "InvalidTag"},
		{"X-Amz-Tagging", "a=%zz", "InvalidTag"},
		{"X-Amz-Tagging", "1=1&2=2&3=3&4=4&5=5&6=6&7=7&8=8&9=9&10=10&11=11", "InvalidTag"},
		{"X-Amz-Tagging", strings.Repeat("k", 129) + "=v", "InvalidTag"},
		{"X-Amz-Server-Side-Encryption", "aws:kms", "NotImplemented"},
		{"X-Amz-Server-Side-Encryption-Customer-Algorithm", "AES256", "NotImplemented"},
	}
	for _, tt := range bad {
		h := http.Header{}
		h.Set(tt.hdr, tt.val)
		if _, err := putOptions(h); codeOf(err) != tt.code {
			t.Errorf("%s: %s -> %v, want %s", tt.hdr, tt.val, err, tt.code)
		}
	}
}
