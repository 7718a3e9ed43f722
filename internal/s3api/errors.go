package s3api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"syscall"

	"github.com/coffer-vault/coffer/internal/s3api/sigv4"
	"github.com/coffer-vault/coffer/internal/vault"
)

// Error is an S3 error response: a code from the S3 error table, a message
// that is safe to show the client and the HTTP status.
type Error struct {
	Code    string
	Message string
	Status  int
	// err is the cause, kept for errors.Is/As; never sent to the client.
	err error
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.err }

// errorStatus is the HTTP status of each S3 error code Coffer sends.
var errorStatus = map[string]int{
	"AccessDenied":                          http.StatusForbidden,
	"BadDigest":                             http.StatusBadRequest,
	"BucketAlreadyOwnedByYou":               http.StatusConflict,
	"BucketNotEmpty":                        http.StatusConflict,
	"ContentRejected":                       http.StatusForbidden,
	"EntityTooLarge":                        http.StatusBadRequest,
	"EntityTooSmall":                        http.StatusBadRequest,
	"IncompleteBody":                        http.StatusBadRequest,
	"InternalError":                         http.StatusInternalServerError,
	"InvalidAccessKeyId":                    http.StatusForbidden,
	"InvalidArgument":                       http.StatusBadRequest,
	"InvalidBucketName":                     http.StatusBadRequest,
	"InvalidDigest":                         http.StatusBadRequest,
	"InvalidLocationConstraint":             http.StatusBadRequest,
	"InvalidPart":                           http.StatusBadRequest,
	"InvalidPartNumber":                     http.StatusRequestedRangeNotSatisfiable,
	"InvalidPartOrder":                      http.StatusBadRequest,
	"InvalidRange":                          http.StatusRequestedRangeNotSatisfiable,
	"InvalidRequest":                        http.StatusBadRequest,
	"InvalidTag":                            http.StatusBadRequest,
	"KeyTooLongError":                       http.StatusBadRequest,
	"MalformedXML":                          http.StatusBadRequest,
	"MetadataTooLarge":                      http.StatusBadRequest,
	"MethodNotAllowed":                      http.StatusMethodNotAllowed,
	"MissingContentLength":                  http.StatusLengthRequired,
	"NoSuchBucket":                          http.StatusNotFound,
	"NoSuchBucketPolicy":                    http.StatusNotFound,
	"NoSuchCORSConfiguration":               http.StatusNotFound,
	"NoSuchKey":                             http.StatusNotFound,
	"NoSuchLifecycleConfiguration":          http.StatusNotFound,
	"NoSuchPublicAccessBlockConfiguration":  http.StatusNotFound,
	"NoSuchTagSet":                          http.StatusNotFound,
	"NoSuchUpload":                          http.StatusNotFound,
	"NoSuchVersion":                         http.StatusNotFound,
	"NoSuchWebsiteConfiguration":            http.StatusNotFound,
	"NotImplemented":                        http.StatusNotImplemented,
	"ObjectLockConfigurationNotFoundError":  http.StatusNotFound,
	"OwnershipControlsNotFoundError":        http.StatusNotFound,
	"PreconditionFailed":                    http.StatusPreconditionFailed,
	"ReplicationConfigurationNotFoundError": http.StatusNotFound,
	"RequestHeaderSectionTooLarge":          http.StatusBadRequest,
	"RequestTimeTooSkewed":                  http.StatusForbidden,
	"ServiceUnavailable":                    http.StatusServiceUnavailable,
	"SignatureDoesNotMatch":                 http.StatusForbidden,
	"XAmzContentSHA256Mismatch":             http.StatusBadRequest,
}

// apiErr returns an *Error for code with a formatted message. An unknown
// code gets status 500 so a typo cannot turn into a success.
func apiErr(code, format string, args ...any) *Error {
	status, ok := errorStatus[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: status}
}

