package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-vault/coffer/internal/meta"
	"github.com/coffer-vault/coffer/internal/scan"
)

// testAWSKey is a made-up access key id the engine reports as
// secret:aws_access_key (not one of AWS's documented examples).
const testAWSKey = "AKIA4GXQ7TZ2KR9WMB3H"

const awsLabel = "secret:aws_access_key"

var (
	engineOnce sync.Once
	engine     *scan.Engine
	engineErr  error
)

func testEngine(tb testing.TB) *scan.Engine {
	tb.Helper()
	engineOnce.Do(func() { engine, engineErr = scan.NewEngine(scan.DefaultConfig()) })
	if engineErr != nil {
		tb.Fatal(engineErr)
	}
	return engine
}

// withScan replaces e.svc by a Service over the same stores with scanning
// configured by cfg (its Engine filled in).
func (e *env) withScan(tb testing.TB, cfg ScanConfig) *env {
	tb.Helper()
	cfg.Engine = testEngine(tb)
	e.svc = New(Config{Meta: e.meta, Blobs: e.svc.blobs, Keys: e.keys, Logger: slog.New(slog.NewTextHandler(e.logs, nil)), Scan: cfg})
	return e
}

// labelsOf returns the labels of bucket/key, failing the test on error.
func (e *env) labelsOf(tb testing.TB, bucket, key string) ObjectLabels {
	tb.Helper()
	l, err := e.svc.Labels(context.Background(), bucket, key)
	if err != nil {
		tb.Fatalf("labels %s/%s: %v", bucket, key, err)
	}
	return l
}

// secretAt returns size bytes of filler text with an AWS key line
// starting at byte off.
func secretAt(size, off int) []byte {
	line := []byte("AWS_ACCESS_KEY_ID=" + testAWSKey + "\n")
	b := bytes.Repeat([]byte("lorem ipsum dolor sit amet\n"), size/27+1)[:size]
	copy(b[off:], line)
	return b
}

func TestScanLabelsInline(t *testing.T) {
	for _, par := range []int{1, 3} {
		t.Run(fmt.Sprintf("parallel=%d", par), func(t *testing.T) { testScanLabelsInline(t, par) })
	}
}

