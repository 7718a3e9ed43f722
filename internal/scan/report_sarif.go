package scan

// SARIF 2.1.0 output (OASIS Static Analysis Results Interchange Format),
// as GitHub code scanning reads it:
//
//   - one run; tool.driver lists a rule per finding type seen, each with
//     a short description and a default level;
//   - each result has ruleId and ruleIndex, level (error for LIKELY and
//     VERY_LIKELY, warning for POSSIBLE, note below), a message naming the
//     type, confidence, masked value and any archive/layer/commit context,
//     one physical location (artifactLocation.uri relative to where the
//     scan ran, region.startLine/startColumn when known), and
//     partialFingerprints so that code scanning tracks an alert across
//     commits.
//
// Secrets are masked in SARIF as everywhere else: --show-secrets shows
// them only in the message text.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
)

const sarifSchemaURI = "https://json.schemastore.org/sarif-2.1.0.json"

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string             `json:"id"`
	Name                 string             `json:"name"`
	ShortDescription     sarifMessage       `json:"shortDescription"`
	FullDescription      sarifMessage       `json:"fullDescription"`
	DefaultConfiguration sarifConfiguration `json:"defaultConfiguration"`
	Properties           map[string]any     `json:"properties,omitempty"`
}

type sarifConfiguration struct {
	Level string `json:"level"`
}

type sarifMessage struct {
	Text string `json:"text"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifMessage      `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Properties          map[string]any    `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
}

// sarifLevel maps a confidence to a SARIF level.
func sarifLevel(confidence string) string {
	switch confidence {
	case "VERY_LIKELY", "LIKELY":
		return "error"
	case "POSSIBLE":
		return "warning"
	}
	return "note"
}

// sarifURI turns a path into a relative URI reference (or a file: URI
// for an absolute path).
func sarifURI(p string) string {
	p = filepath.ToSlash(p)
	if p == "-" {
		return "stdin"
	}
	if strings.HasPrefix(p, "/") {
		return (&url.URL{Scheme: "file", Path: p}).String()
	}
	p = strings.TrimPrefix(p, "./")
	return (&url.URL{Path: p}).EscapedPath()
}

func (r *Report) writeSARIF(w io.Writer, show bool) error {
	driver := sarifDriver{Name: "coffer scan", InformationURI: "https://github.com/coffer-vault/coffer", Rules: []sarifRule{}}
	ruleIndex := map[string]int{}
	results := []sarifResult{}
	for _, f := range r.Findings {
		jf := toJSONFinding(f, show)
		id := jf.Rule
		if id == "" {
			id = jf.Type
		}
		idx, ok := ruleIndex[id]
		if !ok {
			idx = len(driver.Rules)
			ruleIndex[id] = idx
			desc := findingDescription(f)
			driver.Rules = append(driver.Rules, sarifRule{
				ID:                   id,
				Name:                 sarifRuleName(id),
				ShortDescription:     sarifMessage{Text: desc},
				FullDescription:      sarifMessage{Text: desc + " (" + jf.Type + ")"},
				DefaultConfiguration: sarifConfiguration{Level: "error"},
				Properties: map[string]any{
					"tags": []string{"security", strings.SplitN(jf.Type, ":", 2)[0]},
					// GitHub code scanning shows this as the alert's severity.
					"security-severity": securitySeverity(jf.Type),
				},
			})
		}
		l := jf.Location
		msg := fmt.Sprintf("%s (%s): %s", jf.Type, jf.Confidence, jf.Value)
		if l.Archive != "" {
			msg += " in " + l.Archive
		}
		if l.Layer != "" {
			msg += fmt.Sprintf(" in layer %s at %s", l.Layer, l.Path)
			if l.Deleted {
				msg += " (deleted in a later layer, still in the image)"
			}
		}
		if l.Commit != "" {
			msg += fmt.Sprintf(" added in commit %s by %s on %s", l.Commit, l.Author, l.Date)
		}
		// The artefact in the checkout is the outer file (an archive, an
		// image tarball); lines are only meaningful in a plain file, and
		// code scanning wants a region, so the others point at line 1.
		uri := l.Path
		if l.Image != "" {
			uri = l.Image
		}
		region := &sarifRegion{StartLine: 1, StartColumn: 1}
		if l.Line > 0 && l.Archive == "" && l.Image == "" {
			region = &sarifRegion{StartLine: l.Line, StartColumn: max(l.Column, 1)}
		}
		phys := sarifPhysical{ArtifactLocation: sarifArtifact{URI: sarifURI(uri)}, Region: region}
		props := map[string]any{"confidence": jf.Confidence, "type": jf.Type}
		for k, v := range map[string]string{"archive": l.Archive, "layer": l.Layer, "commit": l.Commit, "author": l.Author, "date": l.Date} {
			if v != "" {
				props[k] = v
			}
		}
		results = append(results, sarifResult{
			RuleID:              id,
			RuleIndex:           idx,
			Level:               sarifLevel(jf.Confidence),
			Message:             sarifMessage{Text: msg},
			Locations:           []sarifLocation{{PhysicalLocation: phys}},
			PartialFingerprints: map[string]string{"cofferFingerprint/v1": jf.Fingerprint},
			Properties:          props,
		})
	}
	doc := sarifLog{
		Schema:  sarifSchemaURI,
		Version: "2.1.0",
		Runs:    []sarifRun{{Tool: sarifTool{Driver: driver}, Results: results}},
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(doc)
}

// sarifRuleName is a rule id in CamelCase ("aws-access-key" -> "AwsAccessKey").
func sarifRuleName(id string) string {
	var b strings.Builder
	up := true
	for _, r := range id {
		switch {
		case r == '-' || r == '_' || r == ':' || r == '.' || r == ' ':
			up = true
		case up:
			b.WriteString(strings.ToUpper(string(r)))
			up = false
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// securitySeverity is the CVSS-like score GitHub code scanning reads from
// a rule's properties: leaked secrets are high, personal data medium.
func securitySeverity(typ string) string {
	switch {
	case strings.HasPrefix(typ, "secret:"):
		return "8.0"
	case strings.HasPrefix(typ, "archive:"):
		return "5.0"
	}
	return "6.0"
}
