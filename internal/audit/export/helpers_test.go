package export

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coffer-vault/coffer/internal/audit"
)

// ledger is a live test ledger.
type ledger struct {
	dir    string
	sealer *audit.DirSealer
	log    *audit.Log
}

var users = []string{"alice", "bob", "carol", ""}

func testEvent(i int) audit.Event {
	ev := audit.Event{
		Time:      time.Date(2026, 11, 23, 12, 0, 0, i, time.UTC),
		RequestID: fmt.Sprintf("req-%d", i),
		Actor:     audit.Actor{User: users[i%len(users)], AccessKeyID: fmt.Sprintf("AK%d", i%len(users)), SourceIP: "192.0.2.1"},
		Action:    []string{"s3:PutObject", "s3:GetObject", "admin:CreateUser"}[i%3],
		Resource:  audit.Resource{Bucket: "b", Key: fmt.Sprintf("k/%d", i)},
		Outcome:   audit.Outcome{Result: audit.ResultAllowed},
		BytesIn:   int64(i),
		Labels:    map[string]string{"note": "<&>"}, // HTML characters must survive byte for byte
	}
	if i%3 == 2 {
		ev.Resource = audit.Resource{Admin: fmt.Sprintf("user:u%d", i)}
	}
	if i%5 == 4 {
		ev.Outcome = audit.Outcome{Result: audit.ResultDenied, Reason: "policy"}
	}
	return ev
}

func newLedger(t *testing.T) *ledger {
	t.Helper()
	root := t.TempDir()
	s, err := audit.NewDirSealer(filepath.Join(root, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	l := &ledger{dir: filepath.Join(root, "ledger"), sealer: s}
	l.open(t)
	return l
}

func (l *ledger) open(t *testing.T) {
	t.Helper()
	log, err := audit.Open(context.Background(), l.dir, audit.Options{
		Sealer: l.sealer, SegmentEntries: 100, CheckpointInterval: time.Hour, PreallocBytes: 1 << 16,
	})
	if err != nil {
		t.Fatal(err)
	}
	l.log = log
	t.Cleanup(func() { log.Close() })
}

// appendN appends events [from, from+n) one after the other.
func (l *ledger) appendN(t *testing.T, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		idx, err := l.log.Append(context.Background(), testEvent(i))
		if err != nil {
			t.Fatal(err)
		}
		if idx != int64(i) {
			t.Fatalf("event %d got index %d", i, idx)
		}
	}
}

// memSink records what it is given. It can fail, and it calls onDeliver
// after each accepted batch.
type memSink struct {
	name string
	mu   sync.Mutex
	got  []Record
	// fail, if set, is asked before each delivery.
	fail      func(batch []Record) error
	onDeliver func(got []Record)
}

func (m *memSink) Name() string { return m.name }
func (m *memSink) Close() error { return nil }
func (m *memSink) Deliver(ctx context.Context, batch []Record) error {
	if m.fail != nil {
		if err := m.fail(batch); err != nil {
			return err
		}
	}
	m.mu.Lock()
	m.got = append(m.got, batch...)
	got := slices.Clone(m.got)
	m.mu.Unlock()
	if m.onDeliver != nil {
		m.onDeliver(got)
	}
	return nil
}

// stopAt wraps a sink so that ctx is cancelled once record last has been
// delivered.
type stopAt struct {
	Sink
	last   int64
	cancel context.CancelFunc
}

func (s stopAt) Deliver(ctx context.Context, batch []Record) error {
	err := s.Sink.Deliver(ctx, batch)
	if err == nil && batch[len(batch)-1].Index >= s.last {
		s.cancel()
	}
	return err
}

// runUntil runs a follower for sink until it has delivered record last.
func runUntil(t *testing.T, l *ledger, stateDir string, sink Sink, last int64, opts Options) *Follower {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if opts.Source == nil {
		opts.Source = l.log
	}
	if opts.sleep == nil {
		opts.sleep = noSleep
	}
	f, err := NewFollower(l.dir, l.sealer, stateDir, stopAt{sink, last, cancel}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	return f
}

// noSleep retries at once: tests never wait on a clock.
func noSleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// checkSequence checks that recs hold every index [0, n) exactly once, in
// order, each verifying, with erased records for erasedUser's events.
func checkSequence(t *testing.T, recs []Record, n int, erasedUser string) {
	t.Helper()
	if len(recs) != n {
		t.Fatalf("%d records, want %d", len(recs), n)
	}
	for i, r := range recs {
		if r.Index != int64(i) {
			t.Fatalf("record %d has index %d", i, r.Index)
		}
		checkRecord(t, r, erasedUser)
	}
}

func checkRecord(t *testing.T, r Record, erasedUser string) {
	t.Helper()
	ev, err := VerifyRecord(r)
	if err != nil {
		t.Fatalf("record %d: %v", r.Index, err)
	}
	want := testEvent(int(r.Index))
	if want.Actor.User == erasedUser && erasedUser != "" {
		if !r.Erased {
			t.Fatalf("record %d of erased user %s is not marked erased", r.Index, erasedUser)
		}
		return
	}
	if r.Erased {
		t.Fatalf("record %d is erased", r.Index)
	}
	wenc, _ := want.Encode()
	genc, _ := ev.Encode()
	if string(wenc) != string(genc) {
		t.Fatalf("record %d: event\n%s\nwant\n%s", r.Index, genc, wenc)
	}
}
