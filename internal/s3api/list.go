package s3api

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/coffer-vault/coffer/internal/vault"
)

// maxListKeys is the most entries one listing page returns.
const maxListKeys = 1000

// parseMaxKeys reads a max-keys style parameter: absent means maxListKeys,
// values are clamped to 0..maxListKeys, a non-integer is InvalidArgument.
func parseMaxKeys(q url.Values, name string) (int, error) {
	v := q.Get(name)
	if v == "" {
		return maxListKeys, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, apiErr("InvalidArgument", "Provided %s not an integer or within integer range", name)
	}
	return int(min(max(n, 0), maxListKeys)), nil
}

// keyEncoder returns how keys and prefixes are written in a listing: as
// they are, or URL-encoded when the client asks with encoding-type=url
// (aws-cli and minio-go do, so keys with control characters survive XML).
func keyEncoder(q url.Values) (encodingType string, enc func(string) string, err error) {
	switch v := q.Get("encoding-type"); {
	case v == "":
		return "", func(s string) string { return s }, nil
	case strings.EqualFold(v, "url"):
		return "url", s3URLEncode, nil
	default:
		return "", nil, apiErr("InvalidArgument", "Invalid Encoding Method specified in Request")
	}
}

// s3URLEncode URL-encodes s as S3 does for encoding-type=url: unreserved
// characters and '/' stay, a space becomes '+', everything else %XX. Both
// form decoding (minio-go, botocore) and path decoding read it back.
func s3URLEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~', c == '/':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// encodeToken and decodeToken make ListObjectsV2 continuation tokens:
// opaque to clients, the marker to continue after for us.
func encodeToken(marker string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(marker))
}

func decodeToken(tok string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", apiErr("InvalidArgument", "The continuation token provided is incorrect")
	}
	return string(b), nil
}

// listEntries fills the Contents and CommonPrefixes of a listing page.
func listEntries(out *listBucketResult, res vault.ListResult, enc func(string) string, o *owner) {
	for _, obj := range res.Objects {
		out.Contents = append(out.Contents, objectEntry{
			Key:          enc(obj.Key),
			LastModified: xmlTime(obj.LastModified),
			ETag:         quoteETag(obj.ETag),
			Size:         obj.Size,
			Owner:        o,
			StorageClass: "STANDARD",
		})
	}
	for _, p := range res.CommonPrefixes {
		out.CommonPrefixes = append(out.CommonPrefixes, commonPrefix{Prefix: enc(p)})
	}
}

// listObjectsV2 answers ListObjectsV2 (GET /bucket?list-type=2).
func (h *handler) listObjectsV2(w http.ResponseWriter, rq *request) error {
	q := rq.query
	maxKeys, err := parseMaxKeys(q, "max-keys")
	if err != nil {
		return err
	}
	encType, enc, err := keyEncoder(q)
	if err != nil {
		return err
	}
	startAfter, token := q.Get("start-after"), q.Get("continuation-token")
	after := startAfter
	if token != "" {
		if after, err = decodeToken(token); err != nil {
			return err
		}
	}
	p := vault.ListParams{Prefix: q.Get("prefix"), Delimiter: q.Get("delimiter"), After: after, MaxKeys: maxKeys}
	res, err := h.objects.ListObjects(rq.ctx(), rq.bucket, p)
	if err != nil {
		return err
	}
	count := len(res.Objects) + len(res.CommonPrefixes)
	out := listBucketResult{
		NS: s3NS, Name: rq.bucket, Prefix: enc(p.Prefix), Delimiter: enc(p.Delimiter),
		StartAfter: enc(startAfter), Token: token, KeyCount: &count, MaxKeys: maxKeys,
		EncodingType: encType, IsTruncated: res.IsTruncated,
	}
	if res.IsTruncated {
		out.NextToken = encodeToken(res.NextAfter)
	}
	var o *owner
	if q.Get("fetch-owner") == "true" {
		ow := h.owner(rq)
		o = &ow
	}
	listEntries(&out, res, enc, o)
	return writeXML(w, http.StatusOK, out)
}

// listObjectsV1 answers ListObjects (GET /bucket). NextMarker is sent when
// a delimiter is used; without one clients continue from the last key.
func (h *handler) listObjectsV1(w http.ResponseWriter, rq *request) error {
	q := rq.query
	maxKeys, err := parseMaxKeys(q, "max-keys")
	if err != nil {
		return err
	}
	encType, enc, err := keyEncoder(q)
	if err != nil {
		return err
	}
	marker := q.Get("marker")
	p := vault.ListParams{Prefix: q.Get("prefix"), Delimiter: q.Get("delimiter"), After: marker, MaxKeys: maxKeys}
	res, err := h.objects.ListObjects(rq.ctx(), rq.bucket, p)
	if err != nil {
		return err
	}
	encMarker := enc(marker)
	out := listBucketResult{
		NS: s3NS, Name: rq.bucket, Prefix: enc(p.Prefix), Delimiter: enc(p.Delimiter),
		Marker: &encMarker, MaxKeys: maxKeys, EncodingType: encType, IsTruncated: res.IsTruncated,
	}
	if res.IsTruncated && p.Delimiter != "" {
		out.NextMarker = enc(res.NextAfter)
	}
	ow := h.owner(rq)
	listEntries(&out, res, enc, &ow)
	return writeXML(w, http.StatusOK, out)
}
