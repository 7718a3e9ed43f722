package sigv4

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"
)

// TestAWSVectorGetObject checks the worked example of the S3 SigV4 docs
// ("GET Object", sig-v4-header-based-auth.html).
func TestAWSVectorGetObject(t *testing.T) {
	r := httptest.NewRequest("GET", "/test.txt", nil)
	r.Host = "examplebucket.s3.amazonaws.com"
	r.Header.Set("Range", "bytes=0-9")
	r.Header.Set("X-Amz-Content-Sha256", emptySHA256Hex)
	r.Header.Set("X-Amz-Date", "20130524T000000Z")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
	v := newVerifier(time.Date(2013, 5, 24, 0, 5, 0, 0, time.UTC))
	mustVerify(t, v, r, []byte{})
}

// TestAWSVectorStreaming checks the worked example of the S3 streaming
// docs (sigv4-streaming.html): 64 KiB + 1 KiB of 'a' in signed chunks.
func TestAWSVectorStreaming(t *testing.T) {
	data := []byte(strings.Repeat("a", 65536+1024))
	chunks := []struct {
		n   int
		sig string
	}{
		{65536, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"},
		{1024, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"},
		{0, "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"},
	}
	var body strings.Builder
	off := 0
	for _, c := range chunks {
		body.WriteString(strconv.FormatInt(int64(c.n), 16) + ";chunk-signature=" + c.sig + "\r\n")
		body.Write(data[off : off+c.n])
		body.WriteString("\r\n")
		off += c.n
	}
	build := func(b string) *http.Request {
		r := httptest.NewRequest("PUT", "/examplebucket/chunkObject.txt", strings.NewReader(b))
		r.Host = "s3.amazonaws.com"
		r.Header.Set("X-Amz-Date", "20130524T000000Z")
		r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
		r.Header.Set("X-Amz-Content-Sha256", payloadStreamingSigned)
		r.Header.Set("Content-Encoding", "aws-chunked")
		r.Header.Set("X-Amz-Decoded-Content-Length", "66560")
		r.Header.Set("Content-Length", "66824")
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")
		return r
	}
	v := newVerifier(time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC))
	if got := body.Len(); got != 66824 {
		t.Fatalf("encoded length %d", got)
	}
	res := mustVerify(t, v, build(body.String()), data)
	if res.ContentLength != 66560 {
		t.Fatalf("ContentLength %d", res.ContentLength)
	}

	// The same stream with one data byte changed fails at that chunk.
	bad := []byte(body.String())
	bad[200] = 'b'
	_, _, err := verifyAndRead(t, v, build(string(bad)))
	if !errors.Is(err, ErrChunkSignature) {
		t.Fatalf("tampered chunk: %v", err)
	}
}

// TestHeaderAuthAWSSigner signs a variety of requests with aws-sdk-go-v2's
// signer, sends them over the wire format and verifies them.
func TestHeaderAuthAWSSigner(t *testing.T) {
	body := []byte("hello, vault")
	cases := []struct {
		name, method, key, query string
		body                     []byte
		hash                     string
		headers                  map[string]string
	}{
		{name: "get", method: "GET", key: "plain.txt", hash: emptySHA256Hex},
		{name: "put sha256", method: "PUT", key: "dir/sub/file.bin", body: body, hash: sha256Hex(body),
			headers: map[string]string{"Content-Type": "text/plain", "X-Amz-Meta-Owner": "  crew   one  "}},
		{name: "put unsigned", method: "PUT", key: "u.bin", body: body, hash: payloadUnsigned},
		{name: "list with query", method: "GET", key: "", query: "list-type=2&prefix=a%20b%2Bc&delimiter=%2F&encoding-type=url", hash: emptySHA256Hex},
		{name: "query without value", method: "GET", key: "k", query: "acl", hash: emptySHA256Hex},
		{name: "repeated query key", method: "GET", key: "k", query: "b=2&a=1&a=0", hash: emptySHA256Hex},
		{name: "space and plus", method: "GET", key: "with space+plus", hash: emptySHA256Hex},
		{name: "unicode", method: "GET", key: "unicode/日本語/ü.txt", hash: emptySHA256Hex},
		{name: "percent and encoded slash", method: "GET", key: "100%/a%2Fb", hash: emptySHA256Hex},
		{name: "reserved chars", method: "GET", key: "semi;colon=eq&amp,comma:colon@at$!*'()[]", hash: emptySHA256Hex},
		{name: "not normalized", method: "GET", key: "double//slash/./dot/../x", hash: emptySHA256Hex},
		{name: "unreserved", method: "GET", key: "tilde~under_dash-dot.", hash: emptySHA256Hex},
		{name: "delete", method: "DELETE", key: "gone", hash: emptySHA256Hex},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := newClientRequest(t, tc.method, tc.key, tc.query, tc.body)
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			signAWS(t, req, testSecret, tc.hash, testNow(), testRegion)
			sr := toServer(t, req)
			want := tc.body
			if want == nil {
				want = []byte{}
			}
			res := mustVerify(t, newVerifier(testNow()), sr, want)
			if res.Presigned {
				t.Fatal("Presigned set on header auth")
			}
			if res.ContentLength != int64(len(want)) {
				t.Fatalf("ContentLength %d, want %d", res.ContentLength, len(want))
			}
		})
	}
}

