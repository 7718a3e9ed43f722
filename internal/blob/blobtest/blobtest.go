// Package blobtest is the conformance suite every blob.Store
// implementation must pass. Each implementation's tests call Run; a
// property stated here is the contract, whatever holds the bytes.
package blobtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/coffer-vault/coffer/internal/blob"
)

// Run runs the suite. open must return a new, empty store for each call.
func Run(t *testing.T, open func(t *testing.T) blob.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s blob.Store)
	}{
		{"WriteRead", testWriteRead},
		{"Uncommitted", testUncommitted},
		{"Abort", testAbort},
		{"WriterAfterClose", testWriterAfterClose},
		{"Sweep", testSweep},
		{"InvalidIDs", testInvalidIDs},
		{"Delete", testDelete},
		{"List", testList},
		{"Concurrent", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// NewID returns a random valid blob id.
func NewID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Payload returns n pseudo-random bytes.
func Payload(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// Put writes and commits a blob, writing data in chunks of chunk bytes.
func Put(t *testing.T, s blob.Store, id string, data []byte, chunk int) {
	t.Helper()
	w, err := s.Create(t.Context(), id)
	if err != nil {
		t.Fatalf("Create(%s): %v", id, err)
	}
	for off := 0; off < len(data); off += chunk {
		end := min(off+chunk, len(data))
		if n, err := w.Write(data[off:end]); err != nil || n != end-off {
			w.Abort()
			t.Fatalf("Write(%s): %d, %v", id, n, err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit(%s): %v", id, err)
	}
}

// ReadAll reads a committed blob whole and checks its size.
func ReadAll(t *testing.T, s blob.Store, id string) []byte {
	t.Helper()
	r, err := s.Open(t.Context(), id)
	if err != nil {
		t.Fatalf("Open(%s): %v", id, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	if err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	return data
}

// IDs lists the committed blobs, sorted.
func IDs(t *testing.T, s blob.Store) []string {
	t.Helper()
	var ids []string
	if err := s.List(t.Context(), func(id string) error { ids = append(ids, id); return nil }); err != nil {
		t.Fatalf("List: %v", err)
	}
	sort.Strings(ids)
	return ids
}

func wantNotFound(t *testing.T, s blob.Store, id string) {
	t.Helper()
	r, err := s.Open(t.Context(), id)
	if err == nil {
		r.Close()
	}
	if !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Open(%s) = %v, want ErrNotFound", id, err)
	}
}

func testWriteRead(t *testing.T, s blob.Store) {
	cases := []struct {
		name  string
		size  int
		chunk int
	}{
		{"empty", 0, 1},
		{"one byte", 1, 1},
		{"small", 4096, 100},
		{"segment", 64<<10 + 28, 64<<10 + 28},
		{"beyond the buffer", 3<<20 + 17, 1 << 20},
		{"big writes", 2<<20 + 5, 2<<20 + 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := NewID()
			data := Payload(c.size)
			Put(t, s, id, data, max(c.chunk, 1))

			r, err := s.Open(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Size() != int64(c.size) {
				t.Errorf("Size() = %d, want %d", r.Size(), c.size)
			}
			// Reads at offsets: start, middle, tail, across the end.
			for _, off := range []int{0, c.size / 3, c.size / 2, max(c.size-10, 0)} {
				buf := make([]byte, min(1000, c.size-off))
				n, err := r.ReadAt(buf, int64(off))
				if n != len(buf) || (err != nil && err != io.EOF) {
					t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", len(buf), off, n, err)
				}
				if !bytes.Equal(buf, data[off:off+len(buf)]) {
					t.Errorf("ReadAt at %d returned wrong bytes", off)
				}
			}
			buf := make([]byte, 10)
			if n, err := r.ReadAt(buf, int64(c.size)); n != 0 || err != io.EOF {
				t.Errorf("ReadAt at end = %d, %v; want 0, EOF", n, err)
			}
			if c.size > 0 {
				if n, err := r.ReadAt(buf, int64(c.size-1)); n != 1 || err != io.EOF || buf[0] != data[c.size-1] {
					t.Errorf("ReadAt across the end = %d, %v; want 1, EOF", n, err)
				}
			}
			if got := ReadAll(t, s, id); !bytes.Equal(got, data) {
				t.Errorf("read back %d bytes, differing from the %d written", len(got), len(data))
			}
		})
	}
}

func testUncommitted(t *testing.T, s blob.Store) {
	id := NewID()
	w, err := s.Create(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(Payload(3 << 20)); err != nil {
		t.Fatal(err)
	}
	wantNotFound(t, s, id)
	if ids := IDs(t, s); len(ids) != 0 {
		t.Errorf("List shows uncommitted blobs %v", ids)
	}
	if err := s.Delete(t.Context(), id); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Delete(uncommitted) = %v, want ErrNotFound", err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if ids := IDs(t, s); !slices.Equal(ids, []string{id}) {
		t.Errorf("List after Commit = %v, want [%s]", ids, id)
	}
}

func testAbort(t *testing.T, s blob.Store) {
	id := NewID()
	w, err := s.Create(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(Payload(1000))
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if err := w.Abort(); err != nil {
		t.Errorf("second Abort: %v", err)
	}
	wantNotFound(t, s, id)
	if ids := IDs(t, s); len(ids) != 0 {
		t.Errorf("List after Abort = %v", ids)
	}

	// Abort after Commit is a no-op: the blob stays.
	id2 := NewID()
	w, err = s.Create(t.Context(), id2)
	if err != nil {
		t.Fatal(err)
	}
	data := Payload(500)
	w.Write(data)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after Commit: %v", err)
	}
	if got := ReadAll(t, s, id2); !bytes.Equal(got, data) {
		t.Error("Abort after Commit damaged the blob")
	}
}

func testWriterAfterClose(t *testing.T, s blob.Store) {
	id := NewID()
	w, err := s.Create(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("x"))
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("more")); err == nil {
		t.Error("Write after Commit succeeded")
	}
	if err := w.Commit(); err == nil {
		t.Error("second Commit succeeded")
	}
	if got := ReadAll(t, s, id); string(got) != "x" {
		t.Errorf("blob = %q after misuse of its writer, want x", got)
	}
	w, err = s.Create(t.Context(), NewID())
	if err != nil {
		t.Fatal(err)
	}
	w.Abort()
	if err := w.Commit(); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	if ids := IDs(t, s); len(ids) != 1 {
		t.Errorf("List = %v, want only %s", ids, id)
	}
}

func testSweep(t *testing.T, s blob.Store) {
	if err := s.Sweep(t.Context()); err != nil {
		t.Fatalf("Sweep(empty): %v", err)
	}
	kept := NewID()
	data := Payload(2000)
	Put(t, s, kept, data, 2000)
	// Writers left open, as a crash would leave them.
	for range 3 {
		w, err := s.Create(t.Context(), NewID())
		if err != nil {
			t.Fatal(err)
		}
		w.Write(Payload(2 << 20))
	}
	if err := s.Sweep(t.Context()); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if ids := IDs(t, s); !slices.Equal(ids, []string{kept}) {
		t.Errorf("List after Sweep = %v, want [%s]", ids, kept)
	}
	if got := ReadAll(t, s, kept); !bytes.Equal(got, data) {
		t.Error("Sweep damaged a committed blob")
	}
}

func testInvalidIDs(t *testing.T, s blob.Store) {
	bad := []string{
		"", "../x", "../../etc/passwd", "0123456789abcdef/../x", "tmp",
		"0123456789ABCDEF", // uppercase
		"0123456789abcde",  // 15 characters
		"0123456789abcdeg", // not hex
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0", // 65
		"/0123456789abcdef", "0123456789abcdef\x00", " 0123456789abcdef", "0123456789abcdéf",
	}
	for _, id := range bad {
		t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
			if w, err := s.Create(t.Context(), id); !errors.Is(err, blob.ErrInvalidID) {
				if err == nil {
					w.Abort()
				}
				t.Errorf("Create = %v, want ErrInvalidID", err)
			}
			if r, err := s.Open(t.Context(), id); !errors.Is(err, blob.ErrInvalidID) {
				if err == nil {
					r.Close()
				}
				t.Errorf("Open = %v, want ErrInvalidID", err)
			}
			if err := s.Delete(t.Context(), id); !errors.Is(err, blob.ErrInvalidID) {
				t.Errorf("Delete = %v, want ErrInvalidID", err)
			}
		})
	}
	// The bounds themselves are valid.
	for _, id := range []string{"0123456789abcdef", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"} {
		Put(t, s, id, []byte("ok"), 2)
	}
	if ids := IDs(t, s); len(ids) != 2 {
		t.Errorf("List = %v, want the two boundary ids", ids)
	}
}

func testDelete(t *testing.T, s blob.Store) {
	id := NewID()
	if err := s.Delete(t.Context(), id); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Delete(missing) = %v, want ErrNotFound", err)
	}
	Put(t, s, id, []byte("data"), 4)
	other := NewID()
	Put(t, s, other, []byte("other"), 5)
	if err := s.Delete(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	wantNotFound(t, s, id)
	if err := s.Delete(t.Context(), id); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Delete(deleted) = %v, want ErrNotFound", err)
	}
	if ids := IDs(t, s); !slices.Equal(ids, []string{other}) {
		t.Errorf("List after Delete = %v, want [%s]", ids, other)
	}
	// An id can be written again after deletion.
	Put(t, s, id, []byte("again"), 5)
	if got := ReadAll(t, s, id); string(got) != "again" {
		t.Errorf("rewritten blob = %q", got)
	}
}

func testList(t *testing.T, s blob.Store) {
	if ids := IDs(t, s); len(ids) != 0 {
		t.Errorf("List(empty) = %v", ids)
	}
	var want []string
	// Ids sharing a fan-out prefix and ids of different lengths.
	for _, id := range []string{"aa00000000000000", "aa11111111111111", "ff" + NewID(), NewID(), NewID()} {
		Put(t, s, id, []byte(id), len(id))
		want = append(want, id)
	}
	sort.Strings(want)
	if got := IDs(t, s); !slices.Equal(got, want) {
		t.Errorf("List = %v, want %v", got, want)
	}
	stop := errors.New("stop")
	calls := 0
	if err := s.List(t.Context(), func(string) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Errorf("List with a failing fn = %v after %d calls; want stop after 1", err, calls)
	}
}

func testConcurrent(t *testing.T, s blob.Store) {
	const n = 16
	ids := make([]string, n)
	datas := make([][]byte, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		ids[i], datas[i] = NewID(), Payload(10000+i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := s.Create(t.Context(), ids[i])
			if err != nil {
				errs <- err
				return
			}
			if _, err := w.Write(datas[i]); err != nil {
				errs <- err
				w.Abort()
				return
			}
			if i%4 == 3 {
				errs <- w.Abort()
				return
			}
			errs <- w.Commit()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	for i := range n {
		if i%4 == 3 {
			wantNotFound(t, s, ids[i])
			continue
		}
		want = append(want, ids[i])
		if got := ReadAll(t, s, ids[i]); !bytes.Equal(got, datas[i]) {
			t.Errorf("blob %d differs", i)
		}
	}
	sort.Strings(want)
	if got := IDs(t, s); !slices.Equal(got, want) {
		t.Errorf("List = %d ids, want %d", len(got), len(want))
	}
}
