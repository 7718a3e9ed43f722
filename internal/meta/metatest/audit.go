package metatest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coffer-vault/coffer/internal/meta"
)

// auditFixture returns n index records with varied fields; record i has
// Index 2*i+1 (so gaps exist, as after erased entries) and time at(i).
func auditFixture(n int) []meta.AuditIndexRecord {
	actors := []string{"alice", "bob", "", "al"}
	actions := []string{"s3:GetObject", "s3:PutObject", "s3", "auth:Login", "s3:*literal"}
	resources := []string{"b/k%_1", "b/k", "b2/x", "user:alice", "b", "b/k%x"}
	outcomes := []string{"allowed", "denied", "error"}
	recs := make([]meta.AuditIndexRecord, n)
	for i := range recs {
		recs[i] = meta.AuditIndexRecord{
			Index:     int64(2*i + 1),
			Time:      at(i),
			Actor:     actors[i%len(actors)],
			AccessKey: fmt.Sprintf("AK%d", i%3),
			Action:    actions[i%len(actions)],
			Resource:  resources[i%len(resources)],
			Outcome:   outcomes[i%len(outcomes)],
			SourceIP:  fmt.Sprintf("192.0.2.%d", i%7),
		}
	}
	return recs
}

// auditMatch is the reference semantics of an AuditQuery (without limit
// and order).
func auditMatch(q meta.AuditQuery, r meta.AuditIndexRecord) bool {
	if q.Actor != "" && r.Actor != q.Actor {
		return false
	}
	if p, ok := strings.CutSuffix(q.Action, "*"); ok {
		if !strings.HasPrefix(r.Action, p) {
			return false
		}
	} else if q.Action != "" && r.Action != q.Action {
		return false
	}
	if !strings.HasPrefix(r.Resource, q.ResourcePrefix) {
		return false
	}
	if q.Outcome != "" && r.Outcome != q.Outcome {
		return false
	}
	if !q.Since.IsZero() && r.Time.Before(q.Since) {
		return false
	}
	if !q.Until.IsZero() && !r.Time.Before(q.Until) {
		return false
	}
	if r.Index < q.FromIndex || (q.BeforeIndex > 0 && r.Index >= q.BeforeIndex) {
		return false
	}
	return true
}

