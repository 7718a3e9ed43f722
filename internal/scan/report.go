package scan

// Reports: what a scan found, written for people (text), for programs
// (json) and for code-scanning services (sarif, see report_sarif.go).
//
// The JSON report is a stable, documented format: findings sorted by
// location then type, no timestamps, no absolute state, so two scans of
// the same input give the same bytes and a report can be diffed, stored
// and used as a --baseline later.
//
//	{
//	  "version": 1,                  // report format version
//	  "tool": "coffer scan",
//	  "findings": [{
//	    "type": "secret:aws_access_key",   // detector type (rules.md)
//	    "rule": "aws-access-key-id",       // rule id
//	    "confidence": "VERY_LIKELY",       // VERY_LIKELY LIKELY POSSIBLE UNLIKELY VERY_UNLIKELY
//	    "value": "AKIA************WXYZ",   // masked unless --show-secrets
//	    "fingerprint": "…",                // stable id used by --baseline and SARIF
//	    "location": {
//	      "path": "src/app.env",           // file, stdin "-", path in repo or image
//	      "archive": "a.zip!dir/app.env",  // inner path when inside archives
//	      "line": 3, "column": 7,          // 1-based, in the (inner) file
//	      "start": 120, "end": 140,        // byte range in the (inner) file
//	      "commit": "…", "author": "…", "date": "…",  // git history
//	      "image": "img.tar", "layer": "sha256:…",    // container images
//	      "deleted": true                  // the file is deleted by a later layer
//	    }
//	  }],
//	  "summary": {"total": 1, "by_type": {"secret:aws_access_key": 1},
//	              "by_confidence": {"VERY_LIKELY": 1}, "files": 10, "skipped_binary": 2}
//	}
//
// Empty fields are left out.

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// Format is a report format.
type Format string

// Report formats.
const (
	FormatText  Format = "text"
	FormatJSON  Format = "json"
	FormatSARIF Format = "sarif"
)

func parseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case FormatText, FormatJSON, FormatSARIF:
		return f, nil
	case "human":
		return FormatText, nil
	}
	return "", fmt.Errorf("unknown format %q (text, json, sarif)", s)
}

// ReportVersion is the version of the JSON report format.
const ReportVersion = 1

// Report is the outcome of a scan, findings in a stable order.
type Report struct {
	Findings []Finding
	Stats    Stats
}

// NewReport sorts findings into a report.
func NewReport(findings []Finding, st Stats) *Report {
	fs := append([]Finding(nil), findings...)
	sort.SliceStable(fs, func(i, j int) bool { return lessFinding(fs[i], fs[j]) })
	return &Report{Findings: fs, Stats: st}
}

// Without returns the report less the findings whose fingerprint is in
// baseline.
func (r *Report) Without(baseline map[string]bool) *Report {
	out := &Report{Stats: r.Stats}
	for _, f := range r.Findings {
		if !baseline[findingFingerprint(f)] {
			out.Findings = append(out.Findings, f)
		}
	}
	return out
}

// Write writes the report in the given format; secrets are masked unless
// show.
func (r *Report) Write(w io.Writer, format Format, show bool) error {
	switch format {
	case FormatJSON:
		return r.writeJSON(w, show)
	case FormatSARIF:
		return r.writeSARIF(w, show)
	default:
		return r.writeText(w, show)
	}
}

// jsonReport is the JSON report document.
type jsonReport struct {
	Version  int           `json:"version"`
	Tool     string        `json:"tool"`
	Findings []jsonFinding `json:"findings"`
	Summary  jsonSummary   `json:"summary"`
}

type jsonFinding struct {
	Type        string       `json:"type"`
	Rule        string       `json:"rule,omitempty"`
	Confidence  string       `json:"confidence"`
	Value       string       `json:"value"`
	Fingerprint string       `json:"fingerprint"`
	Location    jsonLocation `json:"location"`
}

type jsonLocation struct {
	Path    string `json:"path"`
	Archive string `json:"archive,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Start   int64  `json:"start"`
	End     int64  `json:"end"`
	Commit  string `json:"commit,omitempty"`
	Author  string `json:"author,omitempty"`
	Date    string `json:"date,omitempty"`
	Image   string `json:"image,omitempty"`
	Layer   string `json:"layer,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
}

