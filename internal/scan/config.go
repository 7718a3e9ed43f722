package scan

// Configuration: the rule set and allowlists an Engine is compiled from.
// DefaultConfig is the embedded rule set (rules.go, pii.go); LoadConfig
// merges a user's TOML file over it. The file format is documented in
// docs/scan-rules.md.

import (
	"fmt"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// Config is what an Engine is compiled from. The zero value has no rules;
// start from DefaultConfig.
type Config struct {
	// Rules are the detectors, in order. IDs are unique.
	Rules []Rule `toml:"rules"`
	// Disabled lists rule ids that are not run.
	Disabled []string `toml:"disabled"`
	// Allowlist suppresses findings of every rule.
	Allowlist Allowlist `toml:"allowlist"`
	// MinConfidence drops findings below it after context is applied
	// (default UNLIKELY: VERY_UNLIKELY findings, such as documented example
	// keys, are never reported).
	MinConfidence Confidence `toml:"min_confidence"`
	// ContextWindow is how many bytes either side of a match are searched
	// for context words and test-data tells (default 80).
	ContextWindow int `toml:"context_window"`
}

// Rule is one detector. A rule is either a regular expression run near
// its keywords, or one of the built-in validating detectors (Detector set,
// see pii.go), which then ignores Regex.
type Rule struct {
	ID          string `toml:"id"`          // kebab-case, unique: "aws-access-key-id"
	Type        string `toml:"type"`        // label: "secret:aws_access_key"
	Description string `toml:"description"` // one line for humans
	// Keywords (case-insensitive) trigger the rule: Regex runs only in a
	// window around a keyword hit. Every regex rule needs at least one.
	Keywords []string `toml:"keywords"`
	// Regex is an RE2 expression. The reported value is the submatch
	// named "secret" if there is one, else submatch 1 if there is one,
	// else the whole match.
	Regex string `toml:"regex"`
	// Entropy is the minimum Shannon entropy of the value, in bits per
	// byte; 0 means no check.
	Entropy float64 `toml:"entropy"`
	// Confidence is the base confidence of a match (default LIKELY).
	Confidence Confidence `toml:"confidence"`
	// Context lists words that raise the confidence by one level when
	// they appear near the match (case-insensitive).
	Context []string `toml:"context"`
	// Validate names a built-in check of the value ("jwt", "luhn",
	// "base64-key", ...; see docs/scan-rules.md). A value that fails it is
	// not a finding.
	Validate string `toml:"validate"`
	// Detector names a built-in validating detector ("payment-card",
	// "cn-resident-id", ...). Keywords, Regex and Validate are then unused.
	Detector string `toml:"detector"`
	// Window is how far (bytes) after a keyword hit the regex may reach;
	// the window also reaches back to the start of the line, at most 256
	// bytes. Default 256; at most MaxMatchLen.
	Window int `toml:"window"`
	// Allowlist suppresses findings of this rule only.
	Allowlist Allowlist `toml:"allowlist"`
}

// Allowlist suppresses findings. A finding is suppressed when any entry
// matches.
type Allowlist struct {
	// Paths are globs matched against Location.Path and the innermost
	// archive path: '*', '?' and "[...]" within a path element, "**"
	// across elements; a glob without '/' also matches any base name.
	Paths   []string `toml:"paths"`
	PathRes []string `toml:"path_regexes"`
	Values  []string `toml:"values"`  // exact values
	Regexes []string `toml:"regexes"` // RE2 on the value
	// StopWords suppress a value that contains one of them
	// (case-insensitive).
	StopWords []string `toml:"stopwords"`
}

func (a Allowlist) merge(b Allowlist) Allowlist {
	return Allowlist{
		Paths:     append(slices.Clone(a.Paths), b.Paths...),
		PathRes:   append(slices.Clone(a.PathRes), b.PathRes...),
		Values:    append(slices.Clone(a.Values), b.Values...),
		Regexes:   append(slices.Clone(a.Regexes), b.Regexes...),
		StopWords: append(slices.Clone(a.StopWords), b.StopWords...),
	}
}

// DefaultConfig returns the embedded rule set: the secret rules of
// rules.go and the personal-data detectors of pii.go. Each call returns a
// fresh copy the caller may change.
func DefaultConfig() Config {
	rules := defaultSecretRules()
	rules = append(rules, defaultPIIRules()...)
	return Config{
		Rules:         rules,
		Allowlist:     defaultAllowlist(),
		MinConfidence: Unlikely,
		ContextWindow: 80,
	}
}

// maxConfigFile bounds the configuration file.
const maxConfigFile = 4 << 20

// userConfig is the file format: a Config plus how it combines with the
// defaults.
type userConfig struct {
	// Extend (default true) merges the file over DefaultConfig; false
	// replaces the default rules.
	Extend *bool `toml:"extend"`
	Config
}

// LoadConfig reads the TOML file at path and merges it over the defaults:
// a rule whose id is a default rule's replaces the fields it sets, a new
// id adds a rule, ids in disabled are turned off, and allowlists are
// added to. With extend = false the file's rules replace the defaults.
func LoadConfig(path string) (Config, error) {
	b, err := readFileMax(path, maxConfigFile)
	if err != nil {
		return Config{}, fmt.Errorf("scan config: %w", err)
	}
	cfg, err := ParseConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("scan config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig is LoadConfig on the bytes of a file.
func ParseConfig(b []byte) (Config, error) {
	var u userConfig
	md, err := toml.Decode(string(b), &u)
	if err != nil {
		return Config{}, err
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return Config{}, fmt.Errorf("unknown keys: %s", strings.Join(keys, ", "))
	}
	base := DefaultConfig()
	if u.Extend != nil && !*u.Extend {
		base.Rules = nil
		base.Allowlist = Allowlist{}
	}
	cfg := Merge(base, u.Config, md)
	// Catch errors now, not at NewEngine.
	if _, err := NewEngine(cfg); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// takeIf sets *dst to v when ok.
func takeIf[T any](dst *T, v T, ok bool) {
	if ok {
		*dst = v
	}
}

// Merge returns base with over applied: rules with a known id are
// overridden field by field (a field is taken from over when it is set:
// non-empty, or listed in md when md is not nil), new rules are appended,
// disabled ids and allowlists are added to, and MinConfidence and
// ContextWindow replace the base when set.
func Merge(base, over Config, md ...toml.MetaData) Config {
	out := base
	out.Rules = slices.Clone(base.Rules)
	index := make(map[string]int, len(out.Rules))
	for i, r := range out.Rules {
		index[r.ID] = i
	}
	for n, r := range over.Rules {
		i, ok := index[r.ID]
		if !ok {
			index[r.ID] = len(out.Rules)
			out.Rules = append(out.Rules, r)
			continue
		}
		isSet := func(key string, nonzero bool) bool {
			if nonzero {
				return true
			}
			for _, m := range md {
				if m.IsDefined("rules", fmt.Sprint(n), key) {
					return true
				}
			}
			return false
		}
		o := &out.Rules[i]
		takeIf(&o.Type, r.Type, isSet("type", r.Type != ""))
		takeIf(&o.Description, r.Description, isSet("description", r.Description != ""))
		takeIf(&o.Keywords, r.Keywords, isSet("keywords", len(r.Keywords) > 0))
		takeIf(&o.Regex, r.Regex, isSet("regex", r.Regex != ""))
		takeIf(&o.Entropy, r.Entropy, isSet("entropy", r.Entropy != 0))
		takeIf(&o.Confidence, r.Confidence, isSet("confidence", r.Confidence != 0))
		takeIf(&o.Context, r.Context, isSet("context", len(r.Context) > 0))
		takeIf(&o.Validate, r.Validate, isSet("validate", r.Validate != ""))
		takeIf(&o.Window, r.Window, isSet("window", r.Window != 0))
		o.Allowlist = o.Allowlist.merge(r.Allowlist)
	}
	out.Disabled = append(slices.Clone(base.Disabled), over.Disabled...)
	out.Allowlist = base.Allowlist.merge(over.Allowlist)
	if over.MinConfidence != 0 {
		out.MinConfidence = over.MinConfidence
	}
	if over.ContextWindow != 0 {
		out.ContextWindow = over.ContextWindow
	}
	return out
}