func testScanLabelsInline(t *testing.T, par int) {
	e := newEnv(t).withScan(t, ScanConfig{ChunkSize: 16 << 10, Parallel: par})
	b := e.bucket(t, "bkt")
	line := []byte("AWS_ACCESS_KEY_ID=")
	// Keys at the start, across chunk borders and at the very end, in
	// bodies small enough to copy inline and large enough for the pipeline.
	for _, c := range []struct {
		name      string
		size, off int
	}{
		{"start", 1000, 0},
		{"middle small", 100 << 10, 50 << 10},
		{"across the first border", 300 << 10, 16<<10 - 10},
		{"in the overlap", 300 << 10, 16<<10 - ScanOverlap/2 - 5},
		{"across a later border", 300 << 10, 3*(16<<10-ScanOverlap) + ScanOverlap - 7},
		{"at the end", 300 << 10, 300<<10 - 40},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := secretAt(c.size, c.off)
			e.put(t, b, c.name, data, PutOptions{})
			l := e.labelsOf(t, b, c.name)
			if l.State != ScanDone || len(l.Labels) != 1 || l.Labels[0].Type != awsLabel {
				t.Fatalf("labels = %+v, want one %s", l, awsLabel)
			}
			lb := l.Labels[0]
			wantOff := int64(c.off + len(line))
			wantLine := bytes.Count(data[:c.off], []byte{'\n'}) + 1
			if lb.Count != 1 || lb.Offset != wantOff || lb.Line != wantLine || lb.Confidence < int(scan.Likely) {
				t.Errorf("label = %+v, want count 1 at line %d offset %d, LIKELY or more", lb, wantLine, wantOff)
			}
			tags, err := e.svc.GetTags(t.Context(), b, c.name)
			if err != nil || tags["coffer:label:"+awsLabel] == "" {
				t.Errorf("GetTags = %v, %v; want the label tag", tags, err)
			}
		})
	}
	// Many keys over many chunks: each is counted once, the first is placed.
	data := secretAt(600<<10, 0)
	var offs []int
	for off := 0; off+40 < len(data); off += 9973 {
		copy(data[off:], "AWS_ACCESS_KEY_ID="+testAWSKey+"\n")
		offs = append(offs, off)
	}
	e.put(t, b, "many", data, PutOptions{})
	if l := e.labelsOf(t, b, "many"); len(l.Labels) != 1 || l.Labels[0].Count != len(offs) || l.Labels[0].Offset != int64(offs[0]+len(line)) {
		t.Errorf("many keys: labels %+v, want %d keys, the first at %d", l.Labels, len(offs), offs[0]+len(line))
	}
	// A clean object is scanned and has no labels or label tags.
	e.put(t, b, "clean", []byte("nothing to see\n"), PutOptions{Tags: map[string]string{"team": "red"}})
	if l := e.labelsOf(t, b, "clean"); l.State != ScanDone || len(l.Labels) != 0 {
		t.Errorf("clean object labels = %+v", l)
	}
	if tags, _ := e.svc.GetTags(t.Context(), b, "clean"); len(tags) != 1 || tags["team"] != "red" {
		t.Errorf("clean object tags = %v, want only team=red", tags)
	}
	// Labels fill only the room user tags leave (S3 clients refuse more
	// than ten tags), the most confident first.
	many := map[string]string{}
	for i := range MaxTags - 1 {
		many[fmt.Sprintf("t%d", i)] = "v"
	}
	two := append(secretAt(2000, 0), "\nIBAN DE89370400440532013000\n"...)
	e.put(t, b, "crowded", two, PutOptions{Tags: many})
	l := e.labelsOf(t, b, "crowded")
	if len(l.Labels) < 2 {
		t.Fatalf("crowded object labels = %+v, want at least two", l.Labels)
	}
	tags, err := e.svc.GetTags(t.Context(), b, "crowded")
	if err != nil || len(tags) != MaxTags || tags["coffer:label:pii:iban"] == "" || tags["coffer:label:"+awsLabel] != "" {
		t.Errorf("tags of a crowded object = %v, %v; want %d with only the IBAN label (most confident, then by type)", tags, err, MaxTags)
	}
	// Users cannot write reserved tags.
	err = e.svc.PutTags(t.Context(), b, "clean", map[string]string{"coffer:label:secret:aws_access_key": "LIKELY"})
	wantErr(t, "PutTags(reserved)", err, ErrInvalidTag)
	_, err = e.svc.PutObject(t.Context(), b, "x", strings.NewReader("x"), 1, PutOptions{Tags: map[string]string{"Coffer:x": "y"}})
	wantErr(t, "PutObject(reserved tag)", err, ErrInvalidTag)
	// Overwriting a labelled object with clean bytes drops its labels.
	e.put(t, b, "start", []byte("clean now\n"), PutOptions{})
	if l := e.labelsOf(t, b, "start"); len(l.Labels) != 0 {
		t.Errorf("overwritten object kept labels %+v", l.Labels)
	}
	// A copy is scanned as it is written.
	if _, err := e.svc.CopyObject(t.Context(), b, "middle small", b, "copy", CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	if l := e.labelsOf(t, b, "copy"); len(l.Labels) != 1 || l.Labels[0].Type != awsLabel {
		t.Errorf("copy labels = %+v", l)
	}
	// Unknown size (a chunked upload) is scanned inline too.
	if _, err := e.svc.PutObject(t.Context(), b, "chunked", bytes.NewReader(secretAt(200<<10, 1234)), -1, PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if l := e.labelsOf(t, b, "chunked"); len(l.Labels) != 1 {
		t.Errorf("chunked upload labels = %+v", l)
	}
}

// snapshot is what a refused upload must leave unchanged.
type snapshot struct {
	keys  []string
	blobs []string
	files int
	deks  int64
}

func (e *env) snap(tb testing.TB, bucket string) snapshot {
	tb.Helper()
	res, err := e.svc.ListObjects(context.Background(), bucket, ListParams{MaxKeys: 1000})
	if err != nil {
		tb.Fatal(err)
	}
	var keys []string
	for _, o := range res.Objects {
		keys = append(keys, o.Key)
	}
	ups, err := e.svc.ListMultipartUploads(context.Background(), bucket, UploadsParams{})
	if err != nil {
		tb.Fatal(err)
	}
	for _, u := range ups.Uploads {
		keys = append(keys, "upload:"+u.Key)
	}
	return snapshot{keys: keys, blobs: e.blobIDs(tb), files: countFiles(tb, e.blobDir), deks: e.dekCount(tb)}
}

func (a snapshot) equal(b snapshot) bool {
	return slices.Equal(a.keys, b.keys) && slices.Equal(a.blobs, b.blobs) && a.files == b.files && a.deks == b.deks
}

func wantRejected(tb testing.TB, what string, err error, typ string, line int, off int64, part int) {
	tb.Helper()
	var rej *RejectedError
	if !errors.As(err, &rej) || !errors.Is(err, ErrContentRejected) {
		tb.Fatalf("%s: err = %v, want a refusal", what, err)
	}
	if rej.Type != typ || rej.Line != line || rej.Offset != off || rej.Part != part {
		tb.Errorf("%s: refused %+v, want %s at line %d offset %d part %d", what, rej, typ, line, off, part)
	}
	if strings.Contains(err.Error(), testAWSKey) || strings.Contains(err.Error(), testAWSKey[4:]) {
		tb.Errorf("%s: the error shows the secret: %v", what, err)
	}
}

func TestScanRejectStoresNothing(t *testing.T) {
	for _, par := range []int{1, 3} {
		t.Run(fmt.Sprintf("parallel=%d", par), func(t *testing.T) { testScanRejectStoresNothing(t, par) })
	}
}

func testScanRejectStoresNothing(t *testing.T, par int) {
	e := newEnv(t).withScan(t, ScanConfig{ChunkSize: 16 << 10, InlineMax: 1 << 10, Parallel: par})
	e.svc.minPartSize = 1
	ctx := t.Context()
	b := e.bucket(t, "gated")
	e.put(t, b, "keep", []byte("already here\n"), PutOptions{})
	src := e.bucket(t, "src")
	e.put(t, src, "leak", secretAt(5000, 100), PutOptions{})
	if err := e.svc.SetBucketScan(ctx, b, BucketScanSettings{Reject: []string{"secret"}}); err != nil {
		t.Fatal(err)
	}
	before := e.snap(t, b)
	const keyLine int64 = int64(len("AWS_ACCESS_KEY_ID="))

	// Small and pipelined bodies, above InlineMax: a gate always scans inline.
	for _, size := range []int{2000, 400 << 10} {
		data := secretAt(size, size/2)
		_, err := e.svc.PutObject(ctx, b, "leak", bytes.NewReader(data), int64(size), PutOptions{})
		wantRejected(t, "PutObject", err, awsLabel, bytes.Count(data[:size/2], []byte{'\n'})+1, int64(size/2)+keyLine, 0)
		if after := e.snap(t, b); !after.equal(before) {
			t.Fatalf("a refused PUT of %d bytes changed the store: %+v -> %+v", size, before, after)
		}
	}
	// A body of unknown length (a chunked upload) is gated the same way.
	_, err := e.svc.PutObject(ctx, b, "chunked", bytes.NewReader(secretAt(300<<10, 200<<10)), -1, PutOptions{})
	wantRejected(t, "PutObject(unknown size)", err, awsLabel, bytes.Count(secretAt(300<<10, 200<<10)[:200<<10], []byte{'\n'})+1, 200<<10+keyLine, 0)
	if after := e.snap(t, b); !after.equal(before) {
		t.Fatalf("a refused chunked PUT changed the store: %+v -> %+v", before, after)
	}
	// A PUT that replaces an existing key leaves the old version.
	_, err = e.svc.PutObject(ctx, b, "keep", bytes.NewReader(secretAt(3000, 0)), 3000, PutOptions{})
	wantRejected(t, "PutObject over an object", err, awsLabel, 1, keyLine, 0)
	if got := e.get(t, b, "keep"); string(got) != "already here\n" {
		t.Errorf("refused overwrite changed the object to %q", got)
	}
	// A copy into the gated bucket.
	_, err = e.svc.CopyObject(ctx, src, "leak", b, "copied", CopyOptions{})
	wantRejected(t, "CopyObject", err, awsLabel, bytes.Count(secretAt(5000, 100)[:100], []byte{'\n'})+1, 100+keyLine, 0)

	// Multipart: a part with the key is refused and not stored; a key split
	// across two clean parts is refused at completion, which removes the
	// upload and its parts.
	id, err := e.svc.CreateMultipartUpload(ctx, b, "mp", PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.UploadPart(ctx, b, "mp", id, 1, bytes.NewReader(secretAt(3000, 10)), 3000)
	wantRejected(t, "UploadPart", err, awsLabel, 1, 10+keyLine, 1)
	whole := secretAt(6000, 2972)
	p1, err := e.svc.UploadPart(ctx, b, "mp", id, 1, bytes.NewReader(whole[:3000]), 3000)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := e.svc.UploadPart(ctx, b, "mp", id, 2, bytes.NewReader(whole[3000:]), 3000)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.CompleteMultipartUpload(ctx, b, "mp", id, []CompletePart{{1, p1.ETag}, {2, p2.ETag}})
	wantRejected(t, "CompleteMultipartUpload", err, awsLabel, bytes.Count(whole[:2972], []byte{'\n'})+1, 2972+keyLine, 0)
	if after := e.snap(t, b); !after.equal(before) {
		t.Fatalf("refused uploads changed the store: %+v -> %+v", before, after)
	}
	// Nothing for crash recovery to find either.
	if n, err := e.svc.Recover(ctx); err != nil || n != 0 {
		t.Errorf("Recover after refusals = %d, %v; want 0 orphans", n, err)
	}

	// Types not in the list pass; the threshold can be raised past the finding.
	if err := e.svc.SetBucketScan(ctx, b, BucketScanSettings{Reject: []string{"pii:iban", "secret:github_token"}}); err != nil {
		t.Fatal(err)
	}
	e.put(t, b, "aws-ok", secretAt(2000, 0), PutOptions{})
	if err := e.svc.SetBucketScan(ctx, b, BucketScanSettings{Reject: []string{"secret:aws_access_key"}}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.PutObject(ctx, b, "aws-no", bytes.NewReader(secretAt(2000, 0)), 2000, PutOptions{})
	wantRejected(t, "PutObject(type listed)", err, awsLabel, 1, keyLine, 0)
	// Nor does anything the vault logged on the way.
	if logs := e.logs.String(); strings.Contains(logs, testAWSKey[4:]) {
		t.Errorf("the vault's log shows the secret:\n%s", logs)
	}
}

func TestParseReject(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
		bad  bool
	}{
		{"", nil, false},
		{"none", nil, false},
		{"secret", []string{"secret"}, false},
		{" PII , secret:aws_access_key,pii ", []string{"pii", "secret:aws_access_key"}, false},
		{"secret:", nil, true},
		{"secret:aws key", nil, true},
		{"a:b:c", nil, true},
		{"secret,,pii", nil, true},
	} {
		got, err := ParseReject(c.in)
		if (err != nil) != c.bad || !slices.Equal(got, c.want) {
			t.Errorf("ParseReject(%q) = %q, %v; want %q (error %v)", c.in, got, err, c.want, c.bad)
		}
	}
}

// waitScanned polls until bucket/key is scanned or the deadline passes.
func (e *env) waitScanned(tb testing.TB, bucket, key string) ObjectLabels {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		l := e.labelsOf(tb, bucket, key)
		if l.State == ScanDone {
			return l
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s/%s not scanned in time: %+v; queue %+v", bucket, key, l, e.svc.ScanQueueStatus())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestScanBackgroundQueue(t *testing.T) {
	var (
		mu   sync.Mutex
		told []string
	)
	e := newEnv(t).withScan(t, ScanConfig{ChunkSize: 16 << 10, InlineMax: 1 << 10, QueueSize: 1,
		OnLabels: func(_ context.Context, bucket, key, version string, labels []meta.Label) {
			mu.Lock()
			defer mu.Unlock()
			for _, l := range labels {
				told = append(told, key+"="+l.Type)
			}
		}})
	e.svc.minPartSize = 1
	b := e.bucket(t, "bkt")
	// Stored before the queue runs, more than it holds: all are found.
	keys := []string{"big1", "big2", "big3"}
	for _, k := range keys {
		e.put(t, b, k, secretAt(50<<10, 20<<10), PutOptions{})
		if l := e.labelsOf(t, b, k); l.State != ScanPending || !slices.Equal(l.Names(), []string{PendingLabel}) {
			t.Fatalf("large object before the queue ran: %+v", l)
		}
	}
	// A large multipart object is scanned whole, across its parts.
	id, err := e.svc.CreateMultipartUpload(t.Context(), b, "mp", PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	whole := secretAt(4000, 1972)
	p1, _ := e.svc.UploadPart(t.Context(), b, "mp", id, 1, bytes.NewReader(whole[:2000]), 2000)
	p2, _ := e.svc.UploadPart(t.Context(), b, "mp", id, 2, bytes.NewReader(whole[2000:]), 2000)
	if _, err := e.svc.CompleteMultipartUpload(t.Context(), b, "mp", id, []CompletePart{{1, p1.ETag}, {2, p2.ETag}}); err != nil {
		t.Fatal(err)
	}
	keys = append(keys, "mp")

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); e.svc.RunScanQueue(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for _, k := range keys {
		l := e.waitScanned(t, b, k)
		if len(l.Labels) != 1 || l.Labels[0].Type != awsLabel {
			t.Errorf("%s labels = %+v", k, l)
		}
	}
	if l := e.labelsOf(t, b, "mp"); l.Labels[0].Offset != 1972+int64(len("AWS_ACCESS_KEY_ID=")) {
		t.Errorf("multipart label at %d, want the key's place in the whole object", l.Labels[0].Offset)
	}
	// While the queue runs, a new large object is queued at once.
	e.put(t, b, "later", secretAt(50<<10, 0), PutOptions{})
	e.waitScanned(t, b, "later")
	// OnLabels follows the record of each scan.
	want := []string{"big1=" + awsLabel, "big2=" + awsLabel, "big3=" + awsLabel, "later=" + awsLabel, "mp=" + awsLabel}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		got := slices.Sorted(slices.Values(told))
		mu.Unlock()
		if slices.Equal(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("OnLabels told %q, want %q", got, want)
		}
	}
}

func TestScanLabelsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	e := openEnv(t, dir).withScan(t, ScanConfig{InlineMax: 1 << 10})
	b := e.bucket(t, "bkt")
	e.put(t, b, "small", secretAt(500, 0), PutOptions{})
	e.put(t, b, "big", secretAt(8000, 0), PutOptions{})
	// The server stops before the big object's scan ran.
	e.meta.Close()

	e = openEnv(t, dir).withScan(t, ScanConfig{InlineMax: 1 << 10})
	if l := e.labelsOf(t, b, "small"); l.State != ScanDone || len(l.Labels) != 1 {
		t.Fatalf("small object after restart: %+v", l)
	}
	if l := e.labelsOf(t, b, "big"); l.State != ScanPending {
		t.Fatalf("big object after restart: %+v; want pending", l)
	}
	runCtx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); e.svc.RunScanQueue(runCtx) }()
	defer func() { cancel(); <-done }()
	// The unscanned object is re-queued after the restart.
	if l := e.waitScanned(t, b, "big"); len(l.Labels) != 1 || l.Labels[0].Type != awsLabel {
		t.Errorf("big object labels after the re-queue: %+v", l)
	}
}

