package vault

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/coffer-vault/coffer/internal/seal"
)

// uploadParts uploads each part of sizes from data and returns the parts.
func uploadParts(tb testing.TB, e *env, bucket, key, id string, data []byte, sizes []int) []CompletePart {
	tb.Helper()
	var parts []CompletePart
	off := 0
	for i, n := range sizes {
		pi, err := e.svc.UploadPart(context.Background(), bucket, key, id, i+1, bytes.NewReader(data[off:off+n]), int64(n))
		if err != nil {
			tb.Fatalf("upload part %d: %v", i+1, err)
		}
		if pi.Number != i+1 || pi.Size != int64(n) || pi.ETag != md5hex(data[off:off+n]) {
			tb.Fatalf("part info = %+v", pi)
		}
		parts = append(parts, CompletePart{Number: i + 1, ETag: `"` + pi.ETag + `"`})
		off += n
	}
	return parts
}

// multipartETag is S3's ETag of a multipart object.
func multipartETag(data []byte, sizes []int) string {
	h := md5.New()
	off := 0
	for _, n := range sizes {
		s := md5.Sum(data[off : off+n])
		h.Write(s[:])
		off += n
	}
	return fmt.Sprintf("%s-%d", hex.EncodeToString(h.Sum(nil)), len(sizes))
}

