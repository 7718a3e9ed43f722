package scan

// The seam between the sources and reports on one side and the engine's
// Finding and Location types on the other: every field access the sources
// and reports make goes through here.

import (
	"cmp"
	"fmt"
	"strings"
)

// location is the Location the engine gets for a stream from o.
func (o origin) location() Location {
	return Location{
		Path:    o.path,
		Archive: o.archivePath(),
		Commit:  o.commit,
		Author:  o.author,
		Date:    o.date,
		Layer:   o.layer,
		Image:   o.image,
	}
}

// withLineBase tells the engine how many lines come before the chunk.
func withLineBase(loc Location, lines int) Location {
	loc.Line = lines
	return loc
}

func findingStart(f Finding) int64     { return f.Location.Start }
func findingLine(f Finding) int        { return f.Location.Line }
func setFindingLine(f *Finding, n int) { f.Location.Line = n }
func findingPath(f Finding) string     { return f.Location.Path }
func findingFingerprint(f Finding) string {
	if f.Fingerprint != "" {
		return f.Fingerprint
	}
	return FingerprintOf(f)
}

func findingDescription(f Finding) string {
	if f.Description != "" {
		return f.Description
	}
	return f.Type
}

// markDeleted notes that a later image layer deletes the file.
func markDeleted(f *Finding) { f.Location.Deleted = true }

// bombType is the finding type of an archive whose expansion crossed a
// bound.
const bombType = "archive:bomb"

// bombFinding is the finding reported for an archive bomb. It is LIKELY
// (so it fails a scan by default): content that cannot be scanned must
// not pass a gate unseen.
func bombFinding(o origin, reason string) Finding {
	loc := o.location()
	f := Finding{Type: bombType, Rule: "archive-bomb", Description: "Archive whose expansion crosses a bound (zip bomb)",
		Confidence: Likely, Location: loc, Value: reason, Masked: reason}
	f.Fingerprint = findingFingerprint(f)
	return f
}

func toJSONFinding(f Finding, show bool) jsonFinding {
	v := f.Masked
	if show || f.Type == bombType {
		v = f.Value
	}
	l := f.Location
	return jsonFinding{
		Type:        f.Type,
		Rule:        f.Rule,
		Confidence:  f.Confidence.String(),
		Value:       v,
		Fingerprint: findingFingerprint(f),
		Location: jsonLocation{
			Path: l.Path, Archive: l.Archive, Line: l.Line, Column: l.Column,
			Start: l.Start, End: l.End, Commit: l.Commit, Author: l.Author, Date: l.Date,
			Image: l.Image, Layer: l.Layer, Deleted: l.Deleted,
		},
	}
}

// lessFinding orders findings by place, then type.
func lessFinding(a, b Finding) bool {
	x, y := a.Location, b.Location
	if c := cmp.Or(
		cmp.Compare(x.Image, y.Image),
		cmp.Compare(x.Path, y.Path),
		cmp.Compare(x.Archive, y.Archive),
		cmp.Compare(x.Layer, y.Layer),
		cmp.Compare(x.Date, y.Date),
		cmp.Compare(x.Commit, y.Commit),
		cmp.Compare(x.Start, y.Start),
		cmp.Compare(x.Line, y.Line),
		cmp.Compare(a.Type, b.Type),
	); c != 0 {
		return c < 0
	}
	return findingFingerprint(a) < findingFingerprint(b)
}

// confidenceNames lists the confidence levels, highest first.
func confidenceNames() []string {
	return []string{VeryLikely.String(), Likely.String(), Possible.String(), Unlikely.String(), VeryUnlikely.String()}
}

// threshold is the --fail-on level; never fails nothing.
type threshold struct {
	min   Confidence
	never bool
}

func parseFailOn(s string) (threshold, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "NONE", "NEVER", "OFF":
		return threshold{never: true}, nil
	case "HIGH":
		return threshold{min: Likely}, nil
	}
	c, err := ParseConfidence(s)
	if err != nil {
		return threshold{}, fmt.Errorf("--fail-on: %w (or none)", err)
	}
	return threshold{min: c}, nil
}

// AtOrAbove counts the findings at or above t.
func (r *Report) AtOrAbove(t threshold) int {
	if t.never {
		return 0
	}
	n := 0
	for _, f := range r.Findings {
		if f.Confidence >= t.min {
			n++
		}
	}
	return n
}