func TestScanOffLeavesObjectsAlone(t *testing.T) {
	e := newEnv(t)
	b := e.bucket(t, "bkt")
	e.put(t, b, "k", secretAt(1000, 0), PutOptions{})
	if l := e.labelsOf(t, b, "k"); l.State != ScanOff || len(l.Labels) != 0 {
		t.Errorf("labels with scanning off = %+v", l)
	}
	// Settings can still be kept, but refuse nothing while scanning is off.
	if err := e.svc.SetBucketScan(t.Context(), b, BucketScanSettings{Reject: []string{"secret"}}); err != nil {
		t.Fatal(err)
	}
	e.put(t, b, "k2", secretAt(1000, 0), PutOptions{})
}

// BenchmarkPutObjectScan compares PutObject of 64 MiB with scanning off
// and on (inline, with 1, 2 and 4 chunks of the stream scanned at once),
// for random bytes and for text (log lines with numbers,
// e-mail addresses and a key now and then), to show what the scan stage
// adds to an upload.
func BenchmarkPutObjectScan(b *testing.B) {
	const size = 64 << 20
	var text bytes.Buffer
	for i := 0; text.Len() < size; i++ {
		fmt.Fprintf(&text, "2026-11-23T10:%02d:%02d host-%d user=u%d@example.org status=200 bytes=%d id=%d\n", i%60, i%60, i%7, i%991, i*37, 4_000_000_000+i)
		if i%5000 == 0 {
			text.WriteString("AWS_ACCESS_KEY_ID=" + testAWSKey + "\n")
		}
	}
	inputs := map[string][]byte{"random": randomBytes(size, 1), "text": text.Bytes()[:size]}
	for _, kind := range []string{"random", "text"} {
		for _, par := range []int{0, 1, 2, 4} {
			name := kind + "/scan=off"
			if par > 0 {
				name = fmt.Sprintf("%s/scan=on/parallel=%d", kind, par)
			}
			b.Run(name, func(b *testing.B) {
				e := newEnv(b)
				if par > 0 {
					e.withScan(b, ScanConfig{InlineMax: size, Parallel: par})
				}
				bucket := e.bucket(b, "bench")
				data := inputs[kind]
				r := bytes.NewReader(data)
				b.SetBytes(size)
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					r.Reset(data)
					if _, err := e.svc.PutObject(context.Background(), bucket, fmt.Sprintf("k%d", i%4), r, size, PutOptions{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestScanQueueStopsDuringPacedScan: stopping the queue while a background
// scan held back by BackgroundRate is in flight returns, and leaves the
// version unscanned (not counted as failed) for the next start to pick up.
func TestScanQueueStopsDuringPacedScan(t *testing.T) {
	e := newEnv(t).withScan(t, ScanConfig{InlineMax: 1 << 10, BackgroundRate: 1})
	b := e.bucket(t, "bkt")
	e.put(t, b, "big", secretAt(2*copyBufSize, 0), PutOptions{}) // more than one read: paced
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); e.svc.RunScanQueue(ctx) }()
	for e.svc.ScanQueueStatus().Running == 0 { // the scan has started
		runtime.Gosched()
	}
	cancel()
	<-done // the test times out if the queue does not stop
	st := e.svc.ScanQueueStatus()
	if st.Done != 0 || st.Failed != 0 || st.Running != 0 {
		t.Errorf("queue after stop: %+v, want nothing done, failed or running", st)
	}
	if l := e.labelsOf(t, b, "big"); l.State != ScanPending {
		t.Errorf("object after stop: %+v, want pending", l)
	}
}

// TestPacer: the background rate holds across reads and across scans (two
// objects read back to back wait as one object of both sizes does), and
// idle time earns no credit for a burst later.
func TestPacer(t *testing.T) {
	const rate = 1 << 20 // bytes/s
	t0 := time.Unix(1_700_000_000, 0)
	var p pacer
	if d := p.delay(t0); d != 0 {
		t.Fatalf("a fresh pacer waits %v", d)
	}
	p.charge(t0, 1<<20, rate) // the whole of one small object
	p.charge(t0, 1<<19, rate) // the next object, read at once
	for _, c := range []struct {
		at   time.Duration
		want time.Duration
	}{
		{0, 1500 * time.Millisecond},
		{time.Second, 500 * time.Millisecond},
		{2 * time.Second, 0},
	} {
		if d := p.delay(t0.Add(c.at)); d != c.want {
			t.Errorf("delay at +%v = %v, want %v", c.at, d, c.want)
		}
	}
	// Ten idle seconds later, a read is paid for from then on.
	p.charge(t0.Add(12*time.Second), 2<<20, rate)
	if d := p.delay(t0.Add(12 * time.Second)); d != 2*time.Second {
		t.Errorf("delay after idle time = %v, want 2s", d)
	}
}
