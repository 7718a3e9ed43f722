package s3api

import (
	"fmt"
	"strconv"
	"strings"
)

// byteRange is a satisfiable byte range [start, start+length) of an object.
type byteRange struct {
	start, length int64
}

// contentRange is the Content-Range header value for r in an object of size bytes.
func (r byteRange) contentRange(size int64) string {
	return fmt.Sprintf("bytes %d-%d/%d", r.start, r.start+r.length-1, size)
}

// parseRange interprets a Range header for an object of size bytes the way
// S3 does: "bytes=a-b", "bytes=a-" and "bytes=-n". It returns ok=false (serve
// the whole object) for an absent, malformed or multi-range header, and an
// InvalidRange error for a well-formed range that selects nothing.
func parseRange(h string, size int64) (r byteRange, ok bool, err error) {
	spec, found := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return byteRange{}, false, nil
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return byteRange{}, false, nil
	}
	unsatisfiable := apiErr("InvalidRange", "The requested range is not satisfiable")
	if first == "" { // suffix: the last n bytes
		n, ok := parseUint(last)
		if !ok {
			return byteRange{}, false, nil
		}
		if n == 0 || size == 0 {
			return byteRange{}, false, unsatisfiable
		}
		n = min(n, size)
		return byteRange{start: size - n, length: n}, true, nil
	}
	a, ok := parseUint(first)
	if !ok {
		return byteRange{}, false, nil
	}
	end := size - 1
	if last != "" {
		b, ok := parseUint(last)
		if !ok || b < a {
			return byteRange{}, false, nil
		}
		end = min(b, size-1)
	}
	if a >= size {
		return byteRange{}, false, unsatisfiable
	}
	return byteRange{start: a, length: end - a + 1}, true, nil
}

// parseCopyRange interprets x-amz-copy-source-range, which must be exactly
// "bytes=a-b" inside a source of size bytes.
func parseCopyRange(h string, size int64) (byteRange, error) {
	spec, found := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	first, last, found2 := strings.Cut(spec, "-")
	a, okA := parseUint(first)
	b, okB := parseUint(last)
	if !found || !found2 || !okA || !okB || b < a {
		return byteRange{}, apiErr("InvalidArgument", "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
	}
	if b >= size {
		return byteRange{}, apiErr("InvalidRange", "The requested range is not satisfiable")
	}
	return byteRange{start: a, length: b - a + 1}, nil
}

// parseUint parses a non-negative decimal integer with digits only.
func parseUint(s string) (int64, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
