package s3api

// End-to-end tests: the real stack (seal keyring, sqlite metadata, blob
// files, vault, sigv4) behind a TLS test server, driven by the clients
// people use: aws-sdk-go-v2 (default checksum behaviour) and minio-go.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/tags"

	blobfs "github.com/coffer-vault/coffer/internal/blob/fs"
	"github.com/coffer-vault/coffer/internal/meta/sqlite"
	"github.com/coffer-vault/coffer/internal/s3api/sigv4"
	"github.com/coffer-vault/coffer/internal/seal"
	"github.com/coffer-vault/coffer/internal/testutil"
	"github.com/coffer-vault/coffer/internal/vault"
)

const (
	testAccessKey = "AKIACOFFERTEST000001"
	testSecretKey = "coffer-test-secret-key/0000000000000000000"
	testRegion    = "us-east-1"
)

// staticCreds is a fixed access key table.
type staticCreds map[string]string

func (c staticCreds) SecretKey(_ context.Context, id string) (string, error) {
	s, ok := c[id]
	if !ok {
		return "", sigv4.ErrUnknownAccessKey
	}
	return s, nil
}

// e2e is one running Coffer data plane.
type e2e struct {
	srv  *httptest.Server
	dir  string // the data directory
	logs *testutil.SyncBuffer
}

// deniedPrefix is a key prefix the test policy refuses for every action.
const deniedPrefix = "forbidden/"

func newE2E(t *testing.T) *e2e {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	root, _, err := seal.LoadOrCreateRootKey(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	ms, err := sqlite.Open(ctx, filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	bs, err := blobfs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := seal.NewKeyring(ctx, root, ms)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc := vault.New(vault.Config{Meta: ms, Blobs: bs, Keys: keys, Logger: log})
	h := New(Config{
		Objects:     svc,
		Verifier:    &sigv4.Verifier{Creds: staticCreds{testAccessKey: testSecretKey}, Region: testRegion},
		BaseDomains: []string{"example.com"},
		Logger:      log,
		Authorize: func(_ context.Context, ak, action, bucket, key string) error {
			if ak != testAccessKey {
				return errors.New("unexpected access key")
			}
			if strings.HasPrefix(key, deniedPrefix) {
				return fmt.Errorf("test policy denies %s on %s/%s", action, bucket, key)
			}
			return nil
		},
	})
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return &e2e{srv: srv, dir: dir, logs: logs}
}

// awsClient returns an aws-sdk-go-v2 S3 client with the SDK's default
// checksum behaviour. endpoint "" means the server's URL (path style);
// "https://example.com" addresses it virtual-host style.
func (e *e2e) awsClient(secret, endpoint string) *s3.Client {
	pathStyle := endpoint == ""
	if pathStyle {
		endpoint = e.srv.URL
	}
	return s3.New(s3.Options{
		Region:       testRegion,
		Credentials:  awscreds.NewStaticCredentialsProvider(testAccessKey, secret, ""),
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: pathStyle,
		HTTPClient:   e.srv.Client(),
		Retryer:      aws.NopRetryer{},
		// The SDK's default, spelled out: checksums on every upload.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
	})
}

func (e *e2e) minioClient(t *testing.T) *minio.Client {
	t.Helper()
	u, _ := url.Parse(e.srv.URL)
	c, err := minio.New(u.Host, &minio.Options{
		Creds:     miniocreds.NewStaticV4(testAccessKey, testSecretKey, ""),
		Secure:    true,
		Transport: e.srv.Client().Transport,
		Region:    testRegion,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// signed returns a request signed with SigV4 headers for a raw test, with
// payloadHash as x-amz-content-sha256 ("" means the SHA-256 of body).
func (e *e2e) signed(t *testing.T, method, target string, body []byte, payloadHash string, hdr map[string]string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if payloadHash == "" {
		s := sha256.Sum256(body)
		payloadHash = hex.EncodeToString(s[:])
	}
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	creds := aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, payloadHash, "s3", testRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	return req
}

// do sends req and returns the status, the S3 error code (if the body is an
// S3 error) and the body.
func (e *e2e) do(t *testing.T, req *http.Request) (int, string, []byte) {
	t.Helper()
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, errorCode(b), b
}

func errorCode(body []byte) string {
	s := string(body)
	i := strings.Index(s, "<Code>")
	j := strings.Index(s, "</Code>")
	if i < 0 || j < i {
		return ""
	}
	return s[i+len("<Code>") : j]
}

// awsCode returns the S3 error code and HTTP status of an SDK error.
func awsCode(err error) (string, int) {
	code, status := "", 0
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return code, status
}

func wantAWSError(t *testing.T, what string, err error, code string, status int) {
	t.Helper()
	gotCode, gotStatus := awsCode(err)
	if err == nil || gotCode != code || gotStatus != status {
		t.Errorf("%s: err = %v (code %q, status %d); want %s %d", what, err, gotCode, gotStatus, code, status)
	}
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func TestE2EAWSBuckets(t *testing.T) {
	e := newE2E(t)
	c := e.awsClient(testSecretKey, "")
	ctx := context.Background()

	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("alpha")}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("alpha")})
	wantAWSError(t, "CreateBucket again", err, "BucketAlreadyOwnedByYou", 409)
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("Invalid_Name")})
	wantAWSError(t, "CreateBucket invalid name", err, "InvalidBucketName", 400)
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{
		Bucket:                    aws.String("beta"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraintEuWest1},
	})
	wantAWSError(t, "CreateBucket other region", err, "InvalidLocationConstraint", 400)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{
		Bucket:                    aws.String("beta"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: testRegion},
	}); err != nil {
		t.Errorf("CreateBucket with our region: %v", err)
	}

	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("alpha")}); err != nil {
		t.Errorf("HeadBucket: %v", err)
	}
	_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("missing")})
	wantAWSError(t, "HeadBucket missing", err, "NotFound", 404)

	lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range lb.Buckets {
		names = append(names, aws.ToString(b.Name))
		if b.CreationDate == nil || time.Since(*b.CreationDate) > time.Hour {
			t.Errorf("bucket %s creation date %v", aws.ToString(b.Name), b.CreationDate)
		}
	}
	if strings.Join(names, ",") != "alpha,beta" {
		t.Errorf("ListBuckets = %v", names)
	}

	loc, err := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("alpha")})
	if err != nil || loc.LocationConstraint != "" {
		t.Errorf("GetBucketLocation = %v, %v", loc, err)
	}
	_, err = c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("missing")})
	wantAWSError(t, "GetBucketLocation missing", err, "NoSuchBucket", 404)

	ver, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("alpha")})
	if err != nil || ver.Status != "" {
		t.Errorf("GetBucketVersioning = %+v, %v", ver, err)
	}
	acl, err := c.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: aws.String("alpha")})
	if err != nil || len(acl.Grants) != 1 || acl.Grants[0].Permission != types.PermissionFullControl {
		t.Errorf("GetBucketAcl = %+v, %v", acl, err)
	}
	ps, err := c.GetBucketPolicyStatus(ctx, &s3.GetBucketPolicyStatusInput{Bucket: aws.String("alpha")})
	if err != nil || ps.PolicyStatus == nil || aws.ToBool(ps.PolicyStatus.IsPublic) {
		t.Errorf("GetBucketPolicyStatus = %+v, %v", ps, err)
	}
	enc, err := c.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String("alpha")})
	if err != nil || len(enc.ServerSideEncryptionConfiguration.Rules) != 1 ||
		enc.ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm != types.ServerSideEncryptionAes256 {
		t.Errorf("GetBucketEncryption = %+v, %v", enc, err)
	}
	_, err = c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("alpha")})
	wantAWSError(t, "GetBucketPolicy", err, "NoSuchBucketPolicy", 404)
	_, err = c.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String("alpha")})
	wantAWSError(t, "GetBucketCors", err, "NoSuchCORSConfiguration", 404)
	_, err = c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String("alpha"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	})
	wantAWSError(t, "PutBucketVersioning", err, "NotImplemented", 501)
	_, err = c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("alpha")})
	wantAWSError(t, "ListObjectVersions", err, "NotImplemented", 501)

	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("beta"), Key: aws.String("k"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("beta")})
	wantAWSError(t, "DeleteBucket not empty", err, "BucketNotEmpty", 409)
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("beta"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("beta")}); err != nil {
		t.Errorf("DeleteBucket: %v", err)
	}
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("beta")})
	wantAWSError(t, "DeleteBucket gone", err, "NoSuchBucket", 404)
}

