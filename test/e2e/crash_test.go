package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// crashKey names an object whose content is keyedBytes(key, size): the
// size is part of the key, so every listed object can be checked from its
// name alone.
func crashKey(worker, i, size int) string {
	return fmt.Sprintf("w%d/%05d-%d", worker, i, size)
}

// mpKey names a multipart object of parts parts of mpPartSize bytes; part
// n holds keyedBytes(key+"#n", mpPartSize).
func mpKey(i, parts int) string { return fmt.Sprintf("mp/%03d-%dx%d", i, parts, mpPartSize) }

const mpPartSize = 5 * mib

// expectedContent recomputes what an object must hold from its key.
func expectedContent(t *testing.T, key string) []byte {
	t.Helper()
	base := key[strings.LastIndexByte(key, '/')+1:]
	if strings.HasPrefix(key, "mp/") {
		var i, parts, partSize int
		if _, err := fmt.Sscanf(base, "%03d-%dx%d", &i, &parts, &partSize); err != nil {
			t.Fatalf("unexpected key %q: %v", key, err)
		}
		var b []byte
		for n := 1; n <= parts; n++ {
			b = append(b, keyedBytes(fmt.Sprintf("%s#%d", key, n), partSize)...)
		}
		return b
	}
	_, sz, ok := strings.Cut(base, "-")
	size, err := strconv.Atoi(sz)
	if !ok || err != nil {
		t.Fatalf("unexpected key %q", key)
	}
	return keyedBytes(key, size)
}

