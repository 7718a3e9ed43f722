// Package policy owns authorization: policy documents (S3-style JSON with
// optional CEL conditions), roles that bundle them, the built-in roles, and
// Decide, the one function the S3 and admin planes ask "may this principal
// do this action on this resource now?". Default deny; an explicit Deny
// wins over any Allow; dangerous actions need a fresh MFA proof whatever the
// role (step-up).
//
// Language (docs/policy-language.md will grow from this comment):
//
//	{"Version": "2026-01-01",
//	 "Statement": [{"Sid": "ReadFootage", "Effect": "Allow",
//	                "Action": ["s3:GetObject", "s3:ListBucket"],
//	                "Resource": ["arn:coffer:s3:::footage", "arn:coffer:s3:::footage/*"],
//	                "Condition": "principal.mfa && request.time.getHours() < 20"}]}
//
// Action and Resource accept a string or a list; '*' matches any run of
// characters and '?' one character; actions match case-insensitively,
// resources exactly. "${coffer:username}" in a resource stands for the
// principal's user name. Condition is a CEL expression over request.ip,
// request.time, principal.user, principal.mfa, principal.mfa_age (seconds),
// object.labels and object.size; it must yield a bool.
package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Version is the only policy language version.
const Version = "2026-01-01"

// Effect is Allow or Deny.
type Effect string

// Effects.
const (
	Allow Effect = "Allow"
	Deny  Effect = "Deny"
)

// Document is a policy document.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one rule of a document.
type Statement struct {
	Sid       string  `json:"Sid,omitempty"`
	Effect    Effect  `json:"Effect"`
	Action    Strings `json:"Action"`
	Resource  Strings `json:"Resource"`
	Condition string  `json:"Condition,omitempty"`
}

// Strings is a JSON string or list of strings.
type Strings []string

// UnmarshalJSON accepts "a" or ["a","b"].
func (s *Strings) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = Strings{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("must be a string or a list of strings")
	}
	*s = many
	return nil
}

// ErrInvalid wraps every reason a document is refused.
var ErrInvalid = errors.New("policy: invalid document")

// Limits that keep a document's evaluation cheap.
const (
	MaxDocumentBytes = 64 << 10
	MaxStatements    = 100
	MaxPatterns      = 100 // actions or resources per statement
	MaxPatternLen    = 1024
	MaxConditionLen  = 4096
)

// Parse reads and validates a document: unknown fields, bad effects,
// malformed actions or resources and oversize input are refused.
func Parse(b []byte) (Document, error) {
	var d Document
	if len(b) > MaxDocumentBytes {
		return d, fmt.Errorf("%w: larger than %d bytes", ErrInvalid, MaxDocumentBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return d, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return d, fmt.Errorf("%w: trailing data after the document", ErrInvalid)
	}
	return d, d.Validate()
}

// Validate checks a document's shape (conditions are compiled separately).
func (d Document) Validate() error {
	if d.Version != Version {
		return fmt.Errorf("%w: Version must be %q", ErrInvalid, Version)
	}
	if len(d.Statement) == 0 || len(d.Statement) > MaxStatements {
		return fmt.Errorf("%w: between 1 and %d statements", ErrInvalid, MaxStatements)
	}
	for i, s := range d.Statement {
		where := fmt.Sprintf("statement %d", i)
		if s.Sid != "" {
			where = fmt.Sprintf("statement %q", s.Sid)
		}
		if s.Effect != Allow && s.Effect != Deny {
			return fmt.Errorf("%w: %s: Effect must be Allow or Deny", ErrInvalid, where)
		}
		if err := checkPatterns(s.Action, validAction); err != nil {
			return fmt.Errorf("%w: %s: Action: %v", ErrInvalid, where, err)
		}
		if err := checkPatterns(s.Resource, validResource); err != nil {
			return fmt.Errorf("%w: %s: Resource: %v", ErrInvalid, where, err)
		}
		if len(s.Condition) > MaxConditionLen {
			return fmt.Errorf("%w: %s: Condition longer than %d", ErrInvalid, where, MaxConditionLen)
		}
	}
	return nil
}

func checkPatterns(ps []string, valid func(string) bool) error {
	if len(ps) == 0 || len(ps) > MaxPatterns {
		return fmt.Errorf("between 1 and %d entries", MaxPatterns)
	}
	for _, p := range ps {
		if len(p) == 0 || len(p) > MaxPatternLen || !valid(p) {
			return fmt.Errorf("%q is not valid", p)
		}
	}
	return nil
}

// Services whose actions policies can name.
var services = []string{"s3", "admin", "audit"}

func validAction(a string) bool {
	if a == "*" {
		return true
	}
	svc, name, ok := strings.Cut(a, ":")
	if !ok || name == "" || (svc != "*" && !contains(services, strings.ToLower(svc))) {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '*' || r == '?') {
			return false
		}
	}
	return true
}

func validResource(r string) bool {
	return r == "*" || strings.HasPrefix(r, "arn:coffer:s3:::") || strings.HasPrefix(r, "arn:coffer:admin:::") ||
		strings.HasPrefix(r, "arn:coffer:audit:::")
}

// S3Resource is the resource name of a bucket ("arn:coffer:s3:::b"), an
// object ("arn:coffer:s3:::b/k"), or, with no bucket, of the service itself
// ("arn:coffer:s3:::", what ListAllMyBuckets is checked against).
func S3Resource(bucket, key string) string {
	if key == "" {
		return "arn:coffer:s3:::" + bucket
	}
	return "arn:coffer:s3:::" + bucket + "/" + key
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