// TestHeaderAuthMinioSigner verifies minio-go's SignV4 (the signer restic
// and the minio client use).
func TestHeaderAuthMinioSigner(t *testing.T) {
	body := []byte("restic pack data")
	for _, key := range []string{"data/ab/abcdef", "with space+plus", "ü/%2F"} {
		t.Run(key, func(t *testing.T) {
			req := newClientRequest(t, "PUT", key, "partNumber=1&uploadId=xyz", body)
			req.Header.Set("X-Amz-Content-Sha256", sha256Hex(body))
			req.Header.Set("Content-Type", "application/octet-stream")
			now := time.Now().UTC()
			signed := signer.SignV4(*req, testAKID, testSecret, "", testRegion)
			mustVerify(t, newVerifier(now), toServer(t, signed), body)
		})
	}
}

// TestDateHeader accepts a request dated by Date instead of x-amz-date.
func TestDateHeader(t *testing.T) {
	req := newClientRequest(t, "GET", "k", "", nil)
	req.Header.Set("Date", testNow().Format(http.TimeFormat))
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256Hex)
	// Sign by hand the way a Date-only client does: same algorithm, the
	// Date header among the signed headers.
	a := &authInfo{
		signedHeaders: []string{"date", "host", "x-amz-content-sha256"},
		payloadHash:   emptySHA256Hex,
		amzDate:       testNow().Format(iso8601Basic),
		scope:         credentialScope{testNow().Format(scopeDateLayout), testRegion, "s3"},
	}
	sr := toServer(t, req)
	canon, err := canonicalRequest(sr, a, lowerHeaders(sr))
	if err != nil {
		t.Fatal(err)
	}
	sig := signatureHex(signingKey(testSecret, a.scope), stringToSign(a.amzDate, a.scope.String(), canon))
	sr.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testAKID+"/"+a.scope.String()+", SignedHeaders=date;host;x-amz-content-sha256, Signature="+sig)
	mustVerify(t, newVerifier(testNow()), sr, []byte{})
}

