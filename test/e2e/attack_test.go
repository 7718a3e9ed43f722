package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/tags"
)

// putTracked puts key and returns the blob file the put created.
func putTracked(t *testing.T, srv *coffer, mc *minio.Client, bucket, key string, body []byte) string {
	t.Helper()
	before := blobFiles(t, srv.hostDir)
	if _, err := mc.PutObject(context.Background(), bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	created := newBlobs(before, blobFiles(t, srv.hostDir))
	if len(created) != 1 {
		t.Fatalf("put %s created %d blob files, want 1", key, len(created))
	}
	return created[0]
}

// readObject GETs bucket/key (a byte range when end >= 0) and returns what
// arrived and the error, if any, from the request or the body.
func readObject(mc *minio.Client, bucket, key string, start, end int64) ([]byte, error) {
	opts := minio.GetObjectOptions{}
	if end >= 0 {
		if err := opts.SetRange(start, end); err != nil {
			return nil, err
		}
	}
	obj, err := mc.GetObject(context.Background(), bucket, key, opts)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	return io.ReadAll(obj)
}

// TestTamperedBlobs attacks stored ciphertext while the server is stopped:
// a flipped byte at the start, middle or end of a blob, and two objects'
// blobs swapped. Every GET of a tampered object must fail, never return
// bytes that differ from what was written, and leave an integrity line in
// the server's log; an untouched object must still read.
func TestTamperedBlobs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startCoffer(t, dir, serverOptions{})
	mc := srv.minio(0)
	const bucket = "tamper"
	if err := mc.MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	const size = 300_000 // several 64 KiB sealed packages
	body := map[string][]byte{}
	blobOf := map[string]string{}
	for _, key := range []string{"flip-first", "flip-middle", "flip-last", "swap-a", "swap-b", "intact"} {
		body[key] = keyedBytes("tamper/"+key, size)
		blobOf[key] = putTracked(t, srv, mc, bucket, key, body[key])
	}
	srv.stop()

	flip := func(key string, at func(n int) int) {
		t.Helper()
		b, err := os.ReadFile(blobOf[key])
		if err != nil {
			t.Fatal(err)
		}
		b[at(len(b))] ^= 0x20
		if err := os.WriteFile(blobOf[key], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	flip("flip-first", func(int) int { return 0 })
	flip("flip-middle", func(n int) int { return n / 2 })
	flip("flip-last", func(n int) int { return n - 1 })
	a, err := os.ReadFile(blobOf["swap-a"])
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(blobOf["swap-b"])
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) {
		t.Fatalf("same-size objects have blobs of %d and %d bytes", len(a), len(b))
	}
	if err := os.WriteFile(blobOf["swap-a"], b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blobOf["swap-b"], a, 0o600); err != nil {
		t.Fatal(err)
	}

	srv = startCoffer(t, dir, serverOptions{})
	mc = srv.minio(1) // an integrity failure is a 500: do not retry it
	for _, tc := range []struct {
		key        string
		start, end int64 // a byte range; end -1 for the whole object
	}{
		{"flip-first", 0, -1},
		{"flip-middle", 0, -1},
		{"flip-middle", size/2 - 100, size/2 + 100},
		{"flip-last", 0, -1},
		{"flip-last", size - 10, size - 1},
		{"swap-a", 0, -1},
		{"swap-b", 0, -1},
		{"swap-b", 70_000, 70_100},
	} {
		got, err := readObject(mc, bucket, tc.key, tc.start, tc.end)
		if err == nil {
			t.Errorf("GET %s [%d,%d] of a tampered blob succeeded with %d bytes", tc.key, tc.start, tc.end, len(got))
		} else {
			t.Logf("GET %s [%d,%d]: %v, after %d bytes", tc.key, tc.start, tc.end, err, len(got))
		}
		// What arrived before the failure must be the true bytes.
		want := body[tc.key][tc.start:]
		if !bytes.HasPrefix(want, got) {
			t.Errorf("GET %s [%d,%d] returned %d bytes that are not what was written", tc.key, tc.start, tc.end, len(got))
		}
	}
	if got, err := readObject(mc, bucket, "intact", 0, -1); err != nil || !bytes.Equal(got, body["intact"]) {
		t.Errorf("GET of the untouched object: %d bytes, %v", len(got), err)
	}
	log := srv.log.String()
	for _, key := range []string{"flip-first", "flip-middle", "flip-last", "swap-a", "swap-b"} {
		if line := firstLine(log, "key="+key+" "); !strings.Contains(line, "integrity check failed") {
			t.Errorf("server log has no integrity line for %s:\n%s", key, log)
		}
	}
	if strings.Contains(log, "key=intact ") {
		t.Errorf("server log complains about the untouched object:\n%s", log)
	}
}

// TestNoPlaintextAtRest stores a marker string in an object's body, user
// metadata and tags, stops the server (by crash, which leaves the SQLite
// WAL as it was, and gracefully) and searches every file of the data
// directory for the marker, raw, base64 or hex encoded.
func TestNoPlaintextAtRest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var rnd [12]byte
	rand.Read(rnd[:])
	marker := "CofferMarker" + hex.EncodeToString(rnd[:])
	needles := map[string][]byte{
		"raw": []byte(marker),
		"hex": []byte(hex.EncodeToString([]byte(marker))),
	}
	// Base64 of the marker at each of the three alignments it can have in
	// a longer encoded string: the characters no neighbour byte affects.
	for k := range 3 {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, k), marker...))
		needles[fmt.Sprintf("base64+%d", k)] = []byte(enc[4 : len(enc)-4])
	}

	srv := startCoffer(t, dir, serverOptions{})
	mc := srv.minio(0)
	ctx := context.Background()
	const bucket = "secrets"
	if err := mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	objects := map[string][]byte{
		"just-the-marker": []byte(marker),
		"marker-inside":   bytes.Join([][]byte{keyedBytes("a", 70_000), []byte(marker), keyedBytes("b", 70_000), []byte(marker)}, nil),
	}
	for key, b := range objects {
		_, err := mc.PutObject(ctx, bucket, key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{
			UserMetadata: map[string]string{"secret": marker},
			UserTags:     map[string]string{"label": marker},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Tags set after the put go through a separate write path.
	tg, err := tags.NewTags(map[string]string{"later": marker}, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := mc.PutObjectTagging(ctx, bucket, "just-the-marker", tg, minio.PutObjectTaggingOptions{}); err != nil {
		t.Fatal(err)
	}
	// The server really holds them: they come back over the API.
	st, err := mc.StatObject(ctx, bucket, "marker-inside", minio.StatObjectOptions{})
	if err != nil || st.UserMetadata["Secret"] != marker {
		t.Fatalf("metadata did not round-trip: %v %v", st.UserMetadata, err)
	}
	if got, err := mc.GetObjectTagging(ctx, bucket, "just-the-marker", minio.GetObjectTaggingOptions{}); err != nil || got.ToMap()["later"] != marker {
		t.Fatalf("tags did not round-trip: %v %v", got, err)
	}

	search := func(when string) {
		t.Helper()
		var files []string
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			files = append(files, rel)
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for enc, n := range needles {
				if bytes.Contains(b, n) {
					t.Errorf("%s: the marker is in %s (%s)", when, rel, enc)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: searched %d files: %s", when, len(files), strings.Join(filterMeta(files), ", "))
	}
	srv.kill()
	search("after kill -9")
	srv = startCoffer(t, dir, serverOptions{})
	if got, err := readObject(srv.minio(0), bucket, "marker-inside", 0, -1); err != nil || !bytes.Equal(got, objects["marker-inside"]) {
		t.Fatalf("after restart: %d bytes, %v", len(got), err)
	}
	srv.stop()
	search("after graceful stop")
	if strings.Contains(srv.log.String(), marker) {
		t.Error("the server logged the marker")
	}
}

// filterMeta keeps the metadata store's file names, for the log.
func filterMeta(files []string) []string {
	var out []string
	for _, f := range files {
		if strings.HasPrefix(f, "meta.db") {
			out = append(out, f)
		}
	}
	return out
}

// TestPresignedURLExpiry fetches a presigned GET URL with a 1 s expiry
// before it expires (200) and after (403 AccessDenied).
func TestPresignedURLExpiry(t *testing.T) {
	t.Parallel()
	srv := startCoffer(t, t.TempDir(), serverOptions{})
	mc := srv.minio(0)
	ctx := context.Background()
	body := []byte("presigned content")
	if err := mc.MakeBucket(ctx, "presign", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := mc.PutObject(ctx, "presign", "k", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: srv.transport(), Timeout: 10 * time.Second}
	get := func(u string) (int, string) {
		t.Helper()
		resp, err := client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// X-Amz-Date has whole seconds: sign just after a second begins, so the
	// URL has most of its second of validity left. A GET that has not
	// finished within 900 ms of that (a loaded machine) proves nothing
	// either way and is tried again.
	var u string
	for attempt := 1; ; attempt++ {
		signed := time.Now().Truncate(time.Second).Add(time.Second)
		time.Sleep(time.Until(signed.Add(20 * time.Millisecond)))
		pu, err := mc.PresignedGetObject(ctx, "presign", "k", time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		u = pu.String()
		status, got := get(u)
		if status == http.StatusOK && got == string(body) {
			break
		}
		if time.Since(signed) < 900*time.Millisecond || attempt == 3 {
			t.Fatalf("presigned GET before expiry: %d %q", status, got)
		}
		t.Logf("presigned GET took %v; trying again", time.Since(signed))
	}
	time.Sleep(2 * time.Second)
	status, got := get(u)
	if status != http.StatusForbidden || !strings.Contains(got, "<Code>AccessDenied</Code>") {
		t.Fatalf("presigned GET after expiry: %d %s", status, got)
	}
	if strings.Contains(got, string(body)) {
		t.Fatal("expired URL returned the object")
	}
}
