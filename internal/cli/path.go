package cli

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// remotePath is a parsed ALIAS[/BUCKET[/KEY]] argument.
type remotePath struct {
	Alias  string
	Bucket string
	// Key is everything after BUCKET/, unchanged; it may be empty or a
	// prefix ending in "/".
	Key string
}

// String returns the path as the user would write it.
func (p remotePath) String() string {
	s := p.Alias
	if p.Bucket != "" {
		s += "/" + p.Bucket
		if p.Key != "" {
			s += "/" + p.Key
		}
	}
	return s
}

// parseRemote parses ALIAS[/BUCKET[/KEY]], as mc does: the first segment is
// the alias, the second the bucket, and the rest (slashes included) the key.
func parseRemote(s string) (remotePath, error) {
	if s == "" {
		return remotePath{}, fmt.Errorf("empty path: want ALIAS/BUCKET/KEY")
	}
	if strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") {
		return remotePath{}, fmt.Errorf("%q is a local path: want ALIAS/BUCKET/KEY", s)
	}
	alias, rest, _ := strings.Cut(s, "/")
	if err := validAliasName(alias); err != nil {
		return remotePath{}, fmt.Errorf("path %q: %w", s, err)
	}
	bucket, key, hasKey := strings.Cut(rest, "/")
	if bucket == "" && hasKey && key != "" {
		return remotePath{}, fmt.Errorf("path %q: empty bucket name", s)
	}
	if strings.ContainsAny(bucket, `\ `) {
		return remotePath{}, fmt.Errorf("path %q: invalid bucket name %q", s, bucket)
	}
	return remotePath{Alias: alias, Bucket: bucket, Key: key}, nil
}

// needBucket parses s and requires a bucket and no key (mb, rb).
func needBucket(s string) (remotePath, error) {
	p, err := parseRemote(s)
	if err != nil {
		return p, err
	}
	if p.Bucket == "" {
		return p, fmt.Errorf("%q names no bucket: want ALIAS/BUCKET", s)
	}
	if p.Key != "" {
		return p, fmt.Errorf("%q names an object: want ALIAS/BUCKET", s)
	}
	return p, nil
}

// needObject parses s and requires a bucket and a key that is not a prefix.
func needObject(s string) (remotePath, error) {
	p, err := parseRemote(s)
	if err != nil {
		return p, err
	}
	if p.Bucket == "" || p.Key == "" {
		return p, fmt.Errorf("%q names no object: want ALIAS/BUCKET/KEY", s)
	}
	if strings.HasSuffix(p.Key, "/") {
		return p, fmt.Errorf("%q is a prefix, not an object: want ALIAS/BUCKET/KEY", s)
	}
	return p, nil
}

// joinKey appends a relative, slash-separated name to a key prefix.
func joinKey(prefix, rel string) string {
	switch {
	case prefix == "":
		return rel
	case strings.HasSuffix(prefix, "/"):
		return prefix + rel
	default:
		return prefix + "/" + rel
	}
}

// putTargetKey decides the key for one uploaded file: the target key when
// it names an object, or prefix + the file's base name when the target is
// a bucket, ends in "/", or several sources are given.
func putTargetKey(target remotePath, localName string, asPrefix bool) string {
	if target.Key == "" || strings.HasSuffix(target.Key, "/") || asPrefix {
		return joinKey(target.Key, path.Base(strings.ReplaceAll(localName, `\`, "/")))
	}
	return target.Key
}

// sortedStrings returns s sorted.
func sortedStrings(s []string) []string {
	sort.Strings(s)
	return s
}
