package vault

import (
	"errors"
	"strings"
	"testing"
)

func TestValidBucketName(t *testing.T) {
	good := []string{
		"abc", "my-bucket", "my.bucket", "a1b2c3", "123", "0-0",
		strings.Repeat("a", 63), "192.168.1", "1.2.3.4.5", "adminx", "xadmin",
		"a-s3alias-b", "ol-s3x", "bucket.1.2.3",
	}
	for _, name := range good {
		if err := ValidBucketName(name); err != nil {
			t.Errorf("ValidBucketName(%q) = %v, want nil", name, err)
		}
	}
	bad := []string{
		"", "ab", strings.Repeat("a", 64),
		"ABC", "Abc", "my_bucket", "my bucket", "bücket", "a/b", "a\x00b",
		"-abc", "abc-", ".abc", "abc.",
		"a..b",
		"192.168.1.1", "1.2.3.4", "999.999.999.999", "01.02.03.04",
		"xn--abc", "sthree-abc", "amzn-s3-demo-bucket",
		"abc-s3alias", "abc--ol-s3", "abc--x-s3", "abc--table-s3", "abc.mrap",
		"admin", "console", "ledger", "witness", "health", "metrics",
	}
	for _, name := range bad {
		if err := ValidBucketName(name); !errors.Is(err, ErrInvalidBucketName) {
			t.Errorf("ValidBucketName(%q) = %v, want ErrInvalidBucketName", name, err)
		}
	}
}

func TestValidObjectKey(t *testing.T) {
	tests := []struct {
		key  string
		want error
	}{
		{"a", nil},
		{"a/b/c.txt", nil},
		{"a//b", nil},
		{"/leading/slash", nil},
		{"trailing/", nil},
		{"..a/b..", nil},
		{"a/.../b", nil},
		{".hidden", nil},
		{"ünïcødé/日本語", nil},
		{"with space and %2F", nil},
		{strings.Repeat("k", MaxKeyLen), nil},
		{strings.Repeat("é", MaxKeyLen/2), nil},
		{"", ErrInvalidKey},
		{strings.Repeat("k", MaxKeyLen+1), ErrKeyTooLong},
		{strings.Repeat("é", MaxKeyLen/2+1), ErrKeyTooLong},
		{"bad\xffutf8", ErrInvalidKey},
		{"\xc3", ErrInvalidKey},
		{"nul\x00byte", ErrInvalidKey},
		{".", ErrInvalidKey},
		{"..", ErrInvalidKey},
		{"../etc/passwd", ErrInvalidKey},
		{"a/../b", ErrInvalidKey},
		{"a/./b", ErrInvalidKey},
		{"a/..", ErrInvalidKey},
		{"a/.", ErrInvalidKey},
		{"./a", ErrInvalidKey},
	}
	for _, tt := range tests {
		err := ValidObjectKey(tt.key)
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("ValidObjectKey(%.40q) = %v, want %v", tt.key, err, tt.want)
		}
	}
}

func TestValidPutOptions(t *testing.T) {
	many := map[string]string{}
	for i := range MaxTags + 1 {
		many[string(rune('a'+i))] = "v"
	}
	tests := []struct {
		name string
		opts PutOptions
		want error
	}{
		{"empty", PutOptions{}, nil},
		{"full", PutOptions{
			ContentType: "text/plain",
			Headers:     map[string]string{"Cache-Control": "no-cache"},
			UserMeta:    map[string]string{"owner": "ünïcødé"},
			Tags:        map[string]string{"project": "Apollo 11", "path": "a/b:c=d+e-f_g.h@i", "empty": "", "日本": "語"},
			Checksum:    "CRC32:AAAAAA==",
		}, nil},
		{"user meta at limit", PutOptions{UserMeta: map[string]string{"k": strings.Repeat("v", MaxUserMetaSize-1)}}, nil},
		{"user meta over limit", PutOptions{UserMeta: map[string]string{"k": strings.Repeat("v", MaxUserMetaSize)}}, ErrInvalidArgument},
		{"user meta bad utf8", PutOptions{UserMeta: map[string]string{"k": "\xff"}}, ErrInvalidArgument},
		{"user meta empty name", PutOptions{UserMeta: map[string]string{"": "v"}}, ErrInvalidArgument},
		{"headers too big", PutOptions{Headers: map[string]string{"Cache-Control": strings.Repeat("x", maxHeaderMetaSize)}}, ErrInvalidArgument},
		{"too many tags", PutOptions{Tags: many}, ErrInvalidTag},
		{"empty tag key", PutOptions{Tags: map[string]string{"": "v"}}, ErrInvalidTag},
		{"tag key too long", PutOptions{Tags: map[string]string{strings.Repeat("k", MaxTagKeyLen+1): "v"}}, ErrInvalidTag},
		{"tag key at limit (runes)", PutOptions{Tags: map[string]string{strings.Repeat("é", MaxTagKeyLen): "v"}}, nil},
		{"tag value too long", PutOptions{Tags: map[string]string{"k": strings.Repeat("v", MaxTagValueLen+1)}}, ErrInvalidTag},
		{"tag aws prefix", PutOptions{Tags: map[string]string{"aws:x": "v"}}, ErrInvalidTag},
		{"tag bad char", PutOptions{Tags: map[string]string{"k": "a<b>"}}, ErrInvalidTag},
		{"tag bad utf8", PutOptions{Tags: map[string]string{"k": "\xff"}}, ErrInvalidTag},
	}
	for _, tt := range tests {
		err := validPutOptions(tt.opts)
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: validPutOptions = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestCommonPrefix(t *testing.T) {
	tests := []struct{ key, prefix, delim, want string }{
		{"a/b/c", "", "/", "a/"},
		{"a/b/c", "a/", "/", "a/b/"},
		{"a/b", "a/", "/", ""},
		{"abc", "", "", ""},
		{"a--b--c", "a", "--", "a--"},
		{"photos/2024/x.jpg", "photos/20", "/", "photos/2024/"},
		{"x", "y", "/", ""},
	}
	for _, tt := range tests {
		if got := commonPrefix(tt.key, tt.prefix, tt.delim); got != tt.want {
			t.Errorf("commonPrefix(%q, %q, %q) = %q, want %q", tt.key, tt.prefix, tt.delim, got, tt.want)
		}
	}
}
