package s3api

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
)

func TestResolve(t *testing.T) {
	bases := []string{"s3.example.com", "localhost"}
	tests := []struct {
		host, path  string
		bucket, key string
	}{
		{"s3.example.com", "/", "", ""},
		{"s3.example.com", "/b", "b", ""},
		{"s3.example.com", "/b/", "b", ""},
		{"s3.example.com:9000", "/b/k/x.txt", "b", "k/x.txt"},
		{"b.s3.example.com", "/", "b", ""},
		{"B.S3.Example.COM:443", "/k//y", "b", "k//y"},
		{"my.dotted.bucket.s3.example.com", "/k", "my.dotted.bucket", "k"},
		{"b.localhost:8443", "/k", "b", "k"},
		{"127.0.0.1:9000", "/b/k", "b", "k"},
		{"[::1]:9000", "/b/k", "b", "k"},
		{"other.org", "/b/k", "b", "k"},
		{"s3.example.com.evil.org", "/b/k", "b", "k"},
	}
	for _, tt := range tests {
		b, k := resolve(tt.host, tt.path, bases)
		if b != tt.bucket || k != tt.key {
			t.Errorf("resolve(%q, %q) = %q, %q; want %q, %q", tt.host, tt.path, b, k, tt.bucket, tt.key)
		}
	}
}

func TestRoute(t *testing.T) {
	copyHdr := http.Header{"X-Amz-Copy-Source": {"/src/key"}}
	tests := []struct {
		method, bucket, key, query string
		hdr                        http.Header
		want                       string // op name, or error code
	}{
		{"GET", "", "", "", nil, "ListBuckets"},
		{"PUT", "", "", "", nil, "MethodNotAllowed"},
		{"GET", "", "", "acl", nil, "NotImplemented"},
		{"GET", "", "", "x-id=ListBuckets", nil, "ListBuckets"},

		{"PUT", "b", "", "", nil, "CreateBucket"},
		{"HEAD", "b", "", "", nil, "HeadBucket"},
		{"DELETE", "b", "", "", nil, "DeleteBucket"},
		{"GET", "b", "", "", nil, "ListObjects"},
		{"GET", "b", "", "prefix=a&delimiter=/&marker=x&max-keys=3", nil, "ListObjects"},
		{"GET", "b", "", "list-type=2&prefix=a&encoding-type=url&fetch-owner=true", nil, "ListObjectsV2"},
		{"GET", "b", "", "location", nil, "GetBucketLocation"},
		{"GET", "b", "", "versioning", nil, "GetBucketVersioning"},
		{"GET", "b", "", "acl", nil, "GetBucketAcl"},
		{"GET", "b", "", "uploads&prefix=x", nil, "ListMultipartUploads"},
		{"GET", "b", "", "policyStatus", nil, "GetBucketPolicyStatus"},
		{"GET", "b", "", "policy", nil, "GetBucketPolicy"},
		{"GET", "b", "", "encryption", nil, "GetBucketEncryption"},
		{"GET", "b", "", "object-lock", nil, "GetObjectLockConfiguration"},
		{"GET", "b", "", "tagging", nil, "GetBucketTagging"},
		{"GET", "b", "", "versions", nil, "NotImplemented"},
		{"GET", "b", "", "inventory", nil, "NotImplemented"},
		{"PUT", "b", "", "versioning", nil, "NotImplemented"},
		{"PUT", "b", "", "acl", nil, "NotImplemented"},
		{"PUT", "b", "", "policy", nil, "NotImplemented"},
		{"DELETE", "b", "", "cors", nil, "NotImplemented"},
		{"HEAD", "b", "", "acl", nil, "NotImplemented"},
		{"POST", "b", "", "delete", nil, "DeleteObjects"},
		{"POST", "b", "", "", nil, "NotImplemented"},
		{"PATCH", "b", "", "", nil, "MethodNotAllowed"},

		{"PUT", "b", "k", "", nil, "PutObject"},
		{"PUT", "b", "k", "x-id=PutObject", nil, "PutObject"},
		{"PUT", "b", "k", "", copyHdr, "CopyObject"},
		{"GET", "b", "k", "", nil, "GetObject"},
		{"GET", "b", "k", "partNumber=1&response-content-type=text/plain", nil, "GetObject"},
		{"GET", "b", "k", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00", nil, "GetObject"},
		{"GET", "b", "k", "versionId=null", nil, "GetObject"},
		{"HEAD", "b", "k", "", nil, "HeadObject"},
		{"HEAD", "b", "k", "partNumber=1", nil, "HeadObject"},
		{"DELETE", "b", "k", "", nil, "DeleteObject"},
		{"POST", "b", "k", "uploads", nil, "CreateMultipartUpload"},
		{"PUT", "b", "k", "partNumber=1&uploadId=u", nil, "UploadPart"},
		{"PUT", "b", "k", "partNumber=1&uploadId=u", copyHdr, "UploadPartCopy"},
		{"PUT", "b", "k", "uploadId=u", nil, "InvalidArgument"},
		{"PUT", "b", "k", "partNumber=1", nil, "InvalidArgument"},
		{"POST", "b", "k", "uploadId=u", nil, "CompleteMultipartUpload"},
		{"DELETE", "b", "k", "uploadId=u", nil, "AbortMultipartUpload"},
		{"GET", "b", "k", "uploadId=u&max-parts=2&part-number-marker=1", nil, "ListParts"},
		{"GET", "b", "k", "tagging", nil, "GetObjectTagging"},
		{"PUT", "b", "k", "tagging", nil, "PutObjectTagging"},
		{"DELETE", "b", "k", "tagging", nil, "DeleteObjectTagging"},
		{"GET", "b", "k", "acl", nil, "GetObjectAcl"},
		{"PUT", "b", "k", "acl", nil, "NotImplemented"},
		{"GET", "b", "k", "attributes", nil, "NotImplemented"},
		{"GET", "b", "k", "torrent", nil, "NotImplemented"},
		{"PUT", "b", "k", "retention", nil, "NotImplemented"},
		{"PUT", "b", "k", "legal-hold", nil, "NotImplemented"},
		{"POST", "b", "k", "restore", nil, "NotImplemented"},
		{"POST", "b", "k", "select&select-type=2", nil, "NotImplemented"},
		{"POST", "b", "k", "", nil, "MethodNotAllowed"},
		{"DELETE", "b", "k", "uploadId=u&tagging", nil, "NotImplemented"},
		{"GET", "b", "k", "something-new", nil, "NotImplemented"},
		{"OPTIONS", "b", "k", "", nil, "MethodNotAllowed"},
	}
	for _, tt := range tests {
		q, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		hdr := tt.hdr
		if hdr == nil {
			hdr = http.Header{}
		}
		o, err := route(tt.method, tt.bucket, tt.key, q, hdr)
		got := o.name
		if err != nil {
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("route error %v is not an *Error", err)
			}
			got = ae.Code
		} else if o.run == nil || (o.action == "" && o.name != "DeleteObjects") {
			t.Errorf("%s %s/%s?%s: op %s has no handler or action", tt.method, tt.bucket, tt.key, tt.query, o.name)
		}
		if got != tt.want {
			t.Errorf("%s /%s/%s?%s = %s, want %s", tt.method, tt.bucket, tt.key, tt.query, got, tt.want)
		}
	}
}

