package scan

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestConfidenceStrings(t *testing.T) {
	for c := VeryUnlikely; c <= VeryLikely; c++ {
		got, err := ParseConfidence(strings.ToLower(strings.ReplaceAll(c.String(), "_", "-")))
		if err != nil || got != c {
			t.Errorf("ParseConfidence(%s) = %v, %v", c, got, err)
		}
	}
	if VeryLikely.String() != "VERY_LIKELY" || Unlikely.String() != "UNLIKELY" {
		t.Errorf("names: %s %s", VeryLikely, Unlikely)
	}
	if _, err := ParseConfidence("high"); err == nil {
		t.Error("ParseConfidence(high) did not fail")
	}
}

func TestLocation(t *testing.T) {
	e := defaultEngine(t)
	key := "AKIA" + newGen(1).s(16, setUpper)
	text := "first line\nsecond\n\tkey = " + key + "\n"
	base := Location{Path: "p", Archive: "a.zip!b.env", Commit: "c0ffee", Author: "A", Date: "2024-01-01T00:00:00Z", Layer: "sha256:1", Image: "img"}
	// As if the chunk started at byte 1000 of the stream, after 7 lines.
	withBase := base
	withBase.Line = 7
	fs := e.ScanChunk([]byte(text), 1000, withBase)
	f := findRule(fs, "aws-access-key-id")
	if f == nil {
		t.Fatalf("not found: %v", rulesOf(fs))
	}
	off := int64(strings.Index(text, key))
	want := base
	want.Line, want.Column, want.Start, want.End = 10, 8, 1000+off, 1000+off+20
	if f.Location != want {
		t.Errorf("location %+v, want %+v", f.Location, want)
	}
	if f.Value != key || f.Masked != key[:4]+strings.Repeat("*", 12)+key[16:] {
		t.Errorf("value %q masked %q", f.Value, f.Masked)
	}
	if f.Description == "" || f.Fingerprint == "" {
		t.Errorf("description %q fingerprint %q", f.Description, f.Fingerprint)
	}
}

func TestFingerprint(t *testing.T) {
	e := defaultEngine(t)
	key := "ghp_" + newGen(2).s(36, setAlnum)
	fp := func(text, path string) string {
		fs := scanString(e, text, path)
		if len(fs) != 1 {
			t.Fatalf("%d findings in %q", len(fs), text)
		}
		return fs[0].Fingerprint
	}
	a := fp("token "+key+"\n", "a.env")
	if b := fp("\n\n\nx\ntoken "+key+"\n", "a.env"); b != a {
		t.Error("fingerprint changed when the line moved")
	}
	if b := fp("token "+key+"\n", "b.env"); b == a {
		t.Error("fingerprint did not change with the path")
	}
	if b := fp("token ghp_"+newGen(3).s(36, setAlnum)+"\n", "a.env"); b == a {
		t.Error("fingerprint did not change with the value")
	}
}

func TestInlineAllow(t *testing.T) {
	e := defaultEngine(t)
	key := "AKIA" + newGen(5).s(16, setUpper)
	tests := []struct {
		text string
		want int
	}{
		{"key = " + key + " # coffer:allow\n", 0},
		{"key = " + key + " // coffer:allow rotated 2024-01\n", 0},
		{"/* coffer:allow */ key = " + key + "\n", 0},
		{"# coffer:allow\nkey = " + key + "\n", 1},
		{"key = " + key + "\n# coffer:allow\n", 1},
		{"key = " + key + "\n", 1},
	}
	for _, tt := range tests {
		if got := len(scanString(e, tt.text, "a.env")); got != tt.want {
			t.Errorf("%q: %d findings, want %d", tt.text, got, tt.want)
		}
	}
}