// Standard messages, as S3 words them where it has one.
const (
	msgInternal  = "We encountered an internal error. Please try again."
	msgIntegrity = "stored data failed its integrity check"
)

// errorTable maps sentinel errors (matched with errors.Is, first match wins)
// to the S3 error they become.
var errorTable = []struct {
	target  error
	code    string
	message string
}{
	{vault.ErrIntegrity, "InternalError", msgIntegrity},
	{vault.ErrInvalidBucketName, "InvalidBucketName", "The specified bucket is not valid."},
	{vault.ErrNoSuchBucket, "NoSuchBucket", "The specified bucket does not exist."},
	{vault.ErrBucketExists, "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it."},
	{vault.ErrBucketNotEmpty, "BucketNotEmpty", "The bucket you tried to delete is not empty."},
	{vault.ErrNoSuchKey, "NoSuchKey", "The specified key does not exist."},
	{vault.ErrKeyTooLong, "KeyTooLongError", "Your key is too long."},
	{vault.ErrInvalidKey, "InvalidArgument", "The specified key is not valid."},
	{vault.ErrNoSuchUpload, "NoSuchUpload", "The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed."},
	{vault.ErrInvalidPart, "InvalidPart", "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag."},
	{vault.ErrInvalidPartOrder, "InvalidPartOrder", "The list of parts was not in ascending order. The parts list must be specified in order by part number."},
	{vault.ErrEntityTooSmall, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size."},
	{vault.ErrEntityTooLarge, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size."},
	{vault.ErrIncompleteBody, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header."},
	{vault.ErrInvalidTag, "InvalidTag", "The tag provided was not a valid tag."},
	{vault.ErrInvalidArgument, "InvalidArgument", "Invalid argument."},
	{vault.ErrStorageFull, "ServiceUnavailable", "The storage is full. Please try again later."},
	{vault.ErrStorageReadOnly, "ServiceUnavailable", "The storage is read-only. Please try again later."},
	{vault.ErrPreconditionFailed, "PreconditionFailed", "At least one of the preconditions you specified did not hold."},
	{vault.ErrInvalidCopy, "InvalidRequest", "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."},
	{sigv4.ErrContentSHA256Mismatch, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed."},
	{sigv4.ErrChunkSignature, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided."},
	{sigv4.ErrChecksumMismatch, "BadDigest", "The checksum you specified did not match what we received."},
	{sigv4.ErrMalformedChunk, "IncompleteBody", "The request body is not a valid aws-chunked stream."},
	{sigv4.ErrIncompleteBody, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header."},
	{sigv4.ErrUnknownAccessKey, "InvalidAccessKeyId", "The AWS access key Id you provided does not exist in our records."},
	// Disk trouble that reaches us without the vault's classification.
	{syscall.ENOSPC, "ServiceUnavailable", "The storage is full. Please try again later."},
	{syscall.EROFS, "ServiceUnavailable", "The storage is read-only. Please try again later."},
}

// toAPIError turns any error into the S3 error to send. An *Error anywhere in
// the chain wins, then a *sigv4.Error, then the sentinel table; anything else
// is an InternalError whose cause is never shown to the client.
func toAPIError(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	var rej *vault.RejectedError
	if errors.As(err, &rej) {
		// The message names the finding type and its place, never the value.
		e := apiErr("ContentRejected", "%s", rej.Error())
		e.err = err
		return e
	}
	var se *sigv4.Error
	if errors.As(err, &se) {
		status := se.Status
		if status == 0 {
			status = http.StatusForbidden
		}
		return &Error{Code: se.Code, Message: se.Message, Status: status, err: err}
	}
	for _, m := range errorTable {
		if errors.Is(err, m.target) {
			e := apiErr(m.code, "%s", m.message)
			e.err = err
			return e
		}
	}
	return &Error{Code: "InternalError", Message: msgInternal, Status: http.StatusInternalServerError, err: err}
}

// isClientGone reports whether err only says the client went away.
func isClientGone(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}
