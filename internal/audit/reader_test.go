package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// readAll reads [from, end) with the given batch size.
func readAll(t *testing.T, tl testLedger, from, end int64, batch int) []Entry {
	t.Helper()
	r, err := NewReader(tl.dir, tl.sealer, from)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []Entry
	for r.Next() < end {
		es, err := r.ReadBatch(context.Background(), end, batch)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			t.Fatalf("no progress at %d", r.Next())
		}
		out = append(out, es...)
	}
	return out
}

func TestReaderMatchesLedger(t *testing.T) {
	tl := buildLedger(t) // 700 entries, segments of 256
	var want []Event
	err := ReadPayloads(context.Background(), tl.dir, tl.sealer, func(e Event) error {
		want = append(want, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from  int64
		batch int
	}{{0, 1}, {0, 1000}, {255, 7}, {256, 256}, {699, 3}, {700, 5}} {
		got := readAll(t, tl, tc.from, 700, tc.batch)
		if int64(len(got)) != 700-tc.from {
			t.Fatalf("from %d: got %d entries", tc.from, len(got))
		}
		for i, e := range got {
			n := tc.from + int64(i)
			if e.Index != n || e.Erased {
				t.Fatalf("entry %d: index %d erased %v", n, e.Index, e.Erased)
			}
			if sha256.Sum256(append(append([]byte(nil), e.Salt...), e.Event...)) != e.Commitment {
				t.Fatalf("entry %d: payload does not match commitment", n)
			}
			enc, _ := want[n].Encode()
			if !bytes.Equal(enc, e.Event) {
				t.Fatalf("entry %d: event differs", n)
			}
		}
	}
	// The leaf hashes are those the proofs use.
	p, err := Prove(context.Background(), tl.dir, "", 300)
	if err != nil {
		t.Fatal(err)
	}
	e := readAll(t, tl, 300, 301, 1)[0]
	if err := tlog.CheckRecord(p.Proof, p.Tree.N, p.Tree.Hash, 300, e.LeafHash()); err != nil {
		t.Fatal(err)
	}
}

func TestReaderErasedAndTampered(t *testing.T) {
	tl := buildLedger(t)
	if err := tl.sealer.Erase(SubjectID("bob")); err != nil {
		t.Fatal(err)
	}
	erased := 0
	for _, e := range readAll(t, tl, 0, 700, 64) {
		if e.Erased {
			erased++
			if e.Event != nil || e.Salt != nil {
				t.Fatalf("entry %d: erased entry has a payload", e.Index)
			}
			continue
		}
		ev, err := DecodeEvent(e.Event)
		if err != nil || ev.Actor.User == "bob" {
			t.Fatalf("entry %d: %v %q", e.Index, err, ev.Actor.User)
		}
	}
	if erased != 175 {
		t.Fatalf("%d erased entries, want 175 (bob's)", erased)
	}

	// A flipped leaf record is an integrity error at its index.
	path := tl.path("log/" + segmentName(256))
	b := readFile(t, path)
	b[10*logRecordSize] ^= 1
	writeFile(t, path, b)
	r, err := NewReader(tl.dir, tl.sealer, 256)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	es, err := r.ReadBatch(context.Background(), 700, 100)
	var ve *VerifyError
	if !errors.As(err, &ve) || ve.Index != 266 || len(es) != 10 || r.Next() != 266 {
		t.Fatalf("got %d entries, next %d, err %v", len(es), r.Next(), err)
	}
}

// A reader following a live log sees every entry once, in order, reading
// only up to Size.
func TestReaderFollowsLiveLog(t *testing.T) {
	tl := newTestLedger(t)
	l := tl.open(t, Options{SegmentEntries: 16, MaxBatch: 5})
	defer l.Close()
	ctx := t.Context()
	const total = 400
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		appendN(t, l, 0, total, 4)
	}()
	r, err := NewReader(tl.dir, tl.sealer, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	seen := 0
	for seen < total {
		size, err := l.Wait(ctx, r.Next())
		if err != nil {
			t.Fatal(err)
		}
		es, err := r.ReadBatch(ctx, size, 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Index != int64(seen) {
				t.Fatalf("got index %d, want %d", e.Index, seen)
			}
			seen++
		}
	}
	wg.Wait()
	l.Close()
	if _, err := l.Wait(ctx, total); !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait after close: %v", err)
	}
}
