package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// mountNS is a private mount namespace holding a small tmpfs, kept alive
// by a holder process. Servers run inside it through nsenter; this process
// reaches its files through /proc/PID/root. Nothing is mounted in the
// test's own namespace, and the tmpfs vanishes with the holder.
type mountNS struct {
	t   *testing.T
	pid int
	mnt string // the tmpfs mount point, as seen inside the namespace
}

// newTmpfsNamespace mounts a tmpfs of size (e.g. "8m") in a new mount
// namespace. It skips the test when this machine does not allow that
// (needs root or CAP_SYS_ADMIN, and unshare(1) from util-linux).
func newTmpfsNamespace(t *testing.T, size string) *mountNS {
	t.Helper()
	for _, bin := range []string{"unshare", "nsenter", "mount"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not found (util-linux): cannot give the server a filesystem of its own: %v", bin, err)
		}
	}
	mnt := t.TempDir()
	// The holder exits on its own after the sleep, should cleanup never run.
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "--",
		"sh", "-c", `mount -t tmpfs -o size="$1",mode=0700 coffer-e2e "$2" && echo ready && exec sleep 600`, "sh", size, mnt)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot run unshare: %v", err)
	}
	exited := make(chan error, 1)
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ready <- sc.Scan() && sc.Text() == "ready"
		exited <- cmd.Wait()
	}()
	ns := &mountNS{t: t, pid: cmd.Process.Pid, mnt: mnt}
	t.Cleanup(func() {
		cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("mount namespace holder %d did not exit", ns.pid)
		}
	})
	select {
	case ok := <-ready:
		if !ok {
			<-exited
			t.Skipf("cannot mount a tmpfs in a private mount namespace here (needs root or CAP_SYS_ADMIN): %s", strings.TrimSpace(stderr.String()))
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("unshare + mount did not finish within 10 s: %s", stderr.String())
	}
	return ns
}

// serverOptions runs a server inside the namespace.
func (ns *mountNS) serverOptions() serverOptions {
	return serverOptions{
		wrap:     []string{"nsenter", "--target", strconv.Itoa(ns.pid), "--mount", "--"},
		hostRoot: fmt.Sprintf("/proc/%d/root", ns.pid),
	}
}

// run runs a command inside the namespace.
func (ns *mountNS) run(args ...string) {
	ns.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--target", strconv.Itoa(ns.pid), "--mount", "--"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		ns.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// s3Code returns the S3 error code and HTTP status of err.
func s3Code(err error) (string, int) {
	r := minio.ToErrorResponse(err)
	return r.Code, r.StatusCode
}

// wantServiceUnavailable fails unless err is the S3 error a full or
// read-only store maps to.
func wantServiceUnavailable(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s succeeded", what)
	}
	if code, status := s3Code(err); code != "ServiceUnavailable" || status != http.StatusServiceUnavailable {
		t.Errorf("%s: %q, HTTP %d (%v); want ServiceUnavailable, 503", what, code, status, err)
	}
}

