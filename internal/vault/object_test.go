package vault

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/coffer-vault/coffer/internal/seal"
)

func TestBuckets(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	s := e.svc

	wantErr(t, "create", s.CreateBucket(ctx, "photos"), nil)
	wantErr(t, "create again", s.CreateBucket(ctx, "photos"), ErrBucketExists)
	wantErr(t, "create second", s.CreateBucket(ctx, "docs"), nil)
	info, err := s.HeadBucket(ctx, "photos")
	if err != nil || info.Name != "photos" || info.Created.IsZero() {
		t.Fatalf("HeadBucket = %+v, %v", info, err)
	}
	bs, err := s.ListBuckets(ctx)
	if err != nil || len(bs) != 2 || bs[0].Name != "docs" || bs[1].Name != "photos" {
		t.Fatalf("ListBuckets = %+v, %v", bs, err)
	}

	e.put(t, "photos", "a.jpg", []byte("jpeg"), PutOptions{})
	wantErr(t, "delete non-empty", s.DeleteBucket(ctx, "photos"), ErrBucketNotEmpty)
	wantErr(t, "delete object", s.DeleteObject(ctx, "photos", "a.jpg"), nil)

	// An in-progress upload goes with its bucket, blobs included.
	id, err := s.CreateMultipartUpload(ctx, "photos", "big", PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UploadPart(ctx, "photos", "big", id, 1, strings.NewReader("part"), 4); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "delete with upload", s.DeleteBucket(ctx, "photos"), nil)
	if ids := e.blobIDs(t); len(ids) != 0 {
		t.Errorf("blobs left after DeleteBucket: %v", ids)
	}
	_, err = s.HeadBucket(ctx, "photos")
	wantErr(t, "head deleted", err, ErrNoSuchBucket)
	wantErr(t, "delete missing", s.DeleteBucket(ctx, "photos"), ErrNoSuchBucket)

	for _, name := range []string{"", "ab", "Photos", "admin", "metrics", "1.2.3.4", "xn--x", "a..b", "b-s3alias"} {
		wantErr(t, "create "+name, s.CreateBucket(ctx, name), ErrInvalidBucketName)
		_, err := s.HeadBucket(ctx, name)
		wantErr(t, "head "+name, err, ErrInvalidBucketName)
		wantErr(t, "delete "+name, s.DeleteBucket(ctx, name), ErrInvalidBucketName)
	}
	if bs, _ := s.ListBuckets(ctx); len(bs) != 1 {
		t.Errorf("bad names changed the bucket list: %+v", bs)
	}
}

