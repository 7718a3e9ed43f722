// Package s3api is Coffer's S3 data plane: it translates S3 HTTP requests
// into calls on the object service (package vault) and the results back into
// S3 responses, so every S3 tool works against Coffer unchanged.
//
// A request goes through one short chain in ServeHTTP: resolve the bucket and
// key (path style, or virtual-host style under a configured base domain),
// select the operation from the method, the path and the query subresources
// (route), authenticate it with SigV4 (package sigv4), authorize it
// (Config.Authorize) and run the operation's handler. Handlers live one area
// per file (bucket.go, object.go, copy.go, list.go, multipart.go,
// tagging.go) and return errors; errors.go turns every error into the S3
// XML error it stands for, in one table.
//
// Everything Coffer stores is encrypted, so object responses always carry
// x-amz-server-side-encryption: AES256.
package s3api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coffer-vault/coffer/internal/s3api/sigv4"
	"github.com/coffer-vault/coffer/internal/vault"
)

// ObjectService is what the data plane needs from the object service;
// *vault.Service implements it.
type ObjectService interface {
	CreateBucket(ctx context.Context, name string) error
	HeadBucket(ctx context.Context, name string) (vault.BucketInfo, error)
	ListBuckets(ctx context.Context) ([]vault.BucketInfo, error)
	DeleteBucket(ctx context.Context, name string) error

	PutObject(ctx context.Context, bucket, key string, body io.Reader, size int64, opts vault.PutOptions) (vault.ObjectInfo, error)
	OpenObject(ctx context.Context, bucket, key string) (*vault.Reader, error)
	DeleteObject(ctx context.Context, bucket, key string) error
	CopyObject(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string, opts vault.CopyOptions) (vault.ObjectInfo, error)
	ListObjects(ctx context.Context, bucket string, p vault.ListParams) (vault.ListResult, error)

	GetTags(ctx context.Context, bucket, key string) (map[string]string, error)
	PutTags(ctx context.Context, bucket, key string, tags map[string]string) error
	DeleteTags(ctx context.Context, bucket, key string) error

	CreateMultipartUpload(ctx context.Context, bucket, key string, opts vault.PutOptions) (string, error)
	UploadPart(ctx context.Context, bucket, key, uploadID string, part int, body io.Reader, size int64) (vault.PartInfo, error)
	CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, parts []vault.CompletePart) (vault.ObjectInfo, error)
	AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error
	ListParts(ctx context.Context, bucket, key, uploadID string, marker, maxParts int) (vault.PartsResult, error)
	ListMultipartUploads(ctx context.Context, bucket string, p vault.UploadsParams) (vault.UploadsResult, error)
}

// Config wires the S3 handler.
type Config struct {
	// Objects is the object service.
	Objects ObjectService
	// Verifier authenticates every request. A nil Verifier denies everything.
	Verifier *sigv4.Verifier
	// Region is the one region Coffer answers for; "us-east-1" when empty.
	// It is also the Verifier's region when that is empty.
	Region string
	// BaseDomains enable virtual-host style requests: a Host of
	// "<bucket>.<base>" (port ignored) addresses bucket. Path style always works.
	BaseDomains []string
	// Logger receives request logs and every server-side failure; nil discards.
	Logger *slog.Logger
	// Authorize is called after authentication for every operation with an
	// action name such as "s3:GetObject" and the bucket/key; nil allows every
	// authenticated request. A returned *Error is sent as it is; any other
	// error becomes AccessDenied.
	Authorize func(ctx context.Context, accessKeyID, action, bucket, key string) error
	// MaxSkew overrides the Verifier's allowed clock skew when non-zero.
	MaxSkew time.Duration
	// Audit records every request in the audit ledger before its effect is
	// acknowledged (see audit.go); nil records nothing.
	Audit Auditor
}

// Header limits: S3 allows 8 KiB of request headers besides user metadata;
// we allow more room for SDKs but still bound what a request can make us hold.
const (
	maxHeaderCount = 200
	maxHeaderBytes = 64 << 10
)

// copyBufSize is the size of the pooled buffers objects stream through: two
// sealed packages.
const copyBufSize = 128 << 10

// handler is the http.Handler New returns.
type handler struct {
	objects     ObjectService
	verifier    *sigv4.Verifier
	region      string
	baseDomains []string
	log         *slog.Logger
	authz       func(ctx context.Context, accessKeyID, action, bucket, key string) error
	audit       Auditor
	bufs        sync.Pool // *[]byte of copyBufSize
}