// TestHeaderAttacks: each case is a way to forge or replay a signed request.
func TestHeaderAttacks(t *testing.T) {
	body := []byte("original body")
	type attack struct {
		name   string
		secret string
		at     time.Time
		region string
		akid   string
		before func(*http.Request) // before signing
		after  func(*http.Request) // after signing, on the server request
		code   string
		status int
		msg    string
	}
	cases := []attack{
		{name: "wrong secret", secret: "not-the-secret", code: "SignatureDoesNotMatch", status: 403},
		{name: "altered signed header", after: func(r *http.Request) { r.Header.Set("X-Amz-Meta-Owner", "mallory") }, code: "SignatureDoesNotMatch", status: 403},
		{name: "altered content-type", after: func(r *http.Request) { r.Header.Set("Content-Type", "text/html") }, code: "SignatureDoesNotMatch", status: 403},
		{name: "added unsigned x-amz header", after: func(r *http.Request) { r.Header.Set("X-Amz-Copy-Source", "/other/secret") }, code: "AccessDenied", status: 403, msg: "not signed"},
		{name: "altered path", after: func(r *http.Request) { r.URL.Path = "/bucket/other"; r.URL.RawPath = "" }, code: "SignatureDoesNotMatch", status: 403},
		{name: "encoded slash vs slash", before: func(r *http.Request) { r.URL.RawPath = "/bucket/a%2Fb"; r.URL.Path = "/bucket/a/b" }, after: func(r *http.Request) { r.URL.RawPath = "" }, code: "SignatureDoesNotMatch", status: 403},
		{name: "altered query", after: func(r *http.Request) { r.URL.RawQuery = "versionId=2" }, code: "SignatureDoesNotMatch", status: 403},
		{name: "added query", after: func(r *http.Request) { r.URL.RawQuery += "&x-id=GetObject" }, code: "SignatureDoesNotMatch", status: 403},
		{name: "altered host", after: func(r *http.Request) { r.Host = "evil.example.com" }, code: "SignatureDoesNotMatch", status: 403},
		{name: "altered method", after: func(r *http.Request) { r.Method = "DELETE" }, code: "SignatureDoesNotMatch", status: 403},
		{name: "altered payload hash", after: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", payloadUnsigned) }, code: "SignatureDoesNotMatch", status: 403},
		{name: "altered date", after: func(r *http.Request) { r.Header.Set("X-Amz-Date", testNow().Add(time.Second).Format(iso8601Basic)) }, code: "SignatureDoesNotMatch", status: 403},
		{name: "skew 16 min past", at: testNow().Add(-16 * time.Minute), code: "RequestTimeTooSkewed", status: 403},
		{name: "skew 16 min future", at: testNow().Add(16 * time.Minute), code: "RequestTimeTooSkewed", status: 403},
		{name: "wrong region", region: "eu-west-1", code: "AuthorizationHeaderMalformed", status: 400, msg: "region \"eu-west-1\" is wrong; expecting 'us-east-1'"},
		{name: "unknown key", akid: "AKIDUNKNOWN", code: "InvalidAccessKeyId", status: 403},
		{name: "other user's key id", akid: "AKIDOTHER", code: "SignatureDoesNotMatch", status: 403},
		{name: "missing content sha256", after: func(r *http.Request) { r.Header.Del("X-Amz-Content-Sha256") }, code: "InvalidRequest", status: 400},
		{name: "missing date", after: func(r *http.Request) { r.Header.Del("X-Amz-Date") }, code: "AccessDenied", status: 403, msg: "Date"},
		{name: "scope date differs", after: func(r *http.Request) {
			r.Header.Set("X-Amz-Date", testNow().Add(24*time.Hour).Format(iso8601Basic))
		}, code: "AuthorizationHeaderMalformed", status: 400, msg: "Invalid credential date"},
		{name: "both auth mechanisms", after: func(r *http.Request) { r.URL.RawQuery = "X-Amz-Signature=00" }, code: "InvalidArgument", status: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := newClientRequest(t, "PUT", "a/b", "", body)
			req.Header.Set("Content-Type", "application/octet-stream")
			req.Header.Set("X-Amz-Meta-Owner", "alice")
			if tc.before != nil {
				tc.before(req)
			}
			secret, at, region := testSecret, testNow(), testRegion
			if tc.secret != "" {
				secret = tc.secret
			}
			if !tc.at.IsZero() {
				at = tc.at
			}
			if tc.region != "" {
				region = tc.region
			}
			req.Header.Set("X-Amz-Content-Sha256", sha256Hex(body))
			creds := awsCreds(secret)
			if tc.akid != "" {
				creds.AccessKeyID = tc.akid
			}
			if err := awsSigner().SignHTTP(context.Background(), creds, req, sha256Hex(body), "s3", region, at); err != nil {
				t.Fatal(err)
			}
			sr := toServer(t, req)
			if tc.after != nil {
				tc.after(sr)
			}
			_, _, err := verifyAndRead(t, newVerifier(testNow()), sr)
			wantError(t, err, tc.code, tc.status, tc.msg)
		})
	}
}

