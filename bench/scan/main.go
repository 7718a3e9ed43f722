// Command scanbench is the corpus generator and scorer of the scan
// benchmark (bench/scan.sh): Coffer's `coffer scan` against gitleaks.
//
//	scanbench gen   -out DIR -manifest FILE [-size 1GiB] [-seed 1]
//	scanbench score -manifest FILE -root DIR -gitleaks REPORT.json -coffer REPORT.json
//
// gen writes a corpus of source code, logs, CSV, JSON and config files with
// secrets (cloud keys, tokens, private keys, JWTs, database URLs,
// passwords), personal data (payment cards with a valid Luhn digit, IBANs,
// Chinese resident ids with a valid check character, e-mail addresses,
// phone numbers) and decoys (documented example keys, near misses, UUIDs,
// hashes, placeholders, numbers failing their check digit), and a manifest
// with one JSON line per planted value: file, line, class, type, value.
//
// score reads both tools' JSON reports and reports, per tool, recall and
// precision against the manifest, by line: a finding counts for the
// planted value on its (file, line). gitleaks is scored on secrets; Coffer
// on secrets (findings typed "secret:...") and, separately, on personal
// data ("pii:..."). Several findings on one line count once. A finding on
// a line where nothing of its class was planted is a false positive
// (decoy lines are counted separately to show which decoys fooled whom).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = cmdGen(os.Args[2:])
	case "score":
		err = cmdScore(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "scanbench: %v\n", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: scanbench gen -out DIR -manifest FILE [-size 1GiB] [-seed 1]\n       scanbench score -manifest FILE -root DIR -gitleaks FILE -coffer FILE [-json FILE]")
	os.Exit(2)
}

func cmdGen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	out := fs.String("out", "", "corpus directory (created)")
	manifest := fs.String("manifest", "", "manifest file (JSON lines; keep it outside the corpus)")
	size := fs.String("size", "1GiB", "corpus size: bytes, or with KiB, MiB, GiB")
	seed := fs.Uint64("seed", 1, "random seed (same seed and size, same corpus)")
	fs.Parse(args)
	if *out == "" || *manifest == "" {
		return fmt.Errorf("gen: -out and -manifest are required")
	}
	n, err := parseSize(*size)
	if err != nil {
		return err
	}
	st, err := generate(genOptions{Dir: *out, Manifest: *manifest, Size: n, Seed: *seed})
	if err != nil {
		return err
	}
	fmt.Printf("corpus: %d files, %d bytes; planted: %d secrets, %d personal data, %d decoys\n", st.Files, st.Bytes, st.Secrets, st.PII, st.Decoys)
	return nil
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}} {
		if strings.HasSuffix(s, u.suf) {
			s, mult = strings.TrimSuffix(s, u.suf), u.m
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return int64(v * float64(mult)), nil
}

// finding is one tool finding, reduced to what scoring needs.
type finding struct {
	file, kind, confidence string // kind: "secret:..." or "pii:..." (coffer), rule id (gitleaks)
	line                   int
}

type lineKey struct {
	file string
	line int
}

func cmdScore(args []string) error {
	fs := flag.NewFlagSet("score", flag.ExitOnError)
	manifest := fs.String("manifest", "", "manifest written by gen")
	root := fs.String("root", "", "corpus directory as given to both tools (stripped from their paths)")
	gl := fs.String("gitleaks", "", "gitleaks JSON report")
	cf := fs.String("coffer", "", "coffer scan JSON report")
	jsonOut := fs.String("json", "", "also write the scores as JSON to this file")
	fs.Parse(args)
	items, err := readManifest(*manifest)
	if err != nil {
		return err
	}
	var scores []score
	if *gl != "" {
		gf, err := readGitleaks(*gl, *root)
		if err != nil {
			return err
		}
		scores = append(scores, scoreClass("gitleaks", "secret", items, gf, func(finding) bool { return true }))
	}
	if *cf != "" {
		fs, err := readCoffer(*cf, *root)
		if err != nil {
			return err
		}
		isSecret := func(f finding) bool { return strings.HasPrefix(f.kind, "secret:") }
		isPII := func(f finding) bool { return strings.HasPrefix(f.kind, "pii:") }
		scores = append(scores, scoreClass("coffer", "secret", items, fs, isSecret))
		scores = append(scores, scoreClass("coffer", "pii", items, fs, isPII))
		// The same at the confidence coffer fails a scan on by default
		// (LIKELY and above) and at POSSIBLE and above.
		atLeast := func(min int, pred func(finding) bool) func(finding) bool {
			return func(f finding) bool { return pred(f) && confRank(f.confidence) >= min }
		}
		for _, c := range []struct {
			name string
			min  int
		}{{"POSSIBLE+", 3}, {"LIKELY+", 4}} {
			s := scoreClass("coffer "+c.name, "secret", items, fs, atLeast(c.min, isSecret))
			p := scoreClass("coffer "+c.name, "pii", items, fs, atLeast(c.min, isPII))
			scores = append(scores, s, p)
		}
	}
	printScores(scores)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(scores, "", "  ")
		return os.WriteFile(*jsonOut, append(b, '\n'), 0o644)
	}
	return nil
}

