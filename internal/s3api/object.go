package s3api

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/coffer-vault/coffer/internal/vault"
)

// storedHeaders are the standard headers an object keeps from its PUT and
// sends back on GET and HEAD.
var storedHeaders = []string{"Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language", "Expires"}

// responseOverrides maps GET query parameters to the header they override.
var responseOverrides = []struct{ param, header string }{
	{"response-cache-control", "Cache-Control"},
	{"response-content-disposition", "Content-Disposition"},
	{"response-content-encoding", "Content-Encoding"},
	{"response-content-language", "Content-Language"},
	{"response-content-type", "Content-Type"},
	{"response-expires", "Expires"},
}

// defaultContentType is what S3 reports for an object stored without one.
const defaultContentType = "binary/octet-stream"

// putOptions reads what a PutObject, CopyObject (REPLACE) or
// CreateMultipartUpload sets besides the bytes: content type, the standard
// headers, x-amz-meta-* and x-amz-tagging.
func putOptions(hdr http.Header) (vault.PutOptions, error) {
	if err := checkEncryptionHeaders(hdr); err != nil {
		return vault.PutOptions{}, err
	}
	opts := vault.PutOptions{ContentType: hdr.Get("Content-Type")}
	for _, name := range storedHeaders {
		v := hdr.Get(name)
		if name == "Content-Encoding" {
			v = stripAWSChunked(v)
		}
		if v != "" {
			if opts.Headers == nil {
				opts.Headers = make(map[string]string)
			}
			opts.Headers[name] = v
		}
	}
	metaSize := 0
	for k, vs := range hdr {
		name, ok := strings.CutPrefix(strings.ToLower(k), "x-amz-meta-")
		if !ok {
			continue
		}
		if name == "" {
			return vault.PutOptions{}, apiErr("InvalidArgument", "A user metadata name must not be empty.")
		}
		v := strings.Join(vs, ",")
		metaSize += len(name) + len(v)
		if opts.UserMeta == nil {
			opts.UserMeta = make(map[string]string)
		}
		opts.UserMeta[name] = v
	}
	if metaSize > vault.MaxUserMetaSize {
		return vault.PutOptions{}, apiErr("MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size of %d bytes.", vault.MaxUserMetaSize)
	}
	if v, ok := hdr["X-Amz-Tagging"]; ok {
		tags, err := parseTagQuery(v[0])
		if err != nil {
			return vault.PutOptions{}, err
		}
		opts.Tags = tags
	}
	return opts, nil
}

// checkEncryptionHeaders refuses encryption requests Coffer cannot honour:
// everything is encrypted with Coffer's own keys (AES256 is the truthful
// answer); KMS and customer-provided keys are not implemented.
func checkEncryptionHeaders(hdr http.Header) error {
	if v := hdr.Get("X-Amz-Server-Side-Encryption"); v != "" && v != "AES256" {
		return apiErr("NotImplemented", "Server-side encryption %q is not implemented; Coffer always encrypts with AES256.", v)
	}
	if hdr.Get("X-Amz-Server-Side-Encryption-Customer-Algorithm") != "" {
		return apiErr("NotImplemented", "Server-side encryption with customer-provided keys is not implemented.")
	}
	return nil
}

// stripAWSChunked removes the aws-chunked transfer coding from a
// Content-Encoding value; it describes the request framing, not the object.
func stripAWSChunked(v string) string {
	var keep []string
	for _, c := range strings.Split(v, ",") {
		c = strings.TrimSpace(c)
		if c != "" && !strings.EqualFold(c, "aws-chunked") {
			keep = append(keep, c)
		}
	}
	return strings.Join(keep, ",")
}

