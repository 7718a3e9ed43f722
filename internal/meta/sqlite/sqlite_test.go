package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coffer-vault/coffer/internal/meta"
	"github.com/coffer-vault/coffer/internal/meta/metatest"
)

func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	metatest.Run(t, func(t *testing.T) meta.Store { return openTemp(t) })
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	open := func(t *testing.T) meta.Store {
		s, err := Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	metatest.RunReopen(t, open, func(t *testing.T, old meta.Store) meta.Store {
		if err := old.Close(); err != nil {
			t.Fatal(err)
		}
		return open(t)
	})
}

func TestPragmas(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	for _, c := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
		{"busy_timeout", fmt.Sprint(busyTimeout.Milliseconds())},
		{"user_version", fmt.Sprint(schemaVersion())},
	} {
		var got string
		if err := s.wdb.QueryRowContext(ctx, "PRAGMA "+c.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("PRAGMA %s = %s on the write connection, want %s", c.pragma, got, c.want)
		}
	}
	var qo string
	if err := s.rdb.QueryRowContext(ctx, "PRAGMA query_only").Scan(&qo); err != nil || qo != "1" {
		t.Errorf("read pool query_only = %q, %v; want 1", qo, err)
	}
	if _, err := s.rdb.ExecContext(ctx, "DELETE FROM buckets"); err == nil {
		t.Error("the read pool accepted a write")
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.wdb.ExecContext(t.Context(), fmt.Sprintf("PRAGMA user_version = %d", schemaVersion()+1)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(t.Context(), path); err == nil {
		s.Close()
		t.Fatal("Open accepted a database with a newer schema")
	}
}

func TestClosed(t *testing.T) {
	s := openTemp(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBucket(t.Context(), meta.Bucket{Name: "b"}); err == nil {
		t.Error("CreateBucket after Close succeeded")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestBatchIsolation checks that in a group commit a failing operation is
// rolled back alone: its neighbours in the same transaction commit.
func TestBatchIsolation(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if err := s.CreateBucket(ctx, meta.Bucket{Name: "b", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	const n = 64
	var wg sync.WaitGroup
	var good, bad atomic.Int64
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bucket := "b"
			if i%2 == 1 {
				bucket = "missing"
			}
			o := meta.Object{Bucket: bucket, Key: fmt.Sprint("k", i), VersionID: "v",
				Segments: []meta.Segment{{Number: 1, BlobID: fmt.Sprintf("%032x", i), WrappedDEK: []byte("w"), KEKVersion: 1}}}
			// A segment whose blob id is taken fails half-way through
			// its operation, after its object row was written.
			if i%4 == 2 {
				o.Segments = append(o.Segments, meta.Segment{Number: 2, BlobID: fmt.Sprintf("%032x", i), WrappedDEK: []byte("w")})
			}
			_, err := s.PutObject(ctx, o)
			switch {
			case i%2 == 1 && errors.Is(err, meta.ErrNoSuchBucket), i%4 == 2 && err != nil:
				bad.Add(1)
			case i%4 == 0 && err == nil:
				good.Add(1)
			default:
				t.Errorf("put %d: unexpected result %v", i, err)
			}
		}()
	}
	wg.Wait()
	objs, _, err := s.ListObjects(ctx, "b", meta.ListOptions{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(objs)) != good.Load() || good.Load() != n/4 {
		t.Errorf("%d objects listed, %d puts succeeded; want %d", len(objs), good.Load(), n/4)
	}
	if counts, _ := s.CountDEKs(ctx); counts[1] != n/4 {
		t.Errorf("CountDEKs = %v: a failed operation left rows behind", counts)
	}
}

func TestPrefixEnd(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"", "", false},
		{"a", "b", true},
		{"a%", "a&", true},
		{"a\xff", "b", true},
		{"\xff\xff", "", false},
		{"\U0010FFFF", "\xf4\x8f\xbf\xc0", true},
	} {
		got, ok := prefixEnd(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("prefixEnd(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// BenchmarkPutObject measures small PUTs from many concurrent clients (16
// goroutines on 2 CPUs with -cpu 2): one object row and one segment each,
// every one durable (synchronous=FULL) before it returns.
func BenchmarkPutObject(b *testing.B) {
	s := openTemp(b)
	ctx := context.Background()
	if err := s.CreateBucket(ctx, meta.Bucket{Name: "b", Created: time.Now()}); err != nil {
		b.Fatal(err)
	}
	var seq atomic.Int64
	wrapped := make([]byte, 60)
	meta_ := make([]byte, 80)
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			o := meta.Object{
				Bucket: "b", Key: fmt.Sprintf("dir/%010d", n), VersionID: fmt.Sprintf("v%d", n),
				Size: 4096, ETag: "0123456789abcdef0123456789abcdef", LastModified: time.Now(), Meta: meta_,
				Segments: []meta.Segment{{Number: 1, BlobID: fmt.Sprintf("%032x", n), Size: 4096,
					ETag: "0123456789abcdef0123456789abcdef", WrappedDEK: wrapped, KEKVersion: 1, Binding: "v", Created: time.Now()}},
			}
			if _, err := s.PutObject(ctx, o); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "puts/s")
}

func TestAwkwardPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir?x=1#frag%20 é")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "meta.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateBucket(t.Context(), meta.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at the path given: %v", err)
	}
}

// TestClassifyStorageErrors proves SQLite's disk-full and read-only result
// codes reach callers as ENOSPC and EROFS, which the vault maps to clear
// S3 errors.
func TestClassifyStorageErrors(t *testing.T) {
	// Exhaust the page budget of a database capped by max_page_count: a real
	// SQLITE_FULL from the engine.
	ctx := context.Background()
	st, err := Open(ctx, filepath.Join(t.TempDir(), "full.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateBucket(ctx, meta.Bucket{Name: "b", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.wdb.ExecContext(ctx, "PRAGMA max_page_count = 1"); err != nil {
		t.Fatal(err)
	}
	var last error
	for i := 0; i < 200 && last == nil; i++ {
		_, last = st.PutObject(ctx, meta.Object{
			Bucket: "b", Key: fmt.Sprintf("k%03d", i), VersionID: "v", Size: 1, ETag: "e",
			Meta: bytes.Repeat([]byte{'m'}, 2000), LastModified: time.Now(),
		})
	}
	if !errors.Is(last, syscall.ENOSPC) {
		t.Fatalf("writes into a full database: err = %v, want one matching ENOSPC", last)
	}
	if classify(nil) != nil || classify(errors.New("x")).Error() != "x" {
		t.Fatal("classify changed an error that is not SQLite's")
	}
}