// TestSkewBoundary accepts a request 15 minutes off in either direction.
func TestSkewBoundary(t *testing.T) {
	for _, d := range []time.Duration{-15 * time.Minute, 15 * time.Minute} {
		req := newClientRequest(t, "GET", "k", "", nil)
		signAWS(t, req, testSecret, emptySHA256Hex, testNow().Add(d), testRegion)
		mustVerify(t, newVerifier(testNow()), toServer(t, req), []byte{})
	}
}

// TestBodySHA256Mismatch: a body altered in sha256 mode passes Verify but
// fails at EOF, never returning io.EOF.
func TestBodySHA256Mismatch(t *testing.T) {
	body := []byte("the signed body")
	req := newClientRequest(t, "PUT", "k", "", body)
	signAWS(t, req, testSecret, sha256Hex(body), testNow(), testRegion)
	sr := toServer(t, req)
	sr.Body = io.NopCloser(strings.NewReader("the forged body"))
	res, err := newVerifier(testNow()).Verify(sr)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(res.Body)
	if !errors.Is(err, ErrContentSHA256Mismatch) {
		t.Fatalf("got %v", err)
	}
	// Errors are sticky.
	if _, err2 := res.Body.Read(make([]byte, 1)); !errors.Is(err2, ErrContentSHA256Mismatch) {
		t.Fatalf("second read: %v", err2)
	}
}

// TestBodyTruncated: a short body in sha256 mode is ErrIncompleteBody.
func TestBodyTruncated(t *testing.T) {
	body := []byte("the signed body")
	req := newClientRequest(t, "PUT", "k", "", body)
	signAWS(t, req, testSecret, sha256Hex(body), testNow(), testRegion)
	raw := wireBytes(t, req)
	sr := parseWire(t, raw[:len(raw)-3])
	_, _, err := verifyAndRead(t, newVerifier(testNow()), sr)
	if !errors.Is(err, ErrIncompleteBody) {
		t.Fatalf("got %v", err)
	}
}

// TestHeaderChecksum verifies an x-amz-checksum-* header over the body.
func TestHeaderChecksum(t *testing.T) {
	body := []byte("checksummed")
	for _, tc := range []struct {
		name, value string
		wantErr     error
		code        string
	}{
		{name: "good"},
		{name: "bad", value: "AAAAAA==", wantErr: ErrChecksumMismatch},
		{name: "not base64", value: "***", code: "InvalidRequest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := newClientRequest(t, "PUT", "k", "", body)
			value := tc.value
			if value == "" {
				value = crc32B64(body)
			}
			req.Header.Set("X-Amz-Checksum-Crc32", value)
			signAWS(t, req, testSecret, payloadUnsigned, testNow(), testRegion)
			res, _, err := verifyAndRead(t, newVerifier(testNow()), toServer(t, req))
			switch {
			case tc.code != "":
				wantError(t, err, tc.code, 400, "")
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v", err)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				ck, ok := res.Checksum()
				if !ok || ck.String() != "CRC32:"+crc32B64(body) || res.ChecksumAlgorithm != "CRC32" {
					t.Fatalf("checksum %v %v %q", ck, ok, res.ChecksumAlgorithm)
				}
			}
		})
	}
}