func TestAllowlists(t *testing.T) {
	g := newGen(6)
	key := "AKIA" + g.s(16, setUpper)
	tok := "ghp_" + g.s(36, setAlnum)
	text := "a " + key + "\nb " + tok + "\n"
	tests := []struct {
		name  string
		allow Allowlist
		rule  string // rule whose allowlist is set; "" for the global one
		path  string
		want  []string
	}{
		{"none", Allowlist{}, "", "src/a.env", []string{"aws-access-key-id", "github-pat"}},
		{"path glob", Allowlist{Paths: []string{"src/*.env"}}, "", "src/a.env", nil},
		{"path glob no match", Allowlist{Paths: []string{"lib/*.env"}}, "", "src/a.env", []string{"aws-access-key-id", "github-pat"}},
		{"path doublestar", Allowlist{Paths: []string{"**/fixtures/*"}}, "", "x/y/fixtures/a.env", nil},
		{"base name glob", Allowlist{Paths: []string{"*.env"}}, "", "deep/dir/a.env", nil},
		{"path regex", Allowlist{PathRes: []string{`^src/.*\.env$`}}, "", "src/a.env", nil},
		{"value", Allowlist{Values: []string{key}}, "", "src/a.env", []string{"github-pat"}},
		{"value regex", Allowlist{Regexes: []string{`^ghp_`}}, "", "src/a.env", []string{"aws-access-key-id"}},
		{"stopword", Allowlist{StopWords: []string{strings.ToLower(key[4:10])}}, "", "src/a.env", []string{"github-pat"}},
		{"per-rule path", Allowlist{Paths: []string{"src/*"}}, "github-pat", "src/a.env", []string{"aws-access-key-id"}},
		{"per-rule value of another rule", Allowlist{Values: []string{key}}, "github-pat", "src/a.env", []string{"aws-access-key-id", "github-pat"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tt.rule == "" {
				cfg.Allowlist = cfg.Allowlist.merge(tt.allow)
			} else {
				for i := range cfg.Rules {
					if cfg.Rules[i].ID == tt.rule {
						cfg.Rules[i].Allowlist = tt.allow
					}
				}
			}
			e, err := NewEngine(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range scanString(e, text, tt.path) {
				got = append(got, f.Rule)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	// The inner path of an archive is matched too.
	cfg := DefaultConfig()
	cfg.Allowlist.Paths = []string{"**/vendor/**", "vendor/*"}
	e, _ := NewEngine(cfg)
	if fs := e.ScanChunk([]byte(text), 0, Location{Path: "app.zip", Archive: "app.zip!vendor/a.env"}); len(fs) != 0 {
		t.Errorf("archive inner path not allowlisted: %v", rulesOf(fs))
	}
}

func TestSpecificBeatsGeneric(t *testing.T) {
	e := defaultEngine(t)
	tok := "ghp_" + newGen(8).s(36, setAlnum)
	fs := scanString(e, `GITHUB_TOKEN = "`+tok+`"`+"\n", "a.env")
	if len(fs) != 1 || fs[0].Rule != "github-pat" {
		t.Errorf("got %v, want github-pat only", rulesOf(fs))
	}
}

// TestChunkBoundaries scans a stream in overlapping chunks at many chunk
// sizes, keeping the findings each chunk owns (Owns), and checks the
// result equals one scan of the whole stream: every finding once, at the
// same place.
func TestChunkBoundaries(t *testing.T) {
	e := defaultEngine(t)
	samples := secretSamples(t)
	ids := make([]string, 0, len(samples))
	for id := range samples {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	g := newGen(11)
	var sb strings.Builder
	for i, id := range ids[:60] {
		sb.WriteString(g.s(g.r.IntN(300), "abcdefghij klmnop\n"))
		sb.WriteString("\n" + samples[id] + "\n")
		if i%3 == 0 {
			sb.WriteString("身份证号 " + withGB11643("11010519850612123") + " card " + withLuhn("453201511283036") + "\n")
		}
	}
	stream := []byte(sb.String())
	key := func(f Finding) string {
		return fmt.Sprintf("%s@%d-%d:%d:%d", f.Rule, f.Location.Start, f.Location.End, f.Location.Line, f.Location.Column)
	}
	var want []string
	for _, f := range e.ScanChunk(stream, 0, Location{Path: "s"}) {
		want = append(want, key(f))
	}
	if len(want) < 60 {
		t.Fatalf("only %d findings in the whole stream", len(want))
	}
	const overlap = 2 * MaxMatchLen
	for _, size := range []int{overlap + 1, overlap + 777, 3 * overlap, 10000, 32768} {
		var got []string
		var base int64
		lines := 0
		for first := true; ; first = false {
			end := min(len(stream), int(base)+size)
			chunk := stream[base:end]
			last := end == len(stream)
			loc := Location{Path: "s", Line: lines}
			for _, f := range e.ScanChunk(chunk, base, loc) {
				if Owns(f.Location.Start, base, len(chunk), overlap, first, last) {
					got = append(got, key(f))
				}
			}
			if last {
				break
			}
			next := base + int64(size-overlap)
			lines += strings.Count(string(stream[base:next]), "\n")
			base = next
		}
		slices.Sort(got)
		w := slices.Clone(want)
		slices.Sort(w)
		if !slices.Equal(got, w) {
			t.Errorf("chunk size %d: %d findings, want %d\nmissing %v\nextra %v", size, len(got), len(w), diff(w, got), diff(got, w))
		}
	}
}

func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func TestConcurrentScans(t *testing.T) {
	e := defaultEngine(t)
	samples := secretSamples(t)
	var wg sync.WaitGroup
	for id, text := range samples {
		wg.Go(func() {
			for range 3 {
				if findRule(scanString(e, "\n"+text+"\n", "a.env"), id) == nil {
					t.Errorf("%s not found concurrently", id)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestMask(t *testing.T) {
	tests := []struct{ in, want string }{
		{"AKIAIOSFODNN7EXAMPLE", "AKIA************MPLE"},
		{"abc", "***"},
		{"abcdefghij", "ab******ij"},
		{"", ""},
		{"line1\nline2 and more text", "line*****************text"},
		{"张三李四王五赵六钱七孙八", "张三********孙八"},
	}
	for _, tt := range tests {
		if got := Mask(tt.in); got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	long := strings.Repeat("k", 3000)
	if m := Mask(long); len(m) > 48 || strings.Contains(m, long) {
		t.Errorf("Mask(long) = %d bytes", len(m))
	}
}

func TestEntropy(t *testing.T) {
	if h := entropy([]byte("aaaaaaaa")); h != 0 {
		t.Errorf("entropy(aaaaaaaa) = %v", h)
	}
	if h := entropy([]byte("0123456789abcdef")); h != 4 {
		t.Errorf("entropy(16 distinct) = %v", h)
	}
}
