package export

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/coffer-vault/coffer/internal/audit"
)

func TestFollowerDeliversEverythingInOrder(t *testing.T) {
	l := newLedger(t)
	l.appendN(t, 0, 250)
	if err := l.log.Erase(t.Context(), "bob"); err != nil {
		t.Fatal(err)
	}
	l.appendN(t, 250, 50) // bob's later events are sealed under a new key
	sink := &memSink{name: "mem"}
	state := t.TempDir()
	f := runUntil(t, l, state, sink, 299, Options{MaxBatch: 32})
	// Only events before the erasure are erased.
	for _, r := range sink.got {
		if r.Index < 250 {
			checkRecord(t, r, "bob")
		} else {
			checkRecord(t, r, "")
		}
	}
	if len(sink.got) != 300 {
		t.Fatalf("%d records", len(sink.got))
	}
	if cur, _ := ReadCursor(state, "mem"); cur != 300 {
		t.Fatalf("cursor %d, want 300", cur)
	}
	if st := f.Status(); st.Cursor != 300 || st.Size != 300 || st.Failures != 0 {
		t.Fatalf("status %+v", st)
	}

	// The leaf hash of an exported record is the one the tree proves.
	if err := l.log.Publish(t.Context()); err != nil {
		t.Fatal(err)
	}
	r := sink.got[123]
	p, err := audit.Prove(t.Context(), l.dir, "", r.Index)
	if err != nil {
		t.Fatal(err)
	}
	var lh tlog.Hash
	copy(lh[:], mustHex(t, r.LeafHash))
	if err := tlog.CheckRecord(p.Proof, p.Tree.N, p.Tree.Hash, r.Index, lh); err != nil {
		t.Fatalf("exported leaf hash does not prove: %v", err)
	}
}

func TestFollowerSinkDownThenUp(t *testing.T) {
	l := newLedger(t)
	l.appendN(t, 0, 100)
	down := 7
	var waits []time.Duration
	sink := &memSink{name: "flaky", fail: func([]Record) error {
		if down > 0 {
			down--
			return errors.New("connection refused")
		}
		return nil
	}}
	opts := Options{MaxBatch: 16, MinBackoff: time.Second, MaxBackoff: 8 * time.Second,
		sleep: func(ctx context.Context, d time.Duration) error {
			waits = append(waits, d)
			return ctx.Err()
		}}
	runUntil(t, l, t.TempDir(), sink, 99, opts)
	checkSequence(t, sink.got, 100, "")
	// Capped exponential backoff with jitter in [d/2, d].
	caps := []time.Duration{1, 2, 4, 8, 8, 8, 8}
	if len(waits) != len(caps) {
		t.Fatalf("%d waits, want %d", len(waits), len(caps))
	}
	for i, w := range waits {
		c := caps[i] * time.Second
		if w < c/2 || w > c {
			t.Fatalf("wait %d is %v, want in [%v, %v]", i+1, w, c/2, c)
		}
	}
}

// A crash after the sink acknowledged a batch but before the cursor was
// written re-sends that batch, and only that batch.
func TestFollowerCrashResumesFromCursor(t *testing.T) {
	l := newLedger(t)
	l.appendN(t, 0, 100)
	state := t.TempDir()
	sink := &memSink{name: "crash"}
	crashAt := int64(47)
	ctx, crash := context.WithCancel(t.Context())
	sink.onDeliver = func(got []Record) {
		if got[len(got)-1].Index >= crashAt {
			crash()
		}
	}
	f, err := NewFollower(l.dir, l.sealer, state, &crashSink{sink}, Options{Source: l.log, MaxBatch: 10, sleep: noSleep})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	cur, _ := ReadCursor(state, "crash")
	if cur != 40 {
		t.Fatalf("cursor %d after crash, want 40 (batch 40..49 unacknowledged)", cur)
	}
	// Restart (new ledger handle and follower), more entries meanwhile.
	l.log.Close()
	l.open(t)
	l.appendN(t, 100, 20)
	sink.onDeliver = nil
	runUntil(t, l, state, sink, 119, Options{MaxBatch: 10})
	// Deduplicated by index the copy is complete and ordered; the only
	// duplicates are the batch in flight at the crash.
	var dedup []Record
	dups := 0
	for _, r := range sink.got {
		if len(dedup) > 0 && r.Index <= dedup[len(dedup)-1].Index {
			if r.Index < 40 || r.Index >= 50 {
				t.Fatalf("unexpected duplicate %d", r.Index)
			}
			dups++
			continue
		}
		dedup = append(dedup, r)
	}
	checkSequence(t, dedup, 120, "")
	if dups != 10 {
		t.Fatalf("%d duplicates, want 10", dups)
	}
}

