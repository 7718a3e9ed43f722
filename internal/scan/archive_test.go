package scan

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// entry is one file of a test archive.
type entry struct {
	name string
	data []byte
}

func zipOf(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.Create(e.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func tarOf(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipOf(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestNestedArchives(t *testing.T) {
	deep := zipOf(t, entry{"conf/app.env", []byte("# app\n" + awsLine)})
	tgz := gzipOf(t, tarOf(t, entry{"readme.txt", []byte("nothing\n")}, entry{"lib/deep.zip", deep}))
	outer := zipOf(t, entry{"notes.txt", []byte("hello\n")}, entry{"pkg/inner.tar.gz", tgz})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "outer.zip"), outer)
	writeFile(t, filepath.Join(dir, "plain.gz"), gzipOf(t, []byte(awsLine)))
	writeFile(t, filepath.Join(dir, "bundle.tgz"), gzipOf(t, tarOf(t, entry{"etc/key.env", []byte(awsLine)})))
	writeFile(t, filepath.Join(dir, "corrupt.zip"), []byte("PK\x03\x04 this is not a zip"))

	tests := []struct {
		name     string
		maxDepth int
		want     []string // archive paths of the findings, relative to dir
	}{
		{"default depth", 0, []string{
			"bundle.tgz!etc/key.env",
			"outer.zip!pkg/inner.tar.gz!lib/deep.zip!conf/app.env",
			"plain.gz!plain",
		}},
		{"depth 2", 2, []string{"bundle.tgz!etc/key.env", "plain.gz!plain"}},
		{"no expansion", -1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := scanPaths(t, Options{MaxDepth: tt.maxDepth}, dir)
			var got []string
			for _, f := range c.awsFindings() {
				rel, _ := filepath.Rel(dir, f.Location.Archive)
				got = append(got, rel)
			}
			if strings.Join(sortedStrings(got), "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("findings in\n%s\nwant\n%s\nwarnings: %v", strings.Join(sortedStrings(got), "\n"), strings.Join(tt.want, "\n"), c.warnings)
			}
		})
	}
	t.Run("line in nested file", func(t *testing.T) {
		c := scanPaths(t, Options{}, filepath.Join(dir, "outer.zip"))
		got := c.awsFindings()
		if len(got) != 1 || got[0].Location.Line != 2 || got[0].Location.Path != filepath.Join(dir, "outer.zip") {
			t.Fatalf("findings %+v", got)
		}
	})
	t.Run("corrupt archive is a warning", func(t *testing.T) {
		c := scanPaths(t, Options{}, filepath.Join(dir, "corrupt.zip"))
		if len(c.warnings) == 0 || !strings.Contains(strings.Join(c.warnings, "\n"), "corrupt.zip") {
			t.Fatalf("warnings %v", c.warnings)
		}
	})
}

func sortedStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// zeros is an endless reader of zero bytes that allocates nothing.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// spaces is an endless reader of text (spaces): a bomb of it is not
// skipped as binary, so it is really expanded until a bound stops it.
type spaces struct{}

func (spaces) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// writeZipBomb writes a zip whose one entry expands to size zero bytes
// (deflate packs zeros about 1000:1), without holding it in memory.
func writeZipBomb(t *testing.T, name string, size int64, extra ...entry) {
	t.Helper()
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	for _, e := range extra {
		w, _ := zw.Create(e.name)
		w.Write(e.data)
	}
	w, err := zw.Create("zeros.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(w, zeros{}, size); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}

// writeGzipBomb writes gzip of size zero bytes.
func writeGzipBomb(t *testing.T, w io.Writer, size int64) {
	t.Helper()
	zw, _ := gzip.NewWriterLevel(w, gzip.BestCompression)
	if _, err := io.CopyN(zw, spaces{}, size); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestArchiveBombs(t *testing.T) {
	dir := t.TempDir()
	const bombSize = 64 << 20 // 64 MiB expanded (1000:1): must never be held, nor even read whole

	// A zip bomb whose header says what it is, next to a secret that must
	// still be found.
	writeZipBomb(t, filepath.Join(dir, "bomb.zip"), bombSize, entry{"ok.env", []byte(awsLine)})

	// A gzip bomb (no header to trust: caught while expanding).
	gz, err := os.Create(filepath.Join(dir, "bomb.gz"))
	if err != nil {
		t.Fatal(err)
	}
	writeGzipBomb(t, gz, bombSize)
	gz.Close()

	// The same zip bomb nested in a zip (read through the outer entry).
	var inner bytes.Buffer
	{
		zw := zip.NewWriter(&inner)
		w, _ := zw.Create("zeros.bin")
		io.CopyN(w, zeros{}, 64<<20)
		zw.Close()
	}
	writeFile(t, filepath.Join(dir, "nested.zip"), zipOf(t, entry{"inner.zip", inner.Bytes()}))

	// Many small entries, together over a small byte budget.
	var many []entry
	for range 50 {
		many = append(many, entry{"part.txt", bytes.Repeat([]byte("abcdefghij"), 10_000)})
	}
	writeFile(t, filepath.Join(dir, "budget.zip"), zipOf(t, many...))
	writeFile(t, filepath.Join(dir, "entries.zip"), zipOf(t, many...))

	tests := []struct {
		name    string
		file    string
		opt     Options
		bombsIn string // Location.Archive suffix of the bomb finding
		aws     int
	}{
		{"zip bomb", "bomb.zip", Options{}, "bomb.zip!zeros.bin", 1},
		{"gzip bomb", "bomb.gz", Options{}, "bomb.gz!bomb", 0},
		{"nested zip bomb", "nested.zip", Options{}, "nested.zip!inner.zip!zeros.bin", 0},
		{"byte budget", "budget.zip", Options{MaxArchiveBytes: 300_000}, "budget.zip!part.txt", 0},
		{"entry count", "entries.zip", Options{MaxArchiveEntries: 10}, "entries.zip", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			c := scanPaths(t, tt.opt, filepath.Join(dir, tt.file))
			runtime.ReadMemStats(&after)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 100<<20 {
				t.Errorf("scan allocated %d MiB", alloc>>20)
			}
			bombs := c.ofType(bombType)
			if len(bombs) != 1 {
				t.Fatalf("%d bomb findings, want 1 (warnings %v)", len(bombs), c.warnings)
			}
			at := bombs[0].Location.Archive
			if at == "" {
				at = bombs[0].Location.Path
			}
			if !strings.HasSuffix(at, tt.bombsIn) {
				t.Errorf("bomb at %q, want …%s", at, tt.bombsIn)
			}
			if got := len(c.awsFindings()); got != tt.aws {
				t.Errorf("%d secrets found next to the bomb, want %d", got, tt.aws)
			}
		})
	}
}

func TestArchiveFromStdin(t *testing.T) {
	data := gzipOf(t, tarOf(t, entry{"a/b.env", []byte(awsLine)}))
	c := &collector{}
	s := NewScanner(testEngine(t), c.options(Options{}))
	if err := s.ScanReader(context.Background(), bytes.NewReader(data), "-"); err != nil {
		t.Fatal(err)
	}
	got := c.awsFindings()
	if len(got) != 1 || got[0].Location.Archive != "-!a/b.env" {
		t.Fatalf("findings %+v", got)
	}
}

// TestSpoolBound: a zip read from a stream is spooled only up to the byte
// budget, in memory and in a temporary file alike.
func TestSpoolBound(t *testing.T) {
	for _, limit := range []int64{1000, maxZipInMemory + 1000} {
		for _, size := range []int64{limit - 1, limit, limit + 1, limit + maxZipInMemory} {
			ra, n, cleanup, err := spool(bytes.NewReader(make([]byte, size)), limit)
			if size > limit {
				if !errors.Is(err, errBomb) {
					t.Errorf("limit %d, %d bytes: err %v, want a bomb", limit, size, err)
				}
				continue
			}
			if err != nil || n != size || ra == nil {
				t.Errorf("limit %d, %d bytes: %d spooled, %v", limit, size, n, err)
				continue
			}
			cleanup()
		}
	}
}
