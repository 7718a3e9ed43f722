package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"

	"github.com/minio/minio-go/v7"
)

// describe turns an error into the one-line message the user sees after
// "coffer: ". S3 error codes and network failures get plain words; other
// errors are printed as they are.
func describe(err error) string {
	if err == nil {
		return ""
	}
	var (
		te         *transportError
		adminErr   *adminError
		unknownCA  x509.UnknownAuthorityError
		certErr    *tls.CertificateVerificationError
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
		dnsErr     *net.DNSError
		recErr     tls.RecordHeaderError
	)
	host := ""
	if errors.As(err, &te) {
		host = te.host
	} else {
		var ue *url.Error
		if errors.As(err, &ue) {
			if u, perr := url.Parse(ue.URL); perr == nil {
				host = u.Host
			}
		}
	}
	switch {
	case errors.Is(err, errInterrupted):
		return "interrupted"
	case errors.As(err, &adminErr):
		return withContext(err, adminErr, adminErr.friendly())
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("cannot connect to %s: connection refused (is `coffer serve` running there?)", orServer(host))
	case errors.As(err, &unknownCA):
		return "the server's certificate is not trusted: pass --ca or use `coffer alias import`"
	case errors.As(err, &hostErr):
		return fmt.Sprintf("the server's certificate is not valid for %s: %v", orServer(host), hostErr)
	case errors.As(err, &invalidErr):
		return fmt.Sprintf("the server's certificate is not valid: %v", invalidErr)
	case errors.As(err, &certErr):
		return fmt.Sprintf("the server's certificate is not trusted: %v", certErr.Err)
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return fmt.Sprintf("cannot resolve host %q", dnsErr.Name)
	case errors.As(err, &recErr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Sprintf("%s does not speak TLS: use an http:// URL for this alias if the server runs with --insecure-http", orServer(host))
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("timed out talking to %s", orServer(host))
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Sprintf("timed out talking to %s", orServer(host))
	}
	if resp, ok := s3Error(err); ok {
		var op *s3Op
		if errors.As(err, &op) {
			// Not every server names the bucket and key in its error XML.
			if resp.BucketName == "" {
				resp.BucketName = op.bucket
			}
			if resp.Key == "" {
				resp.Key = op.key
			}
		}
		return withContext(err, resp, describeS3(resp, err))
	}
	return err.Error()
}

// withContext replaces inner's text at the end of err's with msg, keeping
// the context a command added in front ("upload a.txt: ...").
func withContext(err, inner error, msg string) string {
	if prefix, found := strings.CutSuffix(err.Error(), ": "+inner.Error()); found && prefix != "" {
		return prefix + ": " + msg
	}
	return msg
}

func orServer(host string) string {
	if host == "" {
		return "the server"
	}
	return host
}

// describeS3 maps S3 error codes to messages.
func describeS3(r minio.ErrorResponse, err error) string {
	obj := r.BucketName
	if r.Key != "" {
		obj = r.BucketName + "/" + r.Key
	}
	switch r.Code {
	case "NoSuchBucket":
		if r.BucketName != "" {
			return fmt.Sprintf("bucket %q does not exist", r.BucketName)
		}
		return "no such bucket"
	case "NoSuchKey", "NoSuchObject":
		if r.Key != "" {
			return fmt.Sprintf("object %q does not exist in bucket %q", r.Key, r.BucketName)
		}
		return "no such object"
	case "NoSuchUpload":
		return "the multipart upload no longer exists on the server (it was aborted or completed); run the command again to start a new one"
	case "AccessDenied":
		if obj != "" {
			return fmt.Sprintf("access denied to %s: this alias's access key is not allowed to do that", obj)
		}
		return "access denied: this alias's access key is not allowed to do that"
	case "InvalidAccessKeyId":
		return "the server does not know this alias's access key (check it with `coffer alias ls`)"
	case "SignatureDoesNotMatch":
		return "the server rejected the request signature: this alias's secret key is probably wrong"
	case "RequestTimeTooSkewed":
		return "this computer's clock differs too much from the server's; fix the clock and try again"
	case "BucketAlreadyOwnedByYou", "BucketAlreadyExists":
		return fmt.Sprintf("bucket %q already exists", r.BucketName)
	case "BucketNotEmpty":
		return fmt.Sprintf("bucket %q is not empty (remove its objects first, or use `coffer rb --force`)", r.BucketName)
	case "InvalidBucketName":
		return fmt.Sprintf("invalid bucket name %q: use 3-63 lower-case letters, digits, '-' and '.'", r.BucketName)
	case "EntityTooSmall":
		return "a part was smaller than the server's minimum part size (5 MiB); use a larger --part-size"
	case "EntityTooLarge":
		return "the object is larger than the server allows"
	case "BadDigest", "XAmzContentSHA256Mismatch":
		return "the server received different bytes than were sent (checksum mismatch); try again"
	case "PreconditionFailed":
		return fmt.Sprintf("%s changed on the server while it was being read; try again", obj)
	case "InvalidRange":
		return "the requested range is not satisfiable"
	case "KeyTooLongError":
		return "the object key is too long (at most 1024 bytes)"
	case "ServiceUnavailable", "SlowDown":
		return "the server is busy; try again later"
	}
	msg := r.Message
	if msg == "" {
		msg = err.Error()
	}
	return fmt.Sprintf("%s (%s)", strings.TrimSuffix(msg, "."), r.Code)
}

// s3Op is a failed operation on a bucket or object.
type s3Op struct {
	op          string // e.g. "get local/b/k"
	bucket, key string
	err         error
}

func (e *s3Op) Error() string { return e.op + ": " + e.err.Error() }
func (e *s3Op) Unwrap() error { return e.err }

// opErr wraps err from operation op on bucket/key (key may be empty).
func opErr(op, bucket, key string, err error) error {
	return &s3Op{op: op, bucket: bucket, key: key, err: err}
}

// s3Error finds an S3 error response in err's chain.
func s3Error(err error) (minio.ErrorResponse, bool) {
	var r minio.ErrorResponse
	if errors.As(err, &r) && r.Code != "" {
		return r, true
	}
	return r, false
}

// isS3Code reports whether err is an S3 error with the given code.
func isS3Code(err error, code string) bool {
	r, ok := s3Error(err)
	return ok && r.Code == code
}