// putObject answers PutObject (PUT /bucket/key).
func (h *handler) putObject(w http.ResponseWriter, rq *request) error {
	// Conditional writes (S3's If-None-Match: * and If-Match: ETag), checked
	// atomically with the write: a create-only PUT is a lock primitive.
	ifNoneMatch, ifMatch := rq.r.Header.Get("If-None-Match"), rq.r.Header.Get("If-Match")
	if ifNoneMatch != "" && strings.TrimSpace(ifNoneMatch) != "*" {
		return apiErr("NotImplemented", "If-None-Match on a write supports only \"*\".")
	}
	size, err := rq.contentLength()
	if err != nil {
		return err
	}
	if size > vault.MaxPutSize {
		return apiErr("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size of %d bytes.", int64(vault.MaxPutSize))
	}
	opts, err := putOptions(rq.r.Header)
	if err != nil {
		return err
	}
	body, err := newBodyReader(rq, size)
	if err != nil {
		return err
	}
	if body.wantSum != nil {
		// A header checksum is known before the bytes arrive; the body
		// reader fails the write if they do not match it.
		opts.Checksum = body.algo.name + ":" + base64.StdEncoding.EncodeToString(body.wantSum)
	}
	// A trailing checksum is known only after the last byte.
	opts.ChecksumAfter = body.checksum
	opts.IfNoneMatch, opts.IfMatch = ifNoneMatch != "", strings.TrimSpace(ifMatch)
	info, err := h.objects.PutObject(rq.ctx(), rq.bucket, rq.key, body, size, opts)
	if err != nil {
		return err
	}
	hdr := w.Header()
	hdr.Set("ETag", quoteETag(info.ETag))
	hdr.Set("X-Amz-Server-Side-Encryption", "AES256")
	body.setChecksumHeader(hdr)
	hdr.Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

// getObject answers GetObject and HeadObject: conditional requests, one
// byte range or partNumber, response-* overrides; GET streams the bytes.
func (h *handler) getObject(w http.ResponseWriter, rq *request) error {
	head := rq.r.Method == http.MethodHead
	rd, err := h.objects.OpenObject(rq.ctx(), rq.bucket, rq.key)
	if err != nil {
		return err
	}
	defer rd.Close()
	info := rd.Info()
	if err := checkVersion(rq, info); err != nil {
		return err
	}

	hdr := w.Header()
	switch evalConditions(rq.r.Header, "", info.ETag, info.LastModified) {
	case condFailed:
		return apiErr("PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
	case condNotModified:
		hdr.Set("ETag", quoteETag(info.ETag))
		hdr.Set("Last-Modified", info.LastModified.UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusNotModified)
		return nil
	}

	rng, partial, err := requestedRange(rq, info)
	if err != nil {
		var ae *Error
		if errors.As(err, &ae) && ae.Code == "InvalidRange" {
			hdr.Set("Content-Range", fmt.Sprintf("bytes */%d", info.Size))
		}
		return err
	}

	// Open the bytes and read the first buffer before any header goes out,
	// so a failure there is still a proper S3 error.
	var body io.ReadCloser
	var buf, first []byte
	if !head && rng.length > 0 {
		body, err = rd.Range(rq.ctx(), rng.start, rng.length)
		if err != nil {
			return err
		}
		defer body.Close()
		bufp := h.bufs.Get().(*[]byte)
		defer h.bufs.Put(bufp)
		buf = *bufp
		n, err := io.ReadFull(body, buf[:min(int64(len(buf)), rng.length)])
		if err != nil {
			return err
		}
		first = buf[:n]
	}

	setObjectHeaders(hdr, info)
	if c := info.Checksum; c != "" && !partial && (head || strings.EqualFold(rq.r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED")) {
		if name, v := checksumHeader(c); name != "" {
			hdr.Set(name, v)
		}
	}
	for _, o := range responseOverrides {
		if v := rq.query.Get(o.param); v != "" {
			hdr.Set(o.header, v)
		}
	}
	hdr.Set("Content-Length", strconv.FormatInt(rng.length, 10))
	status := http.StatusOK
	if partial {
		hdr.Set("Content-Range", rng.contentRange(info.Size))
		status = http.StatusPartialContent
	}
	w.WriteHeader(status)
	if body == nil {
		return nil
	}

	// From here on the status is out: a failure can only abort the
	// connection, so the client sees a broken transfer, never a short success.
	n, err := w.Write(first)
	written := int64(n)
	if err == nil && written < rng.length {
		var m int64
		m, err = io.CopyBuffer(writerOnly{w}, readerOnly{body}, buf)
		written += m
	}
	if err == nil && written != rng.length {
		err = fmt.Errorf("object stream ended after %d of %d bytes: %w", written, rng.length, io.ErrUnexpectedEOF)
	}
	if errors.Is(err, ErrResponseReplaced) {
		return nil // the audit hook answered 503 instead; nothing was sent
	}
	if err != nil {
		if !isClientGone(err) {
			msg := "s3 object stream failed"
			if errors.Is(err, vault.ErrIntegrity) {
				msg = "s3 integrity failure"
			}
			h.log.LogAttrs(rq.ctx(), slog.LevelError, msg,
				slog.String("request_id", rq.id), slog.String("bucket", rq.bucket),
				slog.String("key", rq.key), slog.Int64("written", written), slog.Any("err", err))
		}
		panic(http.ErrAbortHandler)
	}
	return nil
}

// requestedRange returns the bytes a GET or HEAD asks for: a partNumber, a
// Range header or the whole object (partial=false).
func requestedRange(rq *request, info vault.ObjectInfo) (r byteRange, partial bool, err error) {
	whole := byteRange{start: 0, length: info.Size}
	if pn := rq.query.Get("partNumber"); pn != "" {
		n, ok := parseUint(pn)
		if !ok || n < 1 || n > vault.MaxPartNumber {
			return whole, false, apiErr("InvalidArgument", "Part number must be an integer between 1 and %d, inclusive", vault.MaxPartNumber)
		}
		if info.PartsCount > 0 {
			return whole, false, apiErr("NotImplemented", "Reading one part of a multipart object is not implemented.")
		}
		if n != 1 {
			return whole, false, apiErr("InvalidPartNumber", "The requested partnumber is not satisfiable")
		}
		return whole, false, nil
	}
	if v := rq.r.Header.Get("Range"); v != "" {
		r, ok, err := parseRange(v, info.Size)
		if err != nil {
			return whole, false, err
		}
		if ok {
			return r, true, nil
		}
	}
	return whole, false, nil
}

// setObjectHeaders sets the headers GET and HEAD share.
func setObjectHeaders(hdr http.Header, info vault.ObjectInfo) {
	ct := info.ContentType
	if ct == "" {
		ct = defaultContentType
	}
	hdr.Set("Content-Type", ct)
	hdr.Set("ETag", quoteETag(info.ETag))
	hdr.Set("Last-Modified", info.LastModified.UTC().Format(http.TimeFormat))
	hdr.Set("Accept-Ranges", "bytes")
	hdr.Set("X-Amz-Server-Side-Encryption", "AES256")
	for _, name := range storedHeaders {
		if v := info.Headers[name]; v != "" {
			hdr.Set(name, v)
		}
	}
	for k, v := range info.UserMeta {
		hdr.Set("X-Amz-Meta-"+k, v)
	}
	if info.TagCount > 0 {
		hdr.Set("X-Amz-Tagging-Count", strconv.Itoa(info.TagCount))
	}
}

// checkVersion accepts a versionId query parameter only when it names the
// current version ("null" included: Coffer's buckets are unversioned).
func checkVersion(rq *request, info vault.ObjectInfo) error {
	v := rq.query.Get("versionId")
	if v == "" || v == "null" || v == info.VersionID {
		return nil
	}
	return apiErr("NoSuchVersion", "The specified version does not exist.")
}

// deleteObject answers DeleteObject (DELETE /bucket/key): 204, also when
// the key did not exist.
func (h *handler) deleteObject(w http.ResponseWriter, rq *request) error {
	if err := h.deleteOne(rq, rq.key, rq.query.Get("versionId")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteOne deletes key, or only its current version when versionID names it.
func (h *handler) deleteOne(rq *request, key, versionID string) error {
	if versionID != "" && versionID != "null" {
		rd, err := h.objects.OpenObject(rq.ctx(), rq.bucket, key)
		if errors.Is(err, vault.ErrNoSuchKey) {
			return nil
		}
		if err != nil {
			return err
		}
		current := rd.Info().VersionID
		_ = rd.Close()
		if current != versionID {
			return nil // that version does not exist: nothing to delete
		}
	}
	return h.objects.DeleteObject(rq.ctx(), rq.bucket, key)
}

// maxDeleteKeys is the most keys one DeleteObjects request may name.
const maxDeleteKeys = 1000

// deleteObjects answers DeleteObjects (POST /bucket?delete): every key is
// authorized and deleted on its own; failures are reported per key.
func (h *handler) deleteObjects(w http.ResponseWriter, rq *request) error {
	size, _ := rq.contentLength()
	if size < 0 {
		size = -1
	}
	body, err := newBodyReader(rq, size)
	if err != nil {
		return err
	}
	var req deleteRequest
	if err := decodeXML(body, maxXMLBody, &req); err != nil {
		return err
	}
	if len(req.Objects) == 0 || len(req.Objects) > maxDeleteKeys {
		return apiErr("MalformedXML", "A Delete request must name between 1 and %d objects.", maxDeleteKeys)
	}
	if _, err := h.objects.HeadBucket(rq.ctx(), rq.bucket); err != nil {
		return err
	}
	res := deleteResult{NS: s3NS}
	for _, o := range req.Objects {
		err := h.authorize(rq, "s3:DeleteObject", rq.bucket, o.Key)
		if err == nil {
			err = h.deleteOne(rq, o.Key, o.VersionID)
		}
		if err != nil {
			ae := toAPIError(err)
			if ae.Status >= 500 {
				h.log.LogAttrs(rq.ctx(), slog.LevelError, "s3 delete failed",
					slog.String("request_id", rq.id), slog.String("bucket", rq.bucket),
					slog.String("key", o.Key), slog.Any("err", err))
			}
			res.Errors = append(res.Errors, deleteError{Key: o.Key, VersionID: o.VersionID, Code: ae.Code, Message: ae.Message})
			continue
		}
		if !req.Quiet {
			res.Deleted = append(res.Deleted, deletedEntry{Key: o.Key, VersionID: o.VersionID})
		}
	}
	return writeXML(w, http.StatusOK, res)
}

// writerOnly and readerOnly hide ReadFrom/WriteTo so io.CopyBuffer uses
// the pooled buffer it is given.
type writerOnly struct{ io.Writer }
type readerOnly struct{ io.Reader }
