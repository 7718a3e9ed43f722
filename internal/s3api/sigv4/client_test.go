package sigv4

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// seen is what the test server observed of one request.
type seen struct {
	contentSHA256 string
	trailer       string
	res           *Result
	body          []byte
	err           error
}

// newS3Server starts a TLS server whose handler verifies each request and
// reads its body, and an aws-sdk-go-v2 S3 client (default configuration,
// checksums on) pointed at it.
func newS3Server(t *testing.T, v *Verifier, creds aws.Credentials) (*s3.Client, <-chan seen) {
	t.Helper()
	ch := make(chan seen, 16)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := seen{contentSHA256: r.Header.Get("X-Amz-Content-Sha256"), trailer: r.Header.Get("X-Amz-Trailer")}
		s.res, s.err = v.Verify(r)
		if s.err == nil {
			s.body, s.err = io.ReadAll(s.res.Body)
		}
		ch <- s
		if s.err != nil {
			code, status := "BadDigest", http.StatusBadRequest
			var e *Error
			if errors.As(s.err, &e) {
				code, status = e.Code, e.Status
			}
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(status)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`+code+`</Code><Message>refused</Message></Error>`)
			return
		}
		w.Header().Set("ETag", `"d41d8cd98f00b204e9800998ecf8427e"`)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	// The default configuration, except that no shared config or
	// credentials file is read and the environment of the machine running
	// the tests (a CA bundle, an endpoint, checksum settings) is ignored.
	for _, k := range []string{"AWS_CA_BUNDLE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REQUEST_CHECKSUM_CALCULATION", "AWS_RESPONSE_CHECKSUM_VALIDATION", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "")
	}
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(testRegion),
		config.WithCredentialsProvider(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil })),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
		config.WithHTTPClient(srv.Client()),
		config.WithRetryMaxAttempts(1),
	)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RequestChecksumCalculation != aws.RequestChecksumCalculationWhenSupported {
		t.Fatalf("default RequestChecksumCalculation is %v", cfg.RequestChecksumCalculation)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(srv.URL)
		o.UsePathStyle = true
	})
	return client, ch
}

// TestAWSClientUploads captures what the real S3 client sends for
// PutObject and UploadPart over TLS and verifies it: a non-empty body goes
// as STREAMING-UNSIGNED-PAYLOAD-TRAILER with a CRC32 trailer, an empty one
// as UNSIGNED-PAYLOAD with an x-amz-checksum-crc32 header.
func TestAWSClientUploads(t *testing.T) {
	v := newVerifier(time.Now())
	client, ch := newS3Server(t, v, awsCreds(testSecret))
	ctx := context.Background()

	cases := []struct {
		name string
		key  string
		data []byte
		part bool
	}{
		{"put empty", "empty", []byte{}, false},
		{"put small", "dir/small.txt", []byte("hello, vault"), false},
		{"put 3 MiB", "footage/day 1/cam+a ü.mxf", randomBytes(3<<20+123, 1), false},
		{"upload part", "multi/part", randomBytes(300<<10, 2), true},
		{"upload empty part", "multi/empty", []byte{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.part {
				_, err = client.UploadPart(ctx, &s3.UploadPartInput{
					Bucket: aws.String("bucket"), Key: aws.String(tc.key),
					PartNumber: aws.Int32(1), UploadId: aws.String("upload-1"),
					Body: bytes.NewReader(tc.data),
				})
			} else {
				_, err = client.PutObject(ctx, &s3.PutObjectInput{
					Bucket: aws.String("bucket"), Key: aws.String(tc.key),
					Body: bytes.NewReader(tc.data), ContentType: aws.String("application/octet-stream"),
				})
			}
			s := <-ch
			if err != nil || s.err != nil {
				t.Fatalf("client: %v; server: %v", err, s.err)
			}
			wantMode, wantTrailer := payloadStreamingUnsignedTrailer, "x-amz-checksum-crc32"
			if len(tc.data) == 0 {
				wantMode, wantTrailer = payloadUnsigned, ""
			}
			if s.contentSHA256 != wantMode || s.trailer != wantTrailer {
				t.Fatalf("client sent x-amz-content-sha256 %q, x-amz-trailer %q", s.contentSHA256, s.trailer)
			}
			if !bytes.Equal(s.body, tc.data) {
				t.Fatalf("body: %d bytes, want %d", len(s.body), len(tc.data))
			}
			if s.res.ContentLength != int64(len(tc.data)) {
				t.Fatalf("ContentLength %d", s.res.ContentLength)
			}
			ck, ok := s.res.Checksum()
			if !ok || ck.String() != "CRC32:"+crc32B64(tc.data) {
				t.Fatalf("checksum %v %v", ck, ok)
			}
		})
	}
}

// TestAWSClientRefused: the real client with a wrong secret, or signing for
// another region, is refused.
func TestAWSClientRefused(t *testing.T) {
	ctx := context.Background()
	t.Run("wrong secret", func(t *testing.T) {
		client, ch := newS3Server(t, newVerifier(time.Now()), awsCreds("wrong"))
		_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), Body: strings.NewReader("x")})
		s := <-ch
		wantError(t, s.err, "SignatureDoesNotMatch", 403, "")
		if err == nil {
			t.Fatal("client saw success")
		}
	})
	t.Run("other region", func(t *testing.T) {
		v := newVerifier(time.Now())
		v.Region = "eu-west-1"
		client, ch := newS3Server(t, v, awsCreds(testSecret))
		_, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("k")})
		s := <-ch
		wantError(t, s.err, "AuthorizationHeaderMalformed", 400, "eu-west-1")
		if err == nil {
			t.Fatal("client saw success")
		}
	})
}

// TestAWSClientPresigned sends URLs from the S3 presign client.
func TestAWSClientPresigned(t *testing.T) {
	v := newVerifier(time.Now())
	client, ch := newS3Server(t, v, awsCreds(testSecret))
	pc := s3.NewPresignClient(client)
	ctx := context.Background()
	data := []byte("uploaded with a presigned URL")

	put, err := pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String("shared/clip 1.mov")}, s3.WithPresignExpires(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	get, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String("shared/clip 1.mov")}, s3.WithPresignExpires(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	hc := client.Options().HTTPClient
	do := func(method, u string, hdr http.Header, body []byte) seen {
		t.Helper()
		req, err := http.NewRequest(method, u, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range hdr {
			if k != "Host" {
				req.Header[k] = vs
			}
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return <-ch
	}
	s := do(put.Method, put.URL, put.SignedHeader, data)
	if s.err != nil || !bytes.Equal(s.body, data) || !s.res.Presigned {
		t.Fatalf("presigned put: %v", s.err)
	}
	s = do(get.Method, get.URL, get.SignedHeader, nil)
	if s.err != nil {
		t.Fatalf("presigned get: %v", s.err)
	}
	// The same URL after it expired.
	*v = *newVerifier(time.Now().Add(11 * time.Minute))
	s = do(get.Method, get.URL, get.SignedHeader, nil)
	wantError(t, s.err, "AccessDenied", 403, "Request has expired")
}

// TestAWSClientOtherOperations verifies requests of other shapes from the
// real client: POST bodies with a checksum header, a
// CompleteMultipartUpload whose x-amz-checksum-crc32 is the whole object's
// (not the body's), copies, and listings with encoded query values. Only
// the server side matters here; the test server's empty replies may not
// satisfy the client's deserializers.
func TestAWSClientOtherOperations(t *testing.T) {
	client, ch := newS3Server(t, newVerifier(time.Now()), awsCreds(testSecret))
	ctx := context.Background()
	b, k := aws.String("bucket"), aws.String("odd key+é/%2F")
	ops := map[string]func() error{
		"DeleteObjects": func() error {
			_, err := client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: b, Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: k}, {Key: aws.String("x")}}}})
			return err
		},
		"CreateMultipartUpload": func() error {
			_, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: k, ChecksumAlgorithm: types.ChecksumAlgorithmCrc32, ChecksumType: types.ChecksumTypeFullObject})
			return err
		},
		"CompleteMultipartUpload": func() error {
			_, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
				Bucket: b, Key: k, UploadId: aws.String("u1"),
				ChecksumCRC32: aws.String("AAAAAA=="), ChecksumType: types.ChecksumTypeFullObject,
				MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(`"e"`), ChecksumCRC32: aws.String("AAAAAA==")}}},
			})
			return err
		},
		"CopyObject": func() error {
			_, err := client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("copy"), CopySource: aws.String("bucket/odd%20key")})
			return err
		},
		"ListObjectsV2": func() error {
			_, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b, Prefix: aws.String("a b+c/ü~"), Delimiter: aws.String("/"), StartAfter: aws.String("x=y&z")})
			return err
		},
		"HeadObject": func() error {
			_, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: k, Range: aws.String("bytes=0-9")})
			return err
		},
		"PutObjectTagging": func() error {
			_, err := client.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: b, Key: k, Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}}})
			return err
		},
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			_ = op()
			var s seen
			select {
			case s = <-ch:
			case <-time.After(10 * time.Second):
				t.Fatal("no request reached the server")
			}
			if s.err != nil {
				t.Fatalf("server: %v", s.err)
			}
			ck, ok := s.res.Checksum()
			t.Logf("%s: x-amz-content-sha256 %s, checksum %q %v %v", name, s.contentSHA256, s.res.ChecksumAlgorithm, ck, ok)
		})
	}
}
