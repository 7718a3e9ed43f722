package seal

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"

	"github.com/minio/sio"
)

var testBinding = Binding{Bucket: "photos", Key: "2024/cat.jpg", VersionID: "v1", Part: 1}

var suites = []struct {
	name string
	id   byte
}{
	{"AES-256-GCM", sio.AES_256_GCM},
	{"ChaCha20-Poly1305", sio.CHACHA20_POLY1305},
}

func TestCiphertextSize(t *testing.T) {
	for _, n := range []int64{0, 1, PackageSize - 1, PackageSize, PackageSize + 1, 2 * PackageSize, 3<<20 + 5} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			sealed := sealBytes(t, pattern(int(n)), testDEK(1), testBinding, preferredSuite(), 0)
			if got := CiphertextSize(n); got != int64(len(sealed)) {
				t.Errorf("CiphertextSize(%d) = %d, EncryptWriter wrote %d", n, got, len(sealed))
			}
		})
	}
	for _, n := range []int64{-1, MaxPlainSize + 1} {
		if got := CiphertextSize(n); got != -1 {
			t.Errorf("CiphertextSize(%d) = %d, want -1", n, got)
		}
	}
	if got, want := CiphertextSize(MaxPlainSize), int64(MaxPlainSize+(MaxPlainSize/PackageSize)*32); got != want {
		t.Errorf("CiphertextSize(MaxPlainSize) = %d, want %d", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	sizes := []int{0, 1, 15, 16, 17, 100, PackageSize - 1, PackageSize, PackageSize + 1,
		2 * PackageSize, 2*PackageSize + 1, 3*PackageSize + 100, 1<<20 + 3}
	chunks := []int{0, 1000, PackageSize + 7}
	for _, s := range suites {
		for _, size := range sizes {
			for _, chunk := range chunks {
				t.Run(fmt.Sprintf("%s/size=%d/chunk=%d", s.name, size, chunk), func(t *testing.T) {
					plain := pattern(size)
					sealed := sealBytes(t, plain, testDEK(1), testBinding, s.id, chunk)
					if int64(len(sealed)) != CiphertextSize(int64(size)) {
						t.Fatalf("sealed %d bytes, CiphertextSize says %d", len(sealed), CiphertextSize(int64(size)))
					}
					if size > 0 && bytes.Contains(sealed, plain[:min(size, 64)]) && size >= 16 {
						t.Fatalf("ciphertext contains plaintext")
					}
					bufSize := 0
					if chunk != 0 {
						bufSize = 1 << 20 // exercise sio's whole-package read path
					}
					got, err := readRange(sealed, int64(size), testDEK(1), testBinding, 0, int64(size), bufSize)
					if err != nil {
						t.Fatalf("decrypt: %v", err)
					}
					if !bytes.Equal(got, plain) {
						t.Fatalf("decrypted %d bytes, not the %d-byte plaintext", len(got), size)
					}
				})
			}
		}
	}
}

// TestPreferredSuite checks that streams are sealed with the suite the CPU
// favours and that readers accept the other one (covered by TestRoundTrip).
func TestPreferredSuite(t *testing.T) {
	sealed := sealBytes(t, []byte("x"), testDEK(1), testBinding, preferredSuite(), 0)
	var buf bytes.Buffer
	w, err := EncryptWriter(&buf, testDEK(1), testBinding)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("x"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.Bytes()[1], sealed[1]; got != want {
		t.Errorf("EncryptWriter used cipher suite %d, want %d", got, want)
	}
	t.Logf("preferred cipher suite on this CPU: %d (0 = AES-256-GCM, 1 = ChaCha20-Poly1305)", preferredSuite())
}

// boundaries returns the interesting offsets of a stream of n bytes.
func boundaries(n int64) []int64 {
	var out []int64
	for _, p := range []int64{0, 1, PackageSize - 1, PackageSize, PackageSize + 1,
		2*PackageSize - 1, 2 * PackageSize, 2*PackageSize + 1, n - 1, n} {
		if p >= 0 && p <= n && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

func TestDecryptRangeBoundaries(t *testing.T) {
	for _, size := range []int64{100, PackageSize, 2 * PackageSize, 3*PackageSize + 100} {
		plain := pattern(int(size))
		sealed := sealBytes(t, plain, testDEK(2), testBinding, preferredSuite(), 0)
		points := boundaries(size)
		for _, off := range points {
			for _, end := range points {
				if end < off {
					continue
				}
				for _, bufSize := range []int{0, 1 << 20} {
					got, err := readRange(sealed, size, testDEK(2), testBinding, off, end-off, bufSize)
					if err != nil {
						t.Errorf("size %d range [%d, %d) buf %d: %v", size, off, end, bufSize, err)
						continue
					}
					if !bytes.Equal(got, plain[off:end]) {
						t.Errorf("size %d range [%d, %d) buf %d: got %d bytes, not the plaintext slice", size, off, end, bufSize, len(got))
					}
				}
			}
		}
	}
}

// countingReaderAt records which byte ranges are read.
type countingReaderAt struct {
	r     io.ReaderAt
	mu    sync.Mutex
	reads [][2]int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.mu.Lock()
	c.reads = append(c.reads, [2]int64{off, off + int64(n)})
	c.mu.Unlock()
	return n, err
}

func TestDecryptRangeReadsOnlyCoveringPackages(t *testing.T) {
	const size = 5*PackageSize + 100
	plain := pattern(size)
	sealed := sealBytes(t, plain, testDEK(3), testBinding, preferredSuite(), 0)
	tests := []struct {
		off, length int64
		from, to    int64 // allowed ciphertext span
	}{
		{0, 1, 0, sealedPackageSize},
		{PackageSize, PackageSize, sealedPackageSize, 2 * sealedPackageSize},
		{2*PackageSize + 5, 10, 2 * sealedPackageSize, 3 * sealedPackageSize},
		{2*PackageSize - 1, 2, sealedPackageSize, 3 * sealedPackageSize},
		{4 * PackageSize, PackageSize, 4 * sealedPackageSize, 5 * sealedPackageSize},
		{size - 1, 1, 5 * sealedPackageSize, int64(len(sealed))},
		{3 * PackageSize, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d+%d", tt.off, tt.length), func(t *testing.T) {
			c := &countingReaderAt{r: bytes.NewReader(sealed)}
			r, err := DecryptRange(c, size, testDEK(3), testBinding, tt.off, tt.length)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, plain[tt.off:tt.off+tt.length]) {
				t.Fatal("wrong plaintext")
			}
			var read int64
			for _, rd := range c.reads {
				if rd[0] == int64(len(sealed)) && rd[1] == rd[0] {
					continue // the end-of-stream probe
				}
				if rd[0] < tt.from || rd[1] > tt.to {
					t.Errorf("read ciphertext [%d, %d), outside the covering packages [%d, %d)", rd[0], rd[1], tt.from, tt.to)
				}
				read += rd[1] - rd[0]
			}
			if read != tt.to-tt.from {
				t.Errorf("read %d ciphertext bytes, want %d", read, tt.to-tt.from)
			}
		})
	}
}

func TestDecryptRangeArguments(t *testing.T) {
	sealed := sealBytes(t, pattern(1000), testDEK(1), testBinding, preferredSuite(), 0)
	tests := []struct {
		name                   string
		plainSize, off, length int64
	}{
		{"negative size", -1, 0, 0},
		{"size too large", MaxPlainSize + 1, 0, 0},
		{"negative offset", 1000, -1, 1},
		{"negative length", 1000, 0, -1},
		{"offset past end", 1000, 1001, 0},
		{"range past end", 1000, 500, 501},
		{"overflow", 1000, 500, 1<<63 - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecryptRange(bytes.NewReader(sealed), tt.plainSize, testDEK(1), testBinding, tt.off, tt.length)
			if err == nil {
				t.Fatal("DecryptRange accepted invalid arguments")
			}
			if errors.Is(err, ErrIntegrity) {
				t.Fatalf("argument error reported as ErrIntegrity: %v", err)
			}
		})
	}
	if _, err := DecryptRange(nil, 0, testDEK(1), testBinding, 0, 0); err == nil {
		t.Error("DecryptRange accepted a nil source")
	}
}

func TestEmptyRangesAndStreams(t *testing.T) {
	empty := sealBytes(t, nil, testDEK(1), testBinding, preferredSuite(), 0)
	if len(empty) != 0 {
		t.Fatalf("empty stream sealed to %d bytes, want 0", len(empty))
	}
	got, err := readRange(empty, 0, testDEK(1), testBinding, 0, 0, 0)
	if err != nil || len(got) != 0 {
		t.Fatalf("empty stream: got %d bytes, %v", len(got), err)
	}
	// Any ciphertext for an empty object is foreign.
	if _, err := readRange([]byte{1}, 0, testDEK(1), testBinding, 0, 0, 0); !errors.Is(err, ErrIntegrity) {
		t.Errorf("empty object with trailing data: err = %v, want ErrIntegrity", err)
	}
	// length 0 inside a stream reads nothing, so even garbage is fine.
	sealed := sealBytes(t, pattern(3*PackageSize), testDEK(1), testBinding, preferredSuite(), 0)
	for _, off := range []int64{0, PackageSize, 3 * PackageSize} {
		c := &countingReaderAt{r: bytes.NewReader(sealed)}
		r, err := DecryptRange(c, 3*PackageSize, testDEK(1), testBinding, off, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(r); err != nil || len(got) != 0 {
			t.Errorf("length 0 at %d: got %d bytes, %v", off, len(got), err)
		}
		if len(c.reads) != 0 {
			t.Errorf("length 0 at %d read the source %d times", off, len(c.reads))
		}
	}
}

// attackStream is the stream the attacks work on: four packages, the last
// one short.
const attackSize = 3*PackageSize + 100

// packageSpan returns the ciphertext span of package i of a stream of n
// plaintext bytes.
func packageSpan(n int64, i int64) (start, end int64) {
	start = i * sealedPackageSize
	return start, min(start+sealedPackageSize, CiphertextSize(n))
}

func TestAttacks(t *testing.T) {
	plain := pattern(attackSize)
	sealed := sealBytes(t, plain, testDEK(4), testBinding, preferredSuite(), 0)
	pkg := func(i int64) []byte {
		s, e := packageSpan(attackSize, i)
		return slices.Clone(sealed[s:e])
	}
	type attack struct {
		name   string
		mutate func([]byte) []byte
	}
	var attacks []attack
	flip := func(pos int64) func([]byte) []byte {
		return func(c []byte) []byte { c[pos] ^= 0x01; return c }
	}
	for i := int64(0); i < 4; i++ {
		s, e := packageSpan(attackSize, i)
		positions := map[string]int64{
			"payload first": s + packageHeaderSize,
			"payload mid":   s + (e-s)/2,
			"payload last":  e - packageTagSize - 1,
			"tag first":     e - packageTagSize,
			"tag last":      e - 1,
		}
		for h := int64(0); h < packageHeaderSize; h++ {
			positions[fmt.Sprintf("header byte %d", h)] = s + h
		}
		for name, pos := range positions {
			attacks = append(attacks, attack{fmt.Sprintf("flip package %d %s", i, name), flip(pos)})
		}
	}
	lastStart, _ := packageSpan(attackSize, 3)
	attacks = append(attacks,
		attack{"truncate last package by 1 byte", func(c []byte) []byte { return c[:len(c)-1] }},
		attack{"truncate last package's tag", func(c []byte) []byte { return c[:len(c)-packageTagSize] }},
		attack{"truncate last package to its header", func(c []byte) []byte { return c[:lastStart+packageHeaderSize] }},
		attack{"drop last package", func(c []byte) []byte { return c[:lastStart] }},
		attack{"truncate in package 1", func(c []byte) []byte { return c[:sealedPackageSize+1000] }},
		attack{"truncate to nothing", func(c []byte) []byte { return c[:0] }},
		attack{"drop package 0", func(c []byte) []byte { return c[sealedPackageSize:] }},
		attack{"drop package 1", func(c []byte) []byte { return slices.Concat(pkg(0), pkg(2), pkg(3)) }},
		attack{"swap packages 0 and 1", func(c []byte) []byte { return slices.Concat(pkg(1), pkg(0), pkg(2), pkg(3)) }},
		attack{"swap packages 1 and 2", func(c []byte) []byte { return slices.Concat(pkg(0), pkg(2), pkg(1), pkg(3)) }},
		attack{"replay package 0 as 1", func(c []byte) []byte { return slices.Concat(pkg(0), pkg(0), pkg(2), pkg(3)) }},
		attack{"append 1 garbage byte", func(c []byte) []byte { return append(c, 0) }},
		attack{"append final package again", func(c []byte) []byte { return append(c, pkg(3)...) }},
		attack{"append a full package", func(c []byte) []byte { return append(c, pkg(0)...) }},
	)
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			bad := a.mutate(slices.Clone(sealed))
			for _, bufSize := range []int{0, 1 << 20} {
				got, err := readRange(bad, attackSize, testDEK(4), testBinding, 0, attackSize, bufSize)
				if !errors.Is(err, ErrIntegrity) {
					t.Fatalf("buf %d: err = %v, want ErrIntegrity", bufSize, err)
				}
				if !bytes.Equal(got, plain[:len(got)]) {
					t.Fatalf("buf %d: returned %d bytes that are not the plaintext", bufSize, len(got))
				}
			}
		})
	}
}

