// Package metatest is the conformance suite every meta.Store implementation
// must pass. Each implementation's tests call Run (and RunReopen when the
// store persists across a reopen); a property stated here is the contract,
// whatever the engine underneath.
package metatest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-vault/coffer/internal/meta"
)

// Run runs the suite. open must return a new, empty store for each call
// and arrange (t.Cleanup) to close it.
func Run(t *testing.T, open func(t *testing.T) meta.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s meta.Store)
	}{
		{"Buckets", testBuckets},
		{"PutGetDelete", testPutGetDelete},
		{"ListObjects", testListObjects},
		{"Tags", testTags},
		{"ConditionalPut", testConditionalPut},
		{"SealedValues", testSealedValues},
		{"UsersAndSessions", testUsersAndSessions},
		{"PoliciesAndRoles", testPoliciesAndRoles},
		{"DeletePoliciesRolesGroups", testDeletePoliciesRolesGroups},
		{"Uploads", testUploads},
		{"ListUploads", testListUploads},
		{"Parts", testParts},
		{"CompleteUpload", testCompleteUpload},
		{"DeleteBucketWithUploads", testDeleteBucketWithUploads},
		{"AccessKeys", testAccessKeys},
		{"AccessKeyUseAndPolicy", testAccessKeyUseAndPolicy},
		{"KEKs", testKEKs},
		{"DEKs", testDEKs},
		{"Concurrency", testConcurrency},
		{"AuditIndex", testAuditIndex},
		{"ObjectScans", testObjectScans},
		{"BucketScan", testBucketScan},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// RunReopen fills a store, reopens it (reopen closes old and opens the same
// database again) and checks that everything is still there.
func RunReopen(t *testing.T, open func(t *testing.T) meta.Store, reopen func(t *testing.T, old meta.Store) meta.Store) {
	t.Helper()
	ctx := t.Context()
	s := open(t)
	mustBucket(t, s, "keep")
	mustBucket(t, s, "other")
	objs := []meta.Object{
		newObject("keep", "a", 1),
		newObject("keep", "b/c%_é", 3),
		newObject("other", "z", 2),
	}
	for _, o := range objs {
		mustPut(t, s, o)
	}
	u := meta.Upload{ID: "up-1", Bucket: "keep", Key: "big", Initiated: at(5), Meta: []byte("m")}
	if err := s.CreateUpload(ctx, u); err != nil {
		t.Fatal(err)
	}
	part := newSegment(1, 1)
	if _, err := s.PutPart(ctx, u.ID, part); err != nil {
		t.Fatal(err)
	}
	ak := meta.AccessKey{ID: "AK1", SealedSecret: []byte("sealed"), Owner: "alice", Created: at(1), Expires: at(1000)}
	if err := s.PutAccessKey(ctx, ak); err != nil {
		t.Fatal(err)
	}
	kek := meta.StoredKEK{Version: 1, Wrapped: []byte("kek1"), Created: at(2)}
	if err := s.PutKEK(ctx, kek); err != nil {
		t.Fatal(err)
	}

	audit := auditFixture(5)
	if err := s.IndexAuditEvents(ctx, audit); err != nil {
		t.Fatal(err)
	}

	s = reopen(t, s)

	gotA, err := s.SearchAudit(ctx, meta.AuditQuery{})
	if err != nil || sameAuditRecords(gotA, audit) != "" {
		t.Errorf("after reopen: SearchAudit = %+v, %v; want %+v", gotA, err, audit)
	}

	for _, want := range objs {
		got, err := s.GetObject(ctx, want.Bucket, want.Key)
		if err != nil {
			t.Fatalf("after reopen: GetObject(%q, %q): %v", want.Bucket, want.Key, err)
		}
		if d := diffObject(want, got); d != "" {
			t.Errorf("after reopen: object %q: %s", want.Key, d)
		}
	}
	bs, err := s.ListBuckets(ctx)
	if err != nil || len(bs) != 2 {
		t.Errorf("after reopen: ListBuckets = %v, %v; want 2 buckets", bs, err)
	}
	gotU, err := s.GetUpload(ctx, "keep", "big", u.ID)
	if err != nil || !gotU.Initiated.Equal(u.Initiated) || !bytes.Equal(gotU.Meta, u.Meta) {
		t.Errorf("after reopen: GetUpload = %+v, %v; want %+v", gotU, err, u)
	}
	parts, _, err := s.ListParts(ctx, u.ID, 0, 10)
	if err != nil || len(parts) != 1 || diffSegment(part, parts[0]) != "" {
		t.Errorf("after reopen: ListParts = %+v, %v; want [%+v]", parts, err, part)
	}
	gotK, err := s.GetAccessKey(ctx, ak.ID)
	if err != nil || diffAccessKey(ak, gotK) != "" {
		t.Errorf("after reopen: GetAccessKey = %+v, %v; want %+v", gotK, err, ak)
	}
	keks, err := s.ListKEKs(ctx)
	if err != nil || len(keks) != 1 || !bytes.Equal(keks[0].Wrapped, kek.Wrapped) || !keks[0].Created.Equal(kek.Created) {
		t.Errorf("after reopen: ListKEKs = %+v, %v; want [%+v]", keks, err, kek)
	}
	counts, err := s.CountDEKs(ctx)
	if err != nil || counts[1] != 1+3+2+1 {
		t.Errorf("after reopen: CountDEKs = %v, %v; want 7 DEKs under version 1", counts, err)
	}
}

// Fixtures.

// base is a fixed time with a nanosecond part, so a store that rounds
// times fails.
var base = time.Date(2025, 6, 7, 8, 9, 10, 123456789, time.UTC)

func at(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func newSegment(number, kekVersion int) meta.Segment {
	return meta.Segment{
		Number:     number,
		BlobID:     randomHex(16),
		Size:       int64(1000 * number),
		ETag:       randomHex(16),
		WrappedDEK: []byte("wrapped-" + randomHex(8)),
		KEKVersion: kekVersion,
		Binding:    "v-" + randomHex(4),
		Created:    at(number),
	}
}

func newObject(bucket, key string, segments int) meta.Object {
	o := meta.Object{
		Bucket:       bucket,
		Key:          key,
		VersionID:    randomHex(8),
		ETag:         randomHex(16),
		LastModified: at(10),
		Meta:         []byte("sealed-meta-" + randomHex(4)),
		Checksum:     "CRC32:AAAAAA==",
	}
	for i := 1; i <= segments; i++ {
		sg := newSegment(i, 1)
		o.Segments = append(o.Segments, sg)
		o.Size += sg.Size
	}
	return o
}

func mustBucket(t *testing.T, s meta.Store, name string) {
	t.Helper()
	if err := s.CreateBucket(t.Context(), meta.Bucket{Name: name, Created: at(0)}); err != nil {
		t.Fatalf("CreateBucket(%q): %v", name, err)
	}
}

func mustPut(t *testing.T, s meta.Store, o meta.Object) *meta.Object {
	t.Helper()
	old, err := s.PutObject(t.Context(), o)
	if err != nil {
		t.Fatalf("PutObject(%q, %q): %v", o.Bucket, o.Key, err)
	}
	return old
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: error %v, want %v", what, err, want)
	}
}

// Comparisons: times by Equal, nil and empty byte slices alike.

func diffSegment(want, got meta.Segment) string {
	switch {
	case want.Number != got.Number, want.BlobID != got.BlobID, want.Size != got.Size, want.ETag != got.ETag,
		!bytes.Equal(want.WrappedDEK, got.WrappedDEK), want.KEKVersion != got.KEKVersion,
		want.Binding != got.Binding, !want.Created.Equal(got.Created):
		return fmt.Sprintf("segment got %+v, want %+v", got, want)
	}
	return ""
}

func diffSegments(want, got []meta.Segment) string {
	if len(want) != len(got) {
		return fmt.Sprintf("%d segments, want %d", len(got), len(want))
	}
	for i := range want {
		if d := diffSegment(want[i], got[i]); d != "" {
			return fmt.Sprintf("[%d]: %s", i, d)
		}
	}
	return ""
}

// diffObjectHead compares everything but segments.
func diffObjectHead(want, got meta.Object) string {
	switch {
	case want.Bucket != got.Bucket, want.Key != got.Key, want.VersionID != got.VersionID,
		want.Size != got.Size, want.ETag != got.ETag, !want.LastModified.Equal(got.LastModified),
		!bytes.Equal(want.Meta, got.Meta), !bytes.Equal(want.Tags, got.Tags), want.Checksum != got.Checksum:
		return fmt.Sprintf("object got %+v, want %+v", got, want)
	}
	return ""
}

func diffObject(want, got meta.Object) string {
	if d := diffObjectHead(want, got); d != "" {
		return d
	}
	return diffSegments(want.Segments, got.Segments)
}

func diffAccessKey(want, got meta.AccessKey) string {
	if want.ID != got.ID || !bytes.Equal(want.SealedSecret, got.SealedSecret) || want.Owner != got.Owner ||
		!want.Created.Equal(got.Created) || !want.Expires.Equal(got.Expires) || !want.MFAAt.Equal(got.MFAAt) ||
		!want.LastUsed.Equal(got.LastUsed) || want.Policy != got.Policy {
		return fmt.Sprintf("access key got %+v, want %+v", got, want)
	}
	return ""
}

func keysOf(objs []meta.Object) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.Key
	}
	return out
}