func TestE2EAWSObjects(t *testing.T) {
	e := newE2E(t)
	c := e.awsClient(testSecretKey, "")
	ctx := context.Background()
	bucket := aws.String("objects")
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	data := []byte("The quick brown fox jumps over the lazy dog")
	expires := time.Date(2094, 12, 1, 16, 0, 0, 0, time.UTC)
	put, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket:             bucket,
		Key:                aws.String("dir/fox.txt"),
		Body:               bytes.NewReader(data),
		ContentType:        aws.String("text/plain"),
		CacheControl:       aws.String("no-cache"),
		ContentDisposition: aws.String(`attachment; filename="fox.txt"`),
		ContentLanguage:    aws.String("en"),
		Expires:            &expires,
		Metadata:           map[string]string{"project": "Alpha", "owner": "crew-7"},
		Tagging:            aws.String("class=raw&team=a%20b"),
	})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if aws.ToString(put.ETag) != `"`+md5hex(data)+`"` || put.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		t.Errorf("PutObject = etag %s sse %s", aws.ToString(put.ETag), put.ServerSideEncryption)
	}

	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String("dir/fox.txt")})
	if err != nil {
		t.Fatalf("HeadObject: %v", err)
	}
	if aws.ToInt64(head.ContentLength) != int64(len(data)) || aws.ToString(head.ContentType) != "text/plain" ||
		aws.ToString(head.CacheControl) != "no-cache" || aws.ToString(head.ContentLanguage) != "en" ||
		aws.ToString(head.ContentDisposition) != `attachment; filename="fox.txt"` ||
		head.Metadata["project"] != "Alpha" || head.Metadata["owner"] != "crew-7" ||
		head.ServerSideEncryption != types.ServerSideEncryptionAes256 || aws.ToString(head.ETag) != `"`+md5hex(data)+`"` ||
		head.LastModified == nil || aws.ToString(head.ExpiresString) != expires.Format(http.TimeFormat) {
		t.Errorf("HeadObject = %+v", head)
	}

	get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("dir/fox.txt"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	got, err := io.ReadAll(get.Body)
	get.Body.Close()
	if err != nil || !bytes.Equal(got, data) || aws.ToInt32(get.TagCount) != 2 {
		t.Errorf("GetObject = %q, %v, tags %d", got, err, aws.ToInt32(get.TagCount))
	}
	// aws-sdk-go-v2 sent its CRC32 in a trailer after the data; it is stored
	// and returned like a header checksum.
	if want := b64(crc32Sum(data)); aws.ToString(get.ChecksumCRC32) != want {
		t.Errorf("GetObject CRC32 = %q, want the trailer's %q", aws.ToString(get.ChecksumCRC32), want)
	}

	if head.ContentEncoding != nil {
		t.Errorf("aws-chunked leaked into Content-Encoding: %q", aws.ToString(head.ContentEncoding))
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("enc.txt"), Body: strings.NewReader("zz"), ContentEncoding: aws.String("gzip")}); err != nil {
		t.Fatal(err)
	}
	if h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String("enc.txt")}); err != nil || aws.ToString(h.ContentEncoding) != "gzip" {
		t.Errorf("Content-Encoding gzip (sent with aws-chunked) = %v, %v", h, err)
	}

	t.Run("range", func(t *testing.T) {
		for _, tt := range []struct{ rng, want, cr string }{
			{"bytes=4-8", "quick", "bytes 4-8/43"},
			{"bytes=40-", "dog", "bytes 40-42/43"},
			{"bytes=-3", "dog", "bytes 40-42/43"},
			{"bytes=40-1000", "dog", "bytes 40-42/43"},
		} {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("dir/fox.txt"), Range: aws.String(tt.rng)})
			if err != nil {
				t.Errorf("%s: %v", tt.rng, err)
				continue
			}
			b, _ := io.ReadAll(out.Body)
			out.Body.Close()
			if string(b) != tt.want || aws.ToString(out.ContentRange) != tt.cr {
				t.Errorf("%s = %q, %s; want %q, %s", tt.rng, b, aws.ToString(out.ContentRange), tt.want, tt.cr)
			}
		}
		_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("dir/fox.txt"), Range: aws.String("bytes=43-")})
		wantAWSError(t, "unsatisfiable range", err, "InvalidRange", 416)
		req := e.signed(t, "GET", "/objects/dir/fox.txt", nil, "", map[string]string{"Range": "bytes=100-200"})
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 416 || resp.Header.Get("Content-Range") != "bytes */43" {
			t.Errorf("416 response: %d, Content-Range %q", resp.StatusCode, resp.Header.Get("Content-Range"))
		}
	})

	t.Run("conditional", func(t *testing.T) {
		etag := aws.ToString(put.ETag)
		_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("dir/fox.txt"), IfNoneMatch: aws.String(etag)})
		if _, status := awsCode(err); status != 304 {
			t.Errorf("If-None-Match: %v", err)
		}
		_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("dir/fox.txt"), IfMatch: aws.String(`"nope"`)})
		wantAWSError(t, "If-Match", err, "PreconditionFailed", 412)
		_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String("dir/fox.txt"), IfUnmodifiedSince: aws.Time(time.Now().Add(-time.Hour))})
		if _, status := awsCode(err); status != 412 {
			t.Errorf("HEAD If-Unmodified-Since: %v", err)
		}
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("dir/fox.txt"), IfMatch: aws.String(etag), IfModifiedSince: aws.Time(time.Now().Add(-time.Hour))})
		if err != nil {
			t.Errorf("If-Match + If-Modified-Since: %v", err)
		} else {
			out.Body.Close()
		}
	})

	t.Run("response overrides", func(t *testing.T) {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{
			Bucket: bucket, Key: aws.String("dir/fox.txt"),
			ResponseContentType:        aws.String("application/x-fox"),
			ResponseContentDisposition: aws.String("inline"),
			ResponseCacheControl:       aws.String("max-age=60"),
		})
		if err != nil {
			t.Fatal(err)
		}
		out.Body.Close()
		if aws.ToString(out.ContentType) != "application/x-fox" || aws.ToString(out.ContentDisposition) != "inline" || aws.ToString(out.CacheControl) != "max-age=60" {
			t.Errorf("overrides = %s %s %s", aws.ToString(out.ContentType), aws.ToString(out.ContentDisposition), aws.ToString(out.CacheControl))
		}
	})

	t.Run("partNumber", func(t *testing.T) {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("dir/fox.txt"), PartNumber: aws.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if !bytes.Equal(b, data) {
			t.Errorf("partNumber=1 = %q", b)
		}
		_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("dir/fox.txt"), PartNumber: aws.Int32(2)})
		wantAWSError(t, "partNumber=2", err, "InvalidPartNumber", 416)
	})

	t.Run("header checksum stored and echoed", func(t *testing.T) {
		body := []byte("checksummed body")
		h := crc32.NewIEEE()
		h.Write(body)
		sum := b64(h.Sum(nil))
		req := e.signed(t, "PUT", "/objects/ck.txt", body, "", map[string]string{"X-Amz-Checksum-Crc32": sum})
		status, code, _ := e.do(t, req)
		if status != 200 {
			t.Fatalf("PUT with checksum header: %d %s", status, code)
		}
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("ck.txt"), ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(out.Body) // the SDK validates the checksum while reading
		out.Body.Close()
		if err != nil || !bytes.Equal(b, body) || aws.ToString(out.ChecksumCRC32) != sum {
			t.Errorf("GET checksum = %q (%v), body %q", aws.ToString(out.ChecksumCRC32), err, b)
		}
		plain, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("ck.txt")})
		if err != nil {
			t.Fatal(err)
		}
		plain.Body.Close()
		if plain.ChecksumCRC32 != nil {
			t.Errorf("checksum sent without x-amz-checksum-mode")
		}
		bad := e.signed(t, "PUT", "/objects/ck-bad.txt", body, "", map[string]string{"X-Amz-Checksum-Crc32": b64([]byte{1, 2, 3, 4})})
		if status, code, _ := e.do(t, bad); status != 400 || code != "BadDigest" {
			t.Errorf("wrong checksum header: %d %s", status, code)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		other := md5.Sum([]byte("other"))
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("md5.txt"), Body: bytes.NewReader(data),
			ContentMD5: aws.String(base64.StdEncoding.EncodeToString(other[:]))})
		wantAWSError(t, "wrong Content-MD5", err, "BadDigest", 400)
		_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String("md5.txt")})
		wantAWSError(t, "object after BadDigest", err, "NotFound", 404)

		req := e.signed(t, "PUT", "/objects/md5.txt", data, "", map[string]string{"Content-MD5": "!!"})
		if status, code, _ := e.do(t, req); status != 400 || code != "InvalidDigest" {
			t.Errorf("malformed Content-MD5: %d %s", status, code)
		}

		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(strings.Repeat("k", 1025)), Body: bytes.NewReader(data)})
		wantAWSError(t, "key too long", err, "KeyTooLongError", 400)
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("nobucket"), Key: aws.String("k"), Body: bytes.NewReader(data)})
		wantAWSError(t, "no bucket", err, "NoSuchBucket", 404)
		_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("missing")})
		wantAWSError(t, "missing key", err, "NoSuchKey", 404)
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(deniedPrefix + "x"), Body: bytes.NewReader(data)})
		wantAWSError(t, "denied", err, "AccessDenied", 403)
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("tags"), Body: bytes.NewReader(data), Tagging: aws.String("a=1&a=2")})
		wantAWSError(t, "duplicate tag", err, "InvalidTag", 400)
	})

	t.Run("short body", func(t *testing.T) {
		req := e.signed(t, "PUT", "/objects/short.bin", nil, "UNSIGNED-PAYLOAD", nil)
		req.ContentLength = 100
		var raw bytes.Buffer
		fmt.Fprintf(&raw, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 100\r\n", req.URL.RequestURI(), req.URL.Host)
		for k, vs := range req.Header {
			for _, v := range vs {
				fmt.Fprintf(&raw, "%s: %s\r\n", k, v)
			}
		}
		raw.WriteString("\r\n")
		raw.Write(make([]byte, 50))
		tr := e.srv.Client().Transport.(*http.Transport)
		conn, err := tls.Dial("tcp", e.srv.Listener.Addr().String(), tr.TLSClientConfig)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write(raw.Bytes()); err != nil {
			t.Fatal(err)
		}
		conn.CloseWrite()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 400 || errorCode(b) != "IncompleteBody" {
			t.Errorf("short body: %d %s", resp.StatusCode, b)
		}
		_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String("short.bin")})
		wantAWSError(t, "object after short body", err, "NotFound", 404)
	})

	t.Run("missing content length", func(t *testing.T) {
		req := e.signed(t, "PUT", "/objects/nolen", nil, "UNSIGNED-PAYLOAD", nil)
		req.Body = io.NopCloser(strings.NewReader("abc")) // chunked transfer, no length
		req.ContentLength = -1
		if status, code, _ := e.do(t, req); status != 411 || code != "MissingContentLength" {
			t.Errorf("no length: %d %s", status, code)
		}
	})

	t.Run("head errors have no body", func(t *testing.T) {
		req := e.signed(t, "HEAD", "/objects/missing", nil, "", nil)
		status, _, body := e.do(t, req)
		if status != 404 || len(body) != 0 {
			t.Errorf("HEAD missing = %d, %q", status, body)
		}
	})

	t.Run("common headers", func(t *testing.T) {
		req := e.signed(t, "GET", "/objects/dir/fox.txt", nil, "", nil)
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if len(resp.Header.Get("X-Amz-Request-Id")) != 32 || resp.Header.Get("X-Amz-Id-2") == "" ||
			resp.Header.Get("Server") != "Coffer" || resp.Header.Get("X-Amz-Server-Side-Encryption") != "AES256" ||
			resp.Header.Get("Accept-Ranges") != "bytes" {
			t.Errorf("headers = %v", resp.Header)
		}
		if _, err := http.ParseTime(resp.Header.Get("Last-Modified")); err != nil {
			t.Errorf("Last-Modified %q: %v", resp.Header.Get("Last-Modified"), err)
		}
	})

	t.Run("unknown subresource", func(t *testing.T) {
		req := e.signed(t, "GET", "/objects/dir/fox.txt?attributes", nil, "", nil)
		if status, code, _ := e.do(t, req); status != 501 || code != "NotImplemented" {
			t.Errorf("?attributes: %d %s", status, code)
		}
		req = e.signed(t, "PUT", "/objects/dir/fox.txt?retention", []byte("<Retention/>"), "", nil)
		if status, code, _ := e.do(t, req); status != 501 || code != "NotImplemented" {
			t.Errorf("PUT ?retention: %d %s", status, code)
		}
		// The object is untouched.
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("dir/fox.txt")})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if !bytes.Equal(b, data) {
			t.Errorf("object changed by an unknown subresource: %q", b)
		}
	})

	t.Run("acl", func(t *testing.T) {
		acl, err := c.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: bucket, Key: aws.String("dir/fox.txt")})
		if err != nil || len(acl.Grants) != 1 || aws.ToString(acl.Owner.ID) != testAccessKey {
			t.Errorf("GetObjectAcl = %+v, %v", acl, err)
		}
		_, err = c.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: bucket, Key: aws.String("missing")})
		wantAWSError(t, "GetObjectAcl missing", err, "NoSuchKey", 404)
	})

	t.Run("tagging", func(t *testing.T) {
		key := aws.String("dir/fox.txt")
		tg, err := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: bucket, Key: key})
		if err != nil || len(tg.TagSet) != 2 || aws.ToString(tg.TagSet[0].Key) != "class" || aws.ToString(tg.TagSet[1].Value) != "a b" {
			t.Fatalf("GetObjectTagging = %+v, %v", tg, err)
		}
		_, err = c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: bucket, Key: key, Tagging: &types.Tagging{
			TagSet: []types.Tag{{Key: aws.String("x"), Value: aws.String("1")}},
		}})
		if err != nil {
			t.Fatalf("PutObjectTagging: %v", err)
		}
		tg, err = c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: bucket, Key: key})
		if err != nil || len(tg.TagSet) != 1 || aws.ToString(tg.TagSet[0].Key) != "x" {
			t.Errorf("after put = %+v, %v", tg, err)
		}
		var many []types.Tag
		for i := range 11 {
			many = append(many, types.Tag{Key: aws.String(fmt.Sprint("k", i)), Value: aws.String("v")})
		}
		_, err = c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: bucket, Key: key, Tagging: &types.Tagging{TagSet: many}})
		wantAWSError(t, "11 tags", err, "InvalidTag", 400)
		if _, err := c.DeleteObjectTagging(ctx, &s3.DeleteObjectTaggingInput{Bucket: bucket, Key: key}); err != nil {
			t.Errorf("DeleteObjectTagging: %v", err)
		}
		tg, err = c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: bucket, Key: key})
		if err != nil || len(tg.TagSet) != 0 {
			t.Errorf("after delete = %+v, %v", tg, err)
		}
		_, err = c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: bucket, Key: aws.String("missing")})
		wantAWSError(t, "tagging missing key", err, "NoSuchKey", 404)
		req := e.signed(t, "PUT", "/objects/dir/fox.txt?tagging", []byte("<Tagging><TagSet><Tag>"), "", nil)
		if status, code, _ := e.do(t, req); status != 400 || code != "MalformedXML" {
			t.Errorf("malformed tagging XML: %d %s", status, code)
		}
	})

	t.Run("copy", func(t *testing.T) {
		out, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: bucket, Key: aws.String("copy/fox.txt"), CopySource: aws.String("objects/dir/fox.txt")})
		if err != nil {
			t.Fatalf("CopyObject: %v", err)
		}
		if aws.ToString(out.CopyObjectResult.ETag) != `"`+md5hex(data)+`"` || out.CopyObjectResult.LastModified == nil {
			t.Errorf("CopyObjectResult = %+v", out.CopyObjectResult)
		}
		h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String("copy/fox.txt")})
		if err != nil || aws.ToString(h.ContentType) != "text/plain" || h.Metadata["project"] != "Alpha" {
			t.Errorf("copied metadata = %+v, %v", h, err)
		}
		_, err = c.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket: bucket, Key: aws.String("copy/replaced.txt"), CopySource: aws.String("/objects/dir/fox.txt"),
			MetadataDirective: types.MetadataDirectiveReplace, ContentType: aws.String("text/x-fox"),
			Metadata: map[string]string{"new": "yes"}, TaggingDirective: types.TaggingDirectiveReplace, Tagging: aws.String("t=1"),
		})
		if err != nil {
			t.Fatalf("CopyObject REPLACE: %v", err)
		}
		h, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String("copy/replaced.txt")})
		if err != nil || aws.ToString(h.ContentType) != "text/x-fox" || h.Metadata["new"] != "yes" || h.Metadata["project"] != "" {
			t.Errorf("replaced metadata = %+v, %v", h, err)
		}
		// A key that needs URL encoding, named by an encoded copy source.
		odd := "odd dir/ü & +.txt"
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(odd), Body: strings.NewReader("odd")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: bucket, Key: aws.String("copy/odd"),
			CopySource: aws.String("objects/" + url.PathEscape(odd) + "?versionId=null")}); err != nil {
			t.Errorf("CopyObject encoded source: %v", err)
		}
		_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: bucket, Key: aws.String("copy/x"), CopySource: aws.String("objects/dir/fox.txt"),
			CopySourceIfMatch: aws.String(`"nope"`)})
		wantAWSError(t, "copy-source-if-match", err, "PreconditionFailed", 412)
		_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: bucket, Key: aws.String("copy/x"), CopySource: aws.String("objects/dir/fox.txt"),
			CopySourceIfNoneMatch: put.ETag})
		wantAWSError(t, "copy-source-if-none-match", err, "PreconditionFailed", 412)
		_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: bucket, Key: aws.String("copy/x"), CopySource: aws.String("objects/dir/fox.txt"),
			CopySourceIfModifiedSince: aws.Time(time.Now().Add(time.Hour))})
		wantAWSError(t, "copy-source-if-modified-since", err, "PreconditionFailed", 412)
		if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: bucket, Key: aws.String("copy/x"), CopySource: aws.String("objects/dir/fox.txt"),
			CopySourceIfMatch: put.ETag, CopySourceIfUnmodifiedSince: aws.Time(time.Now().Add(-time.Hour))}); err != nil {
			t.Errorf("copy-source-if-match true beats unmodified-since: %v", err)
		}
		_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: bucket, Key: aws.String("dir/fox.txt"), CopySource: aws.String("objects/dir/fox.txt")})
		wantAWSError(t, "copy onto itself", err, "InvalidRequest", 400)
		_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: bucket, Key: aws.String("copy/y"), CopySource: aws.String("objects/missing")})
		wantAWSError(t, "copy missing source", err, "NoSuchKey", 404)
		_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: bucket, Key: aws.String("copy/y"), CopySource: aws.String("objects")})
		wantAWSError(t, "copy source without key", err, "InvalidArgument", 400)
		_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: bucket, Key: aws.String("copy/y"), CopySource: aws.String("objects/" + deniedPrefix + "src")})
		wantAWSError(t, "copy denied source", err, "AccessDenied", 403)
	})

	t.Run("presigned", func(t *testing.T) {
		ps := s3.NewPresignClient(c)
		preq, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("dir/fox.txt")}, s3.WithPresignExpires(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := e.srv.Client().Get(preq.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(b, data) {
			t.Errorf("presigned GET = %d %q", resp.StatusCode, b)
		}
		pput, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("presigned.txt")}, s3.WithPresignExpires(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("PUT", pput.URL, strings.NewReader("via presigned PUT"))
		for k, vs := range pput.SignedHeader {
			if k != "Host" {
				req.Header[k] = vs
			}
		}
		if status, code, _ := e.do(t, req); status != 200 {
			t.Errorf("presigned PUT = %d %s", status, code)
		}

		// Signed two hours ago, valid for one minute.
		old, _ := http.NewRequest("GET", e.srv.URL+"/objects/dir/fox.txt", nil)
		q := old.URL.Query()
		q.Set("X-Amz-Expires", "60")
		old.URL.RawQuery = q.Encode()
		creds := aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey}
		u, _, err := v4.NewSigner().PresignHTTP(ctx, creds, old, "UNSIGNED-PAYLOAD", "s3", testRegion, time.Now().Add(-2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		resp, err = e.srv.Client().Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || errorCode(b) != "AccessDenied" || bytes.Contains(b, data) {
			t.Errorf("expired presigned URL = %d %s", resp.StatusCode, b)
		}
		// Tampering with a presigned URL breaks it.
		resp, err = e.srv.Client().Get(strings.Replace(preq.URL, "fox.txt", "copy/fox.txt", 1))
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || errorCode(b) != "SignatureDoesNotMatch" {
			t.Errorf("tampered presigned URL = %d %s", resp.StatusCode, b)
		}
	})

	t.Run("wrong credentials", func(t *testing.T) {
		bad := e.awsClient("not-the-secret", "")
		_, err := bad.ListBuckets(ctx, &s3.ListBucketsInput{})
		wantAWSError(t, "wrong secret", err, "SignatureDoesNotMatch", 403)
		_, err = bad.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("dir/fox.txt")})
		wantAWSError(t, "wrong secret GET", err, "SignatureDoesNotMatch", 403)
		unknown := s3.New(s3.Options{
			Region: testRegion, Credentials: awscreds.NewStaticCredentialsProvider("AKIAUNKNOWN", testSecretKey, ""),
			BaseEndpoint: aws.String(e.srv.URL), UsePathStyle: true, HTTPClient: e.srv.Client(), Retryer: aws.NopRetryer{},
		})
		_, err = unknown.ListBuckets(ctx, &s3.ListBucketsInput{})
		wantAWSError(t, "unknown key", err, "InvalidAccessKeyId", 403)
		resp, err := e.srv.Client().Get(e.srv.URL + "/objects/dir/fox.txt")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || errorCode(b) != "AccessDenied" {
			t.Errorf("anonymous GET = %d %s", resp.StatusCode, b)
		}
	})

	t.Run("delete", func(t *testing.T) {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: aws.String("copy/x")}); err != nil {
			t.Errorf("DeleteObject: %v", err)
		}
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: aws.String("never-existed")}); err != nil {
			t.Errorf("DeleteObject missing: %v", err)
		}
		req := e.signed(t, "DELETE", "/objects/copy/y", nil, "", nil)
		if status, _, _ := e.do(t, req); status != 204 {
			t.Errorf("DELETE status %d", status)
		}
		out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: bucket, Delete: &types.Delete{Objects: []types.ObjectIdentifier{
			{Key: aws.String("copy/fox.txt")}, {Key: aws.String("copy/replaced.txt")}, {Key: aws.String("nope")},
			{Key: aws.String(deniedPrefix + "z")},
		}}})
		if err != nil {
			t.Fatalf("DeleteObjects: %v", err)
		}
		if len(out.Deleted) != 3 || len(out.Errors) != 1 || aws.ToString(out.Errors[0].Code) != "AccessDenied" ||
			aws.ToString(out.Errors[0].Key) != deniedPrefix+"z" {
			t.Errorf("DeleteObjects = deleted %d, errors %+v", len(out.Deleted), out.Errors)
		}
		out, err = c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: bucket, Delete: &types.Delete{Quiet: aws.Bool(true),
			Objects: []types.ObjectIdentifier{{Key: aws.String("copy/odd")}}}})
		if err != nil || len(out.Deleted) != 0 || len(out.Errors) != 0 {
			t.Errorf("quiet DeleteObjects = %+v, %v", out, err)
		}
		_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String("copy/odd")})
		wantAWSError(t, "after quiet delete", err, "NotFound", 404)

		req = e.signed(t, "POST", "/objects?delete", []byte("<Delete><Object><Key>a</Key></Object>"), "", nil)
		if status, code, _ := e.do(t, req); status != 400 || code != "MalformedXML" {
			t.Errorf("malformed delete XML: %d %s", status, code)
		}
		var many strings.Builder
		many.WriteString("<Delete>")
		for i := range 1001 {
			fmt.Fprintf(&many, "<Object><Key>k%d</Key></Object>", i)
		}
		many.WriteString("</Delete>")
		req = e.signed(t, "POST", "/objects?delete", []byte(many.String()), "", nil)
		if status, code, _ := e.do(t, req); status != 400 || code != "MalformedXML" {
			t.Errorf("1001 keys: %d %s", status, code)
		}
		big := []byte("<Delete>" + strings.Repeat(" ", maxXMLBody) + "</Delete>")
		req = e.signed(t, "POST", "/objects?delete", big, "", nil)
		if status, code, _ := e.do(t, req); status != 400 || code != "MalformedXML" {
			t.Errorf("oversized delete XML: %d %s", status, code)
		}
	})
}