// TestPutGet round-trips sizes around the 64 KiB package size, with the size
// given and unknown, and reads ranges at package boundaries.
func TestPutGet(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	b := e.bucket(t, "data")
	const pkg = seal.PackageSize
	opts := PutOptions{
		ContentType: "application/octet-stream",
		Headers:     map[string]string{"Cache-Control": "no-store", "Content-Disposition": `attachment; filename="x"`},
		UserMeta:    map[string]string{"owner": "crew-7", "scene": "12b"},
		Tags:        map[string]string{"project": "apollo", "stage": "raw"},
		Checksum:    "CRC32:AAAAAA==",
	}
	keys := map[string]bool{}
	for _, size := range []int{0, 1, 100, pkg - 1, pkg, pkg + 1, 3*pkg + 17} {
		for _, unknown := range []bool{false, true} {
			data := randomBytes(size, uint64(size))
			key := "obj/" + strings.Repeat("x", size%7)
			keys[key] = true
			declared := int64(size)
			if unknown {
				declared = -1
			}
			info, err := e.svc.PutObject(ctx, b, key, bytes.NewReader(data), declared, opts)
			if err != nil {
				t.Fatalf("put %d (unknown=%v): %v", size, unknown, err)
			}
			if info.Size != int64(size) || info.ETag != md5hex(data) || len(info.VersionID) != 32 || info.TagCount != 2 {
				t.Fatalf("put info = %+v", info)
			}
			r, err := e.svc.OpenObject(ctx, b, key)
			if err != nil {
				t.Fatal(err)
			}
			got := r.Info()
			r.Close()
			if got.Size != int64(size) || got.ETag != info.ETag || got.VersionID != info.VersionID ||
				got.ContentType != opts.ContentType || !maps.Equal(got.UserMeta, opts.UserMeta) ||
				!maps.Equal(got.Headers, opts.Headers) || got.Checksum != opts.Checksum ||
				got.TagCount != 2 || got.PartsCount != 0 || !got.LastModified.Equal(info.LastModified) {
				t.Fatalf("Info = %+v, want like %+v", got, info)
			}
			if !bytes.Equal(e.get(t, b, key), data) {
				t.Fatalf("size %d: read differs", size)
			}
			for _, rg := range boundaryRanges(int64(size), []int64{pkg, 2 * pkg, 3 * pkg}) {
				got, err := e.readRange(t, b, key, rg[0], rg[1])
				if err != nil || !bytes.Equal(got, data[rg[0]:rg[0]+rg[1]]) {
					t.Fatalf("size %d range %v: %v (got %d bytes)", size, rg, err, len(got))
				}
			}
		}
	}
	if n := len(e.blobIDs(t)); n != len(keys) {
		t.Errorf("%d blobs for %d keys: replaced blobs must be deleted", n, len(keys))
	}
}

// boundaryRanges returns (off, length) pairs around each boundary in a
// stream of size bytes, clipped to it.
func boundaryRanges(size int64, bounds []int64) [][2]int64 {
	var out [][2]int64
	add := func(off, n int64) {
		if off < 0 || n < 0 || off > size {
			return
		}
		n = min(n, size-off)
		out = append(out, [2]int64{off, n})
	}
	add(0, size)
	add(0, 0)
	add(0, 1)
	add(size, 0)
	add(size-1, 1)
	for _, b := range bounds {
		for _, d := range []int64{-2, -1, 0, 1} {
			add(b+d, 1)
			add(b+d, 3)
			add(b+d, size)
			add(0, b+d)
		}
	}
	return out
}

func TestPutReplaceDeletesOldBlobs(t *testing.T) {
	e := newEnv(t)
	b := e.bucket(t, "data")
	e.put(t, b, "k", []byte("one"), PutOptions{})
	first := e.segments(t, b, "k")[0].BlobID
	e.put(t, b, "k", []byte("two"), PutOptions{})
	if got := string(e.get(t, b, "k")); got != "two" {
		t.Fatalf("read %q", got)
	}
	ids := e.blobIDs(t)
	if len(ids) != 1 || ids[0] == first {
		t.Fatalf("blobs = %v; the replaced blob %s must be gone", ids, first)
	}
	if n := e.dekCount(t); n != 1 {
		t.Fatalf("%d wrapped DEKs, want 1", n)
	}
}

// errReader returns its data, then err with the last bytes (as a reader
// that checks a digest at EOF does).
type errReader struct {
	data []byte
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	n := copy(p, r.data)
	r.data = r.data[n:]
	if len(r.data) == 0 {
		return n, r.err
	}
	return n, nil
}

var errDigest = errors.New("test: digest mismatch")

