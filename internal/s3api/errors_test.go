package s3api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/coffer-vault/coffer/internal/s3api/sigv4"
	"github.com/coffer-vault/coffer/internal/vault"
)

func TestToAPIError(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("put b/k: read body: %w", err) }
	tests := []struct {
		err    error
		code   string
		status int
	}{
		{vault.ErrNoSuchBucket, "NoSuchBucket", 404},
		{wrap(vault.ErrNoSuchKey), "NoSuchKey", 404},
		{vault.ErrNoSuchUpload, "NoSuchUpload", 404},
		{vault.ErrBucketExists, "BucketAlreadyOwnedByYou", 409},
		{vault.ErrBucketNotEmpty, "BucketNotEmpty", 409},
		{vault.ErrInvalidBucketName, "InvalidBucketName", 400},
		{vault.ErrKeyTooLong, "KeyTooLongError", 400},
		{vault.ErrInvalidKey, "InvalidArgument", 400},
		{vault.ErrInvalidArgument, "InvalidArgument", 400},
		{vault.ErrEntityTooLarge, "EntityTooLarge", 400},
		{vault.ErrEntityTooSmall, "EntityTooSmall", 400},
		{vault.ErrIncompleteBody, "IncompleteBody", 400},
		{vault.ErrInvalidPart, "InvalidPart", 400},
		{vault.ErrInvalidPartOrder, "InvalidPartOrder", 400},
		{vault.ErrInvalidTag, "InvalidTag", 400},
		{vault.ErrInvalidCopy, "InvalidRequest", 400},
		{wrap(vault.ErrStorageFull), "ServiceUnavailable", 503},
		{vault.ErrStorageReadOnly, "ServiceUnavailable", 503},
		{wrap(&os.PathError{Op: "write", Path: "/data/blobs/x", Err: syscall.ENOSPC}), "ServiceUnavailable", 503},
		{wrap(syscall.EROFS), "ServiceUnavailable", 503},
		{wrap(vault.ErrIntegrity), "InternalError", 500},
		{wrap(sigv4.ErrContentSHA256Mismatch), "XAmzContentSHA256Mismatch", 400},
		{wrap(sigv4.ErrChunkSignature), "SignatureDoesNotMatch", 403},
		{wrap(sigv4.ErrChecksumMismatch), "BadDigest", 400},
		{wrap(sigv4.ErrMalformedChunk), "IncompleteBody", 400},
		{wrap(sigv4.ErrIncompleteBody), "IncompleteBody", 400},
		{sigv4.ErrUnknownAccessKey, "InvalidAccessKeyId", 403},
		{&sigv4.Error{Code: "RequestTimeTooSkewed", Message: "skew", Status: 403}, "RequestTimeTooSkewed", 403},
		{&sigv4.Error{Code: "SignatureDoesNotMatch", Message: "bad", Status: 403}, "SignatureDoesNotMatch", 403},
		{wrap(apiErr("BadDigest", "md5")), "BadDigest", 400},
		{apiErr("MissingContentLength", "x"), "MissingContentLength", 411},
		{apiErr("PreconditionFailed", "x"), "PreconditionFailed", 412},
		{apiErr("InvalidRange", "x"), "InvalidRange", 416},
		{apiErr("MethodNotAllowed", "x"), "MethodNotAllowed", 405},
		{apiErr("NotImplemented", "x"), "NotImplemented", 501},
		{apiErr("AccessDenied", "x"), "AccessDenied", 403},
		{apiErr("MalformedXML", "x"), "MalformedXML", 400},
		{apiErr("InvalidDigest", "x"), "InvalidDigest", 400},
		{errors.New("open /var/lib/coffer/secret.db: boom"), "InternalError", 500},
		{context.Canceled, "InternalError", 500},
	}
	for _, tt := range tests {
		got := toAPIError(tt.err)
		if got.Code != tt.code || got.Status != tt.status {
			t.Errorf("toAPIError(%v) = %s %d, want %s %d", tt.err, got.Code, got.Status, tt.code, tt.status)
		}
		if strings.Contains(got.Message, "/") && got.Code == "InternalError" {
			t.Errorf("toAPIError(%v) leaks a path: %q", tt.err, got.Message)
		}
	}
	if got := toAPIError(fmt.Errorf("x: %w", vault.ErrIntegrity)); got.Message != msgIntegrity {
		t.Errorf("integrity message = %q", got.Message)
	}
}

// TestErrorStatusTable checks every code a handler can produce has a status.
func TestErrorStatusTable(t *testing.T) {
	for _, m := range errorTable {
		if _, ok := errorStatus[m.code]; !ok {
			t.Errorf("code %s has no status", m.code)
		}
	}
	for _, p := range bucketProbes {
		if _, ok := errorStatus[p.code]; p.doc == nil && !ok {
			t.Errorf("probe %s: code %s has no status", p.name, p.code)
		}
	}
	if e := apiErr("NoSuchCode", "x"); e.Status != http.StatusInternalServerError {
		t.Errorf("unknown code status = %d", e.Status)
	}
}