// TestRouteVirtualHost checks that resolve and route together pick the same
// operation for both addressing styles.
func TestRouteVirtualHost(t *testing.T) {
	bases := []string{"s3.local"}
	tests := []struct{ method, host, target, want string }{
		{"GET", "b.s3.local", "/?list-type=2", "ListObjectsV2"},
		{"GET", "s3.local", "/b?list-type=2", "ListObjectsV2"},
		{"GET", "b.s3.local:8443", "/dir/k?tagging", "GetObjectTagging"},
		{"PUT", "b.s3.local", "/", "CreateBucket"},
		{"GET", "s3.local", "/", "ListBuckets"},
		{"POST", "b.s3.local", "/?delete", "DeleteObjects"},
	}
	for _, tt := range tests {
		u, _ := url.Parse(tt.target)
		b, k := resolve(tt.host, u.Path, bases)
		o, err := route(tt.method, b, k, u.Query(), http.Header{})
		if err != nil || o.name != tt.want {
			t.Errorf("%s %s%s = %s, %v; want %s", tt.method, tt.host, tt.target, o.name, err, tt.want)
		}
	}
}

func TestCheckHeaders(t *testing.T) {
	h := http.Header{}
	for i := range maxHeaderCount + 1 {
		h.Add("X-Amz-Meta-K", string(rune('a'+i%26)))
	}
	if err := checkHeaders(h); err == nil {
		t.Error("too many headers accepted")
	}
	if err := checkHeaders(http.Header{"A": {string(make([]byte, maxHeaderBytes))}}); err == nil {
		t.Error("oversized headers accepted")
	}
	if err := checkHeaders(http.Header{"Content-Type": {"text/plain"}}); err != nil {
		t.Errorf("normal headers refused: %v", err)
	}
}