// crashSink delivers, and then reports the crash as the context's error,
// as a process killed between the sink's ack and the cursor write would.
type crashSink struct{ *memSink }

func (c *crashSink) Deliver(ctx context.Context, batch []Record) error {
	if err := c.memSink.Deliver(ctx, batch); err != nil {
		return err
	}
	return ctx.Err()
}

func TestFollowerPermanentErrorStops(t *testing.T) {
	l := newLedger(t)
	l.appendN(t, 0, 30)
	state := t.TempDir()
	calls := 0
	sink := &memSink{name: "perm", fail: func(b []Record) error {
		if b[0].Index >= 20 {
			calls++
			return Permanent(errors.New("HTTP 401"))
		}
		return nil
	}}
	f, err := NewFollower(l.dir, l.sealer, state, sink, Options{Source: l.log, MaxBatch: 10, sleep: noSleep})
	if err != nil {
		t.Fatal(err)
	}
	err = f.Run(t.Context())
	if !errors.Is(err, ErrPermanent) || calls != 1 {
		t.Fatalf("Run: %v after %d calls", err, calls)
	}
	if cur, _ := ReadCursor(state, "perm"); cur != 20 {
		t.Fatalf("cursor %d, want 20", cur)
	}
	if st := f.Status(); st.LastError == "" || st.Cursor != 20 {
		t.Fatalf("status %+v", st)
	}
}

