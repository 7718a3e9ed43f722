package audit

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// testLedger is a ledger directory with its own key directory.
type testLedger struct {
	dir    string
	sealer *DirSealer
}

func newTestLedger(t testing.TB) testLedger {
	t.Helper()
	root := t.TempDir()
	s, err := NewDirSealer(filepath.Join(root, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	return testLedger{dir: filepath.Join(root, "ledger"), sealer: s}
}

func (tl testLedger) open(t testing.TB, opts Options) *Log {
	t.Helper()
	opts.Sealer = tl.sealer
	if opts.CheckpointInterval == 0 {
		opts.CheckpointInterval = time.Hour // tests publish explicitly
	}
	l, err := Open(context.Background(), tl.dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var users = []string{"alice", "bob", "carol", ""}

func testEvent(i int) Event {
	return Event{
		Time:      time.Date(2026, 11, 23, 12, 0, 0, i, time.UTC),
		RequestID: fmt.Sprintf("req-%d", i),
		Actor:     Actor{User: users[i%len(users)], AccessKeyID: "AKID", SourceIP: "192.0.2.1", UserAgent: "test", MFA: i%2 == 0},
		Action:    "s3:PutObject",
		Resource:  Resource{Bucket: "b", Key: fmt.Sprintf("k/%d", i)},
		Outcome:   Outcome{Result: ResultAllowed},
		BytesIn:   int64(i),
		Labels:    map[string]string{"class": "internal"},
	}
}

// appendN appends events [from, from+n) with the given concurrency and
// returns the indexes they got, by event number.
func appendN(t testing.TB, l *Log, from, n, workers int) map[int]int64 {
	t.Helper()
	var mu sync.Mutex
	got := make(map[int]int64, n)
	var wg sync.WaitGroup
	next := make(chan int)
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				idx, err := l.Append(context.Background(), testEvent(i))
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				got[i] = idx
				mu.Unlock()
			}
		}()
	}
	for i := from; i < from+n; i++ {
		select {
		case next <- i:
		case err := <-errs:
			close(next)
			wg.Wait()
			t.Fatal(err)
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	return got
}

// buildLedger writes a closed ledger with checkpoints at 300, 600 and 700
// entries and segments of 256 entries.
func buildLedger(t testing.TB) testLedger {
	t.Helper()
	tl := newTestLedger(t)
	l := tl.open(t, Options{SegmentEntries: 256})
	appendN(t, l, 0, 300, 8)
	if err := l.Publish(context.Background()); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 300, 300, 8)
	if err := l.Publish(context.Background()); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 600, 100, 8)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return tl
}

func (tl testLedger) path(p string) string { return filepath.Join(tl.dir, filepath.FromSlash(p)) }

func (tl testLedger) verify(t testing.TB) (*VerifyReport, error) {
	t.Helper()
	return Verify(context.Background(), tl.dir, VerifyOptions{Sealer: tl.sealer})
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// faultyFile wraps a segment file and fails or blocks on request.
type faultyFile struct {
	*os.File
	syncHook func() error
}

func (f *faultyFile) Sync() error {
	if f.syncHook != nil {
		if err := f.syncHook(); err != nil {
			return err
		}
	}
	return f.File.Sync()
}

func openWith(hook func() error) func(string, int, fs.FileMode) (segmentWriter, error) {
	return func(name string, flag int, perm fs.FileMode) (segmentWriter, error) {
		f, err := os.OpenFile(name, flag, perm)
		if err != nil {
			return nil, err
		}
		return &faultyFile{File: f, syncHook: hook}, nil
	}
}

// signWithOtherKey replaces checkpoint file p with the same checkpoint
// signed by a fresh key of the same name (an impostor).
func signWithOtherKey(t *testing.T, tl testLedger, p string) {
	t.Helper()
	skey, _, err := note.GenerateKey(rand.Reader, "coffer/audit")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	c, err := OpenCheckpoint(readFile(t, tl.path(p)), mustPub(t, tl))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := signCheckpoint(c, s)
	writeFile(t, tl.path(p), msg)
}

// checkVerifyError fails unless err is a *VerifyError at index (-2: any)
// naming path ("": any) whose reason mentions words.
func checkVerifyError(t *testing.T, err error, index int64, path, words string) {
	t.Helper()
	var ve *VerifyError
	if !errors.As(err, &ve) || !errors.Is(err, ErrIntegrity) {
		t.Fatalf("got %v, want a *VerifyError", err)
	}
	t.Logf("%v", err)
	if index != -2 && ve.Index != index {
		t.Errorf("Index = %d, want %d", ve.Index, index)
	}
	if path != "" && ve.Path != path {
		t.Errorf("Path = %q, want %q", ve.Path, path)
	}
	if !strings.Contains(ve.Reason, words) {
		t.Errorf("Reason = %q, want it to mention %q", ve.Reason, words)
	}
}