func TestE2EAWSList(t *testing.T) {
	e := newE2E(t)
	c := e.awsClient(testSecretKey, "")
	ctx := context.Background()
	bucket := aws.String("list")
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	keys := []string{"a.txt", "b/1.txt", "b/2.txt", "b/c/3.txt", "d e+f.txt", "z.txt"}
	for _, k := range keys {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(err)
		}
	}

	// Page through everything two keys at a time.
	var got []string
	var token *string
	pages := 0
	for {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bucket, MaxKeys: aws.Int32(2), ContinuationToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, o := range out.Contents {
			got = append(got, aws.ToString(o.Key))
			if aws.ToInt64(o.Size) != int64(len(aws.ToString(o.Key))) || o.StorageClass != types.ObjectStorageClassStandard || o.Owner != nil {
				t.Errorf("entry %+v", o)
			}
		}
		if aws.ToInt32(out.KeyCount) != int32(len(out.Contents)) {
			t.Errorf("KeyCount %d for %d entries", aws.ToInt32(out.KeyCount), len(out.Contents))
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		token = out.NextContinuationToken
	}
	if strings.Join(got, ",") != strings.Join(keys, ",") || pages != 3 {
		t.Errorf("paged listing = %v in %d pages", got, pages)
	}

	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bucket, Delimiter: aws.String("/"), FetchOwner: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	var prefixes []string
	for _, p := range out.CommonPrefixes {
		prefixes = append(prefixes, aws.ToString(p.Prefix))
	}
	if len(out.Contents) != 3 || strings.Join(prefixes, ",") != "b/" || out.Contents[0].Owner == nil {
		t.Errorf("delimited listing = %d objects, prefixes %v", len(out.Contents), prefixes)
	}

	out, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bucket, Prefix: aws.String("b/"), Delimiter: aws.String("/"), StartAfter: aws.String("b/1.txt")})
	if err != nil || len(out.Contents) != 1 || aws.ToString(out.Contents[0].Key) != "b/2.txt" ||
		len(out.CommonPrefixes) != 1 || aws.ToString(out.CommonPrefixes[0].Prefix) != "b/c/" {
		t.Errorf("prefix+start-after listing = %+v, %v", out, err)
	}

	out, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bucket, Prefix: aws.String("d "), EncodingType: types.EncodingTypeUrl})
	if err != nil || len(out.Contents) != 1 || aws.ToString(out.Contents[0].Key) != "d+e%2Bf.txt" || aws.ToString(out.Prefix) != "d+" {
		t.Errorf("url-encoded listing = %+v, %v", out, err)
	}

	out, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bucket, MaxKeys: aws.Int32(0)})
	if err != nil || len(out.Contents) != 0 || aws.ToInt32(out.MaxKeys) != 0 {
		t.Errorf("max-keys=0 listing = %+v, %v", out, err)
	}

	req := e.signed(t, "GET", "/list?list-type=2&continuation-token=%21%21", nil, "", nil)
	if status, code, _ := e.do(t, req); status != 400 || code != "InvalidArgument" {
		t.Errorf("bad continuation token: %d %s", status, code)
	}
	req = e.signed(t, "GET", "/list?list-type=2&max-keys=ten", nil, "", nil)
	if status, code, _ := e.do(t, req); status != 400 || code != "InvalidArgument" {
		t.Errorf("bad max-keys: %d %s", status, code)
	}
	_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("nobucket")})
	wantAWSError(t, "list missing bucket", err, "NoSuchBucket", 404)

	// ListObjects (v1) with a delimiter reports NextMarker.
	v1, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: bucket, Delimiter: aws.String("/"), MaxKeys: aws.Int32(2)})
	if err != nil || !aws.ToBool(v1.IsTruncated) || aws.ToString(v1.NextMarker) != "b/" || len(v1.Contents) != 1 || len(v1.CommonPrefixes) != 1 {
		t.Fatalf("ListObjects v1 = %+v, %v", v1, err)
	}
	v1, err = c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: bucket, Delimiter: aws.String("/"), Marker: v1.NextMarker})
	if err != nil || aws.ToBool(v1.IsTruncated) || len(v1.Contents) != 2 || aws.ToString(v1.Contents[0].Key) != "d e+f.txt" {
		t.Errorf("ListObjects v1 page 2 = %+v, %v", v1, err)
	}

	// Virtual-host style: https://list.example.com/...
	vh := e.awsClient(testSecretKey, "https://example.com")
	if _, err := vh.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("vhost/obj"), Body: strings.NewReader("virtual")}); err != nil {
		t.Fatalf("virtual-host PutObject: %v", err)
	}
	vo, err := vh.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("vhost/obj")})
	if err != nil {
		t.Fatalf("virtual-host GetObject: %v", err)
	}
	b, _ := io.ReadAll(vo.Body)
	vo.Body.Close()
	if string(b) != "virtual" {
		t.Errorf("virtual-host GET = %q", b)
	}
	vl, err := vh.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bucket, Prefix: aws.String("vhost/")})
	if err != nil || len(vl.Contents) != 1 {
		t.Errorf("virtual-host list = %+v, %v", vl, err)
	}
}