func TestPutBadInput(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	b := e.bucket(t, "data")
	e.svc.maxPutSize = 1000
	tests := []struct {
		name   string
		bucket string
		key    string
		body   io.Reader
		size   int64
		opts   PutOptions
		want   error
	}{
		{"bad bucket", "Data", "k", strings.NewReader("x"), 1, PutOptions{}, ErrInvalidBucketName},
		{"reserved bucket", "admin", "k", strings.NewReader("x"), 1, PutOptions{}, ErrInvalidBucketName},
		{"missing bucket", "nope", "k", strings.NewReader("x"), 1, PutOptions{}, ErrNoSuchBucket},
		{"empty key", b, "", strings.NewReader("x"), 1, PutOptions{}, ErrInvalidKey},
		{"key too long", b, strings.Repeat("k", MaxKeyLen+1), strings.NewReader("x"), 1, PutOptions{}, ErrKeyTooLong},
		{"invalid utf8", b, "a\xffb", strings.NewReader("x"), 1, PutOptions{}, ErrInvalidKey},
		{"dotdot", b, "a/../b", strings.NewReader("x"), 1, PutOptions{}, ErrInvalidKey},
		{"dot", b, "./b", strings.NewReader("x"), 1, PutOptions{}, ErrInvalidKey},
		{"nul", b, "a\x00", strings.NewReader("x"), 1, PutOptions{}, ErrInvalidKey},
		{"too large declared", b, "k", strings.NewReader("x"), 1001, PutOptions{}, ErrEntityTooLarge},
		{"too large exported limit", b, "k", strings.NewReader("x"), MaxPutSize + 1, PutOptions{}, ErrEntityTooLarge},
		{"too large unknown", b, "k", bytes.NewReader(make([]byte, 1001)), -1, PutOptions{}, ErrEntityTooLarge},
		{"negative size", b, "k", strings.NewReader("x"), -2, PutOptions{}, ErrInvalidArgument},
		{"short body", b, "k", strings.NewReader("abc"), 10, PutOptions{}, ErrIncompleteBody},
		{"read error", b, "k", &errReader{data: []byte("abc"), err: errDigest}, 3, PutOptions{}, errDigest},
		{"read error unknown size", b, "k", &errReader{data: []byte("abc"), err: errDigest}, -1, PutOptions{}, errDigest},
		{"read error empty", b, "k", &errReader{err: errDigest}, 0, PutOptions{}, errDigest},
		{"bad tag", b, "k", strings.NewReader("x"), 1, PutOptions{Tags: map[string]string{"k": "<v>"}}, ErrInvalidTag},
		{"meta too big", b, "k", strings.NewReader("x"), 1, PutOptions{UserMeta: map[string]string{"m": strings.Repeat("v", MaxUserMetaSize)}}, ErrInvalidArgument},
	}
	for _, tt := range tests {
		_, err := e.svc.PutObject(ctx, tt.bucket, tt.key, tt.body, tt.size, tt.opts)
		wantErr(t, tt.name, err, tt.want)
	}
	// Nothing changed: no object, no blob, no temporary file left visible.
	res, err := e.svc.ListObjects(ctx, b, ListParams{MaxKeys: 10})
	if err != nil || len(res.Objects) != 0 {
		t.Errorf("objects after failed puts: %+v, %v", res.Objects, err)
	}
	if ids := e.blobIDs(t); len(ids) != 0 {
		t.Errorf("blobs after failed puts: %v", ids)
	}
	if n := e.dekCount(t); n != 0 {
		t.Errorf("%d DEKs after failed puts", n)
	}

	// A failed overwrite leaves the old version intact.
	e.put(t, b, "k", []byte("old"), PutOptions{})
	_, err = e.svc.PutObject(ctx, b, "k", &errReader{data: []byte("new"), err: errDigest}, 3, PutOptions{})
	wantErr(t, "failed overwrite", err, errDigest)
	if got := string(e.get(t, b, "k")); got != "old" {
		t.Errorf("after failed overwrite read %q", got)
	}

	// Exactly at the limit is fine, with the size known or not; a longer
	// body than declared stores only the declared bytes.
	for _, size := range []int64{1000, -1} {
		if _, err := e.svc.PutObject(ctx, b, "limit", bytes.NewReader(make([]byte, 1000)), size, PutOptions{}); err != nil {
			t.Errorf("put at limit (size %d): %v", size, err)
		}
	}
	info, err := e.svc.PutObject(ctx, b, "long", strings.NewReader("abcdef"), 3, PutOptions{})
	if err != nil || info.Size != 3 || string(e.get(t, b, "long")) != "abc" {
		t.Errorf("longer body: %+v, %v", info, err)
	}
	// A cancelled context aborts the write.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = e.svc.PutObject(cctx, b, "cancelled", strings.NewReader("x"), 1, PutOptions{})
	wantErr(t, "cancelled", err, context.Canceled)
}