// TestMultipartRanges completes an upload of parts that straddle package
// boundaries and checks range reads at every part and package boundary.
func TestMultipartRanges(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.svc.minPartSize = 1
	b := e.bucket(t, "data")
	const pkg = seal.PackageSize
	sizes := []int{pkg + 100, pkg, 2*pkg - 3, 1, 7}
	total := 0
	for _, n := range sizes {
		total += n
	}
	data := randomBytes(total, 11)
	opts := PutOptions{ContentType: "video/raw", UserMeta: map[string]string{"cam": "b"}, Tags: map[string]string{"x": "y"}}
	id, err := e.svc.CreateMultipartUpload(ctx, b, "movie", opts)
	if err != nil || len(id) != 32 {
		t.Fatalf("create = %q, %v", id, err)
	}
	parts := uploadParts(t, e, b, "movie", id, data, sizes)
	info, err := e.svc.CompleteMultipartUpload(ctx, b, "movie", id, parts)
	if err != nil {
		t.Fatal(err)
	}
	if info.ETag != multipartETag(data, sizes) || info.Size != int64(total) || info.VersionID != id ||
		info.PartsCount != len(sizes) || info.ContentType != "video/raw" || info.TagCount != 1 {
		t.Fatalf("complete info = %+v", info)
	}
	r, err := e.svc.OpenObject(ctx, b, "movie")
	if err != nil {
		t.Fatal(err)
	}
	if i := r.Info(); i.ETag != info.ETag || i.PartsCount != len(sizes) || !maps.Equal(i.UserMeta, opts.UserMeta) {
		t.Fatalf("Info = %+v", i)
	}
	r.Close()

	var bounds []int64
	off := int64(0)
	for _, n := range sizes {
		for p := int64(pkg); p < int64(n); p += pkg {
			bounds = append(bounds, off+p) // package boundary inside a part
		}
		off += int64(n)
		bounds = append(bounds, off) // part boundary
	}
	for _, rg := range boundaryRanges(int64(total), bounds) {
		got, err := e.readRange(t, b, "movie", rg[0], rg[1])
		if err != nil || !bytes.Equal(got, data[rg[0]:rg[0]+rg[1]]) {
			t.Fatalf("range %v: %v (got %d bytes)", rg, err, len(got))
		}
	}
	// Several ranges on one handle, read in small steps, then Close.
	r, _ = e.svc.OpenObject(ctx, b, "movie")
	rc1, _ := r.Range(ctx, 10, int64(total-20))
	rc2, _ := r.Range(ctx, int64(pkg), int64(pkg+200))
	var got1 bytes.Buffer
	buf := make([]byte, 777)
	for {
		n, err := rc1.Read(buf)
		got1.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if !bytes.Equal(got1.Bytes(), data[10:total-10]) {
		t.Fatal("small-step read differs")
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	rc1.Close()
	rc2.Close()
	if _, err := r.Range(ctx, 0, 1); err == nil {
		t.Fatal("Range after Close succeeded")
	}
	// Completed: the upload is gone.
	_, err = e.svc.ListParts(ctx, b, "movie", id, 0, 0)
	wantErr(t, "list parts after complete", err, ErrNoSuchUpload)
}

func TestMultipartValidation(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	b := e.bucket(t, "data")
	e.bucket(t, "other")
	e.svc.minPartSize = 100
	data := randomBytes(450, 3)
	id, err := e.svc.CreateMultipartUpload(ctx, b, "k", PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	parts := uploadParts(t, e, b, "k", id, data, []int{100, 50, 200, 100})
	p := func(n int) CompletePart { return parts[n-1] }
	tests := []struct {
		name  string
		parts []CompletePart
		want  error
	}{
		{"empty", nil, ErrInvalidArgument},
		{"descending", []CompletePart{p(3), p(1)}, ErrInvalidPartOrder},
		{"duplicate", []CompletePart{p(1), p(1)}, ErrInvalidPartOrder},
		{"missing part", []CompletePart{p(1), {Number: 9, ETag: p(1).ETag}}, ErrInvalidPart},
		{"wrong etag", []CompletePart{{Number: 1, ETag: p(3).ETag}, p(3)}, ErrInvalidPart},
		{"too small", []CompletePart{p(2), p(3)}, ErrEntityTooSmall},
		{"part zero", []CompletePart{{Number: 0, ETag: "x"}}, ErrInvalidArgument},
		{"part 10001", []CompletePart{{Number: 10001, ETag: "x"}}, ErrInvalidArgument},
	}
	for _, tt := range tests {
		_, err := e.svc.CompleteMultipartUpload(ctx, b, "k", id, tt.parts)
		wantErr(t, tt.name, err, tt.want)
	}
	for _, tt := range []struct {
		name, bucket, key, id string
		want                  error
	}{
		{"wrong key", b, "other", id, ErrNoSuchUpload},
		{"wrong bucket", "other", "k", id, ErrNoSuchUpload},
		{"missing bucket", "nope", "k", id, ErrNoSuchBucket},
		{"malformed id", b, "k", "../../etc", ErrNoSuchUpload},
		{"unknown id", b, "k", strings.Repeat("0", 32), ErrNoSuchUpload},
		{"bad key", b, "a/../b", id, ErrInvalidKey},
		{"bad bucket", "B", "k", id, ErrInvalidBucketName},
	} {
		_, err := e.svc.UploadPart(ctx, tt.bucket, tt.key, tt.id, 1, strings.NewReader("x"), 1)
		wantErr(t, tt.name+" upload part", err, tt.want)
		_, err = e.svc.CompleteMultipartUpload(ctx, tt.bucket, tt.key, tt.id, parts)
		wantErr(t, tt.name+" complete", err, tt.want)
		_, err = e.svc.ListParts(ctx, tt.bucket, tt.key, tt.id, 0, 0)
		wantErr(t, tt.name+" list parts", err, tt.want)
		wantErr(t, tt.name+" abort", e.svc.AbortMultipartUpload(ctx, tt.bucket, tt.key, tt.id), tt.want)
	}
	for _, n := range []int{0, -1, MaxPartNumber + 1} {
		_, err := e.svc.UploadPart(ctx, b, "k", id, n, strings.NewReader("x"), 1)
		wantErr(t, fmt.Sprintf("part number %d", n), err, ErrInvalidArgument)
	}
	_, err = e.svc.UploadPart(ctx, b, "k", id, 5, strings.NewReader("x"), MaxPutSize+1)
	wantErr(t, "part too large", err, ErrEntityTooLarge)
	_, err = e.svc.UploadPart(ctx, b, "k", id, 5, &errReader{data: []byte("x"), err: errDigest}, 1)
	wantErr(t, "part read error", err, errDigest)
	_, err = e.svc.UploadPart(ctx, b, "k", id, 5, strings.NewReader("x"), 2)
	wantErr(t, "short part", err, ErrIncompleteBody)
	_, err = e.svc.CreateMultipartUpload(ctx, "nope", "k", PutOptions{})
	wantErr(t, "create in missing bucket", err, ErrNoSuchBucket)
	_, err = e.svc.CreateMultipartUpload(ctx, b, "k", PutOptions{Tags: map[string]string{"": ""}})
	wantErr(t, "create bad tags", err, ErrInvalidTag)
	_, err = e.svc.ListParts(ctx, b, "k", id, -1, 0)
	wantErr(t, "negative marker", err, ErrInvalidArgument)
	if n := len(e.blobIDs(t)); n != 4 {
		t.Fatalf("%d blobs after failed calls, want the 4 parts", n)
	}

	// Failed completions changed nothing: the upload still completes, and
	// the unused part's blob is deleted.
	info, err := e.svc.CompleteMultipartUpload(ctx, b, "k", id, []CompletePart{p(1), p(3), p(4)})
	if err != nil {
		t.Fatal(err)
	}
	want := append(append(append([]byte{}, data[:100]...), data[150:350]...), data[350:]...)
	if got := e.get(t, b, "k"); !bytes.Equal(got, want) || info.Size != int64(len(want)) {
		t.Fatalf("completed object differs (%d bytes, want %d)", len(got), len(want))
	}
	if n := len(e.blobIDs(t)); n != 3 {
		t.Fatalf("%d blobs after completing with 3 of 4 parts", n)
	}
}

func TestMultipartReplaceAbortList(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.svc.minPartSize = 1
	b := e.bucket(t, "data")
	e.put(t, b, "k", []byte("old single put"), PutOptions{})

	id, _ := e.svc.CreateMultipartUpload(ctx, b, "k", PutOptions{})
	uploadParts(t, e, b, "k", id, []byte("aaaabbbbcccc"), []int{4, 4, 4})
	// Replacing part 2 deletes the replaced blob.
	before := len(e.blobIDs(t))
	pi, err := e.svc.UploadPart(ctx, b, "k", id, 2, strings.NewReader("BBBB"), 4)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(e.blobIDs(t)); n != before {
		t.Fatalf("replacing a part: %d blobs, want %d", n, before)
	}
	// ListParts pages.
	var got []int
	for marker := 0; ; {
		res, err := e.svc.ListParts(ctx, b, "k", id, marker, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range res.Parts {
			got = append(got, p.Number)
		}
		if !res.IsTruncated {
			break
		}
		marker = res.NextMarker
	}
	if fmt.Sprint(got) != "[1 2 3]" {
		t.Fatalf("listed parts %v", got)
	}
	res, _ := e.svc.ListParts(ctx, b, "k", id, 1, 1)
	if len(res.Parts) != 1 || res.Parts[0].ETag != pi.ETag || res.Parts[0].Size != 4 || !res.IsTruncated || res.NextMarker != 2 {
		t.Fatalf("ListParts page = %+v", res)
	}

	// The completed upload replaces the single PUT and deletes its blob.
	parts := []CompletePart{{1, md5hex([]byte("aaaa"))}, {2, pi.ETag}, {3, md5hex([]byte("cccc"))}}
	if _, err := e.svc.CompleteMultipartUpload(ctx, b, "k", id, parts); err != nil {
		t.Fatal(err)
	}
	if got := string(e.get(t, b, "k")); got != "aaaaBBBBcccc" {
		t.Fatalf("read %q", got)
	}
	if n := len(e.blobIDs(t)); n != 3 {
		t.Fatalf("%d blobs, want 3 (the replaced single PUT's must be gone)", n)
	}
	if n := e.dekCount(t); n != 3 {
		t.Fatalf("%d DEKs, want 3", n)
	}

	// Abort deletes the parts' blobs.
	id2, _ := e.svc.CreateMultipartUpload(ctx, b, "k2", PutOptions{})
	uploadParts(t, e, b, "k2", id2, []byte("xxyy"), []int{2, 2})
	wantErr(t, "abort", e.svc.AbortMultipartUpload(ctx, b, "k2", id2), nil)
	if n := len(e.blobIDs(t)); n != 3 {
		t.Fatalf("%d blobs after abort, want 3", n)
	}
	_, err = e.svc.UploadPart(ctx, b, "k2", id2, 1, strings.NewReader("x"), 1)
	wantErr(t, "part after abort", err, ErrNoSuchUpload)
	wantErr(t, "abort twice", e.svc.AbortMultipartUpload(ctx, b, "k2", id2), ErrNoSuchUpload)

	// ListMultipartUploads with a delimiter and paging.
	ids := map[string]string{}
	for _, k := range []string{"a/1", "a/2", "b", "c/x/1", "d"} {
		id, err := e.svc.CreateMultipartUpload(ctx, b, k, PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids[k] = id
	}
	var seen []string
	p := UploadsParams{Delimiter: "/", MaxUploads: 2}
	for {
		res, err := e.svc.ListMultipartUploads(ctx, b, p)
		if err != nil {
			t.Fatal(err)
		}
		var page []string
		for _, u := range res.Uploads {
			if ids[u.Key] != u.UploadID || u.Initiated.IsZero() {
				t.Fatalf("upload %+v", u)
			}
			page = append(page, u.Key)
		}
		page = append(page, res.CommonPrefixes...)
		slices.Sort(page)
		seen = append(seen, page...)
		if !res.IsTruncated {
			break
		}
		p.KeyMarker, p.UploadIDMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
	if fmt.Sprint(seen) != "[a/ b c/ d]" {
		t.Fatalf("listed uploads %v", seen)
	}
	_, err = e.svc.ListMultipartUploads(ctx, "nope", UploadsParams{})
	wantErr(t, "list uploads missing bucket", err, ErrNoSuchBucket)
	_, err = e.svc.ListMultipartUploads(ctx, b, UploadsParams{MaxUploads: -1})
	wantErr(t, "list uploads negative max", err, ErrInvalidArgument)
}