func sameAuditRecords(got, want []meta.AuditIndexRecord) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d records, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if !g.Time.Equal(w.Time) {
			return fmt.Sprintf("record %d: time %v, want %v", i, g.Time, w.Time)
		}
		g.Time, w.Time = time.Time{}, time.Time{}
		if g != w {
			return fmt.Sprintf("record %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	return ""
}

func testAuditIndex(t *testing.T, s meta.Store) {
	ctx := t.Context()
	all := auditFixture(60)
	// Indexed in two calls, out of order; the second call repeats records
	// of the first (re-delivery after a crash) with changed fields.
	if err := s.IndexAuditEvents(ctx, all[30:]); err != nil {
		t.Fatal(err)
	}
	stale := slices.Clone(all[:35])
	for i := range stale {
		stale[i].Outcome = "stale"
	}
	if err := s.IndexAuditEvents(ctx, stale); err != nil {
		t.Fatal(err)
	}
	if err := s.IndexAuditEvents(ctx, all[:35]); err != nil {
		t.Fatal(err)
	}
	if err := s.IndexAuditEvents(ctx, nil); err != nil {
		t.Fatal(err)
	}

	queries := []meta.AuditQuery{
		{},
		{Actor: "alice"},
		{Actor: "al"}, // exact, not a prefix of "alice"
		{Actor: "nobody"},
		{Action: "s3:GetObject"},
		{Action: "s3:*"},
		{Action: "s3*"}, // prefix "s3" matches "s3" and "s3:..."
		{Action: "*"},
		{Action: "s3:*literal"}, // ends in '*': a prefix, matching the literal too
		{ResourcePrefix: "b/k%"},
		{ResourcePrefix: "b/k%_"}, // no LIKE wildcards
		{ResourcePrefix: "b/"},
		{ResourcePrefix: "user:"},
		{Outcome: "denied"},
		{Since: at(10), Until: at(20)},
		{Since: at(10).Add(time.Nanosecond)}, // nanosecond precision
		{Until: at(5)},
		{FromIndex: 41},
		{BeforeIndex: 11},
		{FromIndex: 20, BeforeIndex: 21}, // a gap: none
		{Actor: "bob", Action: "s3:*", Outcome: "denied", Since: at(3)},
		{Actor: "alice", ResourcePrefix: "b", Until: at(50), FromIndex: 7},
	}
	for _, q := range queries {
		for _, newest := range []bool{false, true} {
			q := q
			q.Newest = newest
			var want []meta.AuditIndexRecord
			for _, r := range all {
				if auditMatch(q, r) {
					want = append(want, r)
				}
			}
			if newest {
				slices.Reverse(want)
			}
			got, err := s.SearchAudit(ctx, q)
			if err != nil {
				t.Fatalf("SearchAudit(%+v): %v", q, err)
			}
			if d := sameAuditRecords(got, want); d != "" {
				t.Errorf("SearchAudit(%+v): %s", q, d)
			}

			// Paging through with a small limit yields the same records.
			var paged []meta.AuditIndexRecord
			p := q
			p.Limit = 4
			for range 100 {
				page, err := s.SearchAudit(ctx, p)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > 4 {
					t.Fatalf("page of %d records with limit 4", len(page))
				}
				paged = append(paged, page...)
				if len(page) < 4 {
					break
				}
				last := page[len(page)-1].Index
				if newest {
					p.BeforeIndex = last
				} else {
					p.FromIndex = last + 1
				}
			}
			if d := sameAuditRecords(paged, want); d != "" {
				t.Errorf("paged SearchAudit(%+v): %s", q, d)
			}
		}
	}

	// Limits: default, clamp, refusal.
	many := auditFixture(meta.MaxAuditLimit + 50)
	if err := s.IndexAuditEvents(ctx, many); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ limit, want int }{{0, meta.DefaultAuditLimit}, {1, 1}, {meta.MaxAuditLimit + 10, meta.MaxAuditLimit}} {
		got, err := s.SearchAudit(ctx, meta.AuditQuery{Limit: tc.limit})
		if err != nil || len(got) != tc.want {
			t.Errorf("SearchAudit(Limit %d) = %d records, %v; want %d", tc.limit, len(got), err, tc.want)
		}
	}
	if _, err := s.SearchAudit(ctx, meta.AuditQuery{Limit: -1}); err == nil {
		t.Error("SearchAudit accepted a negative limit")
	}
	if err := s.IndexAuditEvents(ctx, []meta.AuditIndexRecord{{Index: -1, Time: at(0)}}); err == nil {
		t.Error("IndexAuditEvents accepted a negative index")
	}

	// Erasing a subject removes its rows and only those.
	count := func(actor string) int {
		t.Helper()
		got, err := s.SearchAudit(ctx, meta.AuditQuery{Actor: actor, Limit: meta.MaxAuditLimit})
		if err != nil || len(got) == meta.MaxAuditLimit {
			t.Fatalf("count %q's rows: %d, %v", actor, len(got), err)
		}
		return len(got)
	}
	others := map[string]int{"alice": count("alice"), "al": count("al")} // "" selects every actor
	before, _ := s.SearchAudit(ctx, meta.AuditQuery{Actor: "bob", Limit: meta.MaxAuditLimit})
	n, err := s.DeleteAuditActor(ctx, "bob")
	if err != nil || n != int64(len(before)) || n == 0 {
		t.Fatalf("DeleteAuditActor = %d, %v; want %d", n, err, len(before))
	}
	if got, _ := s.SearchAudit(ctx, meta.AuditQuery{Actor: "bob"}); len(got) != 0 {
		t.Errorf("bob's rows survive erasure: %d", len(got))
	}
	for actor, n := range others {
		if got := count(actor); got != n || n == 0 {
			t.Errorf("erasing bob changed %q's rows: %d, had %d", actor, got, n)
		}
	}
}