func TestOpenDeleteMissing(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	b := e.bucket(t, "data")
	tests := []struct {
		name, bucket, key string
		wantOpen          error
		wantDelete        error
	}{
		{"missing key", b, "nope", ErrNoSuchKey, nil},
		{"missing bucket", "nope", "k", ErrNoSuchBucket, ErrNoSuchBucket},
		{"bad bucket", "BAD", "k", ErrInvalidBucketName, ErrInvalidBucketName},
		{"bad key", b, "../x", ErrInvalidKey, ErrInvalidKey},
		{"long key", b, strings.Repeat("k", 1025), ErrKeyTooLong, ErrKeyTooLong},
		{"bad utf8", b, "\xc3(", ErrInvalidKey, ErrInvalidKey},
	}
	for _, tt := range tests {
		_, err := e.svc.OpenObject(ctx, tt.bucket, tt.key)
		wantErr(t, tt.name+" open", err, tt.wantOpen)
		wantErr(t, tt.name+" delete", e.svc.DeleteObject(ctx, tt.bucket, tt.key), tt.wantDelete)
		_, err = e.svc.GetTags(ctx, tt.bucket, tt.key)
		wantErr(t, tt.name+" get tags", err, tt.wantOpen)
		wantErr(t, tt.name+" put tags", e.svc.PutTags(ctx, tt.bucket, tt.key, map[string]string{"a": "b"}), tt.wantOpen)
		wantErr(t, tt.name+" delete tags", e.svc.DeleteTags(ctx, tt.bucket, tt.key), tt.wantOpen)
	}
}

