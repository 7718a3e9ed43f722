package seal

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
)

// memStore is an in-memory KEKStore.
type memStore struct {
	mu      sync.Mutex
	keks    []StoredKEK
	listErr error
	putErr  error
}

func (s *memStore) ListKEKs(ctx context.Context) ([]StoredKEK, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listErr != nil {
		return nil, s.listErr
	}
	out := make([]StoredKEK, len(s.keks))
	for i, k := range s.keks {
		k.Wrapped = slices.Clone(k.Wrapped)
		out[i] = k
	}
	return out, nil
}

func (s *memStore) PutKEK(ctx context.Context, k StoredKEK) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.putErr != nil {
		return s.putErr
	}
	for _, have := range s.keks {
		if have.Version == k.Version {
			return fmt.Errorf("memStore: KEK version %d exists", k.Version)
		}
	}
	k.Wrapped = slices.Clone(k.Wrapped)
	s.keks = append(s.keks, k)
	return nil
}

// testDEK returns a DEK filled with seed.
func testDEK(seed byte) DEK {
	var d DEK
	for i := range d {
		d[i] = seed + byte(i)
	}
	return d
}

// pattern returns n deterministic bytes that differ from package to package,
// so a reordered package would show up as wrong bytes if it were accepted.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/PackageSize*13 + i>>11)
	}
	return b
}

// sealBytes seals plain in one stream, writing in chunks of chunk bytes (all
// at once when chunk <= 0).
func sealBytes(t testing.TB, plain []byte, dek DEK, b Binding, suite byte, chunk int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := encryptWriter(&buf, dek, b, suite, nil)
	if err != nil {
		t.Fatalf("encryptWriter: %v", err)
	}
	if chunk <= 0 {
		chunk = max(len(plain), 1)
	}
	for p := plain; len(p) > 0; {
		n := min(chunk, len(p))
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return buf.Bytes()
}

// readRange decrypts [off, off+length) from sealed, reading through a buffer
// of bufSize bytes (io.ReadAll's growing buffer when bufSize <= 0).
func readRange(sealed []byte, plainSize int64, dek DEK, b Binding, off, length int64, bufSize int) ([]byte, error) {
	r, err := DecryptRange(bytes.NewReader(sealed), plainSize, dek, b, off, length)
	if err != nil {
		return nil, err
	}
	if bufSize <= 0 {
		return io.ReadAll(r)
	}
	var out bytes.Buffer
	_, err = io.CopyBuffer(struct{ io.Writer }{&out}, struct{ io.Reader }{r}, make([]byte, bufSize))
	return out.Bytes(), err
}