// New returns the S3 data plane handler.
func New(cfg Config) http.Handler {
	h := &handler{
		objects: cfg.Objects,
		region:  cfg.Region,
		log:     cfg.Logger,
		authz:   cfg.Authorize,
		audit:   cfg.Audit,
	}
	if h.region == "" {
		h.region = "us-east-1"
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	for _, d := range cfg.BaseDomains {
		if d = strings.ToLower(stripPort(strings.TrimSpace(d))); d != "" {
			h.baseDomains = append(h.baseDomains, d)
		}
	}
	if cfg.Verifier != nil {
		v := *cfg.Verifier // a copy: the caller's Verifier is not ours to change
		if cfg.MaxSkew != 0 {
			v.MaxSkew = cfg.MaxSkew
		}
		if v.Region == "" {
			v.Region = h.region
		}
		h.verifier = &v
	}
	h.bufs.New = func() any { b := make([]byte, copyBufSize); return &b }
	return h
}

// request is one S3 request on its way through the handler.
type request struct {
	r      *http.Request
	id     string // x-amz-request-id
	op     op
	bucket string
	key    string
	query  url.Values
	// Filled by authentication.
	accessKey string
	body      io.Reader // verified payload
	size      int64     // decoded payload length, -1 when unknown
	// Audit state: recorded is set once an event for the request's own
	// action is durable; intent when that event is the permission of a
	// request that then ran (so a failure adds an error event).
	recorded, intent bool
}

func (rq *request) ctx() context.Context { return rq.r.Context() }

// contentLength returns the payload length: the decoded length sigv4
// reports, else the HTTP Content-Length (not for aws-chunked bodies, whose
// framing it counts), else MissingContentLength.
func (rq *request) contentLength() (int64, error) {
	if rq.size >= 0 {
		return rq.size, nil
	}
	chunked := strings.HasPrefix(rq.r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-") ||
		strings.Contains(strings.ToLower(rq.r.Header.Get("Content-Encoding")), "aws-chunked")
	if rq.r.ContentLength >= 0 && !chunked {
		return rq.r.ContentLength, nil
	}
	return 0, apiErr("MissingContentLength", "You must provide the Content-Length HTTP header.")
}

// ServeHTTP runs the chain: route, authenticate, authorize, operate.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &ResponseGate{ResponseWriter: w}
	rq := &request{r: r, id: randomHex(16), query: r.URL.Query(), size: -1}
	hdr := sw.Header()
	hdr.Set("X-Amz-Request-Id", rq.id)
	hdr.Set("X-Amz-Id-2", randomBase64(24))
	hdr.Set("Server", "Coffer")
	if h.audit != nil {
		sw.Before = func(status int) bool {
			err := h.recordResponse(rq, status, hdr)
			if err == nil {
				return true
			}
			// Replace the response, whose headers are not out yet, by 503.
			id2 := hdr.Get("X-Amz-Id-2")
			clear(hdr)
			hdr.Set("X-Amz-Request-Id", rq.id)
			hdr.Set("X-Amz-Id-2", id2)
			hdr.Set("Server", "Coffer")
			h.fail(sw, rq, err)
			return false
		}
	}

	start := time.Now()
	defer func() {
		h.log.LogAttrs(r.Context(), slog.LevelDebug, "s3 request",
			slog.String("request_id", rq.id), slog.String("op", rq.op.name),
			slog.String("bucket", rq.bucket), slog.String("key", rq.key),
			slog.String("access_key", rq.accessKey), slog.Int("status", sw.Status()),
			slog.Duration("took", time.Since(start)))
	}()

	if err := checkHeaders(r.Header); err != nil {
		h.fail(sw, rq, err)
		return
	}
	rq.bucket, rq.key = resolve(r.Host, r.URL.Path, h.baseDomains)
	o, routeErr := route(r.Method, rq.bucket, rq.key, rq.query, r.Header)
	rq.op = o

	if h.verifier == nil {
		h.fail(sw, rq, apiErr("AccessDenied", "Access Denied."))
		return
	}
	res, err := h.verifier.Verify(r)
	if err != nil {
		h.fail(sw, rq, err)
		return
	}
	rq.accessKey = res.AccessKeyID
	rq.body, rq.size = res.Body, res.ContentLength
	if res.Body != nil {
		defer res.Body.Close()
	} else {
		rq.body = http.NoBody
	}
	if routeErr != nil {
		h.fail(sw, rq, routeErr)
		return
	}
	// Deny by default: an operation that names no action is never run.
	if o.action == "" {
		h.fail(sw, rq, apiErr("AccessDenied", "Access Denied."))
		return
	}
	if o.action != perResource {
		if err := h.authorize(rq, o.action, rq.bucket, rq.key); err != nil {
			h.fail(sw, rq, err)
			return
		}
	}
	if err := o.run(h, sw, rq); err != nil {
		h.fail(sw, rq, err)
		return
	}
	if !sw.Started() {
		// net/http would send 200 past the gate: start it here, so that
		// even an operation that writes nothing is recorded.
		sw.WriteHeader(http.StatusOK)
	}
}

// authorize asks Config.Authorize whether the request's principal may do
// action on bucket/key.
func (h *handler) authorize(rq *request, action, bucket, key string) error {
	if h.authz == nil {
		return h.recordDecision(rq, action, bucket, key, nil)
	}
	err := h.authz(context.WithValue(rq.ctx(), clientIPKey{}, RemoteIP(rq.r)), rq.accessKey, action, bucket, key)
	if err == nil {
		return h.recordDecision(rq, action, bucket, key, nil)
	}
	var ae *Error
	if errors.As(err, &ae) {
		if rerr := h.recordDecision(rq, action, bucket, key, ae); rerr != nil {
			return rerr
		}
		return ae
	}
	h.log.LogAttrs(rq.ctx(), slog.LevelInfo, "s3 access denied",
		slog.String("request_id", rq.id), slog.String("access_key", rq.accessKey),
		slog.String("action", action), slog.String("bucket", bucket), slog.String("key", key),
		slog.String("reason", err.Error()))
	e := apiErr("AccessDenied", "Access Denied.")
	e.err = err
	if rerr := h.recordDecision(rq, action, bucket, key, e); rerr != nil {
		return rerr
	}
	return e
}

// fail sends err as an S3 error (status only for HEAD) and logs what the
// operator needs to see.
func (h *handler) fail(w *ResponseGate, rq *request, err error) {
	if w.Replaced() {
		return // the audit hook already answered (503)
	}
	if !w.Started() {
		err = h.recordFailure(rq, err)
	}
	ae := toAPIError(err)
	attrs := []slog.Attr{
		slog.String("request_id", rq.id), slog.String("op", rq.op.name),
		slog.String("bucket", rq.bucket), slog.String("key", rq.key),
		slog.String("code", ae.Code),
	}
	switch {
	case errors.Is(err, vault.ErrIntegrity):
		h.log.LogAttrs(rq.ctx(), slog.LevelError, "s3 integrity failure", append(attrs, slog.Any("err", err))...)
	case ae.Status >= 500 && !isClientGone(err):
		h.log.LogAttrs(rq.ctx(), slog.LevelError, "s3 server error", append(attrs, slog.Any("err", err))...)
	default:
		h.log.LogAttrs(rq.ctx(), slog.LevelDebug, "s3 client error", append(attrs, slog.Any("err", err))...)
	}
	if w.Started() {
		// Headers are out; the client cannot be told. Never let a partial
		// response pass for a complete one.
		panic(http.ErrAbortHandler)
	}
	if rq.r.Method == http.MethodHead {
		w.WriteHeader(ae.Status)
		return
	}
	_ = writeXML(w, ae.Status, errorResponse{
		Code: ae.Code, Message: ae.Message, Resource: rq.r.URL.Path, RequestID: rq.id,
	})
}

// checkHeaders bounds how many header fields and bytes a request may carry.
func checkHeaders(h http.Header) error {
	n, size := 0, 0
	for k, vs := range h {
		for _, v := range vs {
			n++
			size += len(k) + len(v)
		}
	}
	if n > maxHeaderCount || size > maxHeaderBytes {
		return apiErr("RequestHeaderSectionTooLarge", "Your request header section exceeds the maximum allowed size.")
	}
	return nil
}

// resolve finds the bucket and key a request addresses: virtual-host style
// when host is "<bucket>.<base>" for a base domain, else path style
// ("/bucket/key").
func resolve(host, path string, baseDomains []string) (bucket, key string) {
	host = strings.ToLower(stripPort(host))
	for _, base := range baseDomains {
		if b, ok := strings.CutSuffix(host, "."+base); ok && b != "" {
			return b, strings.TrimPrefix(path, "/")
		}
	}
	bucket, key, _ = strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return bucket, key
}

// stripPort removes a ":port" from a host (and the brackets of an IPv6 literal).
func stripPort(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

func randomBase64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// op is one S3 operation: its name (as in the S3 API reference), the action
// it is authorized as, and its handler.
type op struct {
	name   string
	action string
	run    func(h *handler, w http.ResponseWriter, rq *request) error
}

// perResource is the action of an operation whose handler authorizes every
// resource it touches itself (DeleteObjects, key by key, as S3 does, so a
// user allowed to delete only under a prefix can still use it). An
// operation with no action at all is refused.
const perResource = "(authorized per resource)"

// The operations. Handlers that touch a second resource (the source of a
// copy) authorize it themselves.
var (
	opListBuckets          = op{"ListBuckets", "s3:ListAllMyBuckets", (*handler).listBuckets}
	opCreateBucket         = op{"CreateBucket", "s3:CreateBucket", (*handler).createBucket}
	opHeadBucket           = op{"HeadBucket", "s3:ListBucket", (*handler).headBucket}
	opDeleteBucket         = op{"DeleteBucket", "s3:DeleteBucket", (*handler).deleteBucket}
	opGetBucketLocation    = op{"GetBucketLocation", "s3:GetBucketLocation", (*handler).getBucketLocation}
	opGetBucketVersioning  = op{"GetBucketVersioning", "s3:GetBucketVersioning", (*handler).getBucketVersioning}
	opGetBucketAcl         = op{"GetBucketAcl", "s3:GetBucketAcl", (*handler).getBucketACL}
	opListObjects          = op{"ListObjects", "s3:ListBucket", (*handler).listObjectsV1}
	opListObjectsV2        = op{"ListObjectsV2", "s3:ListBucket", (*handler).listObjectsV2}
	opListMultipartUploads = op{"ListMultipartUploads", "s3:ListBucketMultipartUploads", (*handler).listMultipartUploads}
	opDeleteObjects        = op{"DeleteObjects", perResource, (*handler).deleteObjects} // s3:DeleteObject per key

	opPutObject               = op{"PutObject", "s3:PutObject", (*handler).putObject}
	opCopyObject              = op{"CopyObject", "s3:PutObject", (*handler).copyObject}
	opGetObject               = op{"GetObject", "s3:GetObject", (*handler).getObject}
	opHeadObject              = op{"HeadObject", "s3:GetObject", (*handler).getObject}
	opDeleteObject            = op{"DeleteObject", "s3:DeleteObject", (*handler).deleteObject}
	opGetObjectAcl            = op{"GetObjectAcl", "s3:GetObjectAcl", (*handler).getObjectACL}
	opGetObjectTagging        = op{"GetObjectTagging", "s3:GetObjectTagging", (*handler).getObjectTagging}
	opPutObjectTagging        = op{"PutObjectTagging", "s3:PutObjectTagging", (*handler).putObjectTagging}
	opDeleteObjectTagging     = op{"DeleteObjectTagging", "s3:DeleteObjectTagging", (*handler).deleteObjectTagging}
	opCreateMultipartUpload   = op{"CreateMultipartUpload", "s3:PutObject", (*handler).createMultipartUpload}
	opUploadPart              = op{"UploadPart", "s3:PutObject", (*handler).uploadPart}
	opUploadPartCopy          = op{"UploadPartCopy", "s3:PutObject", (*handler).uploadPartCopy}
	opCompleteMultipartUpload = op{"CompleteMultipartUpload", "s3:PutObject", (*handler).completeMultipartUpload}
	opAbortMultipartUpload    = op{"AbortMultipartUpload", "s3:AbortMultipartUpload", (*handler).abortMultipartUpload}
	opListParts               = op{"ListParts", "s3:ListMultipartUploadParts", (*handler).listParts}
)

// plainParams are query parameters that select nothing: listing and paging
// parameters, response header overrides, the SDKs' x-id, partNumber and
// versionId. Every other parameter is a subresource, and a subresource route
// does not know is NotImplemented, never a plain object operation.
var plainParams = map[string]bool{
	"list-type": true, "prefix": true, "delimiter": true, "marker": true,
	"max-keys": true, "start-after": true, "continuation-token": true,
	"fetch-owner": true, "encoding-type": true, "key-marker": true,
	"upload-id-marker": true, "max-uploads": true, "part-number-marker": true,
	"max-parts": true, "max-buckets": true, "bucket-region": true,
	"partNumber": true, "versionId": true, "x-id": true,
	"response-content-type": true, "response-content-language": true,
	"response-expires": true, "response-cache-control": true,
	"response-content-disposition": true, "response-content-encoding": true,
}

// subresource returns the one subresource named in q ("" for none). Presigned
// URL parameters (X-Amz-*) are not subresources.
func subresource(q url.Values) (string, error) {
	sub := ""
	for k := range q {
		if plainParams[k] || len(k) > 6 && strings.EqualFold(k[:6], "x-amz-") {
			continue
		}
		if sub != "" {
			if k < sub {
				k, sub = sub, k
			}
			return "", apiErr("NotImplemented", "A request with both %q and %q is not implemented.", sub, k)
		}
		sub = k
	}
	return sub, nil
}

// route selects the operation for method on bucket/key with query q and
// headers hdr. The returned op carries a name even on error, for logs.
func route(method, bucket, key string, q url.Values, hdr http.Header) (op, error) {
	sub, err := subresource(q)
	if err != nil {
		return op{name: "Unknown"}, err
	}
	notImpl := func() (op, error) {
		return op{name: "Unknown"}, apiErr("NotImplemented", "%s with the %q subresource is not implemented.", method, sub)
	}
	notAllowed := func() (op, error) {
		return op{name: "Unknown"}, apiErr("MethodNotAllowed", "The specified method is not allowed against this resource.")
	}
	switch {
	case bucket == "":
		if sub != "" {
			return notImpl()
		}
		if method == http.MethodGet {
			return opListBuckets, nil
		}
		return notAllowed()

	case key == "":
		switch method {
		case http.MethodGet:
			switch sub {
			case "":
				if q.Get("list-type") == "2" {
					return opListObjectsV2, nil
				}
				return opListObjects, nil
			case "location":
				return opGetBucketLocation, nil
			case "versioning":
				return opGetBucketVersioning, nil
			case "acl":
				return opGetBucketAcl, nil
			case "uploads":
				return opListMultipartUploads, nil
			}
			if p, ok := bucketProbes[sub]; ok {
				return op{p.name, p.action, (*handler).bucketProbe}, nil
			}
			return notImpl()
		case http.MethodHead:
			if sub == "" {
				return opHeadBucket, nil
			}
			return notImpl()
		case http.MethodPut:
			if sub == "" {
				return opCreateBucket, nil
			}
			return notImpl()
		case http.MethodDelete:
			if sub == "" {
				return opDeleteBucket, nil
			}
			return notImpl()
		case http.MethodPost:
			if sub == "delete" {
				return opDeleteObjects, nil
			}
			return notImpl()
		}
		return notAllowed()
	}

	copySource := hdr.Get("X-Amz-Copy-Source") != ""
	switch method {
	case http.MethodGet:
		switch sub {
		case "":
			return opGetObject, nil
		case "uploadId":
			return opListParts, nil
		case "tagging":
			return opGetObjectTagging, nil
		case "acl":
			return opGetObjectAcl, nil
		}
		return notImpl()
	case http.MethodHead:
		if sub == "" {
			return opHeadObject, nil
		}
		return notImpl()
	case http.MethodPut:
		switch sub {
		case "":
			if q.Has("partNumber") {
				return op{name: "UploadPart"}, apiErr("InvalidArgument", "partNumber requires uploadId.")
			}
			if copySource {
				return opCopyObject, nil
			}
			return opPutObject, nil
		case "uploadId":
			if !q.Has("partNumber") {
				return op{name: "UploadPart"}, apiErr("InvalidArgument", "uploadId requires partNumber.")
			}
			if copySource {
				return opUploadPartCopy, nil
			}
			return opUploadPart, nil
		case "tagging":
			return opPutObjectTagging, nil
		}
		return notImpl()
	case http.MethodPost:
		switch sub {
		case "uploads":
			return opCreateMultipartUpload, nil
		case "uploadId":
			return opCompleteMultipartUpload, nil
		case "":
			return notAllowed()
		}
		return notImpl()
	case http.MethodDelete:
		switch sub {
		case "":
			return opDeleteObject, nil
		case "uploadId":
			return opAbortMultipartUpload, nil
		case "tagging":
			return opDeleteObjectTagging, nil
		}
		return notImpl()
	}
	return notAllowed()
}

type clientIPKey struct{}

// ClientIP returns the source address of the request an Authorize call is
// about ("" outside one), for conditions on request.ip.
func ClientIP(ctx context.Context) string {
	ip, _ := ctx.Value(clientIPKey{}).(string)
	return ip
}

// RemoteIP is the address a request came from (the connection's peer, no
// port): the source IP of audit events and of request.ip in policies.
func RemoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
