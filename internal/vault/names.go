package vault

// Input validation. Every exported method validates what it is given before
// it touches a store, so bad input changes nothing. The rules follow S3
// (bucket naming rules, object key and tag limits) plus Coffer's own:
// reserved bucket names that the server routes, and object keys that could
// never escape a directory if they were ever used as paths.

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// reservedBuckets are path names the server routes itself.
var reservedBuckets = map[string]bool{
	"admin": true, "console": true, "ledger": true,
	"witness": true, "health": true, "metrics": true,
}

// reservedBucketPrefixes and reservedBucketSuffixes are the ones S3 keeps for
// its own features (access point aliases, Object Lambda, directory and table
// buckets, demo names).
var (
	reservedBucketPrefixes = []string{"xn--", "sthree-", "amzn-s3-demo-"}
	reservedBucketSuffixes = []string{"-s3alias", "--ol-s3", "--x-s3", "--table-s3", ".mrap"}
)

// ValidBucketName returns nil or an error wrapping ErrInvalidBucketName.
func ValidBucketName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidBucketName, name, why)
	}
	if len(name) < 3 || len(name) > 63 {
		return bad("must be 3 to 63 characters long")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return bad("only lowercase letters, digits, '.' and '-' are allowed")
		}
	}
	if !isAlnum(name[0]) || !isAlnum(name[len(name)-1]) {
		return bad("must begin and end with a letter or digit")
	}
	if strings.Contains(name, "..") {
		return bad("must not contain two adjacent periods")
	}
	if looksLikeIPv4(name) {
		return bad("must not be formatted as an IP address")
	}
	for _, p := range reservedBucketPrefixes {
		if strings.HasPrefix(name, p) {
			return bad("prefix " + p + " is reserved")
		}
	}
	for _, s := range reservedBucketSuffixes {
		if strings.HasSuffix(name, s) {
			return bad("suffix " + s + " is reserved")
		}
	}
	if reservedBuckets[name] {
		return bad("name is reserved by the server")
	}
	return nil
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// looksLikeIPv4 reports four dot-separated runs of digits, the shape S3
// refuses whatever the values (so "999.1.1.1" and "01.2.3.4" count too).
func looksLikeIPv4(name string) bool {
	parts := strings.Split(name, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if p == "" {
			return false
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
		}
	}
	return true
}

// ValidObjectKey returns nil or an error wrapping ErrKeyTooLong or ErrInvalidKey
// (empty, invalid UTF-8, a NUL byte, or a "." or ".." path segment).
//
// Valid keys never contain the byte 0xFF (it does not occur in UTF-8), which
// the listing code relies on to skip past a common prefix.
func ValidObjectKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	case len(key) > MaxKeyLen:
		return fmt.Errorf("%w (%d bytes)", ErrKeyTooLong, len(key))
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: key is not valid UTF-8", ErrInvalidKey)
	case strings.IndexByte(key, 0) >= 0:
		return fmt.Errorf("%w: key contains a NUL byte", ErrInvalidKey)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("%w: key %q has a %q segment", ErrInvalidKey, key, seg)
		}
	}
	return nil
}

// validBucketKey validates a bucket name and an object key together.
func validBucketKey(bucket, key string) error {
	if err := ValidBucketName(bucket); err != nil {
		return err
	}
	return ValidObjectKey(key)
}

// validUploadID accepts what newID makes: 32 lowercase hex digits. Anything
// else cannot name an upload, so it is reported as ErrNoSuchUpload.
func validUploadID(id string) error {
	if len(id) != 2*idBytes {
		return fmt.Errorf("%w: malformed upload id", ErrNoSuchUpload)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("%w: malformed upload id", ErrNoSuchUpload)
		}
	}
	return nil
}

// validPartNumber checks 1..MaxPartNumber.
func validPartNumber(n int) error {
	if n < 1 || n > MaxPartNumber {
		return fmt.Errorf("%w: part number %d outside 1..%d", ErrInvalidArgument, n, MaxPartNumber)
	}
	return nil
}

// maxHeaderMetaSize bounds the stored standard headers, content type and
// checksum together (the HTTP layer bounds headers too; this keeps the
// sealed record small whoever calls).
const maxHeaderMetaSize = 8 << 10

// validPutOptions checks metadata sizes, encodings and tags.
func validPutOptions(o PutOptions) error {
	um := 0
	for k, v := range o.UserMeta {
		if k == "" {
			return fmt.Errorf("%w: empty user metadata name", ErrInvalidArgument)
		}
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("%w: user metadata %q is not valid UTF-8", ErrInvalidArgument, k)
		}
		um += len(k) + len(v)
	}
	if um > MaxUserMetaSize {
		return fmt.Errorf("%w: user metadata is %d bytes, more than %d", ErrInvalidArgument, um, MaxUserMetaSize)
	}
	hm := len(o.ContentType) + len(o.Checksum)
	if !utf8.ValidString(o.ContentType) || !utf8.ValidString(o.Checksum) {
		return fmt.Errorf("%w: content type or checksum is not valid UTF-8", ErrInvalidArgument)
	}
	for k, v := range o.Headers {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("%w: header %q is not valid UTF-8", ErrInvalidArgument, k)
		}
		hm += len(k) + len(v)
	}
	if hm > maxHeaderMetaSize {
		return fmt.Errorf("%w: stored headers are %d bytes, more than %d", ErrInvalidArgument, hm, maxHeaderMetaSize)
	}
	return validTags(o.Tags)
}

// validTags applies S3's tag rules: at most MaxTags; keys 1..MaxTagKeyLen and
// values 0..MaxTagValueLen Unicode characters of letters, digits, spaces and
// + - = . _ : / @; keys starting with "aws:" or "coffer:" are reserved.
func validTags(tags map[string]string) error {
	if len(tags) > MaxTags {
		return fmt.Errorf("%w: %d tags, at most %d allowed", ErrInvalidTag, len(tags), MaxTags)
	}
	for k, v := range tags {
		if k == "" || utf8.RuneCountInString(k) > MaxTagKeyLen {
			return fmt.Errorf("%w: tag key must be 1 to %d characters", ErrInvalidTag, MaxTagKeyLen)
		}
		if utf8.RuneCountInString(v) > MaxTagValueLen {
			return fmt.Errorf("%w: tag %q value longer than %d characters", ErrInvalidTag, k, MaxTagValueLen)
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return fmt.Errorf("%w: tag key prefix aws: is reserved", ErrInvalidTag)
		}
		if strings.HasPrefix(strings.ToLower(k), ReservedTagPrefix) {
			return fmt.Errorf("%w: tag key prefix %s is reserved for Coffer's scan labels", ErrInvalidTag, ReservedTagPrefix)
		}
		if !tagText(k) || !tagText(v) {
			return fmt.Errorf("%w: tag %q has a character outside letters, digits, spaces and +-=._:/@", ErrInvalidTag, k)
		}
	}
	return nil
}

// tagText reports whether s is valid UTF-8 of allowed tag characters.
func tagText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case unicode.IsLetter(r), unicode.IsNumber(r), unicode.Is(unicode.Z, r):
		case strings.ContainsRune("+-=._:/@", r):
		default:
			return false
		}
	}
	return true
}
