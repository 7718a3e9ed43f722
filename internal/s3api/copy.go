package s3api

import (
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/coffer-vault/coffer/internal/vault"
)

// copySource is the object an x-amz-copy-source header names.
type copySource struct {
	bucket, key, versionID string
}

// parseCopySource reads x-amz-copy-source: "bucket/key" or "/bucket/key",
// URL-encoded, optionally followed by "?versionId=...".
func parseCopySource(v string) (copySource, error) {
	invalid := apiErr("InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey.")
	path, query, _ := strings.Cut(v, "?")
	dec, err := url.PathUnescape(path)
	if err != nil {
		return copySource{}, invalid
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(dec, "/"), "/")
	if bucket == "" || key == "" {
		return copySource{}, invalid
	}
	src := copySource{bucket: bucket, key: key}
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil {
			return copySource{}, invalid
		}
		src.versionID = q.Get("versionId")
	}
	return src, nil
}

// openCopySource authorizes reading the copy source of rq, opens it and
// checks the x-amz-copy-source-if-* conditions (412 when one fails). The
// caller closes the reader.
func (h *handler) openCopySource(rq *request) (*vault.Reader, error) {
	src, err := parseCopySource(rq.r.Header.Get("X-Amz-Copy-Source"))
	if err != nil {
		return nil, err
	}
	if err := h.authorize(rq, "s3:GetObject", src.bucket, src.key); err != nil {
		return nil, err
	}
	rd, err := h.objects.OpenObject(rq.ctx(), src.bucket, src.key)
	if err != nil {
		return nil, err
	}
	info := rd.Info()
	if v := src.versionID; v != "" && v != "null" && v != info.VersionID {
		rd.Close()
		return nil, apiErr("NoSuchVersion", "The specified version does not exist.")
	}
	if evalConditions(rq.r.Header, copySourcePrefix, info.ETag, info.LastModified) != condProceed {
		rd.Close()
		return nil, apiErr("PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
	}
	return rd, nil
}

// directive reads a COPY/REPLACE directive header; COPY when absent.
func directive(hdr http.Header, name string) (replace bool, err error) {
	switch v := strings.ToUpper(strings.TrimSpace(hdr.Get(name))); v {
	case "", "COPY":
		return false, nil
	case "REPLACE":
		return true, nil
	default:
		return false, apiErr("InvalidArgument", "Unknown %s value.", strings.ToLower(name))
	}
}

// copyObject answers CopyObject (PUT /bucket/key with x-amz-copy-source).
func (h *handler) copyObject(w http.ResponseWriter, rq *request) error {
	hdr := rq.r.Header
	replaceMeta, err := directive(hdr, "X-Amz-Metadata-Directive")
	if err != nil {
		return err
	}
	replaceTags, err := directive(hdr, "X-Amz-Tagging-Directive")
	if err != nil {
		return err
	}
	if err := checkEncryptionHeaders(hdr); err != nil {
		return err
	}
	rd, err := h.openCopySource(rq)
	if err != nil {
		return err
	}
	src := rd.Info()
	rd.Close()
	if src.Size > vault.MaxPutSize {
		return apiErr("InvalidRequest", "The specified copy source is larger than the maximum allowable size for a copy source: %d", int64(vault.MaxPutSize))
	}

	opts := vault.CopyOptions{ReplaceMeta: replaceMeta, ReplaceTags: replaceTags}
	if replaceMeta || replaceTags {
		meta, err := putOptions(hdr)
		if err != nil {
			return err
		}
		opts.Meta = meta
		if replaceTags && opts.Meta.Tags == nil {
			opts.Meta.Tags = map[string]string{}
		}
	}
	out, err := h.objects.CopyObject(rq.ctx(), src.Bucket, src.Key, rq.bucket, rq.key, opts)
	if err != nil {
		return err
	}
	w.Header().Set("X-Amz-Server-Side-Encryption", "AES256")
	return writeXML(w, http.StatusOK, copyObjectResult{
		NS: s3NS, LastModified: xmlTime(out.LastModified), ETag: quoteETag(out.ETag),
	})
}

// uploadPartCopy answers UploadPartCopy (PUT ?partNumber&uploadId with
// x-amz-copy-source and optionally x-amz-copy-source-range): it streams the
// source range, decrypted, into the new part, which is sealed afresh.
func (h *handler) uploadPartCopy(w http.ResponseWriter, rq *request) error {
	part, err := partNumber(rq.query)
	if err != nil {
		return err
	}
	rd, err := h.openCopySource(rq)
	if err != nil {
		return err
	}
	defer rd.Close()
	info := rd.Info()
	rng := byteRange{start: 0, length: info.Size}
	if v := rq.r.Header.Get("X-Amz-Copy-Source-Range"); v != "" {
		if rng, err = parseCopyRange(v, info.Size); err != nil {
			return err
		}
	}
	if rng.length > vault.MaxPutSize {
		return apiErr("InvalidRequest", "The specified copy range is larger than the maximum part size of %d bytes.", int64(vault.MaxPutSize))
	}
	var body io.Reader = http.NoBody
	if rng.length > 0 {
		rc, err := rd.Range(rq.ctx(), rng.start, rng.length)
		if err != nil {
			return err
		}
		defer rc.Close()
		body = rc
	}
	p, err := h.objects.UploadPart(rq.ctx(), rq.bucket, rq.key, rq.query.Get("uploadId"), part, body, rng.length)
	if err != nil {
		return err
	}
	w.Header().Set("X-Amz-Server-Side-Encryption", "AES256")
	return writeXML(w, http.StatusOK, copyPartResult{
		NS: s3NS, LastModified: xmlTime(p.LastModified), ETag: quoteETag(p.ETag),
	})
}