func confRank(c string) int {
	switch c {
	case "VERY_UNLIKELY":
		return 1
	case "UNLIKELY":
		return 2
	case "POSSIBLE":
		return 3
	case "LIKELY":
		return 4
	case "VERY_LIKELY":
		return 5
	}
	return 0
}

func readManifest(p string) ([]Item, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var items []Item
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var it Item
		if err := json.Unmarshal([]byte(l), &it); err != nil {
			return nil, fmt.Errorf("manifest: %w", err)
		}
		items = append(items, it)
	}
	return items, nil
}

func rel(root, p string) string {
	p = strings.ReplaceAll(p, "\\", "/")
	root = strings.TrimSuffix(strings.ReplaceAll(root, "\\", "/"), "/")
	p = strings.TrimPrefix(p, root+"/")
	return strings.TrimPrefix(p, "./")
}

func readGitleaks(p, root string) ([]finding, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var raw []struct {
		RuleID    string
		File      string
		StartLine int
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("gitleaks report: %w", err)
	}
	out := make([]finding, len(raw))
	for i, r := range raw {
		out[i] = finding{file: rel(root, r.File), kind: r.RuleID, line: r.StartLine}
	}
	return out, nil
}

func readCoffer(p, root string) ([]finding, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var raw struct {
		Findings []struct {
			Type       string
			Confidence string
			Location   struct {
				Path string
				Line int
			}
		}
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("coffer report: %w", err)
	}
	out := make([]finding, len(raw.Findings))
	for i, r := range raw.Findings {
		out[i] = finding{file: rel(root, r.Location.Path), kind: r.Type, confidence: r.Confidence, line: r.Location.Line}
	}
	return out, nil
}

// score is one tool's result on one class.
type score struct {
	Tool      string         `json:"tool"`
	Class     string         `json:"class"`
	Planted   int            `json:"planted"`
	Found     int            `json:"found"`      // planted values with a finding on their line
	Lines     int            `json:"lines"`      // distinct lines with a finding of the class
	TrueLines int            `json:"true_lines"` // of those, lines where a value of the class was planted
	Decoys    int            `json:"decoy_lines"`
	Recall    float64        `json:"recall"`
	Precision float64        `json:"precision"`
	Missed    map[string]int `json:"missed_by_type"`
	ByType    map[string]int `json:"planted_by_type"`
	FPByDecoy map[string]int `json:"false_positives_by_decoy"`
	FPRules   map[string]int `json:"false_positives_by_rule"`
}

