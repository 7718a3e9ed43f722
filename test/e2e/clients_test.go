package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
)

const mib = 1 << 20

// multipartParts returns N from a multipart ETag ("<md5>-N"), or 0 for a
// single-part ETag.
func multipartParts(etag string) int {
	_, n, ok := strings.Cut(strings.Trim(etag, `"`), "-")
	if !ok {
		return 0
	}
	var parts int
	fmt.Sscanf(n, "%d", &parts)
	return parts
}

// wantMultipart fails unless bucket/key was stored as a multipart object
// of exactly parts parts, the proof that a client really went multipart.
func wantMultipart(t *testing.T, mc *minio.Client, bucket, key string, size int64, parts int) {
	t.Helper()
	st, err := mc.StatObject(context.Background(), bucket, key, minio.StatObjectOptions{})
	if err != nil {
		t.Fatalf("stat %s/%s: %v", bucket, key, err)
	}
	if st.Size != size || multipartParts(st.ETag) != parts {
		t.Errorf("%s/%s: size %d, ETag %s; want size %d in %d parts", bucket, key, st.Size, st.ETag, size, parts)
	}
}

// remoteKeys lists every key in bucket with minio-go.
func remoteKeys(t *testing.T, mc *minio.Client, bucket string) []string {
	t.Helper()
	var keys []string
	for o := range mc.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("list %s: %v", bucket, o.Err)
		}
		keys = append(keys, o.Key)
	}
	slices.Sort(keys)
	return keys
}

func localKeys(t *testing.T, dir string) []string {
	t.Helper()
	var keys []string
	for p := range readTree(t, dir) {
		keys = append(keys, p)
	}
	slices.Sort(keys)
	return keys
}

