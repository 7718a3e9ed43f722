package sigv4

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"
)

// streamKind is one of the aws-chunked payload modes.
type streamKind int

const (
	streamSigned streamKind = iota
	streamSignedTrailer
	streamUnsignedTrailer
)

func (k streamKind) String() string {
	return [...]string{"signed", "signed-trailer", "unsigned-trailer"}[k]
}

// streamCase is a request signed by minio-go's streaming signers, with its
// encoded body kept so that tests can tamper with it.
type streamCase struct {
	req  *http.Request // client request, body removed
	body []byte        // the aws-chunked body minio-go produced
	now  time.Time     // when it was signed
}

// newStream signs a PUT of data with minio-go. For the trailer kinds,
// trailerValue is sent as x-amz-checksum-crc32 (pass crc32B64(data) for a
// good one).
func newStream(t *testing.T, kind streamKind, data []byte, trailerValue string) streamCase {
	t.Helper()
	req := newClientRequest(t, "PUT", "footage/day 1/cam+a.mxf", "", data)
	req.Header.Set("Content-Type", "application/mxf")
	var out *http.Request
	now := testNow()
	switch kind {
	case streamSigned:
		out = signer.StreamingSignV4(req, testAKID, testSecret, "", testRegion, int64(len(data)), now, newSHA256Hasher())
	case streamSignedTrailer:
		req.Trailer = http.Header{"x-amz-checksum-crc32": {trailerValue}}
		out = signer.StreamingSignV4(req, testAKID, testSecret, "", testRegion, int64(len(data)), now, newSHA256Hasher())
	case streamUnsignedTrailer:
		// SignV4Trailer reads the clock itself.
		now = time.Now().UTC()
		req.Header.Set("X-Amz-Content-Sha256", payloadStreamingUnsignedTrailer)
		req.ContentLength = int64(len(data))
		out = signer.SignV4Trailer(*req, testAKID, testSecret, "", testRegion, http.Header{"x-amz-checksum-crc32": {trailerValue}})
	}
	body, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	out.Body, out.GetBody = nil, nil
	return streamCase{req: out, body: body, now: now}
}

// server returns the server's view of the request with body as its body.
func (s streamCase) server(t *testing.T, body []byte) *http.Request {
	t.Helper()
	r := s.req.Clone(context.Background())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Trailer = nil
	return toServer(t, r)
}

func TestStreamingMinio(t *testing.T) {
	for _, kind := range []streamKind{streamSigned, streamSignedTrailer, streamUnsignedTrailer} {
		for _, size := range []int{0, 1, 65536, 150 << 10} {
			t.Run(kind.String()+"/"+strconv.Itoa(size), func(t *testing.T) {
				data := randomBytes(size, uint64(size))
				s := newStream(t, kind, data, crc32B64(data))
				res := mustVerify(t, newVerifier(s.now), s.server(t, s.body), data)
				if res.ContentLength != int64(size) {
					t.Fatalf("ContentLength %d", res.ContentLength)
				}
				ck, ok := res.Checksum()
				if kind == streamSigned {
					if ok || res.ChecksumAlgorithm != "" {
						t.Fatalf("unexpected checksum %v", ck)
					}
					return
				}
				if !ok || ck != (Checksum{"CRC32", crc32B64(data)}) || res.ChecksumAlgorithm != "CRC32" {
					t.Fatalf("checksum %v %v", ck, ok)
				}
			})
		}
	}
}