type jsonSummary struct {
	Total         int            `json:"total"`
	ByType        map[string]int `json:"by_type"`
	ByConfidence  map[string]int `json:"by_confidence"`
	Files         int64          `json:"files"`
	SkippedBinary int64          `json:"skipped_binary"`
}

func (r *Report) summary() jsonSummary {
	s := jsonSummary{ByType: map[string]int{}, ByConfidence: map[string]int{}, Files: r.Stats.Files, SkippedBinary: r.Stats.Skipped}
	for _, f := range r.Findings {
		jf := toJSONFinding(f, false)
		s.Total++
		s.ByType[jf.Type]++
		s.ByConfidence[jf.Confidence]++
	}
	return s
}

func (r *Report) writeJSON(w io.Writer, show bool) error {
	doc := jsonReport{Version: ReportVersion, Tool: "coffer scan", Findings: []jsonFinding{}, Summary: r.summary()}
	for _, f := range r.Findings {
		doc.Findings = append(doc.Findings, toJSONFinding(f, show))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(doc)
}

// maxBaselineFile bounds a baseline report.
const maxBaselineFile = 256 << 20

// LoadBaseline reads the fingerprints of an earlier JSON report.
func LoadBaseline(name string) (map[string]bool, error) {
	data, err := readFileMax(name, maxBaselineFile)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	var doc jsonReport
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("baseline %s: not a coffer scan JSON report: %w", name, err)
	}
	if doc.Version != ReportVersion {
		return nil, fmt.Errorf("baseline %s: report version %d, want %d", name, doc.Version, ReportVersion)
	}
	set := make(map[string]bool, len(doc.Findings))
	for _, f := range doc.Findings {
		set[f.Fingerprint] = true
	}
	return set, nil
}

// writeText writes findings grouped by file, then a summary.
func (r *Report) writeText(w io.Writer, show bool) error {
	ew := &errWriter{w: w}
	if len(r.Findings) == 0 {
		fmt.Fprintf(ew, "No findings (%s scanned, %s skipped).\n", plural(int(r.Stats.Files), "file"), plural(int(r.Stats.Skipped), "binary file"))
		return ew.err
	}
	group := ""
	for _, f := range r.Findings {
		jf := toJSONFinding(f, show)
		l := jf.Location
		name := l.Path
		if l.Archive != "" {
			name = l.Archive
		}
		if name == "-" {
			name = "(stdin)"
		}
		if l.Layer != "" {
			name = fmt.Sprintf("%s [layer %s]", name, shortDigest(l.Layer))
		}
		if l.Commit != "" {
			name = fmt.Sprintf("%s @ %s (%s, %s)", name, shortDigest(l.Commit), l.Author, l.Date)
		}
		if name != group {
			if group != "" {
				fmt.Fprintln(ew)
			}
			fmt.Fprintln(ew, name)
			group = name
		}
		pos := fmt.Sprintf("%d:%d", l.Line, l.Column)
		note := ""
		if l.Deleted {
			note = "  (deleted in a later layer, still in the image)"
		}
		fmt.Fprintf(ew, "  %-8s %-13s %-26s %-24s %s%s\n", pos, jf.Confidence, jf.Type, jf.Value, findingDescription(f), note)
	}
	s := r.summary()
	fmt.Fprintf(ew, "\n%s in %s scanned (%s skipped)\n",
		plural(s.Total, "finding"), plural(int(s.Files), "file"), plural(int(s.SkippedBinary), "binary file"))
	tw := tabwriter.NewWriter(ew, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TYPE\tCOUNT")
	for _, k := range sortedKeys(s.ByType) {
		fmt.Fprintf(tw, "  %s\t%d\n", k, s.ByType[k])
	}
	tw.Flush()
	fmt.Fprint(ew, "  by confidence:")
	for _, c := range confidenceNames() {
		if n := s.ByConfidence[c]; n > 0 {
			fmt.Fprintf(ew, " %s %d", c, n)
		}
	}
	fmt.Fprintln(ew)
	return ew.err
}

// plural is "1 file", "2 files".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return len(p), nil
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