func blobIDs(t *testing.T, s meta.Store) []string {
	t.Helper()
	var ids []string
	if err := s.BlobIDs(t.Context(), func(id string) error { ids = append(ids, id); return nil }); err != nil {
		t.Fatalf("BlobIDs: %v", err)
	}
	sort.Strings(ids)
	return ids
}

// The properties.

func testBuckets(t *testing.T, s meta.Store) {
	ctx := t.Context()
	for _, name := range []string{"beta", "alpha", "gamma"} {
		mustBucket(t, s, name)
	}
	wantErr(t, "CreateBucket(duplicate)", s.CreateBucket(ctx, meta.Bucket{Name: "alpha", Created: at(9)}), meta.ErrBucketExists)

	b, err := s.GetBucket(ctx, "alpha")
	if err != nil || b.Name != "alpha" || !b.Created.Equal(at(0)) {
		t.Errorf("GetBucket(alpha) = %+v, %v; want created %v", b, err, at(0))
	}
	_, err = s.GetBucket(ctx, "nope")
	wantErr(t, "GetBucket(missing)", err, meta.ErrNoSuchBucket)

	bs, err := s.ListBuckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range bs {
		names = append(names, b.Name)
	}
	if !slices.Equal(names, []string{"alpha", "beta", "gamma"}) {
		t.Errorf("ListBuckets = %q, want sorted alpha beta gamma", names)
	}

	_, err = s.DeleteBucket(ctx, "nope")
	wantErr(t, "DeleteBucket(missing)", err, meta.ErrNoSuchBucket)

	mustPut(t, s, newObject("beta", "k", 1))
	_, err = s.DeleteBucket(ctx, "beta")
	wantErr(t, "DeleteBucket(not empty)", err, meta.ErrBucketNotEmpty)
	if _, err := s.GetObject(ctx, "beta", "k"); err != nil {
		t.Errorf("object lost by a refused DeleteBucket: %v", err)
	}
	if _, err := s.DeleteObject(ctx, "beta", "k"); err != nil {
		t.Fatal(err)
	}
	if segs, err := s.DeleteBucket(ctx, "beta"); err != nil || len(segs) != 0 {
		t.Errorf("DeleteBucket(emptied) = %v, %v; want no segments, nil", segs, err)
	}
	_, err = s.GetBucket(ctx, "beta")
	wantErr(t, "GetBucket(deleted)", err, meta.ErrNoSuchBucket)
	// The name is free again.
	mustBucket(t, s, "beta")
}

func testPutGetDelete(t *testing.T, s meta.Store) {
	ctx := t.Context()
	_, err := s.PutObject(ctx, newObject("nope", "k", 1))
	wantErr(t, "PutObject(missing bucket)", err, meta.ErrNoSuchBucket)

	mustBucket(t, s, "b")
	v1 := newObject("b", "k", 3)
	v1.Tags = []byte("sealed-tags")
	if old := mustPut(t, s, v1); old != nil {
		t.Errorf("first PutObject replaced %+v, want nil", old)
	}
	got, err := s.GetObject(ctx, "b", "k")
	if err != nil {
		t.Fatal(err)
	}
	if d := diffObject(v1, got); d != "" {
		t.Errorf("GetObject after put: %s", d)
	}

	// Segments come back ordered by number whatever the insertion order.
	v2 := newObject("b", "k", 3)
	v2.Segments[0], v2.Segments[2] = v2.Segments[2], v2.Segments[0]
	old := mustPut(t, s, v2)
	if old == nil {
		t.Fatal("replacing PutObject returned nil, want the old version")
	}
	if d := diffObject(v1, *old); d != "" {
		t.Errorf("replaced version: %s", d)
	}
	v2.Segments[0], v2.Segments[2] = v2.Segments[2], v2.Segments[0]
	got, err = s.GetObject(ctx, "b", "k")
	if err != nil {
		t.Fatal(err)
	}
	if d := diffObject(v2, got); d != "" {
		t.Errorf("GetObject after replace: %s", d)
	}
	// The old version's DEKs are gone (crypto-shredding).
	want := []string{v2.Segments[0].BlobID, v2.Segments[1].BlobID, v2.Segments[2].BlobID}
	sort.Strings(want)
	if ids := blobIDs(t, s); !slices.Equal(ids, want) {
		t.Errorf("BlobIDs after replace = %v, want only the new version's %v", ids, want)
	}

	// An object may have no segments (an empty object) and no meta.
	empty := meta.Object{Bucket: "b", Key: "empty", VersionID: "v", ETag: "d41d8cd98f00b204e9800998ecf8427e", LastModified: at(1)}
	mustPut(t, s, empty)
	if got, err := s.GetObject(ctx, "b", "empty"); err != nil || diffObject(empty, got) != "" {
		t.Errorf("GetObject(empty) = %+v, %v; want %+v", got, err, empty)
	}

	_, err = s.GetObject(ctx, "b", "missing")
	wantErr(t, "GetObject(missing key)", err, meta.ErrNoSuchObject)
	_, err = s.GetObject(ctx, "nope", "k")
	wantErr(t, "GetObject(missing bucket)", err, meta.ErrNoSuchBucket)

	del, err := s.DeleteObject(ctx, "b", "k")
	if err != nil {
		t.Fatal(err)
	}
	if d := diffObject(v2, del); d != "" {
		t.Errorf("DeleteObject returned: %s", d)
	}
	_, err = s.GetObject(ctx, "b", "k")
	wantErr(t, "GetObject(deleted)", err, meta.ErrNoSuchObject)
	_, err = s.DeleteObject(ctx, "b", "k")
	wantErr(t, "DeleteObject(deleted)", err, meta.ErrNoSuchObject)
	_, err = s.DeleteObject(ctx, "nope", "k")
	wantErr(t, "DeleteObject(missing bucket)", err, meta.ErrNoSuchBucket)
	if ids := blobIDs(t, s); len(ids) != 0 {
		t.Errorf("BlobIDs after delete = %v, want none (DEKs destroyed)", ids)
	}

	// Same key in two buckets: two objects.
	mustBucket(t, s, "c")
	a, b := newObject("b", "same", 1), newObject("c", "same", 1)
	mustPut(t, s, a)
	if old := mustPut(t, s, b); old != nil {
		t.Errorf("put into another bucket replaced %+v", old)
	}
	if got, err := s.GetObject(ctx, "b", "same"); err != nil || got.VersionID != a.VersionID {
		t.Errorf("GetObject(b/same) = %+v, %v; want version %s", got, err, a.VersionID)
	}
}