func scoreClass(tool, class string, items []Item, fs []finding, keep func(finding) bool) score {
	s := score{Tool: tool, Class: class, Missed: map[string]int{}, ByType: map[string]int{}, FPByDecoy: map[string]int{}, FPRules: map[string]int{}}
	planted := map[lineKey]Item{}
	decoy := map[lineKey]Item{}
	for _, it := range items {
		k := lineKey{it.File, it.Line}
		switch it.Class {
		case class:
			planted[k] = it
		case "decoy":
			decoy[k] = it
		}
	}
	hit := map[lineKey]bool{}
	for _, f := range fs {
		if !keep(f) {
			continue
		}
		k := lineKey{f.file, f.line}
		if hit[k] {
			continue
		}
		hit[k] = true
		s.Lines++
		if _, ok := planted[k]; ok {
			s.TrueLines++
			continue
		}
		if d, ok := decoy[k]; ok {
			s.Decoys++
			s.FPByDecoy[d.Type]++
		}
		s.FPRules[f.kind]++
	}
	for k, it := range planted {
		s.Planted++
		s.ByType[it.Type]++
		if hit[k] {
			s.Found++
		} else {
			s.Missed[it.Type]++
		}
	}
	if s.Planted > 0 {
		s.Recall = float64(s.Found) / float64(s.Planted)
	}
	if s.Lines > 0 {
		s.Precision = float64(s.TrueLines) / float64(s.Lines)
	}
	return s
}

func printScores(scores []score) {
	fmt.Println("| tool | class | planted | found | recall | findings (lines) | true | false | on decoys | precision |")
	fmt.Println("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, s := range scores {
		fmt.Printf("| %s | %s | %d | %d | %.4f | %d | %d | %d | %d | %.4f |\n", s.Tool, s.Class, s.Planted, s.Found, s.Recall, s.Lines, s.TrueLines, s.Lines-s.TrueLines, s.Decoys, s.Precision)
	}
	fmt.Println()
	// Recall by planted type, for the rows with every finding.
	types := map[string]bool{}
	for _, s := range scores {
		for t := range s.ByType {
			types[s.Class+"/"+t] = true
		}
	}
	var keys []string
	for t := range types {
		keys = append(keys, t)
	}
	sort.Strings(keys)
	var cols []score
	var tools []string
	for _, s := range scores {
		if !strings.Contains(s.Tool, "+") {
			cols = append(cols, s)
			if !slices.Contains(tools, s.Tool) {
				tools = append(tools, s.Tool)
			}
		}
	}
	fmt.Print("| planted type |")
	for _, t := range tools {
		fmt.Printf(" %s |", t)
	}
	fmt.Print("\n| --- |")
	for range tools {
		fmt.Print(" ---: |")
	}
	fmt.Println()
	for _, k := range keys {
		class, typ, _ := strings.Cut(k, "/")
		fmt.Printf("| %s %s |", class, typ)
		for _, t := range tools {
			cell := " n/a |"
			for _, s := range cols {
				if s.Tool == t && s.Class == class && s.ByType[typ] > 0 {
					n := s.ByType[typ]
					cell = fmt.Sprintf(" %d/%d |", n-s.Missed[typ], n)
				}
			}
			fmt.Print(cell)
		}
		fmt.Println()
	}
	for _, s := range cols {
		if len(s.FPRules) == 0 {
			continue
		}
		fmt.Printf("\n%s %s false positives by rule: %s; on decoys: %s\n", s.Tool, s.Class, top(s.FPRules, 8), top(s.FPByDecoy, 8))
	}
}

// top formats the n largest counts of m.
func top(m map[string]int, n int) string {
	type kv struct {
		k string
		v int
	}
	var l []kv
	for k, v := range m {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v || (l[i].v == l[j].v && l[i].k < l[j].k) })
	var parts []string
	for i, e := range l {
		if i == n {
			parts = append(parts, fmt.Sprintf("… %d more", len(l)-n))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %d", e.k, e.v))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