// chunkSpan returns the start and end (exclusive) of the i-th chunk of a
// signed aws-chunked body, header and trailing CRLF included.
func chunkSpan(t *testing.T, body []byte, i int) (int, int) {
	t.Helper()
	off := 0
	for n := 0; ; n++ {
		nl := bytes.Index(body[off:], []byte("\r\n"))
		if nl < 0 {
			t.Fatalf("chunk %d not found", i)
		}
		sizeStr, _, _ := strings.Cut(string(body[off:off+nl]), ";")
		size, err := strconv.ParseInt(sizeStr, 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		end := off + nl + 2 + int(size) + 2
		if n == i {
			return off, end
		}
		off = end
	}
}

// TestStreamingAttacks tampers with a signed aws-chunked body of three
// chunks (64 KiB, 64 KiB, 22 KiB) and its final chunk.
func TestStreamingAttacks(t *testing.T) {
	data := randomBytes(150<<10, 7)
	s := newStream(t, streamSigned, data, "")
	v := newVerifier(s.now)
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(s.body)) }

	cases := []struct {
		name string
		body []byte
		want error
	}{
		{"altered chunk data", mutate(func(b []byte) []byte {
			start, _ := chunkSpan(t, b, 1)
			b[start+200] ^= 1
			return b
		}), ErrChunkSignature},
		{"altered chunk signature", mutate(func(b []byte) []byte {
			start, _ := chunkSpan(t, b, 0)
			i := start + bytes.IndexByte(b[start:], '=') + 1
			b[i] = flipHex(b[i])
			return b
		}), ErrChunkSignature},
		{"reordered chunks", mutate(func(b []byte) []byte {
			s0, e0 := chunkSpan(t, b, 0)
			_, e1 := chunkSpan(t, b, 1)
			out := append([]byte{}, b[e0:e1]...)
			out = append(out, b[s0:e0]...)
			return append(out, b[e1:]...)
		}), ErrChunkSignature},
		{"dropped chunk", mutate(func(b []byte) []byte {
			s1, e1 := chunkSpan(t, b, 1)
			return append(b[:s1:s1], b[e1:]...)
		}), ErrChunkSignature},
		{"truncated inside data", s.body[:len(s.body)/2], ErrIncompleteBody},
		{"truncated before final chunk", mutate(func(b []byte) []byte {
			s3, _ := chunkSpan(t, b, 3)
			return b[:s3]
		}), ErrIncompleteBody},
		{"final chunk removed and length forged", mutate(func(b []byte) []byte {
			s2, _ := chunkSpan(t, b, 2)
			return b[:s2]
		}), ErrIncompleteBody},
		{"data after final chunk", append(bytes.Clone(s.body), "junk"...), ErrMalformedChunk},
		{"final signature altered", mutate(func(b []byte) []byte {
			s3, _ := chunkSpan(t, b, 3)
			i := s3 + bytes.IndexByte(b[s3:], '=') + 1
			b[i] = flipHex(b[i])
			return b
		}), ErrChunkSignature},
		{"crlf after data replaced", mutate(func(b []byte) []byte {
			_, e0 := chunkSpan(t, b, 0)
			b[e0-2] = 'x'
			return b
		}), ErrMalformedChunk},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := v.Verify(s.server(t, tc.body))
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			_, err = io.ReadAll(res.Body)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}

	t.Run("truncated on the wire", func(t *testing.T) {
		r := s.req.Clone(context.Background())
		r.Body = io.NopCloser(bytes.NewReader(s.body))
		r.ContentLength = int64(len(s.body))
		raw := wireBytes(t, r)
		_, _, err := verifyAndRead(t, v, parseWire(t, raw[:len(raw)-100]))
		if !errors.Is(err, ErrIncompleteBody) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("decoded length changed", func(t *testing.T) {
		r := s.server(t, s.body)
		r.Header.Set("X-Amz-Decoded-Content-Length", "1")
		_, err := v.Verify(r)
		wantError(t, err, "SignatureDoesNotMatch", 403, "")
	})
	t.Run("seed signature from another request", func(t *testing.T) {
		other := newStream(t, streamSigned, data, "")
		other.req.Header.Set("Content-Type", "text/plain")
		_, err := v.Verify(other.server(t, s.body))
		wantError(t, err, "SignatureDoesNotMatch", 403, "")
	})
}

// TestTrailerAttacks covers the checksum trailer in both trailer modes.
func TestTrailerAttacks(t *testing.T) {
	data := randomBytes(100<<10, 3)
	good := crc32B64(data)
	wrong := crc32B64([]byte("something else"))

	t.Run("unsigned wrong checksum", func(t *testing.T) {
		s := newStream(t, streamUnsignedTrailer, data, wrong)
		_, _, err := verifyAndRead(t, newVerifier(s.now), s.server(t, s.body))
		if !errors.Is(err, ErrChecksumMismatch) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("unsigned altered data", func(t *testing.T) {
		s := newStream(t, streamUnsignedTrailer, data, good)
		b := bytes.Clone(s.body)
		b[1000] ^= 0xff
		_, _, err := verifyAndRead(t, newVerifier(s.now), s.server(t, b))
		if !errors.Is(err, ErrChecksumMismatch) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("unsigned trailer stripped", func(t *testing.T) {
		s := newStream(t, streamUnsignedTrailer, data, good)
		i := bytes.Index(s.body, []byte("x-amz-checksum-crc32:"))
		b := append(bytes.Clone(s.body[:i]), "\r\n"...)
		_, _, err := verifyAndRead(t, newVerifier(s.now), s.server(t, b))
		if !errors.Is(err, ErrMalformedChunk) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("unsigned undeclared trailer", func(t *testing.T) {
		s := newStream(t, streamUnsignedTrailer, data, good)
		i := bytes.Index(s.body, []byte("x-amz-checksum-crc32:"))
		b := append(bytes.Clone(s.body[:i]), "x-amz-checksum-sha1:AAAA\r\n"...)
		b = append(b, s.body[i:]...)
		_, _, err := verifyAndRead(t, newVerifier(s.now), s.server(t, b))
		if !errors.Is(err, ErrMalformedChunk) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("signed wrong checksum", func(t *testing.T) {
		s := newStream(t, streamSignedTrailer, data, wrong)
		_, _, err := verifyAndRead(t, newVerifier(s.now), s.server(t, s.body))
		if !errors.Is(err, ErrChecksumMismatch) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("signed trailer altered", func(t *testing.T) {
		s := newStream(t, streamSignedTrailer, data, good)
		b := bytes.Replace(s.body, []byte(good), []byte(wrong), 1)
		_, _, err := verifyAndRead(t, newVerifier(s.now), s.server(t, b))
		if !errors.Is(err, ErrChunkSignature) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("signed trailer signature removed", func(t *testing.T) {
		s := newStream(t, streamSignedTrailer, data, good)
		i := bytes.Index(s.body, []byte(trailerSignatureName))
		b := append(bytes.Clone(s.body[:i]), "\r\n"...)
		_, _, err := verifyAndRead(t, newVerifier(s.now), s.server(t, b))
		if !errors.Is(err, ErrChunkSignature) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("trailer header added after signing", func(t *testing.T) {
		s := newStream(t, streamSigned, data, "")
		r := s.server(t, s.body)
		r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
		_, err := newVerifier(s.now).Verify(r)
		wantError(t, err, "AccessDenied", 403, "not signed")
	})
}

// unsignedStream signs, with aws-sdk-go-v2's signer, a request declaring
// STREAMING-UNSIGNED-PAYLOAD-TRAILER with the given body verbatim, so that
// tests can feed the decoder hand-made framing.
func unsignedStream(t *testing.T, body string, decodedLen int, trailer string) *http.Request {
	t.Helper()
	req := newClientRequest(t, "PUT", "k", "", []byte(body))
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(decodedLen))
	if trailer != "" {
		req.Header.Set("X-Amz-Trailer", trailer)
	}
	signAWS(t, req, testSecret, payloadStreamingUnsignedTrailer, testNow(), testRegion)
	return toServer(t, req)
}

// TestChunkedFraming feeds hand-made framing through Verify.
func TestChunkedFraming(t *testing.T) {
	hello := "hello"
	helloCRC := crc32B64([]byte(hello))
	big := strconv.FormatInt(MaxChunkSize+1, 16)
	cases := []struct {
		name    string
		body    string
		decoded int
		trailer string
		want    error // nil: success with body hello (or empty)
	}{
		{"aws-sdk framing", "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:" + helloCRC + "\r\n\r\n", 5, "x-amz-checksum-crc32", nil},
		{"lf trailer lines", "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:" + helloCRC + "\n\r\n\r\n", 5, "x-amz-checksum-crc32", nil},
		{"no trailer at all", "5\r\nhello\r\n0\r\n\r\n", 5, "", nil},
		{"no final crlf", "5\r\nhello\r\n0\r\n", 5, "", nil},
		{"two chunks", "2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n", 5, "", nil},
		{"uppercase hex", "A\r\nhellohello\r\n0\r\n\r\n", 10, "", nil},
		{"empty", "0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", 0, "x-amz-checksum-crc32", nil},
		{"wrong crc", "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", 5, "x-amz-checksum-crc32", ErrChecksumMismatch},
		{"bad crc encoding", "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:!!\r\n\r\n", 5, "x-amz-checksum-crc32", ErrMalformedChunk},
		{"shorter than declared", "5\r\nhello\r\n0\r\n\r\n", 6, "", ErrIncompleteBody},
		{"longer than declared", "5\r\nhello\r\n0\r\n\r\n", 4, "", ErrIncompleteBody},
		{"chunk too big", big + "\r\n", MaxChunkSize + 1, "", ErrMalformedChunk},
		{"size not hex", "zz\r\nhello\r\n0\r\n\r\n", 5, "", ErrMalformedChunk},
		{"negative size", "-5\r\nhello\r\n0\r\n\r\n", 5, "", ErrMalformedChunk},
		{"size overflow", "10000000000000000\r\n", 5, "", ErrMalformedChunk},
		{"signature in unsigned stream", "5;chunk-signature=" + strings.Repeat("0", 64) + "\r\nhello\r\n0\r\n\r\n", 5, "", ErrMalformedChunk},
		{"header without crlf", "5\nhello\r\n0\r\n\r\n", 5, "", ErrMalformedChunk},
		{"header line too long", "5" + strings.Repeat(" ", 600) + "\r\nhello\r\n0\r\n\r\n", 5, "", ErrMalformedChunk},
		{"endless header line", "5" + strings.Repeat("0", 5000), 5, "", ErrMalformedChunk},
		{"missing crlf after data", "5\r\nhelloX0\r\n\r\n", 5, "", ErrMalformedChunk},
		{"truncated header", "5\r\nhello\r\n0", 5, "", ErrIncompleteBody},
		{"truncated data", "5\r\nhel", 5, "", ErrIncompleteBody},
		{"trailer line too long", "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:" + strings.Repeat("A", 2000) + "\r\n\r\n", 5, "x-amz-checksum-crc32", ErrMalformedChunk},
		{"too many trailer lines", "5\r\nhello\r\n0\r\n" + strings.Repeat("\r\n", 20), 5, "", ErrMalformedChunk},
		{"trailer without colon", "5\r\nhello\r\n0\r\nx-amz-checksum-crc32\r\n\r\n", 5, "x-amz-checksum-crc32", ErrMalformedChunk},
		{"repeated trailer", "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:" + helloCRC + "\r\nx-amz-checksum-crc32:" + helloCRC + "\r\n\r\n", 5, "x-amz-checksum-crc32", ErrMalformedChunk},
		{"trailer signature in unsigned stream", "5\r\nhello\r\n0\r\nx-amz-trailer-signature:" + strings.Repeat("0", 64) + "\r\n\r\n", 5, "", ErrMalformedChunk},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := unsignedStream(t, tc.body, tc.decoded, tc.trailer)
			res, body, err := verifyAndRead(t, newVerifier(testNow()), r)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if want := strings.Repeat(hello, tc.decoded/5); string(body) != want {
					t.Fatalf("body %q", body)
				}
				if res.ContentLength != int64(tc.decoded) {
					t.Fatalf("ContentLength %d", res.ContentLength)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestChunkedHeaderRefusals covers header combinations refused by Verify.
func TestChunkedHeaderRefusals(t *testing.T) {
	cases := []struct {
		name   string
		set    map[string]string
		del    string
		code   string
		status int
	}{
		{name: "missing decoded length", del: "X-Amz-Decoded-Content-Length", code: "MissingContentLength", status: 411},
		{name: "bad decoded length", set: map[string]string{"X-Amz-Decoded-Content-Length": "-1"}, code: "InvalidArgument", status: 400},
		{name: "unknown trailer", set: map[string]string{"X-Amz-Trailer": "x-amz-checksum-md5"}, code: "InvalidRequest", status: 400},
		{name: "two trailers", set: map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32,x-amz-checksum-sha1"}, code: "InvalidRequest", status: 400},
		{name: "header and trailer checksum", set: map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32", "X-Amz-Checksum-Sha1": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}, code: "InvalidRequest", status: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := newClientRequest(t, "PUT", "k", "", []byte("0\r\n\r\n"))
			req.Header.Set("X-Amz-Decoded-Content-Length", "0")
			for k, v := range tc.set {
				req.Header.Set(k, v)
			}
			if tc.del != "" {
				req.Header.Del(tc.del)
			}
			signAWS(t, req, testSecret, payloadStreamingUnsignedTrailer, testNow(), testRegion)
			_, err := newVerifier(testNow()).Verify(toServer(t, req))
			wantError(t, err, tc.code, tc.status, "")
		})
	}
}

// TestChecksumAlgorithms pins each algorithm to its published check value
// over "123456789".
func TestChecksumAlgorithms(t *testing.T) {
	want := map[string]string{
		"CRC32":     "cbf43926",
		"CRC32C":    "e3069283",
		"CRC64NVME": "ae8b14860a799888",
		"SHA1":      "f7c3bc1d808e04732adf679965ccc34ca7ae3441",
		"SHA256":    "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225",
	}
	for _, a := range checksumAlgos() {
		h := a.new()
		h.Write([]byte("123456789"))
		sum := h.Sum(nil)
		if got := strconv.Quote(string(sum)); len(sum) != a.size {
			t.Errorf("%s: size %d %s", a.name, len(sum), got)
		}
		if got := hexString(sum); got != want[a.name] {
			t.Errorf("%s: got %s, want %s", a.name, got, want[a.name])
		}
		if b, ok := checksumByHeader(a.header()); !ok || b.name != a.name {
			t.Errorf("%s: header lookup", a.name)
		}
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&0xF])
	}
	return string(out)
}

// FuzzChunkedReader feeds arbitrary bytes to the decoder in each mode and
// checks it never panics, never returns more than asked or more than
// declared, and only reports io.EOF with exactly the declared length.
func FuzzChunkedReader(f *testing.F) {
	helloCRC := crc32B64([]byte("hello"))
	f.Add([]byte("5\r\nhello\r\n0\r\nx-amz-checksum-crc32:"+helloCRC+"\r\n\r\n"), uint8(2), uint16(5))
	f.Add([]byte("2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n"), uint8(2), uint16(5))
	f.Add([]byte("5;chunk-signature="+strings.Repeat("a", 64)+"\r\nhello\r\n0;chunk-signature="+strings.Repeat("b", 64)+"\r\n\r\n"), uint8(0), uint16(5))
	f.Add([]byte("0;chunk-signature="+strings.Repeat("b", 64)+"\r\nx-amz-checksum-crc32:AAAAAA==\n\r\nx-amz-trailer-signature:"+strings.Repeat("c", 64)+"\r\n\r\n"), uint8(1), uint16(0))
	f.Add([]byte("ffffff\r\n"), uint8(2), uint16(100))
	f.Fuzz(func(t *testing.T, in []byte, kind uint8, declared uint16) {
		mode := []payloadMode{
			{chunked: true, signed: true},
			{chunked: true, signed: true, trailer: true},
			{chunked: true, trailer: true},
		}[kind%3]
		cs := chunkSigner{key: []byte("k"), amzDate: "20250314T150926Z", scope: "20250314/us-east-1/s3/aws4_request", seed: strings.Repeat("0", 64)}
		trailer := ""
		if mode.trailer {
			trailer = "x-amz-checksum-crc32"
		}
		c := newChunkedReader(bytes.NewReader(in), mode, int64(declared), trailer, cs)
		buf := make([]byte, 7)
		var total int64
		for i := 0; i < len(in)+10; i++ {
			n, err := c.Read(buf)
			if n < 0 || n > len(buf) {
				t.Fatalf("Read returned n=%d", n)
			}
			total += int64(n)
			if total > int64(declared) || total > int64(len(in)) {
				t.Fatalf("decoded %d bytes from %d input bytes, %d declared", total, len(in), declared)
			}
			if err == io.EOF {
				if total != int64(declared) {
					t.Fatalf("EOF after %d bytes, %d declared", total, declared)
				}
				return
			}
			if err != nil {
				return
			}
		}
		t.Fatalf("decoder made no progress")
	})
}

// flipHex returns a hex digit different from c.
func flipHex(c byte) byte {
	if c == '0' {
		return '1'
	}
	return '0'
}