// TestCrashDuringUploads kills -9 the server while eight clients upload and
// a multipart upload is in flight, restarts it on the same data directory
// and checks that every acknowledged object reads back intact, no listed
// object is partial, and no orphaned or temporary blob is left.
func TestCrashDuringUploads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startCoffer(t, dir, serverOptions{})
	const bucket = "crash"
	setup := srv.minio(0)
	if err := setup.MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}

	var (
		mu    sync.Mutex
		acked []string
	)
	ack := func(key string) { mu.Lock(); acked = append(acked, key); mu.Unlock() }

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	mc := srv.minio(1) // one try per request: nothing is retried across the kill
	const workers = 8
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for i := 0; ctx.Err() == nil; i++ {
				size := 1<<10 + rng.IntN(3*mib)
				key := crashKey(w, i, size)
				_, err := mc.PutObject(ctx, bucket, key, bytes.NewReader(keyedBytes(key, size)), int64(size), minio.PutObjectOptions{})
				if err == nil {
					ack(key)
				}
			}
		})
	}
	// Multipart uploads back to back: the one in flight at the kill must
	// end up absent or complete, never partial.
	var mpStarted, mpDone int
	core := minio.Core{Client: mc}
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			const parts = 3
			key := mpKey(i, parts)
			id, err := core.NewMultipartUpload(ctx, bucket, key, minio.PutObjectOptions{})
			if err != nil {
				continue
			}
			mpStarted++
			var done []minio.CompletePart
			for n := 1; n <= parts && err == nil; n++ {
				var p minio.ObjectPart
				p, err = core.PutObjectPart(ctx, bucket, key, id, n, bytes.NewReader(keyedBytes(fmt.Sprintf("%s#%d", key, n), mpPartSize)), mpPartSize, minio.PutObjectPartOptions{})
				done = append(done, minio.CompletePart{PartNumber: n, ETag: p.ETag})
			}
			if err != nil {
				continue
			}
			if _, err := core.CompleteMultipartUpload(ctx, bucket, key, id, done, minio.PutObjectOptions{}); err == nil {
				mpDone++
				ack(key)
			}
		}
	})

	time.Sleep(1500 * time.Millisecond)
	srv.kill()
	// Requests on their way stop failing fast once the server is gone;
	// the cancel bounds the rest.
	time.AfterFunc(200*time.Millisecond, cancel)
	waitGroupTimeout(t, &wg, time.Minute)
	t.Logf("before the kill: %d objects acknowledged, %d multipart uploads started, %d completed", len(acked), mpStarted, mpDone)
	if len(acked) < workers {
		t.Fatalf("only %d uploads acknowledged in 1.5 s; the crash would test little", len(acked))
	}

	// What the crash left: temporary files of interrupted writes, and
	// maybe blobs committed just before their metadata.
	tmpBefore, err := os.ReadDir(filepath.Join(dir, "blobs", "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	blobsBefore := len(blobFiles(t, dir))

	srv2 := startCoffer(t, dir, serverOptions{})
	mc2 := srv2.minio(0)
	get := func(key string) ([]byte, error) {
		obj, err := mc2.GetObject(context.Background(), bucket, key, minio.GetObjectOptions{})
		if err != nil {
			return nil, err
		}
		defer obj.Close()
		return io.ReadAll(obj)
	}

	for _, key := range acked {
		got, err := get(key)
		if err != nil {
			t.Errorf("acknowledged %s: %v", key, err)
		} else if want := expectedContent(t, key); !bytes.Equal(got, want) {
			t.Errorf("acknowledged %s: read %d bytes that differ from the %d written", key, len(got), len(want))
		}
	}

	// Every listed object is whole; count the segments they reference.
	segments := 0
	listed := 0
	for o := range mc2.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		listed++
		want := expectedContent(t, o.Key)
		if o.Size != int64(len(want)) {
			t.Errorf("listed %s has size %d, want %d", o.Key, o.Size, len(want))
		}
		if got, err := get(o.Key); err != nil || !bytes.Equal(got, want) {
			t.Errorf("listed %s: %d bytes, err %v; want its %d bytes", o.Key, len(got), err, len(want))
		}
		if n := multipartParts(o.ETag); n > 0 {
			segments += n
		} else {
			segments++
		}
	}
	if listed < len(acked) {
		t.Errorf("%d objects listed, fewer than the %d acknowledged", listed, len(acked))
	}
	// Parts of uploads the crash interrupted are still referenced, by
	// their upload, until it is completed or aborted.
	core2 := minio.Core{Client: mc2}
	ups, err := core2.ListMultipartUploads(context.Background(), bucket, "", "", "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range ups.Uploads {
		parts, err := core2.ListObjectParts(context.Background(), bucket, u.Key, u.UploadID, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		segments += len(parts.ObjectParts)
		t.Logf("in-progress upload %s of %s: %d parts", u.UploadID, u.Key, len(parts.ObjectParts))
	}

	// Start-up recovery swept temporary files and removed orphans: blob
	// files and referenced segments match one to one.
	tmp, err := os.ReadDir(filepath.Join(dir, "blobs", "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tmp) != 0 {
		t.Errorf("%d files left in blobs/tmp after restart", len(tmp))
	}
	if n := len(blobFiles(t, dir)); n != segments {
		t.Errorf("%d blob files on disk, %d segments referenced (%d objects, %d uploads in progress)", n, segments, listed, len(ups.Uploads))
	}
	t.Logf("left by the crash: %d temporary files, %d blob files; after restart: %d objects, %d segments; %s",
		len(tmpBefore), blobsBefore, listed, segments, firstLine(srv2.log.String(), "orphan"))

	// The interrupted uploads can still be aborted cleanly, and that
	// removes their blobs.
	for _, u := range ups.Uploads {
		if err := core2.AbortMultipartUpload(context.Background(), bucket, u.Key, u.UploadID); err != nil {
			t.Errorf("abort %s: %v", u.UploadID, err)
		}
	}
}

// firstLine returns the first line of s containing substr, or "".
func firstLine(s, substr string) string {
	for line := range strings.Lines(s) {
		if strings.Contains(line, substr) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// waitGroupTimeout waits for wg, failing the test after d.
func waitGroupTimeout(t *testing.T, wg *sync.WaitGroup, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatal(errors.New("uploaders did not stop within " + d.String()))
	}
}
