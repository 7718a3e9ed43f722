package audit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestAppendConcurrentAndVerify(t *testing.T) {
	tl := newTestLedger(t)
	l := tl.open(t, Options{SegmentEntries: 100})
	got := appendN(t, l, 0, 1000, 32)
	seen := make(map[int64]bool)
	for _, idx := range got {
		if idx < 0 || idx >= 1000 || seen[idx] {
			t.Fatalf("bad or duplicate index %d", idx)
		}
		seen[idx] = true
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := tl.verify(t)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Size != 1000 || rep.PayloadsChecked != 1000 || rep.LatestSize != 1000 {
		t.Fatalf("report %+v", rep)
	}
	// Every payload decodes to the event appended at its index.
	n := 0
	err = ReadPayloads(context.Background(), tl.dir, tl.sealer, func(ev Event) error {
		want := testEvent(int(ev.BytesIn))
		if got[int(ev.BytesIn)] != ev.Index || ev.RequestID != want.RequestID {
			t.Errorf("payload %d is %s", ev.Index, ev.RequestID)
		}
		n++
		return nil
	})
	if err != nil || n != 1000 {
		t.Fatalf("ReadPayloads: %d, %v", n, err)
	}
}

func TestCheckpointEverySecond(t *testing.T) {
	tl := newTestLedger(t)
	l := tl.open(t, Options{CheckpointInterval: 100 * time.Millisecond})
	defer l.Close()
	appendN(t, l, 0, 10, 2)
	deadline := time.Now().Add(2 * time.Second)
	for {
		c, err := OpenCheckpoint(l.Checkpoint(), l.PublicKey())
		if err == nil && c.Tree.N == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint for 10 entries: %v %+v", err, c)
		}
		time.Sleep(10 * time.Millisecond)
	}
	pub, err := ReadPublicKey(tl.dir)
	if err != nil || pub != l.PublicKey() {
		t.Fatalf("ReadPublicKey = %q, %v", pub, err)
	}
	fi, err := os.Stat(filepath.Join(tl.dir, "key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi.Mode(), err)
	}
}

func TestReopenKeepsKeyAndEntries(t *testing.T) {
	tl := buildLedger(t)
	l := tl.open(t, Options{SegmentEntries: 256})
	if l.Size() != 700 {
		t.Fatalf("size after reopen = %d", l.Size())
	}
	appendN(t, l, 700, 10, 2)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if rep, err := tl.verify(t); err != nil || rep.Size != 710 || rep.Checkpoints != 5 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

func TestCrashRecoveryTornTail(t *testing.T) {
	tests := []struct {
		name  string
		tear  func(t *testing.T, tl testLedger)
		extra int64 // entries a reopen may keep beyond 700 (none: all torn)
	}{
		{"garbage after last leaf record", func(t *testing.T, tl testLedger) {
			appendBytes(t, tl.path("log/00000000000000000512"), []byte("garbage after the last record!!!!!!!!!!!!!!!!"))
		}, 0},
		{"garbage after last payload", func(t *testing.T, tl testLedger) {
			appendBytes(t, tl.path("payloads/00000000000000000512"), []byte{0, 0, 1, 0, 9, 9, 9, 9, 1, 2, 3})
		}, 0},
		{"leaf record without payload", func(t *testing.T, tl testLedger) {
			appendBytes(t, tl.path("log/00000000000000000512"), appendLogRecord(nil, 700, make([]byte, 32)))
		}, 0},
		{"half a leaf record", func(t *testing.T, tl testLedger) {
			appendBytes(t, tl.path("log/00000000000000000512"), appendLogRecord(nil, 700, make([]byte, 32))[:20])
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := buildLedger(t)
			tt.tear(t, tl)
			l := tl.open(t, Options{SegmentEntries: 256})
			if l.Size() != 700 {
				t.Fatalf("size after recovery = %d, want 700", l.Size())
			}
			appendN(t, l, 700, 20, 4)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if rep, err := tl.verify(t); err != nil || rep.Size != 720 {
				t.Fatalf("verify after recovery: %+v %v", rep, err)
			}
		})
	}
}

func TestRecoveryRefusesToLoseCheckpointedEntries(t *testing.T) {
	tl := buildLedger(t)
	// Corrupt an entry the checkpoints cover: recovery must not cut there.
	b := readFile(t, tl.path("log/00000000000000000256"))
	b[10*logRecordSize+3] ^= 1
	writeFile(t, tl.path("log/00000000000000000256"), b)
	_, err := Open(context.Background(), tl.dir, Options{Sealer: tl.sealer, SegmentEntries: 256})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open = %v, want ErrCorrupt", err)
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestFailClosedSegmentIsDirectory(t *testing.T) {
	tl := newTestLedger(t)
	l := tl.open(t, Options{SegmentEntries: 16})
	appendN(t, l, 0, 16, 1)
	// The next segment cannot be created.
	for _, d := range []string{"log", "payloads"} {
		if err := os.Mkdir(tl.path(d+"/00000000000000000016"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Append(context.Background(), testEvent(16)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Append = %v, want ErrUnavailable", err)
	}
	if _, err := l.Append(context.Background(), testEvent(17)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("second Append = %v, want ErrUnavailable", err)
	}
	if l.Err() == nil {
		t.Fatal("Err() = nil on a failed log")
	}
	l.Close()
	for _, d := range []string{"log", "payloads"} {
		os.Remove(tl.path(d + "/00000000000000000016"))
	}
	l = tl.open(t, Options{SegmentEntries: 16})
	if l.Size() != 16 {
		t.Fatalf("size after reopen = %d, want 16", l.Size())
	}
	l.Close()
	if _, err := tl.verify(t); err != nil {
		t.Fatal(err)
	}
}

func TestFailClosedSyncError(t *testing.T) {
	tl := newTestLedger(t)
	var fail atomic.Bool
	l := tl.open(t, Options{openFile: openWith(func() error {
		if fail.Load() {
			return errors.New("injected EIO")
		}
		return nil
	})})
	appendN(t, l, 0, 50, 4)
	fail.Store(true)
	for i := range 5 {
		if _, err := l.Append(context.Background(), testEvent(50+i)); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Append after fsync failure = %v, want ErrUnavailable", err)
		}
	}
	l.Close()
	// Nothing of the failed batch remains: the files end at entry 50.
	if got := fileSize(tl.path("log/00000000000000000000")); got != 50*logRecordSize {
		t.Fatalf("log segment is %d bytes, want %d", got, 50*logRecordSize)
	}
	l = tl.open(t, Options{})
	if l.Size() != 50 {
		t.Fatalf("size after reopen = %d", l.Size())
	}
	l.Close()
	if _, err := tl.verify(t); err != nil {
		t.Fatal(err)
	}
}

func TestBackpressure(t *testing.T) {
	tl := newTestLedger(t)
	release := make(chan struct{})
	var blocking atomic.Bool
	l := tl.open(t, Options{QueueSize: 1, MaxBatch: 1, openFile: openWith(func() error {
		if blocking.Load() {
			<-release
		}
		return nil
	})})
	blocking.Store(true)
	results := make(chan error, 2)
	for i := range 2 { // one in fsync, one in the queue
		go func() {
			_, err := l.Append(context.Background(), testEvent(i))
			results <- err
		}()
	}
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := l.Append(ctx, testEvent(3)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Append on a full queue = %v, want DeadlineExceeded", err)
	}
	blocking.Store(false)
	close(release)
	for range 2 {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
}

func TestAppendAfterClose(t *testing.T) {
	tl := newTestLedger(t)
	l := tl.open(t, Options{})
	l.Close()
	if _, err := l.Append(context.Background(), testEvent(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v", err)
	}
}

func TestRecoverRepublishesCheckpoint(t *testing.T) {
	tl := buildLedger(t)
	// A crash after writing checkpoints/<seq> but before checkpoint.
	writeFile(t, tl.path("checkpoint"), readFile(t, tl.path("checkpoints/00000000000000000003")))
	if _, err := tl.verify(t); err == nil {
		t.Fatal("Verify passed with a stale published checkpoint")
	}
	tl.open(t, Options{SegmentEntries: 256}).Close()
	if _, err := tl.verify(t); err != nil {
		t.Fatalf("Verify after reopen: %v", err)
	}
}

// TestVerifyLiveLedger verifies a ledger that is still open, with
// preallocated zeros after the last records.
func TestVerifyLiveLedger(t *testing.T) {
	tl := newTestLedger(t)
	l := tl.open(t, Options{PreallocBytes: 1 << 16})
	defer l.Close()
	appendN(t, l, 0, 500, 8)
	if err := l.Publish(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := fileSize(tl.path("payloads/00000000000000000000")); got <= int64(500*300) {
		t.Fatalf("payload segment not preallocated: %d bytes", got)
	}
	rep, err := tl.verify(t)
	if err != nil || rep.Size != 500 {
		t.Fatalf("Verify of a live ledger: %+v %v", rep, err)
	}
}

// TestSigningKeyFiles: the log's and a witness's key pair are created
// once and then refused when the private key is readable by others, named
// for someone else, or does not match key.pub.
func TestSigningKeyFiles(t *testing.T) {
	for name, kf := range map[string]keyFormat{"log": logKeyFormat(), "witness": witnessKeyFormat()} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s, vkey, err := loadOrCreateKey(dir, "a.example/k", kf)
			if err != nil {
				t.Fatal(err)
			}
			s2, vkey2, err := loadOrCreateKey(dir, "a.example/k", kf)
			if err != nil || vkey2 != vkey || s2.KeyHash() != s.KeyHash() {
				t.Fatalf("reopen: %v, key %q, was %q", err, vkey2, vkey)
			}
			other := t.TempDir()
			if _, _, err := loadOrCreateKey(other, "b.example/k", kf); err != nil {
				t.Fatal(err)
			}
			cases := []struct {
				name    string
				mutate  func(t *testing.T, dir string)
				wantErr string
			}{
				{"world-readable key", func(t *testing.T, dir string) {
					if err := os.Chmod(filepath.Join(dir, "key"), 0o644); err != nil {
						t.Fatal(err)
					}
				}, "mode 0600"},
				{"key of another name", func(t *testing.T, dir string) {
					writeFile(t, filepath.Join(dir, "key"), readFile(t, filepath.Join(other, "key")))
				}, "not \"a.example/k\""},
				{"key.pub of another key", func(t *testing.T, dir string) {
					writeFile(t, filepath.Join(dir, "key.pub"), readFile(t, filepath.Join(other, "key.pub")))
				}, "does not match"},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					d := copyLedger(t, dir)
					c.mutate(t, d)
					if _, _, err := loadOrCreateKey(d, "a.example/k", kf); err == nil || !strings.Contains(err.Error(), c.wantErr) {
						t.Fatalf("got %v, want an error containing %q", err, c.wantErr)
					}
				})
			}
		})
	}
}

func TestParseSegmentName(t *testing.T) {
	for _, tt := range []struct {
		name string
		want int64
		ok   bool
	}{
		{"00000000000000000000", 0, true},
		{"00000000000000000256", 256, true},
		{"09223372036854775807", 1<<63 - 1, true},
		{"+0000000000000000256", 0, false},
		{"-0000000000000000001", 0, false},
		{"0000000000000000256", 0, false},
		{"000000000000000000256", 0, false},
		{"00000000000000000256.tmp", 0, false},
		{"", 0, false},
	} {
		if n, ok := parseSegmentName(tt.name); n != tt.want || ok != tt.ok {
			t.Errorf("parseSegmentName(%q) = %d, %v; want %d, %v", tt.name, n, ok, tt.want, tt.ok)
		}
	}
}
