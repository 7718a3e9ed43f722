package vault

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/coffer-vault/coffer/internal/meta"
)

// listMeta is an in-memory meta.Store holding only what listing needs; the
// listing logic is tested against it quickly, and against SQLite in
// TestListObjectsModelSQLite. Methods it does not implement panic (nil
// embedded interface).
type listMeta struct {
	meta.Store
	bucket  string
	keys    []string // sorted
	uploads []meta.Upload
	calls   int
}

func (m *listMeta) GetBucket(_ context.Context, name string) (meta.Bucket, error) {
	if name != m.bucket {
		return meta.Bucket{}, meta.ErrNoSuchBucket
	}
	return meta.Bucket{Name: name}, nil
}

func (m *listMeta) ListObjects(_ context.Context, bucket string, o meta.ListOptions) ([]meta.Object, bool, error) {
	m.calls++
	if o.Limit < 1 {
		return nil, false, fmt.Errorf("limit %d", o.Limit)
	}
	var out []meta.Object
	for _, k := range m.keys {
		if k > o.After && strings.HasPrefix(k, o.Prefix) {
			if len(out) == o.Limit {
				return out, true, nil
			}
			out = append(out, meta.Object{Bucket: bucket, Key: k, Size: int64(len(k))})
		}
	}
	return out, false, nil
}

func (m *listMeta) ListUploads(_ context.Context, bucket string, o meta.UploadListOptions) ([]meta.Upload, bool, error) {
	m.calls++
	var out []meta.Upload
	for _, u := range m.uploads {
		after := u.Key > o.KeyMarker || o.UploadIDMarker != "" && u.Key == o.KeyMarker && u.ID > o.UploadIDMarker
		if after && strings.HasPrefix(u.Key, o.Prefix) {
			if len(out) == o.Limit {
				return out, true, nil
			}
			out = append(out, u)
		}
	}
	return out, false, nil
}

// entry is one listing entry: an object key or a common prefix.
type entry struct {
	name   string
	prefix bool
}

func (e entry) String() string {
	if e.prefix {
		return "P:" + e.name
	}
	return "K:" + e.name
}

