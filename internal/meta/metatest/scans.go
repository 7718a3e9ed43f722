package metatest

import (
	"slices"
	"testing"

	"github.com/coffer-vault/coffer/internal/meta"
)

// testObjectScans: labels belong to one version; a PUT that replaces the
// version drops them (or records its own atomically); unscanned versions
// are listed until a scan is recorded; a stale scan is refused.
func testObjectScans(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustBucket(t, s, "b")
	o := newObject("b", "k", 1)
	mustPut(t, s, o)
	sc, err := s.GetObjectScan(ctx, "b", "k")
	if err != nil || !sc.Scanned.IsZero() || sc.VersionID != o.VersionID || sc.Size != o.Size {
		t.Fatalf("fresh object scan = %+v, %v; want unscanned %s of %d bytes", sc, err, o.VersionID, o.Size)
	}
	jobs, err := s.ListUnscanned(ctx, 0, 10)
	if err != nil || len(jobs) != 1 || jobs[0].Key != "k" || jobs[0].VersionID != o.VersionID {
		t.Fatalf("ListUnscanned = %+v, %v; want k", jobs, err)
	}
	labels := []meta.Label{{Type: "secret:aws_access_key", Confidence: 4, Count: 2, Line: 3, Offset: 17}}
	if err := s.SetObjectScan(ctx, "b", "k", meta.ObjectScan{VersionID: o.VersionID, Scanned: at(9), Labels: labels}); err != nil {
		t.Fatal(err)
	}
	sc, err = s.GetObjectScan(ctx, "b", "k")
	if err != nil || !sc.Scanned.Equal(at(9)) || !slices.Equal(sc.Labels, labels) {
		t.Fatalf("after SetObjectScan: %+v, %v; want %+v", sc, err, labels)
	}
	if jobs, _ := s.ListUnscanned(ctx, 0, 10); len(jobs) != 0 {
		t.Errorf("scanned object still listed as unscanned: %+v", jobs)
	}
	wantErr(t, "SetObjectScan(stale version)",
		s.SetObjectScan(ctx, "b", "k", meta.ObjectScan{VersionID: "old", Scanned: at(10)}), meta.ErrConflict)
	wantErr(t, "SetObjectScan(missing key)",
		s.SetObjectScan(ctx, "b", "nope", meta.ObjectScan{VersionID: "v", Scanned: at(10)}), meta.ErrNoSuchObject)
	_, err = s.GetObjectScan(ctx, "b", "nope")
	wantErr(t, "GetObjectScan(missing key)", err, meta.ErrNoSuchObject)
	_, err = s.GetObjectScan(ctx, "nope", "k")
	wantErr(t, "GetObjectScan(missing bucket)", err, meta.ErrNoSuchBucket)

	// A new version without a scan is unscanned: the old labels are gone.
	o2 := newObject("b", "k", 1)
	mustPut(t, s, o2)
	sc, err = s.GetObjectScan(ctx, "b", "k")
	if err != nil || !sc.Scanned.IsZero() || len(sc.Labels) != 0 || sc.VersionID != o2.VersionID {
		t.Fatalf("replaced version kept the old labels: %+v, %v", sc, err)
	}
	// A version written with its scan has it from the first moment.
	o3 := newObject("b", "k", 1)
	o3.Scan = &meta.ObjectScan{Scanned: at(11), Labels: []meta.Label{{Type: "pii:iban", Confidence: 5, Count: 1, Line: 1}}}
	mustPut(t, s, o3)
	sc, err = s.GetObjectScan(ctx, "b", "k")
	if err != nil || sc.VersionID != o3.VersionID || len(sc.Labels) != 1 || sc.Labels[0].Type != "pii:iban" {
		t.Fatalf("PutObject with Scan: %+v, %v", sc, err)
	}
	// An empty scan is a scan: scanned, no labels.
	o4 := newObject("b", "clean", 1)
	o4.Scan = &meta.ObjectScan{Scanned: at(12)}
	mustPut(t, s, o4)
	sc, err = s.GetObjectScan(ctx, "b", "clean")
	if err != nil || sc.Scanned.IsZero() || len(sc.Labels) != 0 {
		t.Fatalf("clean object: %+v, %v", sc, err)
	}
	// Paging through unscanned versions.
	for _, k := range []string{"u1", "u2", "u3"} {
		mustPut(t, s, newObject("b", k, 1))
	}
	var seen []string
	for after := int64(0); ; {
		jobs, err := s.ListUnscanned(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 0 {
			break
		}
		for _, j := range jobs {
			seen = append(seen, j.Key)
		}
		after = jobs[len(jobs)-1].Seq
	}
	slices.Sort(seen)
	if !slices.Equal(seen, []string{"u1", "u2", "u3"}) {
		t.Errorf("unscanned pages = %q, want u1 u2 u3", seen)
	}
	// Deleting the object deletes its scan.
	if _, err := s.DeleteObject(ctx, "b", "k"); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, newObject("b", "k", 1))
	if sc, _ := s.GetObjectScan(ctx, "b", "k"); !sc.Scanned.IsZero() {
		t.Errorf("a deleted object's scan came back: %+v", sc)
	}
}

// testBucketScan: settings round-trip, clear, and go with the bucket.
func testBucketScan(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustBucket(t, s, "b")
	bs, err := s.GetBucketScan(ctx, "b")
	if err != nil || len(bs.Reject) != 0 || bs.MinConfidence != 0 {
		t.Fatalf("new bucket scan settings = %+v, %v; want none", bs, err)
	}
	want := meta.BucketScan{Reject: []string{"secret", "pii:iban"}, MinConfidence: 3}
	if err := s.PutBucketScan(ctx, "b", want); err != nil {
		t.Fatal(err)
	}
	bs, err = s.GetBucketScan(ctx, "b")
	if err != nil || !slices.Equal(bs.Reject, want.Reject) || bs.MinConfidence != 3 {
		t.Fatalf("GetBucketScan = %+v, %v; want %+v", bs, err, want)
	}
	if err := s.PutBucketScan(ctx, "b", meta.BucketScan{}); err != nil {
		t.Fatal(err)
	}
	if bs, _ := s.GetBucketScan(ctx, "b"); len(bs.Reject) != 0 {
		t.Errorf("cleared settings = %+v", bs)
	}
	wantErr(t, "PutBucketScan(missing)", s.PutBucketScan(ctx, "nope", want), meta.ErrNoSuchBucket)
	_, err = s.GetBucketScan(ctx, "nope")
	wantErr(t, "GetBucketScan(missing)", err, meta.ErrNoSuchBucket)
	// The settings go with the bucket.
	if err := s.PutBucketScan(ctx, "b", want); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteBucket(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	mustBucket(t, s, "b")
	if bs, _ := s.GetBucketScan(ctx, "b"); len(bs.Reject) != 0 {
		t.Errorf("a recreated bucket inherited %+v", bs)
	}
}