// TestRclone copies a tree (small nested files and one multipart file) with
// rclone, syncs local changes, and checks it both by hash and by download;
// then proves check can fail by changing one local byte.
func TestRclone(t *testing.T) {
	t.Parallel()
	bin := requireTool(t, "rclone")
	srv := startCoffer(t, t.TempDir(), serverOptions{})
	home := t.TempDir()
	rc := tool{t: t, bin: bin, env: toolEnv(home,
		"RCLONE_CONFIG="+filepath.Join(home, "rclone.conf"), // absent: remotes come from the env
		"RCLONE_CONFIG_COFFER_TYPE=s3",
		"RCLONE_CONFIG_COFFER_PROVIDER=Other",
		"RCLONE_CONFIG_COFFER_ENV_AUTH=false",
		"RCLONE_CONFIG_COFFER_ENDPOINT="+srv.endpoint,
		"RCLONE_CONFIG_COFFER_REGION="+srv.creds.Region,
		"RCLONE_CONFIG_COFFER_ACCESS_KEY_ID="+srv.creds.AccessKey,
		"RCLONE_CONFIG_COFFER_SECRET_ACCESS_KEY="+srv.creds.SecretKey,
	)}
	// No retries: a request the server gets wrong must show, not be retried away.
	flags := []string{"--ca-cert", srv.caFile, "--retries", "1", "--low-level-retries", "1",
		"--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"}
	rclone := func(args ...string) string { t.Helper(); return rc.must(append(args, flags...)...) }

	src := filepath.Join(t.TempDir(), "src")
	files := append(smallTree(40), treeFile{"big/video.bin", 40 * mib})
	writeTree(t, src, "rclone", files)
	const remote = "coffer:rclone-tree"

	rclone("mkdir", remote)
	rclone("copy", src, remote)
	mc := srv.minio(0)
	if got, want := remoteKeys(t, mc, "rclone-tree"), localKeys(t, src); !slices.Equal(got, want) {
		t.Fatalf("after copy the bucket holds\n%q\nwant\n%q", got, want)
	}
	wantMultipart(t, mc, "rclone-tree", "big/video.bin", 40*mib, 8)
	rclone("check", src, remote)
	rclone("check", "--download", src, remote)

	// Change the tree: rewrite a file in place (same size), grow one, delete
	// two, add one, then sync.
	p := func(rel string) string { return filepath.Join(src, filepath.FromSlash(rel)) }
	for _, f := range []struct {
		path string
		data []byte
	}{
		{"docs/file-01.dat", keyedBytes("changed-1", 1531)}, // same size as before
		{"photos/raw/file-04.dat", keyedBytes("changed-4", 30000)},
		{"new/dir/added.txt", []byte("added after the first copy\n")},
	} {
		os.MkdirAll(filepath.Dir(p(f.path)), 0o755)
		if err := os.WriteFile(p(f.path), f.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, rel := range []string{"file-00.dat", "a/b/c/d/file-05.dat"} {
		if err := os.Remove(p(rel)); err != nil {
			t.Fatal(err)
		}
	}
	rclone("sync", src, remote)
	if got, want := remoteKeys(t, mc, "rclone-tree"), localKeys(t, src); !slices.Equal(got, want) {
		t.Fatalf("after sync the bucket holds\n%q\nwant\n%q", got, want)
	}
	rclone("check", src, remote)
	rclone("check", "--download", src, remote)

	// Negative: one changed local byte must be reported, by hash and by
	// download, for a single-part object and for the multipart one.
	for _, rel := range []string{"docs/2024/file-02.dat", "big/video.bin"} {
		for _, mode := range [][]string{nil, {"--download"}} {
			name := "single-part"
			if strings.HasPrefix(rel, "big/") {
				name = "multipart"
			}
			name += map[bool]string{false: "/by-hash", true: "/by-download"}[len(mode) > 0]
			t.Run(name, func(t *testing.T) {
				orig, err := os.ReadFile(p(rel))
				if err != nil {
					t.Fatal(err)
				}
				flipped := bytes.Clone(orig)
				flipped[len(flipped)/2] ^= 0x01
				if err := os.WriteFile(p(rel), flipped, 0o644); err != nil {
					t.Fatal(err)
				}
				defer os.WriteFile(p(rel), orig, 0o644)
				differ := filepath.Join(t.TempDir(), "differ")
				args := append(append([]string{"check"}, mode...), "--differ", differ, src, remote)
				out, err := rc.run(append(args, flags...)...)
				if err == nil {
					t.Fatalf("rclone check %v passed with a changed byte in %s:\n%s", mode, rel, out)
				}
				if !strings.Contains(out, "1 differences found") {
					t.Errorf("rclone check output lacks %q:\n%s", "1 differences found", out)
				}
				if b, _ := os.ReadFile(differ); strings.TrimSpace(string(b)) != rel {
					t.Errorf("rclone reported %q as differing, want %q", b, rel)
				}
			})
		}
	}
	rclone("check", src, remote) // clean again once the byte is back
}

// TestS3cmd drives s3cmd with a generated config that verifies the
// server's certificate against Coffer's CA.
func TestS3cmd(t *testing.T) {
	t.Parallel()
	bin := requireTool(t, "s3cmd")
	srv := startCoffer(t, t.TempDir(), serverOptions{})
	home := t.TempDir()
	cfg := filepath.Join(home, "s3cfg")
	conf := fmt.Sprintf(`[default]
access_key = %s
secret_key = %s
host_base = %s
host_bucket = %s
bucket_location = %s
use_https = True
ca_certs_file = %s
check_ssl_certificate = True
check_ssl_hostname = True
signature_v2 = False
multipart_chunk_size_mb = 15
progress_meter = False
`, srv.creds.AccessKey, srv.creds.SecretKey, srv.host, srv.host, srv.creds.Region, srv.caFile)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	s3 := tool{t: t, bin: bin, env: toolEnv(home), dir: work}
	s3cmd := func(args ...string) string { t.Helper(); return s3.must(append([]string{"-c", cfg}, args...)...) }

	small := keyedBytes("s3cmd/small", 123457)
	big := keyedBytes("s3cmd/big", 12*mib)
	for name, b := range map[string][]byte{"small.bin": small, "big.bin": big} {
		if err := os.WriteFile(filepath.Join(work, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	s3cmd("mb", "s3://s3cmd-bucket")
	if out := s3cmd("ls"); !strings.Contains(out, "s3://s3cmd-bucket") {
		t.Errorf("s3cmd ls does not list the new bucket:\n%s", out)
	}
	s3cmd("put", "small.bin", "s3://s3cmd-bucket/dir/small.bin")
	s3cmd("put", "--multipart-chunk-size-mb=5", "big.bin", "s3://s3cmd-bucket/dir/big.bin")
	wantMultipart(t, srv.minio(0), "s3cmd-bucket", "dir/big.bin", 12*mib, 3)

	for name, want := range map[string][]byte{"small.bin": small, "big.bin": big} {
		out := filepath.Join(work, "got-"+name)
		s3cmd("get", "--force", "s3://s3cmd-bucket/dir/"+name, out)
		if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, want) {
			t.Errorf("s3cmd get %s: %d bytes (err %v), want %d identical bytes", name, len(got), err, len(want))
		}
	}
	// s3cmd ls prints "DATE TIME SIZE URL" per object.
	listed := map[string]string{}
	out := s3cmd("ls", "s3://s3cmd-bucket/dir/")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) == 4 {
			listed[f[3]] = f[2]
		}
	}
	want := map[string]string{
		"s3://s3cmd-bucket/dir/small.bin": fmt.Sprint(len(small)),
		"s3://s3cmd-bucket/dir/big.bin":   fmt.Sprint(len(big)),
	}
	if !maps.Equal(listed, want) {
		t.Errorf("s3cmd ls listed (url: size) %v, want %v:\n%s", listed, want, out)
	}
	s3cmd("del", "s3://s3cmd-bucket/dir/small.bin", "s3://s3cmd-bucket/dir/big.bin")
	if out := s3cmd("ls", "-r", "s3://s3cmd-bucket"); strings.TrimSpace(out) != "" {
		t.Errorf("bucket not empty after del:\n%s", out)
	}
	s3cmd("rb", "s3://s3cmd-bucket")
	if out := s3cmd("ls"); strings.Contains(out, "s3cmd-bucket") {
		t.Errorf("bucket still listed after rb:\n%s", out)
	}
}

// TestRestic keeps a restic repository in Coffer: init, two backups,
// snapshots, a byte-for-byte restore and check --read-data.
func TestRestic(t *testing.T) {
	t.Parallel()
	bin := requireTool(t, "restic")
	srv := startCoffer(t, t.TempDir(), serverOptions{})
	home := t.TempDir()
	rs := tool{t: t, bin: bin, env: toolEnv(home,
		"RESTIC_REPOSITORY=s3:"+srv.endpoint+"/restic-repo",
		"RESTIC_PASSWORD=correct horse battery staple",
		"RESTIC_CACHE_DIR="+filepath.Join(home, "cache"),
		"AWS_ACCESS_KEY_ID="+srv.creds.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+srv.creds.SecretKey,
		"AWS_DEFAULT_REGION="+srv.creds.Region,
	)}
	restic := func(args ...string) string {
		t.Helper()
		return rs.must(append([]string{"--cacert", srv.caFile, "-o", "s3.region=" + srv.creds.Region}, args...)...)
	}

	src := filepath.Join(t.TempDir(), "data")
	writeTree(t, src, "restic", append(smallTree(30), treeFile{"big/archive.tar", 6 * mib}))
	restic("init")
	restic("backup", "--host", "e2e", src)
	// A second snapshot after a change: restic then reads its own index
	// and packs back from Coffer.
	writeTree(t, src, "restic-2", []treeFile{{"docs/file-01.dat", 4096}, {"later/added.bin", 300000}})
	restic("backup", "--host", "e2e", src)

	var snaps []struct {
		ID    string   `json:"id"`
		Paths []string `json:"paths"`
	}
	if err := json.Unmarshal([]byte(restic("snapshots", "--json")), &snaps); err != nil {
		t.Fatalf("restic snapshots --json: %v", err)
	}
	if len(snaps) != 2 {
		t.Fatalf("restic snapshots: %d snapshots, want 2", len(snaps))
	}
	dst := t.TempDir()
	restic("restore", "latest", "--target", dst)
	// restic restores the absolute source path under the target.
	sameTree(t, src, filepath.Join(dst, src))
	restic("check", "--read-data")
}

// TestAWSCLI uploads and downloads a multipart-size object with aws-cli,
// lists it and heads it, trusting Coffer's CA through AWS_CA_BUNDLE.
func TestAWSCLI(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	awsConfig := filepath.Join(home, "aws-config")
	if err := os.WriteFile(awsConfig, []byte("[default]\ns3 =\n    addressing_style = path\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := toolEnv(home,
		"AWS_CONFIG_FILE="+awsConfig,
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "no-credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
		"AWS_MAX_ATTEMPTS=1",
	)
	bin := awsCLI(t, env)
	srv := startCoffer(t, t.TempDir(), serverOptions{})
	work := t.TempDir()
	aws := tool{t: t, bin: bin, dir: work, env: append(env,
		"AWS_ACCESS_KEY_ID="+srv.creds.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+srv.creds.SecretKey,
		"AWS_DEFAULT_REGION="+srv.creds.Region,
		"AWS_CA_BUNDLE="+srv.caFile,
	)}
	run := func(args ...string) string {
		t.Helper()
		return aws.must(append([]string{"--endpoint-url", srv.endpoint}, args...)...)
	}

	const size = 20 * mib // aws-cli goes multipart at 8 MiB, in 8 MiB parts
	data := keyedBytes("aws/big", size)
	if err := os.WriteFile(filepath.Join(work, "big.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	run("s3", "mb", "s3://aws-bucket")
	run("s3", "cp", "big.bin", "s3://aws-bucket/dir/big.bin")
	wantMultipart(t, srv.minio(0), "aws-bucket", "dir/big.bin", size, 3)
	run("s3", "cp", "s3://aws-bucket/dir/big.bin", "down.bin")
	if got, err := os.ReadFile(filepath.Join(work, "down.bin")); err != nil || !bytes.Equal(got, data) {
		t.Errorf("aws s3 cp down: %d bytes (err %v), want %d identical bytes", len(got), err, size)
	}
	if out := run("s3", "ls"); !strings.Contains(out, "aws-bucket") {
		t.Errorf("aws s3 ls lacks the bucket:\n%s", out)
	}
	if out := run("s3", "ls", "s3://aws-bucket/dir/"); !strings.Contains(out, fmt.Sprintf("%d big.bin", size)) {
		t.Errorf("aws s3 ls lacks %d big.bin:\n%s", size, out)
	}
	var head struct {
		ContentLength int64
		ETag          string
		Metadata      map[string]string
	}
	if err := json.Unmarshal([]byte(run("s3api", "head-object", "--bucket", "aws-bucket", "--key", "dir/big.bin")), &head); err != nil {
		t.Fatalf("head-object: %v", err)
	}
	if head.ContentLength != size || multipartParts(head.ETag) != 3 {
		t.Errorf("head-object: ContentLength %d, ETag %s; want %d in 3 parts", head.ContentLength, head.ETag, size)
	}
}

// awsCLI picks the aws binary: the first on PATH that runs, preferring
// aws-cli v2 (Debian's awscli package installs /usr/bin/aws) over a v1
// that may shadow it on PATH.
func awsCLI(t *testing.T, env []string) string {
	t.Helper()
	var candidates []string
	if p, err := exec.LookPath("aws"); err == nil {
		candidates = append(candidates, p)
	}
	if _, err := os.Stat("/usr/bin/aws"); err == nil {
		candidates = append(candidates, "/usr/bin/aws")
	}
	var working string
	for _, c := range candidates {
		cmd := exec.Command(c, "--version")
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			continue
		}
		if strings.HasPrefix(string(out), "aws-cli/2.") {
			t.Logf("using %s: %s", c, strings.TrimSpace(string(out)))
			return c
		}
		if working == "" {
			working = c
		}
	}
	if working != "" {
		t.Logf("no aws-cli v2 found; using %s", working)
		return working
	}
	toolMissing(t, "aws", errors.New("no runnable aws on PATH or at /usr/bin/aws"))
	return ""
}