func TestE2EAWSMultipart(t *testing.T) {
	e := newE2E(t)
	c := e.awsClient(testSecretKey, "")
	ctx := context.Background()
	bucket := aws.String("mpu")
	key := aws.String("big/footage.bin")
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	part1 := randomBytes(5<<20, 1)
	part2 := randomBytes(5<<20, 2)
	tail := randomBytes(1000, 3)
	src := randomBytes(4096, 4)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("src"), Body: bytes.NewReader(src)}); err != nil {
		t.Fatal(err)
	}

	cr, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: key,
		ContentType: aws.String("video/raw"), Metadata: map[string]string{"crew": "7"}})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	if cr.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		t.Errorf("CreateMultipartUpload SSE = %q", cr.ServerSideEncryption)
	}
	id := cr.UploadId
	var parts []types.CompletedPart
	for i, p := range [][]byte{part1, part2} {
		up, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: key, UploadId: id, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)})
		if err != nil {
			t.Fatalf("UploadPart %d: %v", i+1, err)
		}
		if aws.ToString(up.ETag) != `"`+md5hex(p)+`"` {
			t.Errorf("part %d ETag %s", i+1, aws.ToString(up.ETag))
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: up.ETag})
	}
	cp, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: bucket, Key: key, UploadId: id, PartNumber: aws.Int32(3),
		CopySource: aws.String("mpu/src"), CopySourceRange: aws.String("bytes=96-1095")})
	if err != nil {
		t.Fatalf("UploadPartCopy: %v", err)
	}
	if aws.ToString(cp.CopyPartResult.ETag) != `"`+md5hex(src[96:1096])+`"` {
		t.Errorf("UploadPartCopy ETag %s", aws.ToString(cp.CopyPartResult.ETag))
	}
	_, err = c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: bucket, Key: key, UploadId: id, PartNumber: aws.Int32(9),
		CopySource: aws.String("mpu/src"), CopySourceRange: aws.String("bytes=0-5000")})
	wantAWSError(t, "UploadPartCopy range past the end", err, "InvalidRange", 416)
	up4, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: key, UploadId: id, PartNumber: aws.Int32(4), Body: bytes.NewReader(tail)})
	if err != nil {
		t.Fatal(err)
	}

	lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: bucket, Key: key, UploadId: id, MaxParts: aws.Int32(2)})
	if err != nil || len(lp.Parts) != 2 || !aws.ToBool(lp.IsTruncated) || aws.ToString(lp.NextPartNumberMarker) != "2" {
		t.Fatalf("ListParts = %+v, %v", lp, err)
	}
	lp, err = c.ListParts(ctx, &s3.ListPartsInput{Bucket: bucket, Key: key, UploadId: id, PartNumberMarker: lp.NextPartNumberMarker})
	if err != nil || len(lp.Parts) != 2 || aws.ToBool(lp.IsTruncated) || aws.ToInt32(lp.Parts[0].PartNumber) != 3 || aws.ToInt64(lp.Parts[1].Size) != 1000 {
		t.Errorf("ListParts page 2 = %+v, %v", lp, err)
	}
	lu, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: bucket})
	if err != nil || len(lu.Uploads) != 1 || aws.ToString(lu.Uploads[0].UploadId) != aws.ToString(id) || aws.ToString(lu.Uploads[0].Key) != *key {
		t.Errorf("ListMultipartUploads = %+v, %v", lu, err)
	}

	// Bad completions change nothing.
	cp3 := types.CompletedPart{PartNumber: aws.Int32(3), ETag: cp.CopyPartResult.ETag}
	cp4 := types.CompletedPart{PartNumber: aws.Int32(4), ETag: up4.ETag}
	complete := func(ps ...types.CompletedPart) error {
		_, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: key, UploadId: id,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: ps}})
		return err
	}
	wantAWSError(t, "complete with a missing part", complete(parts[0], parts[1], types.CompletedPart{PartNumber: aws.Int32(7), ETag: up4.ETag}), "InvalidPart", 400)
	wantAWSError(t, "complete with a wrong ETag", complete(parts[0], types.CompletedPart{PartNumber: aws.Int32(2), ETag: up4.ETag}), "InvalidPart", 400)
	wantAWSError(t, "complete out of order", complete(parts[1], parts[0], cp3, cp4), "InvalidPartOrder", 400)
	wantAWSError(t, "complete with a small middle part", complete(parts[0], cp3, cp4), "EntityTooSmall", 400)
	req := e.signed(t, "POST", "/mpu/big/footage.bin?uploadId="+url.QueryEscape(aws.ToString(id)), []byte("<CompleteMultipartUpload><Part>"), "", nil)
	if status, code, _ := e.do(t, req); status != 400 || code != "MalformedXML" {
		t.Errorf("malformed complete XML: %d %s", status, code)
	}
	req = e.signed(t, "POST", "/mpu/big/footage.bin?uploadId="+url.QueryEscape(aws.ToString(id)), []byte("<CompleteMultipartUpload></CompleteMultipartUpload>"), "", nil)
	if status, code, _ := e.do(t, req); status != 400 || code != "MalformedXML" {
		t.Errorf("empty complete: %d %s", status, code)
	}

	// Only parts 1, 2 and 4: the copied part 3 stays out.
	done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: key, UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{parts[0], parts[1], cp4}}})
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	if !strings.HasSuffix(aws.ToString(done.ETag), `-3"`) || aws.ToString(done.Key) != *key || done.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		t.Errorf("CompleteMultipartUpload = %+v", done)
	}
	want := bytes.Join([][]byte{part1, part2, tail}, nil)
	get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: key, ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(get.Body)
	get.Body.Close()
	if err != nil || !bytes.Equal(got, want) || aws.ToString(get.ContentType) != "video/raw" || get.Metadata["crew"] != "7" {
		t.Errorf("GET completed object: %d bytes (want %d), %v, type %s, meta %v", len(got), len(want), err, aws.ToString(get.ContentType), get.Metadata)
	}
	// A range across the part boundary.
	rg, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: key, Range: aws.String(fmt.Sprintf("bytes=%d-%d", 5<<20-10, 5<<20+9))})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(rg.Body)
	rg.Body.Close()
	if !bytes.Equal(got, want[5<<20-10:5<<20+10]) {
		t.Errorf("cross-part range mismatch")
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: key, PartNumber: aws.Int32(1)})
	wantAWSError(t, "partNumber of a multipart object", err, "NotImplemented", 501)

	_, err = c.ListParts(ctx, &s3.ListPartsInput{Bucket: bucket, Key: key, UploadId: id})
	wantAWSError(t, "ListParts after complete", err, "NoSuchUpload", 404)

	// Abort.
	ab, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: aws.String("aborted")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: aws.String("aborted"), UploadId: ab.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: bucket, Key: aws.String("aborted"), UploadId: ab.UploadId}); err != nil {
		t.Errorf("AbortMultipartUpload: %v", err)
	}
	_, err = c.ListParts(ctx, &s3.ListPartsInput{Bucket: bucket, Key: aws.String("aborted"), UploadId: ab.UploadId})
	wantAWSError(t, "ListParts after abort", err, "NoSuchUpload", 404)
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: aws.String("aborted"), UploadId: ab.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("x")})
	wantAWSError(t, "UploadPart after abort", err, "NoSuchUpload", 404)
	req = e.signed(t, "PUT", "/mpu/aborted?partNumber=10001&uploadId=x", []byte("x"), "", nil)
	if status, code, _ := e.do(t, req); status != 400 || code != "InvalidArgument" {
		t.Errorf("part number 10001: %d %s", status, code)
	}
}

