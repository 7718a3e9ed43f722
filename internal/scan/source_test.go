package scan

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// testAWSKey is an AWS access key id shaped like a real one (not AWS's
// documented example, which the engine ignores).
const testAWSKey = "AKIA4GXQ7TZ2KR9WMB3H"

// awsLine is a line that holds testAWSKey in context.
const awsLine = "aws_access_key_id = " + testAWSKey + "\n"

// cnResidentID returns a Chinese resident id number with a valid GB 11643
// check digit (Beijing Chaoyang, born 1985-06-12).
func cnResidentID() string {
	body := "11010519850612123"
	weights := []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, c := range body {
		sum += int(c-'0') * weights[i]
	}
	return body + string("10X98765432"[sum%11])
}

// pemKey returns a fresh EC private key in PEM.
func pemKey(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
}

func testEngine(t *testing.T) *Engine {
	t.Helper()
	e, err := NewEngine(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// collector gathers findings and warnings of one scan.
type collector struct {
	mu       sync.Mutex
	findings []Finding
	warnings []string
}

func (c *collector) options(opt Options) Options {
	opt.OnFinding = func(f Finding) { c.mu.Lock(); c.findings = append(c.findings, f); c.mu.Unlock() }
	opt.OnWarning = func(err error) { c.mu.Lock(); c.warnings = append(c.warnings, err.Error()); c.mu.Unlock() }
	return opt
}

// ofType returns the findings whose type starts with prefix.
func (c *collector) ofType(prefix string) []Finding {
	var out []Finding
	for _, f := range c.findings {
		if strings.HasPrefix(f.Type, prefix) {
			out = append(out, f)
		}
	}
	return out
}

// awsFindings returns the findings of testAWSKey.
func (c *collector) awsFindings() []Finding {
	var out []Finding
	for _, f := range c.findings {
		if strings.Contains(f.Type, "aws") && !strings.Contains(f.Type, "secret_key") {
			out = append(out, f)
		}
	}
	return out
}

func scanPaths(t *testing.T, opt Options, paths ...string) *collector {
	t.Helper()
	c := &collector{}
	s := NewScanner(testEngine(t), c.options(opt))
	if err := s.ScanPaths(context.Background(), paths, nil); err != nil {
		t.Fatalf("ScanPaths: %v", err)
	}
	return c
}

func writeFile(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDetectorsThroughFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "aws.env"), []byte("# deploy\n"+awsLine))
	writeFile(t, filepath.Join(dir, "key.pem"), []byte(pemKey(t)))
	writeFile(t, filepath.Join(dir, "people.csv"), []byte("name,身份证\nzhang,"+cnResidentID()+"\n"))
	c := scanPaths(t, Options{}, dir)
	tests := []struct {
		file, typ string
		line      int
	}{
		{"aws.env", "aws", 2},
		{"key.pem", "private", 1},
		{"people.csv", "resident", 2},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var got []Finding
			for _, f := range c.findings {
				if filepath.Base(f.Location.Path) == tt.file && strings.Contains(f.Type, tt.typ) {
					got = append(got, f)
				}
			}
			if len(got) == 0 {
				t.Fatalf("no %s finding in %s; all: %+v", tt.typ, tt.file, c.findings)
			}
			if got[0].Location.Line != tt.line {
				t.Errorf("line = %d, want %d", got[0].Location.Line, tt.line)
			}
		})
	}
}

func TestChunkBorder(t *testing.T) {
	// The first chunk is bytes [0, chunk+overlap); each next one starts
	// overlap bytes before the end of the one before.
	const chunk, overlap = 4096, 256
	end1 := chunk + overlap
	end2 := end1 + chunk
	tests := []struct {
		name string
		at   int // offset of the key in the file
		size int // of the file; 0 means 3*chunk
	}{
		{"start", 0, 0},
		{"end of a file of exactly one chunk", end1 - len(testAWSKey), end1},
		{"end of a file of exactly two chunks", end2 - len(testAWSKey), end2},
		{"inside first chunk", 1000, 0},
		{"across the first border", end1 - 10, 0},
		{"ending at the first border", end1 - len(testAWSKey), 0},
		{"starting at the first border", end1, 0},
		{"at the start of the overlap", end1 - overlap, 0},
		{"in the overlap, before the middle", end1 - overlap/2 - 3, 0},
		{"at the middle of the overlap", end1 - overlap/2, 0},
		{"in the overlap, after the middle", end1 - overlap/2 + 3, 0},
		{"across the second border", end2 - 7, 0},
		{"end of file", 3*chunk - len(testAWSKey), 0},
	}
	// And every offset around the first border.
	for at := end1 - overlap - 2; at <= end1+2; at += 7 {
		tests = append(tests, struct {
			name string
			at   int
			size int
		}{fmt.Sprintf("sweep %d", at), at, 0})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size := tt.size
			if size == 0 {
				size = 3 * chunk
			}
			data := bytes.Repeat([]byte("quick brown fox jumps over a dog\n"), size/33+1)[:size]
			// Surround the key with spaces, so it is a whole token.
			copy(data[max(tt.at-1, 0):], " "+testAWSKey+" ")
			if tt.at == 0 {
				copy(data, testAWSKey+" ")
			}
			wantLine := bytes.Count(data[:tt.at], []byte("\n")) + 1
			name := filepath.Join(t.TempDir(), "big.txt")
			writeFile(t, name, data)
			c := scanPaths(t, Options{ChunkSize: chunk, Overlap: overlap}, name)
			got := c.awsFindings()
			if len(got) != 1 {
				t.Fatalf("found %d times, want once: %+v", len(got), got)
			}
			if got[0].Location.Start != int64(tt.at) || got[0].Location.Line != wantLine {
				t.Errorf("at %d line %d, want %d line %d", got[0].Location.Start, got[0].Location.Line, tt.at, wantLine)
			}
		})
	}
}