func TestFollowerRefusesCursorAhead(t *testing.T) {
	l := newLedger(t)
	l.appendN(t, 0, 5)
	state := t.TempDir()
	if err := writeCursor(state, "x", 6); err != nil {
		t.Fatal(err)
	}
	f, err := NewFollower(l.dir, l.sealer, state, &memSink{name: "x"}, Options{Source: l.log})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Run(t.Context()); !errors.Is(err, ErrCursorAhead) {
		t.Fatalf("Run: %v", err)
	}
	// A corrupt cursor file is refused, not read as 0.
	if err := os.WriteFile(filepath.Join(state, "x.cursor"), []byte("coffer-export-cursor v1 3"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCursor(state, "x"); err == nil {
		t.Fatal("torn cursor accepted")
	}
	// So is a cursor file padded past the longest cursor (read at most
	// one byte beyond it).
	if err := os.WriteFile(filepath.Join(state, "x.cursor"), []byte("coffer-export-cursor v1 3"+strings.Repeat(" ", 1<<20)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCursor(state, "x"); err == nil {
		t.Fatal("oversized cursor accepted")
	}
	if err := writeCursor(state, "x", math.MaxInt64); err != nil {
		t.Fatal(err)
	}
	if n, err := ReadCursor(state, "x"); err != nil || n != math.MaxInt64 {
		t.Fatalf("largest cursor: %d, %v", n, err)
	}
	if _, err := ReadCursor(state, "../x"); err == nil {
		t.Fatal("path in sink name accepted")
	}
	if SetCursor(state, "x", -1) == nil || SetCursor(state, "a/b", 1) == nil {
		t.Fatal("SetCursor accepted a bad cursor or name")
	}
	if err := SetCursor(state, "x", 5); err != nil {
		t.Fatal(err)
	}
	// At the end of the ledger Run waits for more; it does not refuse.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := f.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run at the end: %v", err)
	}
}

// A payload that no longer matches its commitment stops the export at that
// index: a forged event is never exported.
func TestFollowerStopsAtTamperedPayload(t *testing.T) {
	l := newLedger(t)
	l.appendN(t, 0, 30)
	l.log.Close()
	seg := filepath.Join(l.dir, "payloads", "00000000000000000000")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	// Flip a byte of record 12's sealed payload and fix the record's CRC,
	// so that only the AEAD binding to the commitment can catch it.
	off := payloadOffsets(t, b)[12]
	n := int(binary.BigEndian.Uint32(b[off:]))
	b[off+8+8+32+20] ^= 1
	binary.BigEndian.PutUint32(b[off+4:], crc32.Checksum(b[off+8:off+8+n], crc32.MakeTable(crc32.Castagnoli)))
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	l.open(t)
	sink := &memSink{name: "t"}
	f, err := NewFollower(l.dir, l.sealer, t.TempDir(), sink, Options{Source: l.log, MaxBatch: 5, sleep: noSleep})
	if err != nil {
		t.Fatal(err)
	}
	err = f.Run(t.Context())
	if !errors.Is(err, audit.ErrIntegrity) && !errors.Is(err, audit.ErrCorrupt) {
		t.Fatalf("Run: %v", err)
	}
	if len(sink.got) != 12 || f.Status().Cursor != 12 {
		t.Fatalf("delivered %d, cursor %d; want 12", len(sink.got), f.Status().Cursor)
	}
}

func TestStreamFollowsAppends(t *testing.T) {
	l := newLedger(t)
	l.appendN(t, 0, 10)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var got []Record
	appended := false
	err := Stream(ctx, l.dir, l.sealer, l.log, 5, func(r Record) error {
		got = append(got, r)
		if r.Index == 9 && !appended {
			appended = true
			go func() { // arrives while Stream waits
				for i := 10; i < 15; i++ {
					l.log.Append(context.Background(), testEvent(i))
				}
			}()
		}
		if r.Index == 14 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if len(got) != 10 || got[0].Index != 5 || got[9].Index != 14 {
		t.Fatalf("got %d records", len(got))
	}
	for _, r := range got {
		checkRecord(t, r, "")
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// payloadOffsets returns the offset of each record of a payload segment.
func payloadOffsets(t *testing.T, b []byte) []int {
	t.Helper()
	var offs []int
	for off := 0; off+8 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[off:]))
		if n == 0 {
			break
		}
		offs = append(offs, off)
		off += 8 + n
	}
	return offs
}

// Another process's ledger is followed through its signed checkpoints:
// entries beyond the latest checkpoint are not read.
func TestCheckpointSource(t *testing.T) {
	l := newLedger(t)
	l.appendN(t, 0, 30)
	if err := l.log.Publish(t.Context()); err != nil {
		t.Fatal(err)
	}
	l.appendN(t, 30, 5) // durable, not yet checkpointed
	src := &CheckpointSource{Dir: l.dir, PublicKey: l.log.PublicKey()}
	if n := src.Size(); n != 30 {
		t.Fatalf("Size %d, want 30", n)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var got []Record
	err := Stream(ctx, l.dir, l.sealer, src, 0, func(r Record) error {
		got = append(got, r)
		if r.Index == 29 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || len(got) != 30 {
		t.Fatalf("Stream: %v, %d records", err, len(got))
	}
	// A checkpoint signed by another key is not believed.
	bad := &CheckpointSource{Dir: l.dir, PublicKey: "other+00000000+AQ=="}
	if n := bad.Size(); n != 0 {
		t.Fatalf("Size with the wrong key: %d", n)
	}
}