// TestFullAndReadOnlyDataDir runs the real server with its data directory
// on an 8 MiB tmpfs of its own (a private mount namespace: as root, file
// modes would not stop writes). It fills the filesystem: the PUT that does
// not fit gets 503 ServiceUnavailable and leaves nothing listed or on disk,
// earlier objects still read, and space freed by a DELETE is usable again.
// Then it remounts the filesystem read-only under the running server: PUTs
// fail the same clean way while GET and LIST keep working. Last, it starts
// a server on the read-only filesystem.
func TestFullAndReadOnlyDataDir(t *testing.T) {
	t.Parallel()
	ns := newTmpfsNamespace(t, "8m")
	dataDir := filepath.Join(ns.mnt, "data")
	// The audit ledger lives on another volume here: this test is about
	// the object store; TestLedgerFullFailsClosed fills the ledger's.
	opts := ns.serverOptions()
	opts.args = []string{"--audit-dir", t.TempDir()}
	srv := startCoffer(t, dataDir, opts)
	mc := srv.minio(1) // 503 is retryable: see the first answer, not the tenth
	ctx := context.Background()
	const bucket = "full"
	if err := mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	put := func(key string, size int) error {
		b := keyedBytes(key, size)
		_, err := mc.PutObject(ctx, bucket, key, bytes.NewReader(b), int64(size), minio.PutObjectOptions{})
		return err
	}
	readAll := func(keys []string, size int) {
		t.Helper()
		for _, key := range keys {
			if got, err := readObject(mc, bucket, key, 0, -1); err != nil || !bytes.Equal(got, keyedBytes(key, size)) {
				t.Errorf("GET %s: %d bytes, %v; want its %d bytes", key, len(got), err, size)
			}
		}
	}
	listed := func() []string {
		t.Helper()
		return remoteKeys(t, mc, bucket)
	}

	// Fill it with 1 MiB objects.
	const size = mib
	var stored []string
	var fullErr error
	var failedKey string
	for i := range 20 {
		key := fmt.Sprintf("obj-%02d", i)
		if fullErr = put(key, size); fullErr != nil {
			failedKey = key
			break
		}
		stored = append(stored, key)
	}
	if failedKey == "" {
		t.Fatal("20 MiB fitted on an 8 MiB tmpfs")
	}
	t.Logf("stored %d MiB before the filesystem filled: %v", len(stored), fullErr)
	wantServiceUnavailable(t, "PUT on a full filesystem", fullErr)
	if got, want := listed(), stored; !equalStrings(got, want) {
		t.Errorf("listed %q, want only the stored %q", got, want)
	}
	if _, err := mc.StatObject(ctx, bucket, failedKey, minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != "NoSuchKey" {
		t.Errorf("HEAD of the object that did not fit: %v, want NoSuchKey", err)
	}
	if tmp, err := os.ReadDir(filepath.Join(srv.hostDir, "blobs", "tmp")); err != nil || len(tmp) != 0 {
		t.Errorf("blobs/tmp after the failed PUT: %d entries, %v", len(tmp), err)
	}
	if n := len(blobFiles(t, srv.hostDir)); n != len(stored) {
		t.Errorf("%d blob files for %d objects", n, len(stored))
	}
	readAll(stored, size)
	// A DELETE still works on a full filesystem, and frees room.
	if err := mc.RemoveObject(ctx, bucket, stored[0], minio.RemoveObjectOptions{}); err != nil {
		t.Fatalf("DELETE on a full filesystem: %v", err)
	}
	stored = stored[1:]
	if err := put(failedKey, size); err != nil {
		t.Fatalf("PUT after a DELETE freed space: %v", err)
	}
	stored = append(stored, failedKey)
	readAll(stored, size)

	// The blob store turns read-only under the running server. A plain
	// `mount -o remount,ro` of the tmpfs is refused (EBUSY) while SQLite
	// holds meta.db open for writing, so bind-mount blobs/ onto itself
	// read-only: new files there then fail with EROFS, as on a disk the
	// kernel remounted read-only after an error.
	blobsDir := filepath.Join(dataDir, "blobs")
	ns.run("mount", "--bind", blobsDir, blobsDir)
	ns.run("mount", "-o", "remount,bind,ro", blobsDir)
	if err := os.WriteFile(filepath.Join(srv.hostDir, "blobs", "tmp", "probe"), nil, 0o600); err == nil {
		t.Fatal("the bind mount did not make blobs/ read-only")
	}
	wantServiceUnavailable(t, "PUT with read-only blobs", put("read-only-put", 1000))
	core := minio.Core{Client: mc}
	if id, err := core.NewMultipartUpload(ctx, bucket, "read-only-mp", minio.PutObjectOptions{}); err != nil {
		t.Errorf("create multipart upload (metadata only): %v", err)
	} else {
		_, err := core.PutObjectPart(ctx, bucket, "read-only-mp", id, 1, bytes.NewReader(make([]byte, 1000)), 1000, minio.PutObjectPartOptions{})
		wantServiceUnavailable(t, "UploadPart with read-only blobs", err)
		if err := core.AbortMultipartUpload(ctx, bucket, "read-only-mp", id); err != nil {
			t.Errorf("abort: %v", err)
		}
	}
	if got := listed(); !equalStrings(got, stored) {
		t.Errorf("read-only blobs: listed %q, want %q", got, stored)
	}
	readAll(stored, size)
	if err := srv.waitHealthy(); err != nil {
		t.Errorf("read-only blobs: %v", err)
	}
	// A DELETE commits in metadata first; its blob cannot be removed now,
	// which leaves an orphan for the next start to collect.
	if err := mc.RemoveObject(ctx, bucket, stored[0], minio.RemoveObjectOptions{}); err != nil {
		code, status := s3Code(err)
		t.Logf("DELETE with read-only blobs: %s, HTTP %d", code, status)
	} else {
		stored = stored[1:]
	}
	if got := listed(); !equalStrings(got, stored) {
		t.Errorf("after DELETE with read-only blobs: listed %q, want %q", got, stored)
	}
	srv.stop()

	// The whole filesystem read-only, at start.
	ns.run("umount", blobsDir)
	ns.run("mount", "-o", "remount,ro", ns.mnt)
	if ro, err := tryStartCoffer(t, dataDir, opts); err != nil {
		// Refusing to start is acceptable, but it must say why and not crash.
		if !strings.Contains(err.Error(), "read-only file system") || strings.Contains(err.Error(), "panic") {
			t.Errorf("start on a read-only filesystem failed without naming the cause: %v", err)
		}
		t.Logf("start on a read-only filesystem refused: %s", firstLine(err.Error(), "coffer serve:"))
	} else {
		mc := ro.minio(1)
		if got, err := readObject(mc, bucket, stored[0], 0, -1); err != nil || !bytes.Equal(got, keyedBytes(stored[0], size)) {
			t.Errorf("read-only start: GET %s: %d bytes, %v", stored[0], len(got), err)
		}
		b := keyedBytes("x", 1000)
		_, err := mc.PutObject(ctx, bucket, "x", bytes.NewReader(b), 1000, minio.PutObjectOptions{})
		wantServiceUnavailable(t, "PUT on a server started read-only", err)
		ro.kill()
	}

	// Writable again: everything stored is there, and the start removed
	// the blob the read-only DELETE left behind.
	ns.run("mount", "-o", "remount,rw", ns.mnt)
	srv = startCoffer(t, dataDir, opts)
	mc = srv.minio(1)
	if got := listed(); !equalStrings(got, stored) {
		t.Errorf("after remounting rw: listed %q, want %q", got, stored)
	}
	readAll(stored, size)
	if n := len(blobFiles(t, srv.hostDir)); n != len(stored) {
		t.Errorf("after remounting rw: %d blob files for %d objects", n, len(stored))
	}
	if err := put("after-rw", 1000); err != nil {
		t.Errorf("PUT after remounting rw: %v", err)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	am := map[string]bool{}
	for _, s := range a {
		am[s] = true
	}
	for _, s := range b {
		if !am[s] {
			return false
		}
	}
	return true
}