func TestE2EMinio(t *testing.T) {
	e := newE2E(t)
	mc := e.minioClient(t)
	core := minio.Core{Client: mc}
	ctx := context.Background()
	const bucket = "minio"

	if err := mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: testRegion}); err != nil {
		t.Fatalf("MakeBucket: %v", err)
	}
	if ok, err := mc.BucketExists(ctx, bucket); !ok || err != nil {
		t.Errorf("BucketExists = %v, %v", ok, err)
	}
	if ok, err := mc.BucketExists(ctx, "nope"); ok || err != nil {
		t.Errorf("BucketExists(nope) = %v, %v", ok, err)
	}
	if loc, err := mc.GetBucketLocation(ctx, bucket); err != nil || loc != testRegion {
		t.Errorf("GetBucketLocation = %q, %v", loc, err)
	}
	if err := mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: testRegion}); minio.ToErrorResponse(err).Code != "BucketAlreadyOwnedByYou" {
		t.Errorf("MakeBucket again = %v", err)
	}

	data := []byte("minio body with some bytes in it")
	info, err := mc.PutObject(ctx, bucket, "docs/a b.txt", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
		ContentType: "text/plain", UserMetadata: map[string]string{"Origin": "minio"}, UserTags: map[string]string{"k": "v"},
	})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if info.ETag != md5hex(data) {
		t.Errorf("PutObject ETag %s", info.ETag)
	}
	for i := range 3 {
		if _, err := mc.PutObject(ctx, bucket, fmt.Sprintf("docs/sub/%d", i), strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	st, err := mc.StatObject(ctx, bucket, "docs/a b.txt", minio.StatObjectOptions{})
	if err != nil || st.Size != int64(len(data)) || st.ContentType != "text/plain" || st.UserMetadata["Origin"] != "minio" || st.UserTagCount != 1 {
		t.Errorf("StatObject = %+v, %v", st, err)
	}
	_, err = mc.StatObject(ctx, bucket, "missing", minio.StatObjectOptions{})
	if r := minio.ToErrorResponse(err); r.StatusCode != 404 {
		t.Errorf("StatObject missing = %v", err)
	}

	opts := minio.GetObjectOptions{}
	opts.SetRange(6, 9)
	obj, err := mc.GetObject(ctx, bucket, "docs/a b.txt", opts)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || string(got) != "body" {
		t.Errorf("ranged GetObject = %q, %v", got, err)
	}
	obj, err = mc.GetObject(ctx, bucket, "docs/a b.txt", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(obj)
	obj.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("GetObject = %q, %v", got, err)
	}

	var listed []string
	for o := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "docs/", Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		listed = append(listed, o.Key)
	}
	if strings.Join(listed, ",") != "docs/a b.txt,docs/sub/0,docs/sub/1,docs/sub/2" {
		t.Errorf("recursive ListObjects = %v", listed)
	}
	listed = nil
	for o := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "docs/", UseV1: true, MaxKeys: 1}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		listed = append(listed, o.Key)
	}
	if strings.Join(listed, ",") != "docs/a b.txt,docs/sub/" {
		t.Errorf("delimited v1 ListObjects = %v", listed)
	}

	if _, err := mc.CopyObject(ctx, minio.CopyDestOptions{Bucket: bucket, Object: "copies/a", ReplaceMetadata: true,
		UserMetadata: map[string]string{"Copied": "yes"}}, minio.CopySrcOptions{Bucket: bucket, Object: "docs/a b.txt"}); err != nil {
		t.Fatalf("CopyObject: %v", err)
	}
	st, err = mc.StatObject(ctx, bucket, "copies/a", minio.StatObjectOptions{})
	if err != nil || st.UserMetadata["Copied"] != "yes" || st.UserMetadata["Origin"] != "" {
		t.Errorf("copied object = %+v, %v", st.UserMetadata, err)
	}

	tg, err := mc.GetObjectTagging(ctx, bucket, "docs/a b.txt", minio.GetObjectTaggingOptions{})
	if err != nil || tg.ToMap()["k"] != "v" {
		t.Errorf("GetObjectTagging = %v, %v", tg, err)
	}
	nt, _ := tags.NewTags(map[string]string{"x": "1", "y": "2"}, true)
	if err := mc.PutObjectTagging(ctx, bucket, "docs/a b.txt", nt, minio.PutObjectTaggingOptions{}); err != nil {
		t.Errorf("PutObjectTagging: %v", err)
	}
	if tg, err := mc.GetObjectTagging(ctx, bucket, "docs/a b.txt", minio.GetObjectTaggingOptions{}); err != nil || len(tg.ToMap()) != 2 {
		t.Errorf("after PutObjectTagging = %v, %v", tg, err)
	}
	if err := mc.RemoveObjectTagging(ctx, bucket, "docs/a b.txt", minio.RemoveObjectTaggingOptions{}); err != nil {
		t.Errorf("RemoveObjectTagging: %v", err)
	}

	// Multipart through the low-level API, with small parts (a single part
	// may be any size) and a part copied from another object.
	id, err := core.NewMultipartUpload(ctx, bucket, "mp/obj", minio.PutObjectOptions{ContentType: "application/x-test"})
	if err != nil {
		t.Fatalf("NewMultipartUpload: %v", err)
	}
	p1, err := core.PutObjectPart(ctx, bucket, "mp/obj", id, 1, bytes.NewReader(data), int64(len(data)), minio.PutObjectPartOptions{})
	if err != nil {
		t.Fatalf("PutObjectPart: %v", err)
	}
	p2, err := core.CopyObjectPart(ctx, bucket, "docs/a b.txt", bucket, "mp/obj", id, 2, 0, 5, nil)
	if err != nil {
		t.Fatalf("CopyObjectPart: %v", err)
	}
	lp, err := core.ListObjectParts(ctx, bucket, "mp/obj", id, 0, 10)
	if err != nil || len(lp.ObjectParts) != 2 || lp.ObjectParts[1].Size != 5 {
		t.Errorf("ListObjectParts = %+v, %v", lp, err)
	}
	lu, err := core.ListMultipartUploads(ctx, bucket, "mp/", "", "", "/", 10)
	if err != nil || len(lu.Uploads) != 1 || lu.Uploads[0].UploadID != id {
		t.Errorf("ListMultipartUploads = %+v, %v", lu, err)
	}
	var incomplete []string
	for u := range mc.ListIncompleteUploads(ctx, bucket, "mp/", true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		incomplete = append(incomplete, u.Key)
	}
	if len(incomplete) != 1 {
		t.Errorf("ListIncompleteUploads = %v", incomplete)
	}
	// Part 1 is below 5 MiB and not last: refused.
	if _, err := core.CompleteMultipartUpload(ctx, bucket, "mp/obj", id, []minio.CompletePart{
		{PartNumber: 1, ETag: p1.ETag}, {PartNumber: 2, ETag: p2.ETag}}, minio.PutObjectOptions{}); minio.ToErrorResponse(err).Code != "EntityTooSmall" {
		t.Errorf("complete with small first part = %v", err)
	}
	up, err := core.CompleteMultipartUpload(ctx, bucket, "mp/obj", id, []minio.CompletePart{{PartNumber: 2, ETag: p2.ETag}}, minio.PutObjectOptions{})
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	if !strings.HasSuffix(up.ETag, "-1") {
		t.Errorf("multipart ETag %s", up.ETag)
	}
	obj, err = mc.GetObject(ctx, bucket, "mp/obj", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(obj)
	obj.Close()
	if string(got) != string(data[:5]) {
		t.Errorf("multipart object = %q", got)
	}
	id2, err := core.NewMultipartUpload(ctx, bucket, "mp/abort", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := mc.RemoveIncompleteUpload(ctx, bucket, "mp/abort"); err != nil {
		t.Errorf("RemoveIncompleteUpload: %v", err)
	}
	if err := core.AbortMultipartUpload(ctx, bucket, "mp/abort", id2); minio.ToErrorResponse(err).Code != "NoSuchUpload" {
		t.Errorf("abort twice = %v", err)
	}

	u, err := mc.PresignedGetObject(ctx, bucket, "docs/a b.txt", time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.srv.Client().Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, data) {
		t.Errorf("presigned GET = %d %q", resp.StatusCode, got)
	}

	// Bulk delete, then the bucket.
	objs := make(chan minio.ObjectInfo)
	go func() {
		defer close(objs)
		for o := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
			objs <- o
		}
	}()
	for r := range mc.RemoveObjects(ctx, bucket, objs, minio.RemoveObjectsOptions{}) {
		t.Errorf("RemoveObjects: %s: %v", r.ObjectName, r.Err)
	}
	var left []string
	for o := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		left = append(left, o.Key)
	}
	sort.Strings(left)
	if len(left) != 0 {
		t.Errorf("left after RemoveObjects: %v", left)
	}
	if err := mc.RemoveBucket(ctx, bucket); err != nil {
		t.Errorf("RemoveBucket: %v", err)
	}
	if err := mc.RemoveBucket(ctx, bucket); minio.ToErrorResponse(err).Code != "NoSuchBucket" {
		t.Errorf("RemoveBucket twice = %v", err)
	}
}