// TestAttacksOnRanges checks that a range touching a damaged package fails
// and a range that does not touch it succeeds (only covering packages are
// authenticated, by design).
func TestAttacksOnRanges(t *testing.T) {
	plain := pattern(attackSize)
	sealed := sealBytes(t, plain, testDEK(5), testBinding, preferredSuite(), 0)
	bad := slices.Clone(sealed)
	bad[2*sealedPackageSize+100] ^= 0x80 // in package 2
	tests := []struct {
		off, length int64
		wantErr     bool
	}{
		{0, PackageSize, false},
		{PackageSize, PackageSize, false},
		{2*PackageSize - 1, 1, false},
		{2*PackageSize - 1, 2, true},
		{2 * PackageSize, 1, true},
		{3*PackageSize - 1, 1, true},
		{3 * PackageSize, 100, false},
		{0, attackSize, true},
	}
	for _, tt := range tests {
		got, err := readRange(bad, attackSize, testDEK(5), testBinding, tt.off, tt.length, 0)
		if tt.wantErr {
			if !errors.Is(err, ErrIntegrity) {
				t.Errorf("range %d+%d: err = %v, want ErrIntegrity", tt.off, tt.length, err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, plain[tt.off:tt.off+tt.length]) {
			t.Errorf("range %d+%d: %d bytes, err %v; want the plaintext", tt.off, tt.length, len(got), err)
		}
	}

	// Dropping the last package is only visible to ranges that reach it.
	lastStart, _ := packageSpan(attackSize, 3)
	short := sealed[:lastStart]
	if _, err := readRange(short, attackSize, testDEK(5), testBinding, 0, PackageSize, 0); err != nil {
		t.Errorf("range before the dropped package: %v", err)
	}
	if _, err := readRange(short, attackSize, testDEK(5), testBinding, 3*PackageSize, 1, 0); !errors.Is(err, ErrIntegrity) {
		t.Errorf("range in the dropped package: err = %v, want ErrIntegrity", err)
	}
}

// TestWrongPlainSize checks that the final flag catches a stream size that
// does not match the stream.
func TestWrongPlainSize(t *testing.T) {
	plain := pattern(attackSize)
	sealed := sealBytes(t, plain, testDEK(6), testBinding, preferredSuite(), 0)
	for _, size := range []int64{3 * PackageSize, 2*PackageSize + 100, attackSize - 1, attackSize + 1, 4 * PackageSize, 5 * PackageSize} {
		for _, off := range []int64{0, size - 1} {
			_, err := readRange(sealed, size, testDEK(6), testBinding, off, size-off, 0)
			if !errors.Is(err, ErrIntegrity) {
				t.Errorf("claimed size %d, range from %d: err = %v, want ErrIntegrity", size, off, err)
			}
		}
	}
	// Cut at a package boundary and a size to match: only the missing
	// final flag tells.
	for _, n := range []int64{1, 2, 3} {
		cut := sealed[:n*sealedPackageSize]
		for _, off := range []int64{0, n*PackageSize - 1} {
			_, err := readRange(cut, n*PackageSize, testDEK(6), testBinding, off, n*PackageSize-off, 0)
			if !errors.Is(err, ErrIntegrity) {
				t.Errorf("cut to %d packages, range from %d: err = %v, want ErrIntegrity", n, off, err)
			}
		}
	}
}

func TestBindingMismatch(t *testing.T) {
	plain := pattern(PackageSize + 10)
	sealed := sealBytes(t, plain, testDEK(7), testBinding, preferredSuite(), 0)
	other := func(f func(*Binding)) Binding { b := testBinding; f(&b); return b }
	tests := []struct {
		name string
		dek  DEK
		b    Binding
	}{
		{"bucket", testDEK(7), other(func(b *Binding) { b.Bucket = "photoz" })},
		{"key", testDEK(7), other(func(b *Binding) { b.Key = "2024/dog.jpg" })},
		{"version", testDEK(7), other(func(b *Binding) { b.VersionID = "v2" })},
		{"part", testDEK(7), other(func(b *Binding) { b.Part = 2 })},
		{"part zero", testDEK(7), other(func(b *Binding) { b.Part = 0 })},
		{"zero binding", testDEK(7), Binding{}},
		{"shifted field boundary", testDEK(7), other(func(b *Binding) { b.Bucket = "photos2024"; b.Key = "/cat.jpg" })},
		{"other DEK", testDEK(8), testBinding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range [][2]int64{{0, int64(len(plain))}, {PackageSize, 10}, {5, 1}} {
				if _, err := readRange(sealed, int64(len(plain)), tt.dek, tt.b, r[0], r[1], 0); !errors.Is(err, ErrIntegrity) {
					t.Errorf("range %v: err = %v, want ErrIntegrity", r, err)
				}
			}
		})
	}
}

func TestBindingInfoUnambiguous(t *testing.T) {
	bs := []Binding{
		{},
		{Bucket: "a"},
		{Key: "a"},
		{VersionID: "a"},
		{Part: 1},
		{Part: -1},
		{Bucket: "ab", Key: "c"},
		{Bucket: "a", Key: "bc"},
		{Bucket: "a", Key: "b", VersionID: "c"},
		{Bucket: "a", Key: "", VersionID: "bc"},
		{Bucket: "a\x00\x00\x00\x00\x00\x00\x00\x01b"},
		{Bucket: "a", Key: "b"},
	}
	seen := map[string]Binding{}
	for _, b := range bs {
		info := bindingInfo(b)
		if prev, ok := seen[info]; ok {
			t.Errorf("bindings %+v and %+v encode the same", prev, b)
		}
		seen[info] = b
	}
}

func TestSwapObjects(t *testing.T) {
	bA := Binding{Bucket: "b", Key: "a", VersionID: "1"}
	bB := Binding{Bucket: "b", Key: "b", VersionID: "1"}
	plain := pattern(1000)
	sealedA := sealBytes(t, plain, testDEK(9), bA, preferredSuite(), 0)
	sealedB := sealBytes(t, plain, testDEK(10), bB, preferredSuite(), 0)
	if _, err := readRange(sealedB, 1000, testDEK(9), bA, 0, 1000, 0); !errors.Is(err, ErrIntegrity) {
		t.Errorf("B's ciphertext as A: err = %v, want ErrIntegrity", err)
	}
	if _, err := readRange(sealedA, 1000, testDEK(10), bB, 0, 1000, 0); !errors.Is(err, ErrIntegrity) {
		t.Errorf("A's ciphertext as B: err = %v, want ErrIntegrity", err)
	}
	// Same DEK, other name: the binding alone must stop it.
	sealedC := sealBytes(t, plain, testDEK(9), bB, preferredSuite(), 0)
	if _, err := readRange(sealedC, 1000, testDEK(9), bA, 0, 1000, 0); !errors.Is(err, ErrIntegrity) {
		t.Errorf("same DEK, swapped name: err = %v, want ErrIntegrity", err)
	}
}

var errBoom = errors.New("boom")

type failingReaderAt struct{}

func (failingReaderAt) ReadAt([]byte, int64) (int, error) { return 0, errBoom }

func TestSourceErrorsAreNotIntegrityErrors(t *testing.T) {
	r, err := DecryptRange(failingReaderAt{}, 1000, testDEK(1), testBinding, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(r)
	if !errors.Is(err, errBoom) || errors.Is(err, ErrIntegrity) {
		t.Errorf("err = %v, want errBoom and not ErrIntegrity", err)
	}
}

// closeRecorder records Close calls.
type closeRecorder struct {
	bytes.Buffer
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

type failingWriter struct{ n int }

func (f *failingWriter) Write(p []byte) (int, error) { f.n++; return 0, errBoom }

func TestEncryptWriterLifecycle(t *testing.T) {
	var dst closeRecorder
	w, err := EncryptWriter(&dst, testDEK(1), testBinding)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if dst.closed {
		t.Error("Close closed the destination")
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := w.Write([]byte("more")); err == nil {
		t.Error("Write after Close succeeded")
	}
	if int64(dst.Len()) != CiphertextSize(5) {
		t.Errorf("wrote %d bytes, want %d", dst.Len(), CiphertextSize(5))
	}

	fw := &failingWriter{}
	w, err = EncryptWriter(fw, testDEK(1), testBinding)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 3*PackageSize)); !errors.Is(err, errBoom) {
		t.Fatalf("Write to failing destination: err = %v, want errBoom", err)
	}
	calls := fw.n
	if _, err := w.Write([]byte("x")); !errors.Is(err, errBoom) {
		t.Errorf("Write after failure: err = %v, want errBoom", err)
	}
	if err := w.Close(); !errors.Is(err, errBoom) {
		t.Errorf("Close after failure: err = %v, want errBoom", err)
	}
	if fw.n != calls {
		t.Errorf("destination written %d more times after the failure", fw.n-calls)
	}

	if _, err := EncryptWriter(nil, testDEK(1), testBinding); err == nil {
		t.Error("EncryptWriter accepted a nil destination")
	}
}

// TestGoldenStreams pins the stream format: a change to the key derivation,
// the binding encoding or the sio version fails here before it strands
// stored data.
func TestGoldenStreams(t *testing.T) {
	b := Binding{Bucket: "bucket", Key: "dir/key", VersionID: "0190f1c2", Part: 3}
	key, err := streamKey(testDEK(1), b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hex.EncodeToString(key), goldenStreamKey; got != want {
		t.Errorf("stream key = %s, want %s", got, want)
	}
	nonce := [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	plain := pattern(PackageSize + 4464)
	for _, s := range suites {
		var buf bytes.Buffer
		w, err := encryptWriter(&buf, testDEK(1), b, s.id, &nonce)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(plain)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(buf.Bytes())
		if got, want := hex.EncodeToString(sum[:]), goldenStreamSHA256[s.id]; got != want {
			t.Errorf("%s: SHA-256 of sealed stream = %s, want %s", s.name, got, want)
		}
		got, err := readRange(buf.Bytes(), int64(len(plain)), testDEK(1), b, 0, int64(len(plain)), 0)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("%s: golden stream does not open: %v", s.name, err)
		}
	}
}

// The golden values were cross-checked against an independent Python
// implementation of HKDF-SHA256 and of DARE 2.0 (pyca/cryptography AEADs).
const goldenStreamKey = "a3d423fbfffa3f7f1735c74ed556fb148911884e2255bf740917a8ea22b4a4da"

var goldenStreamSHA256 = map[byte]string{
	sio.AES_256_GCM:       "9703547707fe2d07d7f481b18b58b40c02044326ce03b4f108d32ee13deb639e",
	sio.CHACHA20_POLY1305: "b72f6d1bccadea87f154fbb76c654cef56d0f3ce1c522ee677e1d5b432092bdb",
}

// TestEndCheckedWithLastBytes checks that the end-of-stream checks report in
// the Read that returns the last byte, for callers that never read to EOF.
func TestEndCheckedWithLastBytes(t *testing.T) {
	plain := pattern(attackSize)
	sealed := sealBytes(t, plain, testDEK(11), testBinding, preferredSuite(), 0)
	tests := []struct {
		name    string
		sealed  []byte
		size    int64
		wantErr bool
	}{
		{"intact", sealed, attackSize, false},
		{"trailing data", append(slices.Clone(sealed), 0), attackSize, true},
		{"cut at package boundary, size to match", sealed[:2*sealedPackageSize], 2 * PackageSize, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, off := range []int64{0, tt.size - 1} {
				r, err := DecryptRange(bytes.NewReader(tt.sealed), tt.size, testDEK(11), testBinding, off, tt.size-off)
				if err != nil {
					t.Fatal(err)
				}
				left := tt.size - off
				var sawErr error
				for left > 0 && sawErr == nil {
					n, err := r.Read(make([]byte, min(left, 1000)))
					left -= int64(n)
					if err != nil {
						sawErr = err
					}
				}
				if tt.wantErr && !errors.Is(sawErr, ErrIntegrity) {
					t.Errorf("from %d: error with the last bytes = %v, want ErrIntegrity", off, sawErr)
				}
				if !tt.wantErr && sawErr != nil {
					t.Errorf("from %d: %v", off, sawErr)
				}
			}
		})
	}
}
