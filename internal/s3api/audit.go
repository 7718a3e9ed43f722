package s3api

// Audit: every S3 request becomes an audit.Event, made durable before its
// effect is acknowledged (DESIGN.md, "the path of a request").
//
//   - A request that changes state (any method but GET and HEAD) and every
//     sub-authorization (the copy source, each key of DeleteObjects) is
//     recorded when it is authorized, before the operation runs: the
//     ledger holds the intent even if the server dies mid-way, and if the
//     ledger cannot append, the operation never runs.
//   - A read is recorded when its response starts (status and length known,
//     no body byte sent yet), so the event carries the outcome and
//     bytes_out of one event per read.
//   - A request that fails (authentication, authorization, routing, or the
//     operation) is recorded before its error is sent; an operation that
//     fails after its intent was recorded gets a second, error event.
//
// When recording fails the client gets 503 ServiceUnavailable instead of
// the response it would have had.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-vault/coffer/internal/audit"
)

// Auditor makes audit events durable. Record returns only once ev is in
// the ledger, or an error meaning the request must fail.
type Auditor interface {
	Record(ctx context.Context, ev audit.Event) error
}

// errNotRecorded marks the failure to record an event.
var errNotRecorded = errors.New("audit event not recorded")

// errLedger is the S3 error sent when an event cannot be recorded.
func errLedger(err error) *Error {
	e := apiErr("ServiceUnavailable", "The audit ledger cannot record this request, so it was not carried out. Please try again later.")
	e.err = fmt.Errorf("%w: %w", errNotRecorded, err)
	return e
}

// mutating reports whether a request may change state: its intent is
// recorded before it runs.
func (rq *request) mutating() bool {
	return rq.r.Method != http.MethodGet && rq.r.Method != http.MethodHead
}

// event returns the request's audit event for action on bucket/key.
func (rq *request) event(action, bucket, key string) audit.Event {
	ev := audit.Event{
		Time:      time.Now(),
		Action:    action,
		RequestID: rq.id,
		Actor: audit.Actor{
			AccessKeyID: audit.Clean(rq.accessKey, 1024),
			SourceIP:    RemoteIP(rq.r),
			UserAgent:   audit.Clean(rq.r.UserAgent(), 256),
		},
		Resource: audit.Resource{Bucket: audit.Clean(bucket, 1024), Key: audit.Clean(key, 1024), Version: audit.Clean(rq.query.Get("versionId"), 1024)},
	}
	if ev.Action == "" || ev.Action == perResource {
		ev.Action = "s3:" + rq.op.name
		if rq.op.name == "" {
			ev.Action = "s3:Unknown"
		}
	}
	if rq.mutating() {
		if n, err := rq.contentLength(); err == nil {
			ev.BytesIn = n
		}
	}
	return ev
}

// record makes ev durable through the configured Auditor, bounded in time
// and independent of the client: a client that hangs up after its effect
// does not get to skip the record.
func (h *handler) record(rq *request, ev audit.Event) error {
	if h.audit == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(rq.ctx()), 30*time.Second)
	defer cancel()
	if err := h.audit.Record(ctx, ev); err != nil {
		return errLedger(err)
	}
	return nil
}

// recordDecision records an authorization decision: denials always,
// permissions when they precede an effect (a mutating request or a
// sub-authorization). A read's own permission is recorded when its
// response starts.
func (h *handler) recordDecision(rq *request, action, bucket, key string, denied error) error {
	if h.audit == nil {
		return nil
	}
	main := action == rq.op.action && bucket == rq.bucket && key == rq.key
	ev := rq.event(action, bucket, key)
	switch {
	case denied != nil:
		ev.Outcome = audit.Outcome{Result: audit.ResultDenied, Reason: reason(denied)}
	case main && !rq.mutating():
		return nil
	default:
		ev.Outcome = audit.Outcome{Result: audit.ResultAllowed}
	}
	if !main {
		ev.BytesIn = 0
	}
	if err := h.record(rq, ev); err != nil {
		return err
	}
	if main {
		rq.recorded = true
		rq.intent = denied == nil
	}
	return nil
}

// recordFailure records a failed request before its error is sent. It
// returns the error to send: err, or 503 when recording failed.
func (h *handler) recordFailure(rq *request, err error) error {
	if h.audit == nil || (rq.recorded && !rq.intent) {
		return err
	}
	if errors.Is(err, errNotRecorded) {
		return err // the ledger itself failed; nothing more can be recorded
	}
	ae := toAPIError(err)
	ev := rq.event(rq.op.action, rq.bucket, rq.key)
	ev.Outcome = audit.Outcome{Result: audit.ResultError, Reason: ae.Code}
	if rq.accessKey == "" {
		// Not authenticated: the key the request claims goes into the
		// reason (failed attempts against a key can be told apart), never
		// into the actor, which names only verified keys and their owners.
		if id := claimedAccessKey(rq.r); id != "" {
			ev.Outcome.Reason += " (claimed access key " + audit.Clean(id, 128) + ")"
		}
	}
	if !rq.recorded && deniedCode(ae.Code) {
		ev.Outcome.Result = audit.ResultDenied
	}
	rq.recorded, rq.intent = true, false
	if rerr := h.record(rq, ev); rerr != nil {
		return rerr
	}
	return err
}

// recordResponse records a read when its response starts.
func (h *handler) recordResponse(rq *request, status int, hdr http.Header) error {
	if h.audit == nil || rq.recorded {
		return nil
	}
	rq.recorded = true
	ev := rq.event(rq.op.action, rq.bucket, rq.key)
	ev.Outcome = audit.Outcome{Result: audit.ResultAllowed}
	if status >= 400 {
		ev.Outcome = audit.Outcome{Result: audit.ResultError, Reason: http.StatusText(status)}
	}
	if n, err := strconv.ParseInt(hdr.Get("Content-Length"), 10, 64); err == nil && n > 0 && rq.r.Method == http.MethodGet {
		ev.BytesOut = n
	}
	if v := hdr.Get("X-Amz-Version-Id"); v != "" && ev.Resource.Version == "" {
		ev.Resource.Version = audit.Clean(v, 1024)
	}
	return h.record(rq, ev)
}

// deniedCode reports whether an S3 error code means the request was not
// allowed (authentication or authorization), as opposed to failing.
func deniedCode(code string) bool {
	switch code {
	case "AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId", "ExpiredToken",
		"InvalidToken", "MissingSecurityHeader", "AuthorizationHeaderMalformed",
		"AuthorizationQueryParametersError", "RequestTimeTooSkewed", "ContentRejected":
		return true
	}
	return false
}

func reason(err error) string {
	var ae *Error
	if errors.As(err, &ae) {
		if ae.err != nil {
			return audit.Clean(ae.err.Error(), 512)
		}
		return ae.Code
	}
	return audit.Clean(err.Error(), 512)
}

// claimedAccessKey returns the access key id a request names in its
// Authorization header or X-Amz-Credential query parameter, unverified.
func claimedAccessKey(r *http.Request) string {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if h := r.Header.Get("Authorization"); h != "" {
		if _, after, ok := strings.Cut(h, "Credential="); ok {
			cred = after
		}
	}
	id, _, _ := strings.Cut(cred, "/")
	return strings.TrimSpace(id)
}
