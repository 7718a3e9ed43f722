package scan

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func ruleByID(cfg Config, id string) *Rule {
	for i := range cfg.Rules {
		if cfg.Rules[i].ID == id {
			return &cfg.Rules[i]
		}
	}
	return nil
}

func TestLoadConfigMerge(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "coffer-scan.toml")
	const file = `
# Our own token format, a rule turned off, and a rule tuned.
disabled = ["pii-ipv4", "pii-email"]
min_confidence = "POSSIBLE"

[allowlist]
paths = ["third_party/**", "**/testdata/*"]
values = ["acme_live_0000000000000000"]

[[rules]]
id = "acme-api-token"
type = "secret:acme_token"
description = "Acme internal API token"
keywords = ["acme_live_"]
regex = '''acme_live_[0-9a-f]{24}'''
confidence = "VERY_LIKELY"

[[rules]]
id = "pii-cn-passport"
confidence = "POSSIBLE"

[[rules]]
id = "github-pat"
[rules.allowlist]
values = ["ghp_AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHH1111"]
`
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	def := DefaultConfig()
	if len(cfg.Rules) != len(def.Rules)+1 {
		t.Errorf("%d rules, want %d", len(cfg.Rules), len(def.Rules)+1)
	}
	if r := ruleByID(cfg, "pii-cn-passport"); r.Confidence != Possible || r.Detector != "cn-passport" || len(r.Context) == 0 {
		t.Errorf("override lost fields: %+v", r)
	}
	if r := ruleByID(cfg, "github-pat"); r.Regex != ruleByID(def, "github-pat").Regex || len(r.Allowlist.Values) != 1 {
		t.Errorf("github-pat after merge: %+v", r)
	}
	if cfg.MinConfidence != Possible {
		t.Errorf("min confidence %v", cfg.MinConfidence)
	}
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := newGen(12)
	acme := "acme_live_" + g.s(24, setHex)
	text := strings.Join([]string{
		"token " + acme,
		"ip 8.8.8.8 mail ops@acme-corp.io",
		"passport E12345678",
		"passport again G12345678 and " + "AKIA" + g.s(16, setUpper),
		"ghp_AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHH1111",
	}, "\n") + "\n"
	got := map[string]Confidence{}
	for _, f := range scanString(e, text, "src/main.go") {
		got[f.Rule] = f.Confidence
	}
	want := map[string]Confidence{"acme-api-token": VeryLikely, "pii-cn-passport": Likely, "aws-access-key-id": Likely}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for id, c := range want {
		if got[id] != c {
			t.Errorf("%s: %v, want %v", id, got[id], c)
		}
	}
	if fs := scanString(e, text, "third_party/x/y.go"); len(fs) != 0 {
		t.Errorf("allowlisted path: %v", rulesOf(fs))
	}
}

func TestConfigReplace(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
extend = false
[[rules]]
id = "only"
type = "secret:only"
keywords = ["only_"]
regex = 'only_[a-z]{8}'
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Rules) != 1 {
		t.Fatalf("%d rules", len(cfg.Rules))
	}
	e, _ := NewEngine(cfg)
	fs := scanString(e, "only_qwertyui AKIA"+newGen(1).s(16, setUpper)+" 13812345678\n", "a")
	if len(fs) != 1 || fs[0].Rule != "only" || fs[0].Confidence != Likely {
		t.Errorf("got %v", rulesOf(fs))
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct{ name, file, want string }{
		{"not toml", "this is [not", "toml"},
		{"unknown key", "colour = 1", "unknown keys: colour"},
		{"unknown rule key", "[[rules]]\nid = \"x\"\nkeyword = [\"a\"]", "unknown keys"},
		{"bad regex", "[[rules]]\nid = \"x\"\ntype = \"secret:x\"\nkeywords = [\"a\"]\nregex = \"a(\"", "rule x"},
		{"no keywords", "[[rules]]\nid = \"x\"\ntype = \"secret:x\"\nregex = \"abc\"", "no keywords"},
		{"no type", "[[rules]]\nid = \"x\"\nkeywords = [\"a\"]\nregex = \"abc\"", "no type"},
		{"no id", "[[rules]]\ntype = \"secret:x\"\nkeywords = [\"a\"]\nregex = \"abc\"", "without an id"},
		{"disable unknown", "disabled = [\"no-such-rule\"]", "no-such-rule"},
		{"bad confidence", "min_confidence = \"HIGHISH\"", "confidence"},
		{"bad detector", "[[rules]]\nid = \"x\"\ntype = \"pii:x\"\ndetector = \"dna\"", "unknown detector"},
		{"bad validate", "[[rules]]\nid = \"x\"\ntype = \"secret:x\"\nkeywords = [\"a\"]\nregex = \"abc\"\nvalidate = \"magic\"", "unknown validate"},
		{"bad allowlist regex", "[allowlist]\nregexes = [\"(\"]", "allowlist"},
		{"bad path glob", "[allowlist]\npaths = [\"[\"]", "allowlist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.file))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "missing.toml")); err == nil {
		t.Error("missing file did not fail")
	}
	// A file past the bound is refused before it is parsed (a valid TOML
	// comment, so only the bound can fail it).
	big := filepath.Join(t.TempDir(), "big.toml")
	if err := os.WriteFile(big, append([]byte("#"), bytes.Repeat([]byte("x"), maxConfigFile)...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized config: error %v", err)
	}
}

// TestRulesFiles loads every testdata/rules_*.toml example config.
func TestRulesFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/rules_*.toml")
	if len(files) == 0 {
		t.Fatal("no testdata/rules_*.toml")
	}
	for _, f := range files {
		if _, err := LoadConfig(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestDocsListRules keeps docs/scan-rules.md in step with the rules.
func TestDocsListRules(t *testing.T) {
	doc, err := os.ReadFile("../../docs/scan-rules.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range DefaultConfig().Rules {
		if !strings.Contains(string(doc), "`"+r.ID+"`") {
			t.Errorf("docs/scan-rules.md does not list %s", r.ID)
		}
	}
}