// TestPresignedAWS presigns with aws-sdk-go-v2's PresignHTTP.
func TestPresignedAWS(t *testing.T) {
	presign := func(t *testing.T, method, key, query string, expires time.Duration, at time.Time, hdr http.Header) *http.Request {
		t.Helper()
		req := newClientRequest(t, method, key, query, nil)
		q := req.URL.Query()
		q.Set("X-Amz-Expires", strconv.Itoa(int(expires/time.Second)))
		req.URL.RawQuery = q.Encode()
		for k, vs := range hdr {
			req.Header[k] = vs
		}
		u, signedHdr, err := awsSigner().PresignHTTP(context.Background(), awsCreds(testSecret), req, payloadUnsigned, "s3", testRegion, at)
		if err != nil {
			t.Fatal(err)
		}
		out, err := http.NewRequest(method, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range signedHdr {
			if k != "Host" {
				out.Header[k] = vs
			}
		}
		return toServer(t, out)
	}
	v := newVerifier(testNow())

	t.Run("get", func(t *testing.T) {
		res := mustVerify(t, v, presign(t, "GET", "photos/ü 1.jpg", "response-content-type=image%2Fjpeg", time.Hour, testNow().Add(-30*time.Minute), nil), []byte{})
		if !res.Presigned {
			t.Fatal("Presigned not set")
		}
	})
	t.Run("put with signed header", func(t *testing.T) {
		r := presign(t, "PUT", "up", "", time.Hour, testNow(), http.Header{"X-Amz-Meta-Crew": {"b"}, "Content-Type": {"video/mp4"}})
		mustVerify(t, v, r, []byte{})
	})
	t.Run("expired", func(t *testing.T) {
		r := presign(t, "GET", "k", "", time.Hour, testNow().Add(-61*time.Minute), nil)
		_, _, err := verifyAndRead(t, v, r)
		wantError(t, err, "AccessDenied", 403, "Request has expired")
	})
	t.Run("replay after expiry", func(t *testing.T) {
		r := presign(t, "GET", "k", "", 10*time.Minute, testNow(), nil)
		mustVerify(t, v, r, []byte{})
		later := newVerifier(testNow().Add(11 * time.Minute))
		_, _, err := verifyAndRead(t, later, presign(t, "GET", "k", "", 10*time.Minute, testNow(), nil))
		wantError(t, err, "AccessDenied", 403, "Request has expired")
	})
	t.Run("future beyond skew", func(t *testing.T) {
		r := presign(t, "GET", "k", "", time.Hour, testNow().Add(16*time.Minute), nil)
		_, _, err := verifyAndRead(t, v, r)
		wantError(t, err, "AccessDenied", 403, "not valid yet")
	})
	t.Run("changed query parameter", func(t *testing.T) {
		r := presign(t, "GET", "k", "response-content-type=image%2Fjpeg", time.Hour, testNow(), nil)
		q := r.URL.Query()
		q.Set("response-content-type", "text/html")
		r.URL.RawQuery = q.Encode()
		_, _, err := verifyAndRead(t, v, r)
		wantError(t, err, "SignatureDoesNotMatch", 403, "")
	})
	t.Run("extended expiry", func(t *testing.T) {
		r := presign(t, "GET", "k", "", time.Hour, testNow(), nil)
		q := r.URL.Query()
		q.Set("X-Amz-Expires", "604800")
		r.URL.RawQuery = q.Encode()
		_, _, err := verifyAndRead(t, v, r)
		wantError(t, err, "SignatureDoesNotMatch", 403, "")
	})
	t.Run("added query parameter", func(t *testing.T) {
		r := presign(t, "GET", "k", "", time.Hour, testNow(), nil)
		r.URL.RawQuery += "&versionId=1"
		_, _, err := verifyAndRead(t, v, r)
		wantError(t, err, "SignatureDoesNotMatch", 403, "")
	})
	t.Run("other path", func(t *testing.T) {
		r := presign(t, "GET", "k", "", time.Hour, testNow(), nil)
		r.URL.Path = "/bucket/other"
		_, _, err := verifyAndRead(t, v, r)
		wantError(t, err, "SignatureDoesNotMatch", 403, "")
	})
	t.Run("other method", func(t *testing.T) {
		r := presign(t, "GET", "k", "", time.Hour, testNow(), nil)
		r.Method = "PUT"
		_, _, err := verifyAndRead(t, v, r)
		wantError(t, err, "SignatureDoesNotMatch", 403, "")
	})
	t.Run("unsigned x-amz header added", func(t *testing.T) {
		r := presign(t, "PUT", "k", "", time.Hour, testNow(), nil)
		r.Header.Set("X-Amz-Meta-Evil", "1")
		_, _, err := verifyAndRead(t, v, r)
		wantError(t, err, "AccessDenied", 403, "not signed")
	})
	t.Run("expires too long", func(t *testing.T) {
		r := presign(t, "GET", "k", "", 8*24*time.Hour, testNow(), nil)
		_, _, err := verifyAndRead(t, v, r)
		wantError(t, err, "AuthorizationQueryParametersError", 400, "604800")
	})
	t.Run("wrong region", func(t *testing.T) {
		r := presign(t, "GET", "k", "", time.Hour, testNow(), nil)
		w := &Verifier{Creds: v.Creds, Region: "eu-central-1", Now: v.Now}
		_, _, err := verifyAndRead(t, w, r)
		wantError(t, err, "AuthorizationQueryParametersError", 400, "region")
	})
}

// TestPresignedMinio presigns with minio-go's PreSignV4.
func TestPresignedMinio(t *testing.T) {
	req := newClientRequest(t, "GET", "backups/snap shot+1", "", nil)
	now := time.Now().UTC()
	signed := signer.PreSignV4(*req, testAKID, testSecret, "", testRegion, 600)
	r := toServer(t, signed)
	mustVerify(t, newVerifier(now), r, []byte{})
	req = newClientRequest(t, "GET", "backups/snap shot+1", "", nil)
	_, _, err := verifyAndRead(t, newVerifier(now.Add(11*time.Minute)), toServer(t, signer.PreSignV4(*req, testAKID, testSecret, "", testRegion, 600)))
	wantError(t, err, "AccessDenied", 403, "Request has expired")
}

// TestRefusals covers requests refused before any signature check.
func TestRefusals(t *testing.T) {
	v := newVerifier(testNow())
	amzDate := testNow().Format(iso8601Basic)
	cred := testAKID + "/" + testNow().Format(scopeDateLayout) + "/us-east-1/s3/aws4_request"
	sig := strings.Repeat("a", 64)
	good := "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=" + sig
	cases := []struct {
		name   string
		target string
		authz  []string
		code   string
		status int
		msg    string
	}{
		{name: "anonymous", target: "/bucket/k", code: "AccessDenied", status: 403},
		{name: "sigv2 header", target: "/bucket/k", authz: []string{"AWS " + testAKID + ":frJIUN8DYpKDtOLCwo//yllqDzg="}, code: "AccessDenied", status: 403, msg: "SigV2 is not supported"},
		{name: "sigv2 query", target: "/bucket/k?AWSAccessKeyId=" + testAKID + "&Expires=1700000000&Signature=abc", code: "AccessDenied", status: 403, msg: "SigV2 is not supported"},
		{name: "sigv4a", target: "/bucket/k", authz: []string{"AWS4-ECDSA-P256-SHA256 Credential=x"}, code: "InvalidArgument", status: 400},
		{name: "two authorization headers", target: "/bucket/k", authz: []string{good, good}, code: "AuthorizationHeaderMalformed", status: 400},
		{name: "missing signature", target: "/bucket/k", authz: []string{"AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host"}, code: "AuthorizationHeaderMalformed", status: 400},
		{name: "garbage component", target: "/bucket/k", authz: []string{good + ", Junk"}, code: "AuthorizationHeaderMalformed", status: 400},
		{name: "repeated component", target: "/bucket/k", authz: []string{good + ", Signature=" + sig}, code: "AuthorizationHeaderMalformed", status: 400},
		{name: "short signature", target: "/bucket/k", authz: []string{strings.TrimSuffix(good, "a")}, code: "AuthorizationHeaderMalformed", status: 400},
		{name: "bad credential", target: "/bucket/k", authz: []string{strings.Replace(good, cred, testAKID+"/x", 1)}, code: "AuthorizationHeaderMalformed", status: 400},
		{name: "wrong service", target: "/bucket/k", authz: []string{strings.Replace(good, "/s3/", "/iam/", 1)}, code: "AuthorizationHeaderMalformed", status: 400, msg: "service"},
		{name: "wrong terminal", target: "/bucket/k", authz: []string{strings.Replace(good, "aws4_request", "aws5_request", 1)}, code: "AuthorizationHeaderMalformed", status: 400},
		{name: "uppercase signed header", target: "/bucket/k", authz: []string{strings.Replace(good, "host;", "Host;", 1)}, code: "AuthorizationHeaderMalformed", status: 400},
		{name: "host not signed", target: "/bucket/k", authz: []string{strings.Replace(good, "host;", "", 1)}, code: "AccessDenied", status: 403, msg: "not signed"},
		{name: "date not signed", target: "/bucket/k", authz: []string{strings.Replace(good, ";x-amz-date", "", 1)}, code: "AccessDenied", status: 403, msg: "not signed"},
		{name: "content sha not signed", target: "/bucket/k", authz: []string{strings.Replace(good, ";x-amz-content-sha256", "", 1)}, code: "AccessDenied", status: 403, msg: "not signed"},
		{name: "presign missing params", target: "/bucket/k?X-Amz-Algorithm=AWS4-HMAC-SHA256", code: "AuthorizationQueryParametersError", status: 400},
		{name: "presign bad algorithm", target: "/bucket/k?X-Amz-Algorithm=HMAC&X-Amz-Credential=" + url.QueryEscape(cred) + "&X-Amz-Date=" + amzDate + "&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=" + sig, code: "AuthorizationQueryParametersError", status: 400},
		{name: "presign zero expiry", target: "/bucket/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" + url.QueryEscape(cred) + "&X-Amz-Date=" + amzDate + "&X-Amz-Expires=0&X-Amz-SignedHeaders=host&X-Amz-Signature=" + sig, code: "AuthorizationQueryParametersError", status: 400},
		{name: "presign bad date", target: "/bucket/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" + url.QueryEscape(cred) + "&X-Amz-Date=yesterday&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=" + sig, code: "AuthorizationQueryParametersError", status: 400},
		{name: "presign twice signed", target: "/bucket/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" + url.QueryEscape(cred) + "&X-Amz-Date=" + amzDate + "&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=" + sig + "&X-Amz-Signature=" + sig, code: "AuthorizationQueryParametersError", status: 400},
		{name: "presign host not signed", target: "/bucket/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" + url.QueryEscape(cred) + "&X-Amz-Date=" + amzDate + "&X-Amz-Expires=60&X-Amz-SignedHeaders=range&X-Amz-Signature=" + sig, code: "AccessDenied", status: 403},
		{name: "presign bad payload hash", target: "/bucket/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" + url.QueryEscape(cred) + "&X-Amz-Date=" + amzDate + "&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=" + sig + "&X-Amz-Content-Sha256=nope", code: "InvalidArgument", status: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tc.target, nil)
			r.Host = testHost
			r.Header.Set("X-Amz-Date", amzDate)
			r.Header.Set("X-Amz-Content-Sha256", emptySHA256Hex)
			if tc.authz == nil {
				r.Header.Del("X-Amz-Date")
				r.Header.Del("X-Amz-Content-Sha256")
			}
			for _, a := range tc.authz {
				r.Header.Add("Authorization", a)
			}
			_, err := v.Verify(r)
			wantError(t, err, tc.code, tc.status, tc.msg)
			if strings.Contains(err.Error(), sig) {
				t.Fatalf("error echoes a signature: %v", err)
			}
		})
	}
}