func testListObjects(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustBucket(t, s, "b")
	mustBucket(t, s, "other")
	keys := []string{
		"a", "a%", "a%b", "a_b", "aXb", "ab", "a/b/c", "a/b", "a\x7f", "a b",
		"b", "é", "éa", "日本/語", "\uFFFF", "\U0010FFFF", "\U0010FFFFz", "zz", "%", "_",
	}
	for _, k := range keys {
		mustPut(t, s, newObject("b", k, 1))
	}
	mustPut(t, s, newObject("other", "a", 1)) // must never show up
	sorted := slices.Clone(keys)
	sort.Strings(sorted) // byte-wise

	expect := func(prefix, after string, limit int) ([]string, bool) {
		var out []string
		for _, k := range sorted {
			if strings.HasPrefix(k, prefix) && k > after {
				out = append(out, k)
			}
		}
		if len(out) > limit {
			return out[:limit], true
		}
		return out, false
	}
	cases := []struct {
		name          string
		prefix, after string
		limit         int
	}{
		{"all", "", "", 1000},
		{"limit", "", "", 3},
		{"exact fit", "", "", len(keys)},
		{"after", "", "a_b", 1000},
		{"after missing key", "", "aa", 1000},
		{"after last", "", "\U0010FFFFz", 1000},
		{"prefix", "a", "", 1000},
		{"percent is literal", "a%", "", 1000},
		{"underscore is literal", "a_", "", 1000},
		{"bare percent", "%", "", 1000},
		{"slash", "a/", "", 1000},
		{"unicode", "é", "", 1000},
		{"cjk", "日", "", 1000},
		{"highest code point", "\U0010FFFF", "", 1000},
		{"high bytes", "\xef\xbf", "", 1000},
		{"prefix and after", "a", "a%b", 2},
		{"after beyond prefix", "a", "b", 1000},
		{"after before prefix", "é", "a", 1000},
		{"no match", "q", "", 1000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, more, err := s.ListObjects(ctx, "b", meta.ListOptions{Prefix: c.prefix, After: c.after, Limit: c.limit})
			if err != nil {
				t.Fatal(err)
			}
			want, wantMore := expect(c.prefix, c.after, c.limit)
			if !slices.Equal(keysOf(got), want) || more != wantMore {
				t.Errorf("ListObjects(prefix %q, after %q, limit %d) = %q, %v; want %q, %v",
					c.prefix, c.after, c.limit, keysOf(got), more, want, wantMore)
			}
			for _, o := range got {
				if o.Bucket != "b" || o.Size == 0 || o.ETag == "" || o.VersionID == "" || o.LastModified.IsZero() {
					t.Errorf("listed object %q lacks fields: %+v", o.Key, o)
				}
			}
		})
	}

	// Paging with After = last key visits every key once, in order.
	for _, limit := range []int{1, 2, 7} {
		var all []string
		after := ""
		for pages := 0; ; pages++ {
			if pages > len(keys)+1 {
				t.Fatalf("limit %d: paging does not end", limit)
			}
			got, more, err := s.ListObjects(ctx, "b", meta.ListOptions{After: after, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, keysOf(got)...)
			if !more {
				break
			}
			after = got[len(got)-1].Key
		}
		if !slices.Equal(all, sorted) {
			t.Errorf("paging with limit %d = %q, want %q", limit, all, sorted)
		}
	}

	mustBucket(t, s, "empty")
	if got, more, err := s.ListObjects(ctx, "empty", meta.ListOptions{Limit: 10}); err != nil || len(got) != 0 || more {
		t.Errorf("ListObjects(empty bucket) = %v, %v, %v; want nothing", got, more, err)
	}
	_, _, err := s.ListObjects(ctx, "nope", meta.ListOptions{Limit: 10})
	wantErr(t, "ListObjects(missing bucket)", err, meta.ErrNoSuchBucket)
}

