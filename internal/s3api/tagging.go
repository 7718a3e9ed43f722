package s3api

import (
	"net/http"
	"net/url"
	"sort"
	"unicode/utf8"

	"github.com/coffer-vault/coffer/internal/vault"
)

// parseTagQuery reads an x-amz-tagging header: tags as a URL query string.
func parseTagQuery(v string) (map[string]string, error) {
	q, err := url.ParseQuery(v)
	if err != nil {
		return nil, apiErr("InvalidTag", "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")
	}
	tags := make(map[string]string, len(q))
	for k, vs := range q {
		if len(vs) != 1 {
			return nil, apiErr("InvalidTag", "Cannot provide multiple Tags with the same key")
		}
		tags[k] = vs[0]
	}
	return tags, validateTags(tags)
}

// validateTags applies S3's tag limits (the vault checks them too; checking
// here gives the client S3's messages).
func validateTags(tags map[string]string) error {
	if len(tags) > vault.MaxTags {
		return apiErr("InvalidTag", "Object tags cannot be greater than %d", vault.MaxTags)
	}
	for k, v := range tags {
		if k == "" || !utf8.ValidString(k) || utf8.RuneCountInString(k) > vault.MaxTagKeyLen {
			return apiErr("InvalidTag", "The TagKey you have provided is invalid")
		}
		if !utf8.ValidString(v) || utf8.RuneCountInString(v) > vault.MaxTagValueLen {
			return apiErr("InvalidTag", "The TagValue you have provided is invalid")
		}
	}
	return nil
}

// sortedTags returns tags as a TagSet in key order.
func sortedTags(tags map[string]string) []tag {
	out := make([]tag, 0, len(tags))
	for k, v := range tags {
		out = append(out, tag{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// getObjectTagging answers GET /bucket/key?tagging.
func (h *handler) getObjectTagging(w http.ResponseWriter, rq *request) error {
	tags, err := h.objects.GetTags(rq.ctx(), rq.bucket, rq.key)
	if err != nil {
		return err
	}
	return writeXML(w, http.StatusOK, tagging{NS: s3NS, Tags: sortedTags(tags)})
}

// putObjectTagging answers PUT /bucket/key?tagging, replacing the tag set.
func (h *handler) putObjectTagging(w http.ResponseWriter, rq *request) error {
	size, _ := rq.contentLength()
	body, err := newBodyReader(rq, size)
	if err != nil {
		return err
	}
	var req tagging
	if err := decodeXML(body, maxXMLBody, &req); err != nil {
		return err
	}
	tags := make(map[string]string, len(req.Tags))
	for _, t := range req.Tags {
		if _, dup := tags[t.Key]; dup {
			return apiErr("InvalidTag", "Cannot provide multiple Tags with the same key")
		}
		tags[t.Key] = t.Value
	}
	if err := validateTags(tags); err != nil {
		return err
	}
	if err := h.objects.PutTags(rq.ctx(), rq.bucket, rq.key, tags); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

// deleteObjectTagging answers DELETE /bucket/key?tagging: 204.
func (h *handler) deleteObjectTagging(w http.ResponseWriter, rq *request) error {
	if err := h.objects.DeleteTags(rq.ctx(), rq.bucket, rq.key); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