// TestAnonymous reports unauthenticated requests.
func TestAnonymous(t *testing.T) {
	for target, want := range map[string]bool{
		"/b/k":                       true,
		"/b/k?acl":                   true,
		"/b/k?X-Amz-Signature=ab":    false,
		"/b/k?AWSAccessKeyId=AKID":   false,
		"/b/k?X-Amz-Credential=AKID": false,
	} {
		if got := Anonymous(httptest.NewRequest("GET", target, nil)); got != want {
			t.Errorf("%s: got %v", target, got)
		}
	}
	r := httptest.NewRequest("GET", "/b/k", nil)
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 x")
	if Anonymous(r) {
		t.Error("header auth reported anonymous")
	}
}

// TestCredentialsFailure: a lookup failure is an internal error, not *Error.
func TestCredentialsFailure(t *testing.T) {
	req := newClientRequest(t, "GET", "k", "", nil)
	signAWS(t, req, testSecret, emptySHA256Hex, testNow(), testRegion)
	boom := errors.New("db down")
	v := &Verifier{Creds: credsFunc(func(string) (string, error) { return "", boom }), Now: testNow}
	_, err := v.Verify(toServer(t, req))
	var e *Error
	if !errors.Is(err, boom) || errors.As(err, &e) {
		t.Fatalf("got %v", err)
	}
}

