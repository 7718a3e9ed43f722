package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/encoding/httpbinding"
)

const (
	testAKID   = "AKIAIOSFODNN7EXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testRegion = "us-east-1"
	testHost   = "vault.example.com"
)

// testNow is the fixed clock of the tests that sign with an explicit time.
func testNow() time.Time { return time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC) }

// staticCreds is an in-memory Credentials.
type staticCreds map[string]string

func (c staticCreds) SecretKey(_ context.Context, id string) (string, error) {
	s, ok := c[id]
	if !ok {
		return "", ErrUnknownAccessKey
	}
	return s, nil
}

func newVerifier(now time.Time) *Verifier {
	return &Verifier{
		Creds:  staticCreds{testAKID: testSecret, "AKIDOTHER": "other-secret"},
		Region: testRegion,
		Now:    func() time.Time { return now },
	}
}

func awsCreds(secret string) aws.Credentials {
	return aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: secret}
}

// awsSigner is aws-sdk-go-v2's SigV4 signer configured as its S3 client
// configures it (no second escaping of the path).
func awsSigner() *v4.Signer {
	return v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
}

// newClientRequest builds a client-side request for bucket/key the way the
// S3 clients do: the key escaped with smithy's httpbinding.EscapePath.
func newClientRequest(t *testing.T, method, key, rawQuery string, body []byte) *http.Request {
	t.Helper()
	u := "https://" + testHost + "/bucket/" + httpbinding.EscapePath(key, false)
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// toServer serializes a client request onto the wire and parses it back
// as a server would, so Verify sees what net/http gives handlers.
func toServer(t *testing.T, req *http.Request) *http.Request {
	t.Helper()
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatal(err)
	}
	sr, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		t.Fatal(err)
	}
	return sr
}

// signAWS signs req with aws-sdk-go-v2's signer over payload, setting
// x-amz-content-sha256 first as the S3 client does.
func signAWS(t *testing.T, req *http.Request, secret, payloadHash string, at time.Time, region string) {
	t.Helper()
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	if err := awsSigner().SignHTTP(context.Background(), awsCreds(secret), req, payloadHash, "s3", region, at); err != nil {
		t.Fatal(err)
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// wantError checks that err is an *Error with the given code and status and,
// when msg is not empty, a message containing msg.
func wantError(t *testing.T, err error, code string, status int, msg string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v (%T), want *Error %s", err, err, code)
	}
	if e.Code != code || e.Status != status {
		t.Fatalf("got %s/%d (%q), want %s/%d", e.Code, e.Status, e.Message, code, status)
	}
	if msg != "" && !strings.Contains(e.Message, msg) {
		t.Fatalf("message %q does not contain %q", e.Message, msg)
	}
	if strings.Contains(e.Message, testSecret) {
		t.Fatalf("message %q leaks the secret", e.Message)
	}
}

// verifyAndRead runs Verify and reads the whole body.
func verifyAndRead(t *testing.T, v *Verifier, r *http.Request) (*Result, []byte, error) {
	t.Helper()
	res, err := v.Verify(r)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res, body, err
}

// mustVerify runs Verify and reads the body, failing the test on any error,
// and checks the body equals want.
func mustVerify(t *testing.T, v *Verifier, r *http.Request, want []byte) *Result {
	t.Helper()
	res, body, err := verifyAndRead(t, v, r)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if !bytes.Equal(body, want) {
		t.Fatalf("body: got %d bytes, want %d", len(body), len(want))
	}
	if res.AccessKeyID != testAKID {
		t.Fatalf("AccessKeyID %q", res.AccessKeyID)
	}
	return res
}

// sha256Hasher adapts crypto/sha256 to minio-go's md5simd.Hasher.
type sha256Hasher struct{ hash.Hash }

func (sha256Hasher) Close() {}

func newSHA256Hasher() sha256Hasher { return sha256Hasher{sha256.New()} }

// wireBytes serializes a client request as it goes on the wire.
func wireBytes(t *testing.T, req *http.Request) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// parseWire parses raw request bytes as a server would.
func parseWire(t *testing.T, raw []byte) *http.Request {
	t.Helper()
	sr, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return sr
}

// crc32B64 is the x-amz-checksum-crc32 value of b.
func crc32B64(b []byte) string {
	var d [4]byte
	binary.BigEndian.PutUint32(d[:], crc32.ChecksumIEEE(b))
	return base64.StdEncoding.EncodeToString(d[:])
}
