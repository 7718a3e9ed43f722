package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func genSmall(t *testing.T, seed uint64) (dir string, items []Item) {
	t.Helper()
	root := t.TempDir()
	dir = filepath.Join(root, "corpus")
	man := filepath.Join(root, "manifest.jsonl")
	if _, err := generate(genOptions{Dir: dir, Manifest: man, Size: 6 << 20, Seed: seed}); err != nil {
		t.Fatal(err)
	}
	items, err := readManifest(man)
	if err != nil {
		t.Fatal(err)
	}
	return dir, items
}

// TestManifestPointsAtValues: every manifest line names a file and line
// that holds the planted value, and lines hold at most one planted value.
func TestManifestPointsAtValues(t *testing.T) {
	dir, items := genSmall(t, 7)
	if len(items) < 30 {
		t.Fatalf("only %d items planted in 6 MiB", len(items))
	}
	files := map[string][]string{}
	seen := map[lineKey]bool{}
	classes := map[string]int{}
	for _, it := range items {
		lines, ok := files[it.File]
		if !ok {
			b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(it.File)))
			if err != nil {
				t.Fatal(err)
			}
			lines = strings.Split(string(b), "\n")
			files[it.File] = lines
		}
		if it.Line < 1 || it.Line > len(lines) || !strings.Contains(lines[it.Line-1], it.Value) {
			t.Errorf("%s:%d does not hold %s %q", it.File, it.Line, it.Type, it.Value)
		}
		k := lineKey{it.File, it.Line}
		if seen[k] {
			t.Errorf("%s:%d: two planted values on one line", it.File, it.Line)
		}
		seen[k] = true
		classes[it.Class]++
	}
	for _, c := range []string{"secret", "pii", "decoy"} {
		if classes[c] == 0 {
			t.Errorf("no %s planted", c)
		}
	}
}

func digitsOf(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= '0' && c <= '9' || c == 'X' {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// TestCheckDigits: planted personal data passes its check digit, and the
// check-digit decoys fail theirs.
func TestCheckDigits(t *testing.T) {
	_, items := genSmall(t, 11)
	counts := map[string]int{}
	for _, it := range items {
		var ok, want bool
		switch it.Type {
		case "card", "decoy:card_bad_luhn":
			ok, want = luhnValid(digitsOf(it.Value)), it.Type == "card"
		case "iban", "decoy:iban_bad_check":
			ok, want = ibanMod97(strings.ReplaceAll(it.Value, " ", "")) == 1, it.Type == "iban"
		case "cn_resident_id", "decoy:cn_id_bad_check":
			ok, want = len(it.Value) == 18 && cnCheck(it.Value[:17]) == it.Value[17], it.Type == "cn_resident_id"
		default:
			continue
		}
		counts[it.Type]++
		if ok != want {
			t.Errorf("%s %q: check passes = %v", it.Type, it.Value, ok)
		}
	}
	for _, typ := range []string{"card", "iban", "cn_resident_id"} {
		if counts[typ] == 0 {
			t.Errorf("no %s planted", typ)
		}
	}
	// Known answers: a published test card and IBAN.
	if !luhnValid("4111111111111111") || luhnValid("4111111111111112") {
		t.Error("luhn")
	}
	if ibanMod97("GB82WEST12345698765432") != 1 || ibanMod97("GB83WEST12345698765432") == 1 {
		t.Error("iban mod 97")
	}
	if cnCheck("11010519491231002") != 'X' {
		t.Error("GB 11643 check character")
	}
}

// TestDeterministic: the same seed gives the same corpus.
func TestDeterministic(t *testing.T) {
	_, a := genSmall(t, 3)
	_, b := genSmall(t, 3)
	if len(a) != len(b) {
		t.Fatalf("%d items, then %d", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("item %d differs: %+v, %+v", i, a[i], b[i])
		}
	}
}

// TestScoreClass: findings count once per line, findings of the other
// class or on unplanted lines are false positives.
func TestScoreClass(t *testing.T) {
	items := []Item{
		{File: "a", Line: 1, Class: "secret", Type: "aws_access_key"},
		{File: "a", Line: 2, Class: "secret", Type: "jwt"},
		{File: "a", Line: 3, Class: "pii", Type: "email"},
		{File: "a", Line: 4, Class: "decoy", Type: "decoy:uuid"},
	}
	fs := []finding{
		{file: "a", line: 1, kind: "secret:aws"},
		{file: "a", line: 1, kind: "secret:generic"}, // same line: once
		{file: "a", line: 3, kind: "secret:generic"}, // a pii line: false
		{file: "a", line: 4, kind: "secret:generic"}, // a decoy: false
		{file: "a", line: 3, kind: "pii:email"},
	}
	isSecret := func(f finding) bool { return strings.HasPrefix(f.kind, "secret:") }
	s := scoreClass("t", "secret", items, fs, isSecret)
	if s.Planted != 2 || s.Found != 1 || s.Lines != 3 || s.TrueLines != 1 || s.Decoys != 1 || s.Missed["jwt"] != 1 {
		t.Errorf("secret score %+v", s)
	}
	p := scoreClass("t", "pii", items, fs, func(f finding) bool { return strings.HasPrefix(f.kind, "pii:") })
	if p.Recall != 1 || p.Precision != 1 {
		t.Errorf("pii score %+v", p)
	}
}
