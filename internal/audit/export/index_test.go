package export

import (
	"path/filepath"
	"testing"

	"github.com/coffer-vault/coffer/internal/meta"
	"github.com/coffer-vault/coffer/internal/meta/sqlite"
)

func TestIndexerCatchesUpAfterCrash(t *testing.T) {
	l := newLedger(t)
	l.appendN(t, 0, 60)
	if err := l.log.Erase(t.Context(), "bob"); err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	state := t.TempDir()
	ix := NewIndexer(store)
	runUntil(t, l, state, ix, 59, Options{MaxBatch: 16})

	// More events while the indexer is down; it resumes from its cursor.
	l.appendN(t, 60, 40)
	runUntil(t, l, state, NewIndexer(store), 99, Options{MaxBatch: 16})

	got, err := store.SearchAudit(t.Context(), meta.AuditQuery{Limit: meta.MaxAuditLimit})
	if err != nil {
		t.Fatal(err)
	}
	var want []int64
	for i := range 100 {
		if i >= 60 || testEvent(i).Actor.User != "bob" { // bob's early events are erased
			want = append(want, int64(i))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d indexed, want %d", len(got), len(want))
	}
	for i, r := range got {
		if r.Index != want[i] {
			t.Fatalf("result %d has index %d, want %d", i, r.Index, want[i])
		}
		ev := testEvent(int(r.Index))
		ev.Index = r.Index
		if w := IndexRecord(ev); r.Actor != w.Actor || r.Action != w.Action || r.Resource != w.Resource ||
			r.Outcome != w.Outcome || !r.Time.Equal(w.Time) || r.SourceIP != w.SourceIP || r.AccessKey != w.AccessKey {
			t.Fatalf("index record %+v, want %+v", r, w)
		}
	}

	// A result's index leads to the full event in the ledger.
	hits, err := store.SearchAudit(t.Context(), meta.AuditQuery{Action: "admin:*", ResourcePrefix: "user:u8", Outcome: "allowed"})
	if err != nil || len(hits) == 0 {
		t.Fatalf("search: %v, %d hits", err, len(hits))
	}
	rec, err := Fetch(t.Context(), l.dir, l.sealer, l.log, hits[0].Index)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := VerifyRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Resource.Admin != hits[0].Resource {
		t.Fatalf("ledger has %q for hit %q", ev.Resource.Admin, hits[0].Resource)
	}
}