func TestDeleteShreds(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	b := e.bucket(t, "data")
	e.put(t, b, "keep", []byte("keep"), PutOptions{})
	e.put(t, b, "gone", []byte("gone"), PutOptions{Tags: map[string]string{"t": "v"}})
	seg := e.segments(t, b, "gone")[0]
	path := e.blobPath(t, seg.BlobID)
	if n := e.dekCount(t); n != 2 {
		t.Fatalf("%d DEKs, want 2", n)
	}
	wantErr(t, "delete", e.svc.DeleteObject(ctx, b, "gone"), nil)
	if n := e.dekCount(t); n != 1 {
		t.Fatalf("after delete %d DEKs, want 1: the wrapped DEK must be destroyed", n)
	}
	if _, err := e.svc.blobs.Open(ctx, seg.BlobID); err == nil {
		t.Fatal("blob still opens after delete")
	}
	if _, err := statFile(path); err == nil {
		t.Fatalf("blob file %s still exists", path)
	}
	_, err := e.svc.OpenObject(ctx, b, "gone")
	wantErr(t, "open deleted", err, ErrNoSuchKey)
	wantErr(t, "delete again", e.svc.DeleteObject(ctx, b, "gone"), nil)
	if string(e.get(t, b, "keep")) != "keep" {
		t.Fatal("other object damaged")
	}

	// A handle opened before a delete reports the object gone, not damaged.
	r, err := e.svc.OpenObject(ctx, b, "keep")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	wantErr(t, "delete while open", e.svc.DeleteObject(ctx, b, "keep"), nil)
	rc, err := r.Range(ctx, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, err = io.ReadAll(rc)
	wantErr(t, "read after concurrent delete", err, ErrNoSuchKey)
}

func TestCopyObject(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	src := e.bucket(t, "src")
	dst := e.bucket(t, "dst")
	data := randomBytes(3*seal.PackageSize+5, 7)
	opts := PutOptions{ContentType: "video/mp4", UserMeta: map[string]string{"a": "1"}, Tags: map[string]string{"t": "1"}, Checksum: "CRC32:AAAAAA=="}
	srcInfo := e.put(t, src, "clip", data, opts)

	// Keep metadata and tags.
	info, err := e.svc.CopyObject(ctx, src, "clip", dst, "copy", CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.ETag != srcInfo.ETag || info.VersionID == srcInfo.VersionID || info.ContentType != "video/mp4" || info.TagCount != 1 || info.Checksum != opts.Checksum {
		t.Fatalf("copy info = %+v", info)
	}
	if !bytes.Equal(e.get(t, dst, "copy"), data) {
		t.Fatal("copy differs")
	}
	if tags, _ := e.svc.GetTags(ctx, dst, "copy"); !maps.Equal(tags, opts.Tags) {
		t.Fatalf("copied tags = %v", tags)
	}
	s1, s2 := e.segments(t, src, "clip")[0], e.segments(t, dst, "copy")[0]
	if s1.BlobID == s2.BlobID || bytes.Equal(s1.WrappedDEK, s2.WrappedDEK) {
		t.Fatal("copy shares the source's blob or DEK")
	}

	// Replace metadata, keep tags; replace tags, keep metadata.
	newMeta := PutOptions{ContentType: "text/plain", UserMeta: map[string]string{"b": "2"}, Tags: map[string]string{"n": "2"}}
	if _, err := e.svc.CopyObject(ctx, src, "clip", dst, "m", CopyOptions{ReplaceMeta: true, Meta: newMeta}); err != nil {
		t.Fatal(err)
	}
	r, _ := e.svc.OpenObject(ctx, dst, "m")
	if i := r.Info(); i.ContentType != "text/plain" || !maps.Equal(i.UserMeta, newMeta.UserMeta) || i.Checksum != "" {
		t.Fatalf("replaced meta = %+v", i)
	}
	r.Close()
	if tags, _ := e.svc.GetTags(ctx, dst, "m"); !maps.Equal(tags, opts.Tags) {
		t.Fatalf("tags with REPLACE meta only = %v, want source's", tags)
	}
	if _, err := e.svc.CopyObject(ctx, src, "clip", dst, "t", CopyOptions{ReplaceTags: true, Meta: newMeta}); err != nil {
		t.Fatal(err)
	}
	r, _ = e.svc.OpenObject(ctx, dst, "t")
	if i := r.Info(); i.ContentType != "video/mp4" || !maps.Equal(i.UserMeta, opts.UserMeta) {
		t.Fatalf("meta with REPLACE tags only = %+v", i)
	}
	r.Close()
	if tags, _ := e.svc.GetTags(ctx, dst, "t"); !maps.Equal(tags, newMeta.Tags) {
		t.Fatalf("replaced tags = %v", tags)
	}

	// Onto itself: refused without a replace, allowed with one.
	_, err = e.svc.CopyObject(ctx, src, "clip", src, "clip", CopyOptions{})
	wantErr(t, "self copy", err, ErrInvalidCopy)
	oldBlob := e.segments(t, src, "clip")[0].BlobID
	if _, err := e.svc.CopyObject(ctx, src, "clip", src, "clip", CopyOptions{ReplaceMeta: true, Meta: newMeta}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.get(t, src, "clip"), data) {
		t.Fatal("self copy damaged data")
	}
	if _, err := e.svc.blobs.Open(ctx, oldBlob); err == nil {
		t.Fatal("self copy left the replaced blob")
	}

	// Bad input.
	e.svc.maxPutSize = int64(len(data) - 1)
	_, err = e.svc.CopyObject(ctx, src, "clip", dst, "big", CopyOptions{})
	wantErr(t, "too large", err, ErrEntityTooLarge)
	e.svc.maxPutSize = MaxPutSize
	for _, tt := range []struct {
		name           string
		sb, sk, db, dk string
		opts           CopyOptions
		want           error
	}{
		{"missing source", src, "nope", dst, "x", CopyOptions{}, ErrNoSuchKey},
		{"missing source bucket", "nope", "clip", dst, "x", CopyOptions{}, ErrNoSuchBucket},
		{"missing dest bucket", src, "clip", "nope", "x", CopyOptions{}, ErrNoSuchBucket},
		{"bad dest key", src, "clip", dst, "a/./b", CopyOptions{}, ErrInvalidKey},
		{"bad source bucket", "S", "clip", dst, "x", CopyOptions{}, ErrInvalidBucketName},
		{"bad tags", src, "clip", dst, "x", CopyOptions{ReplaceTags: true, Meta: PutOptions{Tags: map[string]string{"aws:x": "1"}}}, ErrInvalidTag},
		{"bad meta", src, "clip", dst, "x", CopyOptions{ReplaceMeta: true, Meta: PutOptions{UserMeta: map[string]string{"x": strings.Repeat("v", 4096)}}}, ErrInvalidArgument},
	} {
		_, err := e.svc.CopyObject(ctx, tt.sb, tt.sk, tt.db, tt.dk, tt.opts)
		wantErr(t, tt.name, err, tt.want)
	}
	if _, err := e.svc.OpenObject(ctx, dst, "x"); !errors.Is(err, ErrNoSuchKey) {
		t.Errorf("failed copies created an object: %v", err)
	}
}

func TestTags(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	b := e.bucket(t, "data")
	e.put(t, b, "k", []byte("v"), PutOptions{})
	tags, err := e.svc.GetTags(ctx, b, "k")
	if err != nil || tags == nil || len(tags) != 0 {
		t.Fatalf("GetTags on untagged = %v, %v", tags, err)
	}
	want := map[string]string{"a": "1", "b b": "x/y:z", "ü": ""}
	wantErr(t, "put tags", e.svc.PutTags(ctx, b, "k", want), nil)
	if tags, _ := e.svc.GetTags(ctx, b, "k"); !maps.Equal(tags, want) {
		t.Fatalf("GetTags = %v", tags)
	}
	r, _ := e.svc.OpenObject(ctx, b, "k")
	if r.Info().TagCount != 3 {
		t.Errorf("TagCount = %d", r.Info().TagCount)
	}
	r.Close()
	wantErr(t, "bad tags", e.svc.PutTags(ctx, b, "k", map[string]string{"k": "v\x00"}), ErrInvalidTag)
	if tags, _ := e.svc.GetTags(ctx, b, "k"); !maps.Equal(tags, want) {
		t.Fatalf("bad PutTags changed tags: %v", tags)
	}
	wantErr(t, "delete tags", e.svc.DeleteTags(ctx, b, "k"), nil)
	if tags, _ := e.svc.GetTags(ctx, b, "k"); len(tags) != 0 {
		t.Fatalf("after DeleteTags: %v", tags)
	}
	// Tags belong to a version: a new PUT without tags has none.
	e.svc.PutTags(ctx, b, "k", want)
	e.put(t, b, "k", []byte("v2"), PutOptions{})
	if tags, _ := e.svc.GetTags(ctx, b, "k"); len(tags) != 0 {
		t.Fatalf("tags survived an overwrite: %v", tags)
	}
}

// TestListObjectsModelSQLite runs the listing property test on SQLite.
func TestListObjectsModelSQLite(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	b := e.bucket(t, "list")
	rng := newRand(5)
	var keys []string
	for range 40 {
		k := randomKey(rng)
		if ValidObjectKey(k) != nil || slices.Contains(keys, k) {
			continue
		}
		keys = append(keys, k)
		if _, err := e.svc.PutObject(ctx, b, k, strings.NewReader(""), 0, PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(keys)
	for range 150 {
		prefix, delim, after, maxKeys := listCase(rng, keys)
		checkListing(t, e.svc, b, keys, prefix, delim, after, maxKeys)
	}
}
