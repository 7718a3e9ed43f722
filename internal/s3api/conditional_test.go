package s3api

import (
	"net/http"
	"testing"
	"time"
)

func TestEvalConditions(t *testing.T) {
	lm := time.Date(2024, 5, 1, 12, 0, 0, 500e6, time.UTC) // sub-second part is ignored
	before := lm.Add(-time.Hour).Format(http.TimeFormat)
	at := lm.Format(http.TimeFormat)
	after := lm.Add(time.Hour).Format(http.TimeFormat)
	const etag = "abc123"

	tests := []struct {
		name string
		hdr  map[string]string
		want condResult
	}{
		{"none", nil, condProceed},
		{"if-match hit", map[string]string{"If-Match": `"abc123"`}, condProceed},
		{"if-match list", map[string]string{"If-Match": `"x", "abc123"`}, condProceed},
		{"if-match star", map[string]string{"If-Match": `*`}, condProceed},
		{"if-match miss", map[string]string{"If-Match": `"zzz"`}, condFailed},
		{"if-none-match hit", map[string]string{"If-None-Match": `"abc123"`}, condNotModified},
		{"if-none-match weak", map[string]string{"If-None-Match": `W/"abc123"`}, condNotModified},
		{"if-none-match miss", map[string]string{"If-None-Match": `"zzz"`}, condProceed},
		{"if-modified-since older", map[string]string{"If-Modified-Since": before}, condProceed},
		{"if-modified-since same", map[string]string{"If-Modified-Since": at}, condNotModified},
		{"if-modified-since newer", map[string]string{"If-Modified-Since": after}, condNotModified},
		{"if-unmodified-since older", map[string]string{"If-Unmodified-Since": before}, condFailed},
		{"if-unmodified-since same", map[string]string{"If-Unmodified-Since": at}, condProceed},
		{"bad date ignored", map[string]string{"If-Unmodified-Since": "yesterday"}, condProceed},
		// S3: If-Match true wins over If-Unmodified-Since false.
		{"match beats unmodified-since", map[string]string{"If-Match": etag, "If-Unmodified-Since": before}, condProceed},
		// S3: If-None-Match false (ETag matches) with If-Modified-Since true is 304.
		{"none-match beats modified-since", map[string]string{"If-None-Match": etag, "If-Modified-Since": before}, condNotModified},
		// If-None-Match present and true: If-Modified-Since is not consulted.
		{"none-match miss ignores modified-since", map[string]string{"If-None-Match": `"zzz"`, "If-Modified-Since": after}, condProceed},
		// 412 is checked before 304.
		{"failed before not modified", map[string]string{"If-Match": `"zzz"`, "If-None-Match": etag}, condFailed},
	}
	for _, tt := range tests {
		h := http.Header{}
		for k, v := range tt.hdr {
			h.Set(k, v)
		}
		if got := evalConditions(h, "", `"`+etag+`"`, lm); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
		// The same conditions as x-amz-copy-source-if-* headers.
		hc := http.Header{}
		for k, v := range tt.hdr {
			hc.Set(copySourcePrefix+k, v)
		}
		if got := evalConditions(hc, copySourcePrefix, etag, lm); got != tt.want {
			t.Errorf("%s (copy source): got %v, want %v", tt.name, got, tt.want)
		}
	}
}