func testUsersAndSessions(t *testing.T, s meta.Store) {
	ctx := t.Context()
	u := meta.User{Name: "ana", PasswordHash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$a2V5", Roles: []string{"editor", "auditor"}, Created: at(1)}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "CreateUser(duplicate)", s.CreateUser(ctx, u), meta.ErrExists)
	if err := s.CreateUser(ctx, meta.User{Name: "bad", Roles: []string{"a,b"}}); err == nil {
		t.Error("a role name with a comma was stored")
	}
	got, err := s.GetUser(ctx, "ana")
	if err != nil || got.PasswordHash != u.PasswordHash || !slices.Equal(got.Roles, u.Roles) || !got.Created.Equal(u.Created) || got.TOTPSecret != nil {
		t.Fatalf("GetUser = %+v, %v", got, err)
	}
	_, err = s.GetUser(ctx, "nobody")
	wantErr(t, "GetUser(missing)", err, meta.ErrNoSuchUser)

	// UpdateUser is a read-modify-write without lost updates.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := s.UpdateUser(ctx, "ana", func(u *meta.User) error { u.Failures++; return nil }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	boom := errors.New("boom")
	wantErr(t, "UpdateUser(fn fails)", s.UpdateUser(ctx, "ana", func(u *meta.User) error { u.Failures = 999; return boom }), boom)
	err = s.UpdateUser(ctx, "ana", func(u *meta.User) error {
		u.TOTPSecret, u.TOTPLastStep, u.Recovery, u.LockedUntil = []byte("sealed"), 42, []byte("hashes"), at(9)
		u.Name = "renamed" // ignored: the key cannot change
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetUser(ctx, "ana")
	if got.Failures != 20 || string(got.TOTPSecret) != "sealed" || got.TOTPLastStep != 42 || string(got.Recovery) != "hashes" || !got.LockedUntil.Equal(at(9)) {
		t.Fatalf("after updates: %+v (want 20 failures from 20 concurrent updates)", got)
	}
	wantErr(t, "UpdateUser(missing)", s.UpdateUser(ctx, "nobody", func(*meta.User) error { return nil }), meta.ErrNoSuchUser)

	se := meta.Session{Hash: []byte("h1"), User: "ana", Created: at(2), LastSeen: at(2)}
	if err := s.PutSession(ctx, se); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "PutSession(no user)", s.PutSession(ctx, meta.Session{Hash: []byte("h0"), User: "nobody", Created: at(2), LastSeen: at(2)}), meta.ErrNoSuchUser)
	if err := s.PutSession(ctx, meta.Session{Hash: []byte("h2"), User: "ana", Created: at(3), LastSeen: at(3)}); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchSession(ctx, []byte("h1"), at(5), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetSession(ctx, []byte("h1")); err != nil || !got.LastSeen.Equal(at(5)) || !got.MFAAt.IsZero() {
		t.Fatalf("after touch: %+v, %v", got, err)
	}
	s.TouchSession(ctx, []byte("h1"), at(6), at(6))
	if got, _ := s.GetSession(ctx, []byte("h1")); !got.MFAAt.Equal(at(6)) {
		t.Fatalf("MFA proof not recorded: %+v", got)
	}
	wantErr(t, "TouchSession(missing)", s.TouchSession(ctx, []byte("zz"), at(6), time.Time{}), meta.ErrNoSuchSession)
	if ses, err := s.ListSessions(ctx, "ana"); err != nil || len(ses) != 2 || string(ses[0].Hash) != "h1" || !ses[0].MFAAt.Equal(at(6)) {
		t.Fatalf("ListSessions = %+v, %v", ses, err)
	}
	if n, err := s.DeleteUserSessions(ctx, "ana"); err != nil || n != 2 {
		t.Fatalf("DeleteUserSessions = %d, %v; want 2", n, err)
	}
	_, err = s.GetSession(ctx, []byte("h1"))
	wantErr(t, "GetSession(revoked)", err, meta.ErrNoSuchSession)
	s.PutSession(ctx, meta.Session{Hash: []byte("h3"), User: "ana", Created: at(7), LastSeen: at(7)})
	if err := s.DeleteUser(ctx, "ana"); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetSession(ctx, []byte("h3"))
	wantErr(t, "a deleted user's session", err, meta.ErrNoSuchSession)
	wantErr(t, "DeleteUser(missing)", s.DeleteUser(ctx, "ana"), meta.ErrNoSuchUser)
	if users, err := s.ListUsers(ctx); err != nil || len(users) != 0 {
		t.Fatalf("ListUsers after delete = %v, %v", users, err)
	}
}

func testPoliciesAndRoles(t *testing.T, s meta.Store) {
	ctx := t.Context()
	for _, p := range []meta.PolicyDoc{{Name: "b", Document: "{1}"}, {Name: "a", Document: "{2}"}, {Name: "b", Document: "{3}"}} {
		if err := s.PutPolicyDoc(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	ps, err := s.ListPolicyDocs(ctx)
	if err != nil || len(ps) != 2 || ps[0].Name != "a" || ps[1].Document != "{3}" {
		t.Fatalf("ListPolicyDocs = %+v, %v; want a, then b replaced", ps, err)
	}
	if err := s.PutRoleDef(ctx, meta.RoleDef{Name: "crew", Policies: []string{"a", "b"}, MFAAtLogin: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRoleDef(ctx, meta.RoleDef{Name: "bad", Policies: []string{"x,y"}}); err == nil {
		t.Error("a policy name with a comma was stored")
	}
	rs, err := s.ListRoleDefs(ctx)
	if err != nil || len(rs) != 1 || !rs[0].MFAAtLogin || !slices.Equal(rs[0].Policies, []string{"a", "b"}) {
		t.Fatalf("ListRoleDefs = %+v, %v", rs, err)
	}
	if err := s.PutGroup(ctx, meta.Group{Name: "crews", Roles: []string{"crew", "viewer"}}); err != nil {
		t.Fatal(err)
	}
	if gs, err := s.ListGroups(ctx); err != nil || len(gs) != 1 || !slices.Equal(gs[0].Roles, []string{"crew", "viewer"}) {
		t.Fatalf("ListGroups = %+v, %v", gs, err)
	}
	if err := s.CreateUser(ctx, meta.User{Name: "gina", PasswordHash: "h", Groups: []string{"crews"}, Created: at(1)}); err != nil {
		t.Fatal(err)
	}
	s.UpdateUser(ctx, "gina", func(u *meta.User) error { u.Groups = append(u.Groups, "night"); return nil })
	if u, _ := s.GetUser(ctx, "gina"); !slices.Equal(u.Groups, []string{"crews", "night"}) {
		t.Fatalf("user groups = %v", u.Groups)
	}
}

func testDeletePoliciesRolesGroups(t *testing.T, s meta.Store) {
	ctx := t.Context()
	for _, name := range []string{"p1", "p2"} {
		if err := s.PutPolicyDoc(ctx, meta.PolicyDoc{Name: name, Document: "{}"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"r1", "r2"} {
		if err := s.PutRoleDef(ctx, meta.RoleDef{Name: name, Policies: []string{"p1"}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"g1", "g2"} {
		if err := s.PutGroup(ctx, meta.Group{Name: name, Roles: []string{"r1"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeletePolicyDoc(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeletePolicyDoc(deleted)", s.DeletePolicyDoc(ctx, "p1"), meta.ErrNoSuchPolicy)
	wantErr(t, "DeletePolicyDoc(missing)", s.DeletePolicyDoc(ctx, "nope"), meta.ErrNoSuchPolicy)
	if ps, err := s.ListPolicyDocs(ctx); err != nil || len(ps) != 1 || ps[0].Name != "p2" {
		t.Errorf("ListPolicyDocs after delete = %+v, %v; want p2", ps, err)
	}
	if err := s.DeleteRoleDef(ctx, "r2"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteRoleDef(deleted)", s.DeleteRoleDef(ctx, "r2"), meta.ErrNoSuchRole)
	wantErr(t, "DeleteRoleDef(missing)", s.DeleteRoleDef(ctx, "nope"), meta.ErrNoSuchRole)
	if rs, err := s.ListRoleDefs(ctx); err != nil || len(rs) != 1 || rs[0].Name != "r1" {
		t.Errorf("ListRoleDefs after delete = %+v, %v; want r1", rs, err)
	}
	if err := s.DeleteGroup(ctx, "g1"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteGroup(deleted)", s.DeleteGroup(ctx, "g1"), meta.ErrNoSuchGroup)
	wantErr(t, "DeleteGroup(missing)", s.DeleteGroup(ctx, "nope"), meta.ErrNoSuchGroup)
	if gs, err := s.ListGroups(ctx); err != nil || len(gs) != 1 || gs[0].Name != "g2" {
		t.Errorf("ListGroups after delete = %+v, %v; want g2", gs, err)
	}
	// A deleted name can be stored again.
	if err := s.PutPolicyDoc(ctx, meta.PolicyDoc{Name: "p1", Document: "{new}"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutGroup(ctx, meta.Group{Name: "g1"}); err != nil {
		t.Fatal(err)
	}
}

func testAccessKeyUseAndPolicy(t *testing.T, s meta.Store) {
	ctx := t.Context()
	const doc = `{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`
	k := meta.AccessKey{ID: "AKP", SealedSecret: []byte("s"), Owner: "ana", Created: at(1), Policy: doc}
	if err := s.PutAccessKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAccessKey(ctx, "AKP")
	if err != nil || got.Policy != doc || !got.LastUsed.IsZero() {
		t.Fatalf("new key = %+v, %v; want its policy and no last use", got, err)
	}
	for _, sec := range []int{10, 70} {
		if err := s.TouchAccessKey(ctx, "AKP", at(sec)); err != nil {
			t.Fatal(err)
		}
		k.LastUsed = at(sec)
		got, err := s.GetAccessKey(ctx, "AKP")
		if err != nil {
			t.Fatal(err)
		}
		if d := diffAccessKey(k, got); d != "" {
			t.Error(d)
		}
	}
	if list, err := s.ListAccessKeys(ctx); err != nil || len(list) != 1 || !list[0].LastUsed.Equal(at(70)) || list[0].Policy != doc {
		t.Errorf("ListAccessKeys = %+v, %v", list, err)
	}
	wantErr(t, "TouchAccessKey(missing)", s.TouchAccessKey(ctx, "nope", at(5)), meta.ErrNoSuchAccessKey)
}

// sealedV makes a value that looks sealed under KEK version v.
func sealedV(v int, rest string) []byte {
	return append([]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}, rest...)
}

func testSealedValues(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustBucket(t, s, "b")
	o := newObject("b", "k", 1)
	o.Meta, o.Tags = sealedV(1, "meta"), sealedV(2, "tags")
	mustPut(t, s, o)
	u := meta.Upload{ID: randomHex(16), Bucket: "b", Key: "up", Initiated: at(1), Meta: sealedV(1, "umeta")}
	if err := s.CreateUpload(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := s.PutAccessKey(ctx, meta.AccessKey{ID: "AK1", SealedSecret: sealedV(1, "secret"), Owner: "admin", Created: at(1)}); err != nil {
		t.Fatal(err)
	}
	all := []meta.SealedKind{meta.SealedObjectMeta, meta.SealedObjectTags, meta.SealedUploadMeta, meta.SealedUploadTags, meta.SealedAccessKey}
	counts, err := s.CountSealed(ctx)
	if err != nil || counts[1] != 3 || counts[2] != 1 {
		t.Fatalf("CountSealed = %v, %v; want 3 under version 1 and 1 under version 2", counts, err)
	}
	refs, err := s.ListSealed(ctx, all, 2, 100)
	if err != nil || len(refs) != 3 {
		t.Fatalf("ListSealed(below 2) = %d refs, %v; want 3 (object meta, upload meta, access key)", len(refs), err)
	}
	for _, ref := range refs {
		if ref.Value[3] != 1 {
			t.Errorf("ListSealed returned a value of version %d", ref.Value[3])
		}
		stale := ref
		stale.Value = sealedV(1, "something else")
		if err := s.UpdateSealed(ctx, stale, sealedV(3, "x")); !errors.Is(err, meta.ErrConflict) {
			t.Errorf("UpdateSealed with a stale old value: %v, want ErrConflict", err)
		}
		if err := s.UpdateSealed(ctx, ref, sealedV(3, "new")); err != nil {
			t.Errorf("UpdateSealed(%v): %v", ref.Kind, err)
		}
	}
	if refs, err := s.ListSealed(ctx, all, 2, 100); err != nil || len(refs) != 0 {
		t.Fatalf("after resealing: %d refs below version 2, %v", len(refs), err)
	}
	if refs, _ := s.ListSealed(ctx, all, 3, 1); len(refs) != 1 {
		t.Fatalf("limit 1 returned %d refs", len(refs))
	}
	counts, _ = s.CountSealed(ctx)
	if counts[1] != 0 || counts[2] != 1 || counts[3] != 3 {
		t.Fatalf("CountSealed after resealing = %v", counts)
	}
	got, _ := s.GetObject(ctx, "b", "k")
	k, _ := s.GetAccessKey(ctx, "AK1")
	if string(got.Meta[4:]) != "new" || string(k.SealedSecret[4:]) != "new" {
		t.Fatal("UpdateSealed did not store the new value")
	}
}

func testConditionalPut(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustBucket(t, s, "b")
	first := newObject("b", "lock", 1)
	if _, err := s.PutObjectIf(ctx, first, meta.Precondition{IfMatch: "any"}); !errors.Is(err, meta.ErrNoSuchObject) {
		t.Fatalf("If-Match on a missing key: %v, want ErrNoSuchObject", err)
	}
	if _, err := s.PutObjectIf(ctx, first, meta.Precondition{IfNoneMatch: true}); err != nil {
		t.Fatalf("create-only put of a new key: %v", err)
	}
	second := newObject("b", "lock", 1)
	tests := []struct {
		name string
		c    meta.Precondition
	}{
		{"create-only on an existing key", meta.Precondition{IfNoneMatch: true}},
		{"If-Match with a stale ETag", meta.Precondition{IfMatch: "not-" + first.ETag}},
	}
	for _, tc := range tests {
		if _, err := s.PutObjectIf(ctx, second, tc.c); !errors.Is(err, meta.ErrPrecondition) {
			t.Errorf("%s: %v, want ErrPrecondition", tc.name, err)
		}
		if got, _ := s.GetObject(ctx, "b", "lock"); got.VersionID != first.VersionID {
			t.Errorf("%s: a refused put replaced the object", tc.name)
		}
	}
	replaced, err := s.PutObjectIf(ctx, second, meta.Precondition{IfMatch: first.ETag})
	if err != nil || replaced == nil || replaced.VersionID != first.VersionID {
		t.Fatalf("If-Match with the current ETag: replaced %v, %v", replaced, err)
	}
	// Many writers race to create the same key: exactly one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := s.PutObjectIf(ctx, newObject("b", "race", 1), meta.Precondition{IfNoneMatch: true}); err == nil {
				wins.Add(1)
			} else if !errors.Is(err, meta.ErrPrecondition) {
				t.Errorf("racing create: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d writers created the same key, want exactly 1", wins.Load())
	}
}

func testTags(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustBucket(t, s, "b")
	o := newObject("b", "k", 1)
	mustPut(t, s, o)
	if got, _ := s.GetObject(ctx, "b", "k"); len(got.Tags) != 0 {
		t.Errorf("new object has tags %q, want none", got.Tags)
	}
	if err := s.SetTags(ctx, "b", "k", o.VersionID, []byte("t1")); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetObject(ctx, "b", "k")
	if err != nil || !bytes.Equal(got.Tags, []byte("t1")) {
		t.Errorf("after SetTags: tags %q, %v; want t1", got.Tags, err)
	}
	// Tags change nothing else.
	o.Tags = []byte("t1")
	if d := diffObject(o, got); d != "" {
		t.Errorf("SetTags changed more than tags: %s", d)
	}
	if err := s.SetTags(ctx, "b", "k", o.VersionID, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetObject(ctx, "b", "k"); got.Tags != nil {
		t.Errorf("after clearing: tags %q, want nil", got.Tags)
	}
	wantErr(t, "SetTags(missing key)", s.SetTags(ctx, "b", "missing", "v", []byte("x")), meta.ErrNoSuchObject)
	wantErr(t, "SetTags(missing bucket)", s.SetTags(ctx, "nope", "k", "v", []byte("x")), meta.ErrNoSuchBucket)
	// Tags sealed for a version that a PUT has replaced are refused, so they
	// can never land on a version they were not sealed for.
	wantErr(t, "SetTags(stale version)", s.SetTags(ctx, "b", "k", "not-"+o.VersionID, []byte("x")), meta.ErrConflict)
	if got, _ := s.GetObject(ctx, "b", "k"); got.Tags != nil {
		t.Errorf("a refused SetTags changed the tags to %q", got.Tags)
	}
}

func testUploads(t *testing.T, s meta.Store) {
	ctx := t.Context()
	u := meta.Upload{ID: "u1", Bucket: "b", Key: "k", Initiated: at(1), Meta: []byte("meta"), Tags: []byte("tags")}
	wantErr(t, "CreateUpload(missing bucket)", s.CreateUpload(ctx, u), meta.ErrNoSuchBucket)
	mustBucket(t, s, "b")
	mustBucket(t, s, "c")
	if err := s.CreateUpload(ctx, u); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetUpload(ctx, "b", "k", "u1")
	if err != nil || got.ID != u.ID || got.Bucket != u.Bucket || got.Key != u.Key || !got.Initiated.Equal(u.Initiated) ||
		!bytes.Equal(got.Meta, u.Meta) || !bytes.Equal(got.Tags, u.Tags) {
		t.Errorf("GetUpload = %+v, %v; want %+v", got, err, u)
	}
	for _, c := range []struct{ bucket, key, id string }{
		{"b", "other", "u1"}, {"c", "k", "u1"}, {"b", "k", "u2"}, {"nope", "k", "u1"},
	} {
		_, err := s.GetUpload(ctx, c.bucket, c.key, c.id)
		wantErr(t, fmt.Sprintf("GetUpload(%q, %q, %q)", c.bucket, c.key, c.id), err, meta.ErrNoSuchUpload)
	}
}

func testListUploads(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustBucket(t, s, "b")
	mustBucket(t, s, "other")
	// Order is (key, initiated, id): u3 before u2 for key "a" because it
	// started earlier; u4 and u5 tie on time and sort by id.
	ups := []meta.Upload{
		{ID: "u2", Key: "a", Initiated: at(5)},
		{ID: "u3", Key: "a", Initiated: at(1)},
		{ID: "u1", Key: "b", Initiated: at(0)},
		{ID: "u5", Key: "a%", Initiated: at(2)},
		{ID: "u4", Key: "a%", Initiated: at(2)},
		{ID: "u6", Key: "é", Initiated: at(3)},
		{ID: "u7", Key: "a_", Initiated: at(3)},
	}
	for _, u := range ups {
		u.Bucket = "b"
		if err := s.CreateUpload(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateUpload(ctx, meta.Upload{ID: "x1", Bucket: "other", Key: "a", Initiated: at(0)}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "CreateUpload(duplicate id)", s.CreateUpload(ctx, meta.Upload{ID: "u1", Bucket: "b", Key: "z"}), meta.ErrExists)

	order := []string{"u3", "u2", "u4", "u5", "u7", "u1", "u6"}
	ids := func(us []meta.Upload) []string {
		var out []string
		for _, u := range us {
			out = append(out, u.ID)
		}
		return out
	}
	cases := []struct {
		name string
		opts meta.UploadListOptions
		want []string
		more bool
	}{
		{"all", meta.UploadListOptions{Limit: 100}, order, false},
		{"limit", meta.UploadListOptions{Limit: 3}, order[:3], true},
		{"prefix percent literal", meta.UploadListOptions{Prefix: "a%", Limit: 100}, []string{"u4", "u5"}, false},
		{"prefix underscore literal", meta.UploadListOptions{Prefix: "a_", Limit: 100}, []string{"u7"}, false},
		{"prefix", meta.UploadListOptions{Prefix: "a", Limit: 100}, []string{"u3", "u2", "u4", "u5", "u7"}, false},
		{"key marker skips the whole key", meta.UploadListOptions{KeyMarker: "a", Limit: 100}, []string{"u4", "u5", "u7", "u1", "u6"}, false},
		{"key and upload markers", meta.UploadListOptions{KeyMarker: "a", UploadIDMarker: "u3", Limit: 100}, []string{"u2", "u4", "u5", "u7", "u1", "u6"}, false},
		{"tie on time", meta.UploadListOptions{KeyMarker: "a%", UploadIDMarker: "u4", Limit: 1}, []string{"u5"}, true},
		{"markers and prefix", meta.UploadListOptions{Prefix: "a", KeyMarker: "a%", UploadIDMarker: "u5", Limit: 100}, []string{"u7"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, more, err := s.ListUploads(ctx, "b", c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got), c.want) || more != c.more {
				t.Errorf("ListUploads(%+v) = %v, %v; want %v, %v", c.opts, ids(got), more, c.want, c.more)
			}
		})
	}
	// Paging with both markers visits every upload once, in order.
	var all []string
	var km, um string
	for pages := 0; pages < 20; pages++ {
		got, more, err := s.ListUploads(ctx, "b", meta.UploadListOptions{KeyMarker: km, UploadIDMarker: um, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ids(got)...)
		if !more {
			break
		}
		km, um = got[len(got)-1].Key, got[len(got)-1].ID
	}
	if !slices.Equal(all, order) {
		t.Errorf("paging uploads = %v, want %v", all, order)
	}
	_, _, err := s.ListUploads(ctx, "nope", meta.UploadListOptions{Limit: 10})
	wantErr(t, "ListUploads(missing bucket)", err, meta.ErrNoSuchBucket)
}

func testParts(t *testing.T, s meta.Store) {
	ctx := t.Context()
	_, err := s.PutPart(ctx, "nope", newSegment(1, 1))
	wantErr(t, "PutPart(missing upload)", err, meta.ErrNoSuchUpload)
	_, _, err = s.ListParts(ctx, "nope", 0, 10)
	wantErr(t, "ListParts(missing upload)", err, meta.ErrNoSuchUpload)

	mustBucket(t, s, "b")
	if err := s.CreateUpload(ctx, meta.Upload{ID: "u", Bucket: "b", Key: "k", Initiated: at(0)}); err != nil {
		t.Fatal(err)
	}
	if parts, more, err := s.ListParts(ctx, "u", 0, 10); err != nil || len(parts) != 0 || more {
		t.Errorf("ListParts(no parts) = %v, %v, %v; want nothing", parts, more, err)
	}
	parts := map[int]meta.Segment{}
	for _, n := range []int{3, 1, 2, 10} {
		p := newSegment(n, 1)
		old, err := s.PutPart(ctx, "u", p)
		if err != nil || old != nil {
			t.Fatalf("PutPart(%d) = %v, %v; want nil, nil", n, old, err)
		}
		parts[n] = p
	}
	p2 := newSegment(2, 1)
	old, err := s.PutPart(ctx, "u", p2)
	if err != nil || old == nil || diffSegment(parts[2], *old) != "" {
		t.Fatalf("PutPart(2 again) replaced %+v, %v; want %+v", old, err, parts[2])
	}
	parts[2] = p2

	cases := []struct {
		after, limit int
		want         []int
		more         bool
	}{
		{0, 10, []int{1, 2, 3, 10}, false},
		{0, 2, []int{1, 2}, true},
		{2, 1, []int{3}, true},
		{3, 5, []int{10}, false},
		{10, 5, nil, false},
		{0, 4, []int{1, 2, 3, 10}, false},
	}
	for _, c := range cases {
		got, more, err := s.ListParts(ctx, "u", c.after, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		var nums []int
		for _, p := range got {
			nums = append(nums, p.Number)
			if d := diffSegment(parts[p.Number], p); d != "" {
				t.Errorf("part %d: %s", p.Number, d)
			}
		}
		if !slices.Equal(nums, c.want) || more != c.more {
			t.Errorf("ListParts(after %d, limit %d) = %v, %v; want %v, %v", c.after, c.limit, nums, more, c.want, c.more)
		}
	}

	aborted, err := s.AbortUpload(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range aborted {
		got = append(got, p.BlobID)
	}
	var want []string
	for _, p := range parts {
		want = append(want, p.BlobID)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("AbortUpload returned blobs %v, want %v", got, want)
	}
	_, err = s.GetUpload(ctx, "b", "k", "u")
	wantErr(t, "GetUpload(aborted)", err, meta.ErrNoSuchUpload)
	_, err = s.AbortUpload(ctx, "u")
	wantErr(t, "AbortUpload(aborted)", err, meta.ErrNoSuchUpload)
	_, err = s.PutPart(ctx, "u", newSegment(1, 1))
	wantErr(t, "PutPart(aborted)", err, meta.ErrNoSuchUpload)
	if ids := blobIDs(t, s); len(ids) != 0 {
		t.Errorf("BlobIDs after abort = %v, want none", ids)
	}
}

func testCompleteUpload(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustBucket(t, s, "b")
	_, _, err := s.CompleteUpload(ctx, "nope", newObject("b", "k", 0))
	wantErr(t, "CompleteUpload(missing upload)", err, meta.ErrNoSuchUpload)

	if err := s.CreateUpload(ctx, meta.Upload{ID: "u", Bucket: "b", Key: "k", Initiated: at(0)}); err != nil {
		t.Fatal(err)
	}
	var parts []meta.Segment
	for n := 1; n <= 3; n++ {
		p := newSegment(n, 1)
		p.Binding = "u"
		if _, err := s.PutPart(ctx, "u", p); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	// Completing under another key is refused and changes nothing.
	_, _, err = s.CompleteUpload(ctx, "u", meta.Object{Bucket: "b", Key: "other", VersionID: "v"})
	wantErr(t, "CompleteUpload(wrong key)", err, meta.ErrNoSuchUpload)
	if _, err := s.GetUpload(ctx, "b", "k", "u"); err != nil {
		t.Fatalf("refused CompleteUpload removed the upload: %v", err)
	}

	prev := newObject("b", "k", 1)
	mustPut(t, s, prev)

	o := meta.Object{
		Bucket: "b", Key: "k", VersionID: "v-multi", ETag: "abc-2", LastModified: at(20),
		Meta: []byte("m"), Segments: []meta.Segment{parts[0], parts[2]},
		Size: parts[0].Size + parts[2].Size,
	}
	replaced, unused, err := s.CompleteUpload(ctx, "u", o)
	if err != nil {
		t.Fatal(err)
	}
	if replaced == nil || diffObject(prev, *replaced) != "" {
		t.Errorf("CompleteUpload replaced %+v, want %+v", replaced, prev)
	}
	if d := diffSegments([]meta.Segment{parts[1]}, unused); d != "" {
		t.Errorf("CompleteUpload unused parts: %s", d)
	}
	got, err := s.GetObject(ctx, "b", "k")
	if err != nil {
		t.Fatal(err)
	}
	if d := diffObject(o, got); d != "" {
		t.Errorf("completed object: %s", d)
	}
	_, err = s.GetUpload(ctx, "b", "k", "u")
	wantErr(t, "GetUpload(completed)", err, meta.ErrNoSuchUpload)
	_, _, err = s.ListParts(ctx, "u", 0, 10)
	wantErr(t, "ListParts(completed)", err, meta.ErrNoSuchUpload)
	_, _, err = s.CompleteUpload(ctx, "u", o)
	wantErr(t, "CompleteUpload(twice)", err, meta.ErrNoSuchUpload)

	want := []string{parts[0].BlobID, parts[2].BlobID}
	sort.Strings(want)
	if ids := blobIDs(t, s); !slices.Equal(ids, want) {
		t.Errorf("BlobIDs after complete = %v, want the used parts %v", ids, want)
	}

	// An upload with no object before it replaces nothing.
	if err := s.CreateUpload(ctx, meta.Upload{ID: "u2", Bucket: "b", Key: "fresh", Initiated: at(0)}); err != nil {
		t.Fatal(err)
	}
	p := newSegment(1, 1)
	if _, err := s.PutPart(ctx, "u2", p); err != nil {
		t.Fatal(err)
	}
	replaced, unused, err = s.CompleteUpload(ctx, "u2", meta.Object{Bucket: "b", Key: "fresh", VersionID: "v", Segments: []meta.Segment{p}, Size: p.Size})
	if err != nil || replaced != nil || len(unused) != 0 {
		t.Errorf("CompleteUpload(fresh key) = %v, %v, %v; want nil, none, nil", replaced, unused, err)
	}
}

func testDeleteBucketWithUploads(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustBucket(t, s, "b")
	mustBucket(t, s, "keep")
	want := map[string]bool{}
	for i, id := range []string{"u1", "u2"} {
		if err := s.CreateUpload(ctx, meta.Upload{ID: id, Bucket: "b", Key: fmt.Sprint("k", i), Initiated: at(i)}); err != nil {
			t.Fatal(err)
		}
		for n := 1; n <= 2; n++ {
			p := newSegment(n, 1)
			if _, err := s.PutPart(ctx, id, p); err != nil {
				t.Fatal(err)
			}
			want[p.BlobID] = true
		}
	}
	// An upload in another bucket is untouched.
	if err := s.CreateUpload(ctx, meta.Upload{ID: "k1", Bucket: "keep", Key: "k", Initiated: at(0)}); err != nil {
		t.Fatal(err)
	}
	kp := newSegment(1, 1)
	if _, err := s.PutPart(ctx, "k1", kp); err != nil {
		t.Fatal(err)
	}

	segs, err := s.DeleteBucket(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, sg := range segs {
		got[sg.BlobID] = true
	}
	if len(got) != len(want) || len(segs) != len(want) {
		t.Errorf("DeleteBucket returned %d segments, want %d", len(segs), len(want))
	}
	for id := range want {
		if !got[id] {
			t.Errorf("DeleteBucket did not return part blob %s", id)
		}
	}
	_, err = s.GetUpload(ctx, "b", "k0", "u1")
	wantErr(t, "GetUpload(bucket deleted)", err, meta.ErrNoSuchUpload)
	if ids := blobIDs(t, s); !slices.Equal(ids, []string{kp.BlobID}) {
		t.Errorf("BlobIDs after DeleteBucket = %v, want only the other bucket's %v", ids, kp.BlobID)
	}
	if _, err := s.GetUpload(ctx, "keep", "k", "k1"); err != nil {
		t.Errorf("upload in another bucket lost: %v", err)
	}
}

func testAccessKeys(t *testing.T, s meta.Store) {
	ctx := t.Context()
	keys := []meta.AccessKey{
		{ID: "AKB", SealedSecret: []byte("s2"), Owner: "bob", Created: at(1)},
		{ID: "AKA", SealedSecret: []byte("s1"), Owner: "alice", Created: at(2), Expires: at(3600), MFAAt: at(2)},
	}
	for _, k := range keys {
		if err := s.PutAccessKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, "PutAccessKey(duplicate)", s.PutAccessKey(ctx, meta.AccessKey{ID: "AKA", SealedSecret: []byte("x"), Owner: "eve"}), meta.ErrExists)
	if k, err := s.GetAccessKey(ctx, "AKA"); err != nil || !k.MFAAt.Equal(at(2)) {
		t.Errorf("MFAAt did not round-trip: %+v, %v", k, err)
	}
	if n, err := s.SetAccessKeyOwner(ctx, "bob", "robert"); err != nil || n != 1 {
		t.Errorf("SetAccessKeyOwner = %d, %v", n, err)
	}
	if k, _ := s.GetAccessKey(ctx, "AKB"); k.Owner != "robert" {
		t.Errorf("owner after SetAccessKeyOwner = %q", k.Owner)
	}
	s.SetAccessKeyOwner(ctx, "robert", "bob")
	for _, k := range keys {
		got, err := s.GetAccessKey(ctx, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := diffAccessKey(k, got); d != "" {
			t.Error(d)
		}
	}
	list, err := s.ListAccessKeys(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "AKA" || list[1].ID != "AKB" {
		t.Errorf("ListAccessKeys = %+v, %v; want AKA, AKB", list, err)
	}
	if err := s.DeleteAccessKey(ctx, "AKA"); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetAccessKey(ctx, "AKA")
	wantErr(t, "GetAccessKey(deleted)", err, meta.ErrNoSuchAccessKey)
	wantErr(t, "DeleteAccessKey(deleted)", s.DeleteAccessKey(ctx, "AKA"), meta.ErrNoSuchAccessKey)
	if list, _ := s.ListAccessKeys(ctx); len(list) != 1 {
		t.Errorf("ListAccessKeys after delete = %+v, want one", list)
	}
}

func testKEKs(t *testing.T, s meta.Store) {
	ctx := t.Context()
	if keks, err := s.ListKEKs(ctx); err != nil || len(keks) != 0 {
		t.Errorf("ListKEKs(empty) = %v, %v", keks, err)
	}
	for _, v := range []int{2, 1} {
		if err := s.PutKEK(ctx, meta.StoredKEK{Version: v, Wrapped: []byte(fmt.Sprint("kek", v)), Created: at(v)}); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, "PutKEK(duplicate)", s.PutKEK(ctx, meta.StoredKEK{Version: 2, Wrapped: []byte("other")}), meta.ErrExists)
	keks, err := s.ListKEKs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keks) != 2 || keks[0].Version != 1 || keks[1].Version != 2 ||
		string(keks[1].Wrapped) != "kek2" || !keks[1].Created.Equal(at(2)) {
		t.Errorf("ListKEKs = %+v; want versions 1, 2 with their bytes (the duplicate did not overwrite)", keks)
	}
}

func testDEKs(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustBucket(t, s, "b")
	o1 := newObject("b", "one", 2) // two DEKs under version 1
	o2 := newObject("b", "two", 1)
	o2.Segments[0].KEKVersion = 2
	mustPut(t, s, o1)
	mustPut(t, s, o2)
	if err := s.CreateUpload(ctx, meta.Upload{ID: "u", Bucket: "b", Key: "up", Initiated: at(0)}); err != nil {
		t.Fatal(err)
	}
	part := newSegment(1, 1)
	if _, err := s.PutPart(ctx, "u", part); err != nil {
		t.Fatal(err)
	}

	counts, err := s.CountDEKs(ctx)
	if err != nil || len(counts) != 2 || counts[1] != 3 || counts[2] != 1 {
		t.Errorf("CountDEKs = %v, %v; want map[1:3 2:1]", counts, err)
	}
	want := []string{o1.Segments[0].BlobID, o1.Segments[1].BlobID, o2.Segments[0].BlobID, part.BlobID}
	sort.Strings(want)
	if ids := blobIDs(t, s); !slices.Equal(ids, want) {
		t.Errorf("BlobIDs = %v, want objects' and parts' %v", ids, want)
	}
	stop := errors.New("stop")
	calls := 0
	if err := s.BlobIDs(ctx, func(string) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Errorf("BlobIDs with a failing fn = %v after %d calls; want stop after 1", err, calls)
	}

	if deks, err := s.ListDEKs(ctx, 1, 100); err != nil || len(deks) != 0 {
		t.Errorf("ListDEKs(below 1) = %v, %v; want none", deks, err)
	}
	if deks, err := s.ListDEKs(ctx, 3, 2); err != nil || len(deks) != 2 {
		t.Errorf("ListDEKs(below 3, limit 2) = %d DEKs, %v; want 2", len(deks), err)
	}
	deks, err := s.ListDEKs(ctx, 2, 100)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]meta.Segment{o1.Segments[0].BlobID: o1.Segments[0], o1.Segments[1].BlobID: o1.Segments[1], part.BlobID: part}
	if len(deks) != 3 {
		t.Fatalf("ListDEKs(below 2) = %d DEKs, want 3 (two object segments, one part)", len(deks))
	}
	for _, d := range deks {
		sg, ok := byID[d.BlobID]
		if !ok || !bytes.Equal(sg.WrappedDEK, d.WrappedDEK) || d.KEKVersion != 1 {
			t.Errorf("ListDEKs returned %+v, not one of the version-1 DEKs", d)
		}
	}

	// Compare and swap.
	target := o1.Segments[0]
	wantErr(t, "UpdateDEK(stale old)", s.UpdateDEK(ctx, target.BlobID, []byte("stale"), []byte("new"), 2), meta.ErrConflict)
	wantErr(t, "UpdateDEK(missing blob)", s.UpdateDEK(ctx, randomHex(16), target.WrappedDEK, []byte("new"), 2), meta.ErrConflict)
	for _, d := range deks {
		if err := s.UpdateDEK(ctx, d.BlobID, d.WrappedDEK, append([]byte("v2-"), d.WrappedDEK...), 2); err != nil {
			t.Fatalf("UpdateDEK(%s): %v", d.BlobID, err)
		}
	}
	// A second swap from the same old bytes lost the race.
	wantErr(t, "UpdateDEK(already swapped)", s.UpdateDEK(ctx, target.BlobID, target.WrappedDEK, []byte("again"), 3), meta.ErrConflict)

	if deks, err := s.ListDEKs(ctx, 2, 100); err != nil || len(deks) != 0 {
		t.Errorf("ListDEKs(below 2) after rewrap = %v, %v; want none", deks, err)
	}
	if counts, err := s.CountDEKs(ctx); err != nil || len(counts) != 1 || counts[2] != 4 {
		t.Errorf("CountDEKs after rewrap = %v, %v; want map[2:4]", counts, err)
	}
	got, err := s.GetObject(ctx, "b", "one")
	if err != nil {
		t.Fatal(err)
	}
	if sg := got.Segments[0]; sg.KEKVersion != 2 || !bytes.Equal(sg.WrappedDEK, append([]byte("v2-"), target.WrappedDEK...)) {
		t.Errorf("object segment after rewrap = %+v", sg)
	}
	ps, _, err := s.ListParts(ctx, "u", 0, 10)
	if err != nil || len(ps) != 1 || ps[0].KEKVersion != 2 {
		t.Errorf("part after rewrap = %+v, %v; want version 2", ps, err)
	}

	// Deleting an object destroys its wrapped DEKs.
	if _, err := s.DeleteObject(ctx, "b", "one"); err != nil {
		t.Fatal(err)
	}
	if counts, _ := s.CountDEKs(ctx); counts[2] != 2 {
		t.Errorf("CountDEKs after delete = %v, want map[2:2]", counts)
	}
	wantErr(t, "UpdateDEK(deleted object)", s.UpdateDEK(ctx, target.BlobID, append([]byte("v2-"), target.WrappedDEK...), []byte("x"), 3), meta.ErrConflict)
}

func testConcurrency(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustBucket(t, s, "b")
	const workers, each = 16, 20
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		errs     []error
		put      []string // version ids put on the shared key
		replaced []string // version ids reported replaced on the shared key
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fail := func(err error) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			for i := range each {
				o := newObject("b", fmt.Sprintf("w%02d/%03d", w, i), 1)
				if _, err := s.PutObject(ctx, o); err != nil {
					fail(err)
					return
				}
				shared := newObject("b", "shared", 1)
				old, err := s.PutObject(ctx, shared)
				if err != nil {
					fail(err)
					return
				}
				mu.Lock()
				put = append(put, shared.VersionID)
				if old != nil {
					replaced = append(replaced, old.VersionID)
				}
				mu.Unlock()
				if _, err := s.GetObject(ctx, "b", o.Key); err != nil {
					fail(err)
					return
				}
				if i%5 == 0 {
					if _, _, err := s.ListObjects(ctx, "b", meta.ListOptions{Prefix: fmt.Sprintf("w%02d/", w), Limit: 1000}); err != nil {
						fail(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d concurrent operations failed; first: %v", len(errs), errs[0])
	}
	objs, more, err := s.ListObjects(ctx, "b", meta.ListOptions{Limit: workers*each + 10})
	if err != nil || more || len(objs) != workers*each+1 {
		t.Fatalf("ListObjects after concurrent puts = %d objects, %v, %v; want %d", len(objs), more, err, workers*each+1)
	}
	// Every version of the shared key was replaced exactly once, except the
	// current one: the puts are linearizable.
	cur, err := s.GetObject(ctx, "b", "shared")
	if err != nil {
		t.Fatal(err)
	}
	all := append(slices.Clone(replaced), cur.VersionID)
	sort.Strings(all)
	sort.Strings(put)
	if !slices.Equal(all, put) {
		t.Errorf("replaced versions + current (%d) do not match the versions put (%d)", len(all), len(put))
	}
	if counts, _ := s.CountDEKs(ctx); counts[1] != int64(workers*each+1) {
		t.Errorf("CountDEKs = %v, want %d (one per live object; replaced DEKs destroyed)", counts, workers*each+1)
	}
}