// TestE2ETamper flips a byte of stored ciphertext: a GET must never return
// wrong bytes as a success. A failure in the first buffer is a clean 500;
// a failure later in the stream aborts the connection.
func TestE2ETamper(t *testing.T) {
	e := newE2E(t)
	c := e.awsClient(testSecretKey, "")
	ctx := context.Background()
	bucket := aws.String("tamper")
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	small := randomBytes(1000, 5)
	large := randomBytes(400<<10, 6)
	for key, data := range map[string][]byte{"small": small, "large": large} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
	}
	// Find the two blob files: the small one and the large one.
	var files []string
	filepath.WalkDir(filepath.Join(e.dir, "blobs"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, path)
		}
		return nil
	})
	sizeOf := func(p string) int64 {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	var smallBlob, largeBlob string
	for _, f := range files {
		switch n := sizeOf(f); {
		case n > 300<<10:
			largeBlob = f
		case n > 1000 && n < 4096:
			smallBlob = f
		}
	}
	if smallBlob == "" || largeBlob == "" {
		t.Fatalf("blob files not found among %v", files)
	}
	flip := func(path string, off int64) {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, off); err != nil {
			t.Fatal(err)
		}
		b[0] ^= 0x01
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	flip(smallBlob, sizeOf(smallBlob)/2)
	flip(largeBlob, sizeOf(largeBlob)-100) // in the last sealed package

	req := e.signed(t, "GET", "/tamper/small", nil, "", nil)
	status, code, body := e.do(t, req)
	if status != 500 || code != "InternalError" || !bytes.Contains(body, []byte(msgIntegrity)) || bytes.Contains(body, small[:16]) {
		t.Errorf("tampered small GET = %d %s", status, body)
	}
	if !strings.Contains(e.logs.String(), "s3 integrity failure") {
		t.Errorf("integrity failure not logged")
	}

	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("large")})
	if err != nil {
		t.Fatalf("tampered large GET failed before the body: %v", err)
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err == nil {
		t.Errorf("tampered large GET read %d bytes without error", len(got))
	}
	if bytes.Equal(got, large) {
		t.Errorf("tampered object returned intact?")
	}
	// A range inside the untouched packages still reads.
	rg, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("large"), Range: aws.String("bytes=0-99")})
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(rg.Body)
	rg.Body.Close()
	if err != nil || !bytes.Equal(got, large[:100]) {
		t.Errorf("untouched range = %v", err)
	}
}

