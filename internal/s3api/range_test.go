package s3api

import (
	"errors"
	"testing"
)

func TestParseRange(t *testing.T) {
	tests := []struct {
		header  string
		size    int64
		want    byteRange
		ok      bool
		invalid bool // InvalidRange
	}{
		{"bytes=0-9", 100, byteRange{0, 10}, true, false},
		{"bytes=10-", 100, byteRange{10, 90}, true, false},
		{"bytes=-10", 100, byteRange{90, 10}, true, false},
		{"bytes=-200", 100, byteRange{0, 100}, true, false},
		{"bytes=90-200", 100, byteRange{90, 10}, true, false},
		{"bytes=99-99", 100, byteRange{99, 1}, true, false},
		{" bytes=0-0 ", 1, byteRange{0, 1}, true, false},
		{"bytes=100-", 100, byteRange{}, false, true},
		{"bytes=100-200", 100, byteRange{}, false, true},
		{"bytes=-0", 100, byteRange{}, false, true},
		{"bytes=0-", 0, byteRange{}, false, true},
		{"bytes=-5", 0, byteRange{}, false, true},
		// Malformed or unsupported: serve the whole object, as S3 does.
		{"", 100, byteRange{}, false, false},
		{"bytes=5-1", 100, byteRange{}, false, false},
		{"bytes=0-1,5-6", 100, byteRange{}, false, false},
		{"items=0-1", 100, byteRange{}, false, false},
		{"bytes=a-b", 100, byteRange{}, false, false},
		{"bytes=-", 100, byteRange{}, false, false},
		{"bytes=1", 100, byteRange{}, false, false},
		{"bytes=+1-2", 100, byteRange{}, false, false},
		{"bytes=99999999999999999999-", 100, byteRange{}, false, false},
	}
	for _, tt := range tests {
		got, ok, err := parseRange(tt.header, tt.size)
		if tt.invalid {
			var ae *Error
			if !errors.As(err, &ae) || ae.Code != "InvalidRange" || ae.Status != 416 {
				t.Errorf("parseRange(%q, %d) err = %v, want InvalidRange", tt.header, tt.size, err)
			}
			continue
		}
		if err != nil || ok != tt.ok || got != tt.want {
			t.Errorf("parseRange(%q, %d) = %v, %v, %v; want %v, %v, nil", tt.header, tt.size, got, ok, err, tt.want, tt.ok)
		}
	}
}

func TestContentRange(t *testing.T) {
	if got := (byteRange{10, 5}).contentRange(100); got != "bytes 10-14/100" {
		t.Errorf("contentRange = %q", got)
	}
}

func TestParseCopyRange(t *testing.T) {
	tests := []struct {
		header string
		size   int64
		want   byteRange
		code   string
	}{
		{"bytes=0-9", 100, byteRange{0, 10}, ""},
		{"bytes=0-99", 100, byteRange{0, 100}, ""},
		{"bytes=0-100", 100, byteRange{}, "InvalidRange"},
		{"bytes=5-", 100, byteRange{}, "InvalidArgument"},
		{"bytes=-5", 100, byteRange{}, "InvalidArgument"},
		{"bytes=9-0", 100, byteRange{}, "InvalidArgument"},
		{"0-9", 100, byteRange{}, "InvalidArgument"},
	}
	for _, tt := range tests {
		got, err := parseCopyRange(tt.header, tt.size)
		if tt.code != "" {
			var ae *Error
			if !errors.As(err, &ae) || ae.Code != tt.code {
				t.Errorf("parseCopyRange(%q) err = %v, want %s", tt.header, err, tt.code)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseCopyRange(%q) = %v, %v; want %v", tt.header, got, err, tt.want)
		}
	}
}