type credsFunc func(string) (string, error)

func (f credsFunc) SecretKey(_ context.Context, id string) (string, error) { return f(id) }

// TestCanonicalURI pins the path canonicalization.
func TestCanonicalURI(t *testing.T) {
	cases := map[string]string{
		"":                    "/",
		"/":                   "/",
		"/b/a%20b":            "/b/a%20b",
		"/b/a+b":              "/b/a%2Bb",
		"/b/a%2Bb":            "/b/a%2Bb",
		"/b/a%2fb":            "/b/a%2Fb",
		"/b/%C3%BC":           "/b/%C3%BC",
		"/b/ü":                "/b/%C3%BC",
		"/b//./../x":          "/b//./../x",
		"/b/~a_b-c.d":         "/b/~a_b-c.d",
		"/b/%7e":              "/b/~",
		"/b/a;b=c":            "/b/a%3Bb%3Dc",
		"/b/trailing/":        "/b/trailing/",
		"/b/%25percent%2525x": "/b/%25percent%2525x",
	}
	for in, want := range cases {
		u, err := url.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := canonicalURI(u)
		if err != nil || got != want {
			t.Errorf("%q: got %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestPresignedPayloadHash: a presigned PUT whose payload hash is signed
// (minio-go's PreSignV4 signs the x-amz-content-sha256 header it finds)
// has its body checked against it.
func TestPresignedPayloadHash(t *testing.T) {
	body := []byte("presigned body")
	for _, tc := range []struct {
		name string
		send []byte
		want error
	}{
		{"matching body", body, nil},
		{"altered body", []byte("forged! body!!"), ErrContentSHA256Mismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := newClientRequest(t, "PUT", "k", "", body)
			req.Header.Set("X-Amz-Content-Sha256", sha256Hex(body))
			now := time.Now().UTC()
			signed := signer.PreSignV4(*req, testAKID, testSecret, "", testRegion, 60)
			signed.Body = io.NopCloser(strings.NewReader(string(tc.send)))
			_, got, err := verifyAndRead(t, newVerifier(now), toServer(t, signed))
			if !errors.Is(err, tc.want) || (tc.want == nil && string(got) != string(body)) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}