func TestBinarySkip(t *testing.T) {
	dir := t.TempDir()
	bin := append([]byte("\x7fELF\x00\x01\x02"), awsLine...)
	writeFile(t, filepath.Join(dir, "prog.bin"), bin)
	latin := bytes.Repeat([]byte{0xe9, 0xe8, 'a'}, 100) // mostly invalid UTF-8
	writeFile(t, filepath.Join(dir, "latin1.dat"), append(latin, awsLine...))
	writeFile(t, filepath.Join(dir, "utf8.txt"), []byte("héllo wörld 身份证\n"+awsLine))
	tests := []struct {
		name          string
		includeBinary bool
		want          int
	}{
		{"skipped", false, 1},
		{"included", true, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := scanPaths(t, Options{IncludeBinary: tt.includeBinary}, dir)
			if got := len(c.awsFindings()); got != tt.want {
				t.Errorf("%d findings, want %d: %+v", got, tt.want, c.findings)
			}
		})
	}
}

func TestIsBinary(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want bool
	}{
		{"empty", nil, false},
		{"ascii", []byte("hello\n"), false},
		{"utf-8 cut at the end", []byte("abc身"[:5]), false},
		{"nul", []byte("ab\x00cd"), true},
		{"latin-1", bytes.Repeat([]byte{0xe9, 'a'}, 50), true},
		{"a few bad bytes", append(bytes.Repeat([]byte("text "), 100), 0xff), false},
	}
	for _, tt := range tests {
		if got := isBinary(tt.data); got != tt.want {
			t.Errorf("%s: isBinary = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestWalkSkipsGitAndSymlinks(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, ".git", "config"), []byte(awsLine))
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "secret.env"), []byte(awsLine))
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Skip("no symlinks:", err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret.env"), filepath.Join(dir, "file-link")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		opt    Options
		want   int
		inside string
	}{
		{"default", Options{}, 0, ""},
		{"with .git", Options{IncludeGitDir: true}, 1, ".git"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := scanPaths(t, tt.opt, dir)
			got := c.awsFindings()
			if len(got) != tt.want {
				t.Fatalf("%d findings, want %d: %+v", len(got), tt.want, got)
			}
			for _, f := range got {
				if !strings.Contains(f.Location.Path, tt.inside) {
					t.Errorf("finding in %s", f.Location.Path)
				}
			}
		})
	}
}

func TestStdin(t *testing.T) {
	c := &collector{}
	s := NewScanner(testEngine(t), c.options(Options{}))
	if err := s.ScanPaths(context.Background(), []string{"-"}, strings.NewReader("x\n"+awsLine)); err != nil {
		t.Fatal(err)
	}
	got := c.awsFindings()
	if len(got) != 1 || got[0].Location.Path != "-" || got[0].Location.Line != 2 {
		t.Fatalf("findings %+v", got)
	}
}

func TestManyFilesParallel(t *testing.T) {
	dir := t.TempDir()
	const n = 200
	for i := range n {
		body := "nothing here\n"
		if i%10 == 0 {
			body = awsLine
		}
		writeFile(t, filepath.Join(dir, fmt.Sprintf("d%d", i%7), fmt.Sprintf("f%03d.txt", i)), []byte(body))
	}
	c := scanPaths(t, Options{Workers: 8}, dir)
	if got := len(c.awsFindings()); got != n/10 {
		t.Fatalf("%d findings, want %d", got, n/10)
	}
}

// BenchmarkScanPaths measures throughput over a generated tree of source-like
// files (64 files of 1 MiB) with a few planted secrets.
func BenchmarkScanPaths(b *testing.B) {
	dir := b.TempDir()
	line := []byte("func handler(w http.ResponseWriter, r *http.Request) { log.Printf(\"user=%s\", r.URL) }\n")
	body := bytes.Repeat(line, (1<<20)/len(line))
	var total int64
	for i := range 64 {
		data := append([]byte(nil), body...)
		if i%8 == 0 {
			copy(data[len(data)/2:], awsLine)
		}
		name := filepath.Join(dir, fmt.Sprintf("src%02d.go", i))
		if err := os.WriteFile(name, data, 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(len(data))
	}
	e, err := NewEngine(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(total)
	b.ResetTimer()
	for range b.N {
		s := NewScanner(e, Options{})
		if err := s.ScanPaths(context.Background(), []string{dir}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func TestLargeFileBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 64 MiB")
	}
	name := filepath.Join(t.TempDir(), "big.log")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	line := []byte("2024-03-01T10:00:00Z INFO request served path=/api/v1/items status=200 took=3ms\n")
	const size = 64 << 20
	planted := false
	for written := 0; written < size; written += len(line) {
		if !planted && written >= size/2 {
			f.Write([]byte(awsLine))
			planted = true
		}
		f.Write(line)
	}
	f.Close()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := scanPaths(t, Options{Workers: 1}, name)
	runtime.ReadMemStats(&after)
	if got := len(c.awsFindings()); got != 1 {
		t.Fatalf("%d findings, want 1", got)
	}
	// A 64 MiB file is read through one pooled chunk buffer, never whole.
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("scanning 64 MiB allocated %d KiB", alloc>>10)
	if alloc > 32<<20 {
		t.Errorf("scanning 64 MiB allocated %d MiB", alloc>>20)
	}
}