// modelList is the brute-force listing: every key under prefix, rolled into
// common prefixes, deduplicated, strictly after after, in order.
func modelList(keys []string, prefix, delim, after string) []entry {
	seen := map[string]bool{}
	var out []entry
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		e := entry{name: k}
		if cp := commonPrefix(k, prefix, delim); cp != "" {
			e = entry{name: cp, prefix: true}
		}
		if seen[e.name] || e.name <= after {
			continue
		}
		seen[e.name] = true
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// resultEntries merges a page's objects and common prefixes in order.
func resultEntries(r ListResult) []entry {
	var out []entry
	for _, o := range r.Objects {
		out = append(out, entry{name: o.Key})
	}
	for _, p := range r.CommonPrefixes {
		out = append(out, entry{name: p, prefix: true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// randomKey draws a short key over an alphabet rich in delimiters.
func randomKey(rng *rand.Rand) string {
	alphabet := []string{"a", "b", "/", "-", "/", "é", "z"}
	var b strings.Builder
	for range 1 + rng.IntN(6) {
		b.WriteString(alphabet[rng.IntN(len(alphabet))])
	}
	return b.String()
}

// listCase draws random list parameters for keys.
func listCase(rng *rand.Rand, keys []string) (prefix, delim, after string, maxKeys int) {
	delims := []string{"", "/", "/", "-", "b/", "é"}
	delim = delims[rng.IntN(len(delims))]
	switch rng.IntN(3) {
	case 1:
		prefix = randomKey(rng)[:1]
	case 2:
		if len(keys) > 0 {
			k := keys[rng.IntN(len(keys))]
			prefix = k[:rng.IntN(len(k)+1)]
			if !strings.HasPrefix(k, prefix) || !validUTF8Prefix(prefix) {
				prefix = ""
			}
		}
	}
	switch rng.IntN(4) {
	case 1:
		after = randomKey(rng)
	case 2:
		if len(keys) > 0 {
			after = keys[rng.IntN(len(keys))]
		}
	case 3:
		if len(keys) > 0 {
			if cp := commonPrefix(keys[rng.IntN(len(keys))], prefix, delim); cp != "" {
				after = cp
			}
		}
	}
	return prefix, delim, after, 1 + rng.IntN(5)
}

func validUTF8Prefix(s string) bool { return strings.ToValidUTF8(s, "\x00") == s }

// checkListing pages through a listing and checks it against the model.
func checkListing(t *testing.T, s *Service, bucket string, keys []string, prefix, delim, after string, maxKeys int) {
	t.Helper()
	ctx := context.Background()
	want := modelList(keys, prefix, delim, after)
	desc := fmt.Sprintf("keys=%q prefix=%q delim=%q after=%q max=%d", keys, prefix, delim, after, maxKeys)

	var got []entry
	cursor := after
	for page := 0; ; page++ {
		if page > len(want)+2 {
			t.Fatalf("%s: listing does not end", desc)
		}
		res, err := s.ListObjects(ctx, bucket, ListParams{Prefix: prefix, Delimiter: delim, After: cursor, MaxKeys: maxKeys})
		if err != nil {
			t.Fatalf("%s: %v", desc, err)
		}
		es := resultEntries(res)
		if len(es) > maxKeys {
			t.Fatalf("%s: page has %d entries, max %d", desc, len(es), maxKeys)
		}
		// One page from an arbitrary cursor equals the model's slice.
		pageWant := modelList(keys, prefix, delim, cursor)
		wantTrunc := len(pageWant) > maxKeys
		pageWant = pageWant[:min(maxKeys, len(pageWant))]
		if !slices.Equal(es, pageWant) || res.IsTruncated != wantTrunc {
			t.Fatalf("%s: page after %q = %v truncated=%v, want %v truncated=%v", desc, cursor, es, res.IsTruncated, pageWant, wantTrunc)
		}
		if len(es) > 0 && res.NextAfter != es[len(es)-1].name {
			t.Fatalf("%s: NextAfter = %q, want %q", desc, res.NextAfter, es[len(es)-1].name)
		}
		got = append(got, es...)
		if !res.IsTruncated {
			break
		}
		cursor = res.NextAfter
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: paged listing = %v, want %v", desc, got, want)
	}
}

// TestListObjectsModel is a property test: on random key sets and random
// parameters, paging with NextAfter returns exactly the brute-force model,
// every entry once, with page boundaries anywhere (inside common prefixes too).
func TestListObjectsModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	m := &listMeta{bucket: "bucket"}
	s := New(Config{Meta: m})
	for range 3000 {
		keys := map[string]bool{}
		for range rng.IntN(30) {
			keys[randomKey(rng)] = true
		}
		m.keys = slices.Sorted(func(yield func(string) bool) {
			for k := range keys {
				if !yield(k) {
					return
				}
			}
		})
		prefix, delim, after, maxKeys := listCase(rng, m.keys)
		checkListing(t, s, "bucket", m.keys, prefix, delim, after, maxKeys)
	}
}

func TestListObjectsEdges(t *testing.T) {
	ctx := context.Background()
	m := &listMeta{bucket: "bucket", keys: []string{"a/1", "a/2", "b", "c/x/1", "c/y"}}
	s := New(Config{Meta: m})

	// MaxKeys 0 returns nothing but says whether entries exist.
	res, err := s.ListObjects(ctx, "bucket", ListParams{MaxKeys: 0})
	if err != nil || len(res.Objects)+len(res.CommonPrefixes) != 0 || !res.IsTruncated {
		t.Fatalf("MaxKeys 0 = %+v, %v; want empty and truncated", res, err)
	}
	res, err = s.ListObjects(ctx, "bucket", ListParams{MaxKeys: 0, After: "c/y"})
	if err != nil || res.IsTruncated {
		t.Fatalf("MaxKeys 0 past the end = %+v, %v; want not truncated", res, err)
	}
	// A common prefix with many keys costs few store calls.
	m.keys = nil
	for i := range 5000 {
		m.keys = append(m.keys, fmt.Sprintf("big/%05d", i))
	}
	m.keys = append(m.keys, "z")
	m.calls = 0
	res, err = s.ListObjects(ctx, "bucket", ListParams{Delimiter: "/", MaxKeys: 1000})
	if err != nil || !slices.Equal(res.CommonPrefixes, []string{"big/"}) || len(res.Objects) != 1 || res.IsTruncated {
		t.Fatalf("big prefix = %+v, %v", res, err)
	}
	if m.calls > 3 {
		t.Errorf("listing one large common prefix took %d store calls", m.calls)
	}
	// Bad input.
	for _, p := range []ListParams{{MaxKeys: -1}, {Prefix: strings.Repeat("p", MaxKeyLen+1), MaxKeys: 1}} {
		if _, err := s.ListObjects(ctx, "bucket", p); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ListObjects(%+v) = %v, want ErrInvalidArgument", p, err)
		}
	}
	if _, err := s.ListObjects(ctx, "Bad_Bucket", ListParams{MaxKeys: 1}); !errors.Is(err, ErrInvalidBucketName) {
		t.Errorf("bad bucket: %v", err)
	}
	if _, err := s.ListObjects(ctx, "other", ListParams{MaxKeys: 1}); !errors.Is(err, ErrNoSuchBucket) {
		t.Errorf("missing bucket: %v", err)
	}
	// MaxKeys above 1000 is capped.
	res, err = s.ListObjects(ctx, "bucket", ListParams{MaxKeys: 5000})
	if err != nil || len(res.Objects) != maxListKeys || !res.IsTruncated {
		t.Fatalf("MaxKeys 5000 gave %d objects, truncated=%v, %v", len(res.Objects), res.IsTruncated, err)
	}
}

// modelUploads is the brute-force multipart upload listing.
func modelUploads(ups []meta.Upload, prefix, delim, keyMarker, idMarker string) []entry {
	seen := map[string]bool{}
	var out []entry
	for _, u := range ups {
		if !strings.HasPrefix(u.Key, prefix) {
			continue
		}
		if cp := commonPrefix(u.Key, prefix, delim); cp != "" {
			if !seen[cp] && cp > keyMarker {
				seen[cp] = true
				out = append(out, entry{name: cp, prefix: true})
			}
			continue
		}
		if u.Key > keyMarker || idMarker != "" && u.Key == keyMarker && u.ID > idMarker {
			out = append(out, entry{name: u.Key + "#" + u.ID})
		}
	}
	return out
}

func TestListMultipartUploadsModel(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	m := &listMeta{bucket: "bucket"}
	s := New(Config{Meta: m})
	for range 1500 {
		m.uploads = nil
		for range rng.IntN(25) {
			m.uploads = append(m.uploads, meta.Upload{Key: randomKey(rng), ID: fmt.Sprintf("%032x", rng.IntN(4))})
		}
		slices.SortFunc(m.uploads, func(a, b meta.Upload) int {
			return strings.Compare(a.Key+"\x00"+a.ID, b.Key+"\x00"+b.ID)
		})
		m.uploads = slices.CompactFunc(m.uploads, func(a, b meta.Upload) bool { return a.Key == b.Key && a.ID == b.ID })
		var keys []string
		for _, u := range m.uploads {
			keys = append(keys, u.Key)
		}
		prefix, delim, keyMarker, maxUploads := listCase(rng, keys)
		idMarker := ""
		if keyMarker != "" && rng.IntN(2) == 0 {
			idMarker = fmt.Sprintf("%032x", rng.IntN(4))
		}
		want := modelUploads(m.uploads, prefix, delim, keyMarker, idMarker)
		var got []entry
		km, im := keyMarker, idMarker
		for page := 0; ; page++ {
			if page > len(want)+2 {
				t.Fatal("upload listing does not end")
			}
			res, err := s.ListMultipartUploads(ctx, "bucket", UploadsParams{Prefix: prefix, Delimiter: delim, KeyMarker: km, UploadIDMarker: im, MaxUploads: maxUploads})
			if err != nil {
				t.Fatal(err)
			}
			var es []entry
			for _, u := range res.Uploads {
				es = append(es, entry{name: u.Key + "#" + u.UploadID})
			}
			for _, p := range res.CommonPrefixes {
				es = append(es, entry{name: p, prefix: true})
			}
			if len(es) > maxUploads {
				t.Fatalf("page of %d > %d", len(es), maxUploads)
			}
			got = append(got, es...)
			if !res.IsTruncated {
				break
			}
			km, im = res.NextKeyMarker, res.NextUploadIDMarker
		}
		sortEntries := func(es []entry) {
			sort.Slice(es, func(i, j int) bool { return es[i].name < es[j].name })
		}
		sortEntries(got)
		sortEntries(want)
		if !slices.Equal(got, want) {
			t.Fatalf("uploads=%v prefix=%q delim=%q markers=%q/%q max=%d:\n got %v\nwant %v",
				m.uploads, prefix, delim, keyMarker, idMarker, maxUploads, got, want)
		}
	}
}
