// Package scan finds secrets and personal data in bytes: files, archives,
// git history and container images, and reports them as JSON, SARIF or text.
//
// This file is the seam between the two halves of the package:
//
//   - The detection engine (scan.go, engine*.go, rules*.go, pii*.go,
//     config*.go) owns the rule set, the keyword automaton, the detectors
//     and their validation (Luhn, GB 11643, ISO 13616, ...), confidence,
//     allowlists, masking and fingerprints. Its whole surface is Config,
//     Engine.ScanChunk and the Finding, Location and Confidence types.
//   - The sources and reports (source*.go, archive.go, git.go, image.go,
//     report*.go, cli.go) own reading: chunking with overlap, archives,
//     git, OCI images, output formats, baselines and exit codes.
//
// The engine is built for throughput: one pass of an Aho-Corasick automaton
// over the input finds rule keywords, and a rule's regular expression runs
// only in a window around a hit of one of its keywords; digit runs and '@'
// are the triggers of the personal-data detectors, which then validate
// candidates with their checksums and ranges. An Engine is immutable after
// NewEngine and safe for concurrent use by many goroutines.
//
// Rules, confidence and the configuration file are documented in
// docs/scan-rules.md.
package scan

import (
	"fmt"
	"strings"
)

// Confidence is how likely a finding is real, in Google DLP's
// likelihood terms. Higher is more likely; the zero value is unspecified.
type Confidence int

// The confidence levels, lowest first.
const (
	VeryUnlikely Confidence = iota + 1
	Unlikely
	Possible
	Likely
	VeryLikely
)

var confidenceStrings = [...]string{"UNSPECIFIED", "VERY_UNLIKELY", "UNLIKELY", "POSSIBLE", "LIKELY", "VERY_LIKELY"}

// String returns the DLP name: "VERY_UNLIKELY" ... "VERY_LIKELY".
func (c Confidence) String() string {
	if c < 0 || int(c) >= len(confidenceStrings) {
		return fmt.Sprintf("Confidence(%d)", int(c))
	}
	return confidenceStrings[c]
}

// ParseConfidence parses a level name, case-insensitively, with '-' or '_'
// ("likely", "VERY_LIKELY", "very-unlikely").
func ParseConfidence(s string) (Confidence, error) {
	u := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), "-", "_"))
	for c := VeryUnlikely; c <= VeryLikely; c++ {
		if confidenceStrings[c] == u {
			return c, nil
		}
	}
	return 0, fmt.Errorf("unknown confidence %q (VERY_UNLIKELY, UNLIKELY, POSSIBLE, LIKELY, VERY_LIKELY)", s)
}

// MarshalText and UnmarshalText let a Confidence appear by name in
// configuration files and JSON.
func (c Confidence) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText parses a level name (see ParseConfidence).
func (c *Confidence) UnmarshalText(b []byte) error {
	v, err := ParseConfidence(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// Location is where a finding is. The source fills in the context fields
// (Path, Archive, Commit, ...) and passes them to ScanChunk; the engine
// fills in Line, Column, Start and End.
type Location struct {
	Path    string // file scanned (for archives and images: the outermost file)
	Archive string // path inside archives, "outer.zip!inner/file.env"; empty if none
	Line    int    // 1-based line of the match start
	Column  int    // 1-based byte column of the match start
	Start   int64  // byte offset of the match start in the stream
	End     int64  // byte offset just past the match
	Commit  string // git commit that added the line
	Author  string // git author of the commit
	Date    string // git author date (RFC 3339)
	Image   string // container image name or file
	Layer   string // layer digest inside Image
	Deleted bool   // a later image layer deletes the file (it is still in the image)
}

// Finding is one detected secret or piece of personal data.
type Finding struct {
	Rule        string     // rule id, kebab-case: "aws-access-key-id"
	Type        string     // label: "secret:aws_access_key", "pii:cn_resident_id"
	Description string     // human description of the rule
	Confidence  Confidence // after context words and test-data tells
	Location    Location
	// Value is the raw matched secret. Never print it unless the user asks
	// (--show-secrets); print Masked.
	Value       string
	Masked      string // Value with all but a few leading/trailing chars replaced by '*'
	Fingerprint string // stable id for baselines: hash of rule, place and value (not line)
}

// ScanChunk scans one chunk of a stream and returns its findings in order
// of Location.Start.
//
// base is the byte offset of chunk[0] in the stream, and loc.Line is the
// number of newlines in the stream before chunk[0]; the other fields of loc
// are copied into every finding. Start/End/Line/Column of the findings are
// absolute in the stream.
//
// Chunking rule: a match never spans more than MaxMatchLen bytes. A caller
// that splits a stream into chunks overlapping by at least 2*MaxMatchLen
// bytes gives each chunk the findings whose Start lies in its own part
// (for example, from the middle of the overlap before it to the middle of
// the overlap after it); every match is then reported exactly once. Owns
// implements that rule.
func (e *Engine) ScanChunk(chunk []byte, base int64, loc Location) []Finding {
	return e.scan(chunk, base, loc)
}

// MaxMatchLen bounds the length of any match the engine reports (a PEM
// private key longer than this is reported from its header up to the
// bound), so chunks that overlap by 2*MaxMatchLen lose nothing.
const MaxMatchLen = 2048

// Owns reports whether the chunk that starts at stream offset base, holds
// n bytes and overlaps its neighbours by overlap bytes owns a finding that
// starts at start. first and last say whether the chunk is the first or
// last of its stream.
func Owns(start, base int64, n, overlap int, first, last bool) bool {
	lo, hi := base, base+int64(n)
	if !first {
		lo = base + int64(overlap/2)
	}
	if !last {
		hi = base + int64(n) - int64(overlap/2)
	}
	return start >= lo && start < hi
}

// NewEngine compiles cfg into an Engine; see Config and DefaultConfig.
func NewEngine(cfg Config) (*Engine, error) { return newEngine(cfg) }
