package s3api

import (
	"net/http"
	"net/url"

	"github.com/coffer-vault/coffer/internal/vault"
)

// partNumber reads the partNumber query parameter: 1..vault.MaxPartNumber.
func partNumber(q url.Values) (int, error) {
	n, ok := parseUint(q.Get("partNumber"))
	if !ok || n < 1 || n > vault.MaxPartNumber {
		return 0, apiErr("InvalidArgument", "Part number must be an integer between 1 and %d, inclusive", vault.MaxPartNumber)
	}
	return int(n), nil
}

// createMultipartUpload answers CreateMultipartUpload (POST /bucket/key?uploads).
func (h *handler) createMultipartUpload(w http.ResponseWriter, rq *request) error {
	opts, err := putOptions(rq.r.Header)
	if err != nil {
		return err
	}
	id, err := h.objects.CreateMultipartUpload(rq.ctx(), rq.bucket, rq.key, opts)
	if err != nil {
		return err
	}
	w.Header().Set("X-Amz-Server-Side-Encryption", "AES256")
	return writeXML(w, http.StatusOK, initiateMultipartUploadResult{
		NS: s3NS, Bucket: rq.bucket, Key: rq.key, UploadID: id,
	})
}

// uploadPart answers UploadPart (PUT /bucket/key?partNumber=N&uploadId=ID).
func (h *handler) uploadPart(w http.ResponseWriter, rq *request) error {
	part, err := partNumber(rq.query)
	if err != nil {
		return err
	}
	size, err := rq.contentLength()
	if err != nil {
		return err
	}
	if size > vault.MaxPutSize {
		return apiErr("EntityTooLarge", "Your proposed upload exceeds the maximum allowed part size of %d bytes.", int64(vault.MaxPutSize))
	}
	body, err := newBodyReader(rq, size)
	if err != nil {
		return err
	}
	p, err := h.objects.UploadPart(rq.ctx(), rq.bucket, rq.key, rq.query.Get("uploadId"), part, body, size)
	if err != nil {
		return err
	}
	hdr := w.Header()
	hdr.Set("ETag", quoteETag(p.ETag))
	hdr.Set("X-Amz-Server-Side-Encryption", "AES256")
	body.setChecksumHeader(hdr)
	hdr.Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

// completeMultipartUpload answers CompleteMultipartUpload (POST
// /bucket/key?uploadId=ID) with the part list in a bounded XML body.
func (h *handler) completeMultipartUpload(w http.ResponseWriter, rq *request) error {
	size, _ := rq.contentLength()
	body, err := newBodyReader(rq, size)
	if err != nil {
		return err
	}
	var req completeMultipartUpload
	if err := decodeXML(body, maxCompleteBody, &req); err != nil {
		return err
	}
	if len(req.Parts) == 0 || len(req.Parts) > vault.MaxPartNumber {
		return apiErr("MalformedXML", "You must specify between 1 and %d parts.", vault.MaxPartNumber)
	}
	parts := make([]vault.CompletePart, len(req.Parts))
	for i, p := range req.Parts {
		parts[i] = vault.CompletePart{Number: p.PartNumber, ETag: p.ETag}
	}
	info, err := h.objects.CompleteMultipartUpload(rq.ctx(), rq.bucket, rq.key, rq.query.Get("uploadId"), parts)
	if err != nil {
		return err
	}
	scheme := "http"
	if rq.r.TLS != nil {
		scheme = "https"
	}
	loc := url.URL{Scheme: scheme, Host: rq.r.Host, Path: "/" + rq.bucket + "/" + rq.key}
	w.Header().Set("X-Amz-Server-Side-Encryption", "AES256")
	return writeXML(w, http.StatusOK, completeMultipartUploadResult{
		NS: s3NS, Location: loc.String(), Bucket: rq.bucket, Key: rq.key, ETag: quoteETag(info.ETag),
	})
}

// abortMultipartUpload answers AbortMultipartUpload (DELETE ?uploadId): 204.
func (h *handler) abortMultipartUpload(w http.ResponseWriter, rq *request) error {
	if err := h.objects.AbortMultipartUpload(rq.ctx(), rq.bucket, rq.key, rq.query.Get("uploadId")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listParts answers ListParts (GET /bucket/key?uploadId=ID).
func (h *handler) listParts(w http.ResponseWriter, rq *request) error {
	q := rq.query
	marker := 0
	if v := q.Get("part-number-marker"); v != "" {
		n, ok := parseUint(v)
		if !ok || n > vault.MaxPartNumber {
			return apiErr("InvalidArgument", "Provided part-number-marker not an integer or within integer range")
		}
		marker = int(n)
	}
	maxParts, err := parseMaxKeys(q, "max-parts")
	if err != nil {
		return err
	}
	id := q.Get("uploadId")
	res, err := h.objects.ListParts(rq.ctx(), rq.bucket, rq.key, id, marker, maxParts)
	if err != nil {
		return err
	}
	o := h.owner(rq)
	out := listPartsResult{
		NS: s3NS, Bucket: rq.bucket, Key: rq.key, UploadID: id, Initiator: o, Owner: o,
		StorageClass: "STANDARD", PartNumberMarker: marker, MaxParts: maxParts,
		IsTruncated: res.IsTruncated, NextPartNumberMarker: res.NextMarker,
	}
	for _, p := range res.Parts {
		out.Parts = append(out.Parts, partEntry{
			PartNumber: p.Number, LastModified: xmlTime(p.LastModified), ETag: quoteETag(p.ETag), Size: p.Size,
		})
	}
	if !res.IsTruncated && len(res.Parts) > 0 {
		out.NextPartNumberMarker = res.Parts[len(res.Parts)-1].Number
	}
	return writeXML(w, http.StatusOK, out)
}

// listMultipartUploads answers ListMultipartUploads (GET /bucket?uploads).
func (h *handler) listMultipartUploads(w http.ResponseWriter, rq *request) error {
	q := rq.query
	maxUploads, err := parseMaxKeys(q, "max-uploads")
	if err != nil {
		return err
	}
	encType, enc, err := keyEncoder(q)
	if err != nil {
		return err
	}
	p := vault.UploadsParams{
		Prefix: q.Get("prefix"), Delimiter: q.Get("delimiter"),
		KeyMarker: q.Get("key-marker"), UploadIDMarker: q.Get("upload-id-marker"),
		MaxUploads: maxUploads,
	}
	res, err := h.objects.ListMultipartUploads(rq.ctx(), rq.bucket, p)
	if err != nil {
		return err
	}
	o := h.owner(rq)
	out := listMultipartUploadsResult{
		NS: s3NS, Bucket: rq.bucket, KeyMarker: enc(p.KeyMarker), UploadIDMarker: p.UploadIDMarker,
		Prefix: enc(p.Prefix), Delimiter: enc(p.Delimiter), MaxUploads: maxUploads,
		EncodingType: encType, IsTruncated: res.IsTruncated,
	}
	if res.IsTruncated {
		out.NextKeyMarker, out.NextUploadIDMarker = enc(res.NextKeyMarker), res.NextUploadIDMarker
	}
	for _, u := range res.Uploads {
		out.Uploads = append(out.Uploads, uploadEntry{
			Key: enc(u.Key), UploadID: u.UploadID, Initiator: o, Owner: o,
			StorageClass: "STANDARD", Initiated: xmlTime(u.Initiated),
		})
	}
	for _, cp := range res.CommonPrefixes {
		out.CommonPrefixes = append(out.CommonPrefixes, commonPrefix{Prefix: enc(cp)})
	}
	return writeXML(w, http.StatusOK, out)
}
