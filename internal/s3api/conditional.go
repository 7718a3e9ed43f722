package s3api

import (
	"net/http"
	"strings"
	"time"
)

// condResult is the outcome of evaluating conditional request headers.
type condResult int

const (
	condProceed     condResult = iota // serve the request
	condNotModified                   // 304 (GET/HEAD only)
	condFailed                        // 412 PreconditionFailed
)

// Header name stems; the copy variants are prefixed "X-Amz-Copy-Source-".
const copySourcePrefix = "X-Amz-Copy-Source-"

// evalConditions evaluates If-Match, If-Unmodified-Since, If-None-Match and
// If-Modified-Since (each with prefix, "" or copySourcePrefix) against an
// object's ETag and modification time, in RFC 9110's order, which is also
// S3's: If-Match true makes If-Unmodified-Since irrelevant, and If-None-Match
// present makes If-Modified-Since irrelevant. Dates that do not parse are
// ignored.
func evalConditions(h http.Header, prefix, etag string, lastModified time.Time) condResult {
	lm := lastModified.UTC().Truncate(time.Second)
	if v := h.Get(prefix + "If-Match"); v != "" {
		if !etagMatches(v, etag) {
			return condFailed
		}
	} else if t, ok := headerTime(h, prefix+"If-Unmodified-Since"); ok && lm.After(t) {
		return condFailed
	}
	if v := h.Get(prefix + "If-None-Match"); v != "" {
		if etagMatches(v, etag) {
			return condNotModified
		}
	} else if t, ok := headerTime(h, prefix+"If-Modified-Since"); ok && !lm.After(t) {
		return condNotModified
	}
	return condProceed
}

// etagMatches reports whether a comma-separated If-Match/If-None-Match list
// names etag ("*" names every ETag). Quotes and weak markers are ignored.
func etagMatches(list, etag string) bool {
	etag = strings.Trim(etag, `"`)
	for _, c := range strings.Split(list, ",") {
		c = strings.TrimSpace(c)
		if c == "*" {
			return true
		}
		c = strings.Trim(strings.TrimPrefix(c, "W/"), `"`)
		if c != "" && c == etag {
			return true
		}
	}
	return false
}

func headerTime(h http.Header, name string) (time.Time, bool) {
	v := h.Get(name)
	if v == "" {
		return time.Time{}, false
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}