func crc32Sum(b []byte) []byte {
	v := crc32.ChecksumIEEE(b)
	return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

// TestE2EConditionalWrites: If-None-Match: * makes a PUT create-only (a lock
// primitive, as Terraform's S3 backend uses it) and If-Match replaces only
// the version a client has seen; refused writes change nothing.
func TestE2EConditionalWrites(t *testing.T) {
	e := newE2E(t)
	c := e.awsClient(testSecretKey, "")
	ctx := context.Background()
	bucket := aws.String("locks")
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	put := func(key, body string, ifNoneMatch, ifMatch *string) (*s3.PutObjectOutput, error) {
		return c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(key), Body: strings.NewReader(body), IfNoneMatch: ifNoneMatch, IfMatch: ifMatch})
	}
	read := func(key string) string {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		defer out.Body.Close()
		b, _ := io.ReadAll(out.Body)
		return string(b)
	}
	first, err := put("state.lock", "holder-a", aws.String("*"), nil)
	if err != nil {
		t.Fatalf("create-only PUT of a new key: %v", err)
	}
	_, err = put("state.lock", "holder-b", aws.String("*"), nil)
	wantAWSError(t, "second create-only PUT", err, "PreconditionFailed", 412)
	_, err = put("state.lock", "holder-b", nil, aws.String(`"00000000000000000000000000000000"`))
	wantAWSError(t, "If-Match with a stale ETag", err, "PreconditionFailed", 412)
	if got := read("state.lock"); got != "holder-a" {
		t.Fatalf("a refused conditional PUT changed the object to %q", got)
	}
	if _, err := put("state.lock", "holder-a2", nil, first.ETag); err != nil {
		t.Fatalf("If-Match with the current ETag: %v", err)
	}
	if got := read("state.lock"); got != "holder-a2" {
		t.Fatalf("If-Match PUT stored %q", got)
	}
	_, err = put("missing", "x", nil, first.ETag)
	wantAWSError(t, "If-Match on a missing key", err, "NoSuchKey", 404)
	_, err = put("state.lock", "x", aws.String(`"abc"`), nil)
	wantAWSError(t, "If-None-Match with an ETag on a write", err, "NotImplemented", 501)
}
