package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// EventVersion is the version of the canonical event encoding, written as
// the "v" field of every encoded event.
const EventVersion = 1

// SystemSubject is the data subject of events that have no user (system
// events, anonymous requests). Coffer user names cannot start with '_'.
const SystemSubject = "_system"

// Outcome results.
const (
	ResultAllowed = "allowed"
	ResultDenied  = "denied"
	ResultError   = "error"
)

var (
	// ErrNonCanonical reports an encoded event that is not in canonical form.
	ErrNonCanonical = errors.New("audit: event is not canonically encoded")
	// ErrInvalidEvent reports an event that cannot be encoded.
	ErrInvalidEvent = errors.New("audit: invalid event")
)

// Event is the one record type of the audit ledger. The same value goes to
// the ledger, the search index, detectors and exporters.
//
// Struct fields are declared in the order of their JSON names so that the
// encoding's keys are sorted; keep it that way when adding fields (and bump
// EventVersion if the meaning of a field changes).
type Event struct {
	Action   string            `json:"action"`             // e.g. "s3:GetObject", "auth:Login", "system:Start"
	Actor    Actor             `json:"actor"`              // who
	BytesIn  int64             `json:"bytes_in,omitempty"` // request body bytes
	BytesOut int64             `json:"bytes_out,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"` // object labels (classification etc.)
	Outcome  Outcome           `json:"outcome"`
	// RequestID correlates the event with server logs.
	RequestID string   `json:"request_id,omitempty"`
	Resource  Resource `json:"resource"`
	// Time is when the event happened, encoded in UTC with nanoseconds.
	Time time.Time `json:"time"`
	// V is the encoding version; Encode sets it to EventVersion.
	V int `json:"v"`

	// Index is the event's position in the ledger once appended, or -1.
	// It is not part of the canonical encoding (the commitment is made
	// before the index is assigned); the ledger records it alongside.
	Index int64 `json:"-"`
}

// Actor identifies who caused an event.
type Actor struct {
	AccessKeyID string `json:"access_key_id,omitempty"`
	MFA         bool   `json:"mfa,omitempty"`
	SessionID   string `json:"session_id,omitempty"`
	SourceIP    string `json:"source_ip,omitempty"`
	User        string `json:"user,omitempty"`
	UserAgent   string `json:"user_agent,omitempty"`
}

// Resource names what an event acted on: an object (Bucket, Key, Version)
// or an administrative object (Admin, e.g. "user:alice", "policy:readers").
type Resource struct {
	Admin   string `json:"admin,omitempty"`
	Bucket  string `json:"bucket,omitempty"`
	Key     string `json:"key,omitempty"`
	Version string `json:"version,omitempty"`
}

// Outcome is allowed, denied (with a reason) or error (with a reason).
type Outcome struct {
	Reason string `json:"reason,omitempty"`
	Result string `json:"result"`
}

// Subject returns the event's data subject: the user it is about, or
// SystemSubject when there is none. Payloads are sealed per subject.
func (e *Event) Subject() string {
	if e.Actor.User == "" {
		return SystemSubject
	}
	return e.Actor.User
}

// Encode returns the canonical encoding of e: JSON with keys sorted, no
// insignificant whitespace, UTF-8, HTML characters not escaped, the time in
// UTC RFC 3339 with nanoseconds, and "v":1. Index is not encoded.
func (e *Event) Encode() ([]byte, error) {
	c := *e
	c.V = EventVersion
	c.Time = e.Time.UTC().Round(0)
	if err := c.validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func (e *Event) validate() error {
	if e.Time.IsZero() {
		return fmt.Errorf("%w: zero time", ErrInvalidEvent)
	}
	if y := e.Time.Year(); y < 1 || y > 9999 {
		return fmt.Errorf("%w: time out of range", ErrInvalidEvent)
	}
	if e.Action == "" {
		return fmt.Errorf("%w: empty action", ErrInvalidEvent)
	}
	switch e.Outcome.Result {
	case ResultAllowed, ResultDenied, ResultError:
	default:
		return fmt.Errorf("%w: outcome %q", ErrInvalidEvent, e.Outcome.Result)
	}
	if e.BytesIn < 0 || e.BytesOut < 0 {
		return fmt.Errorf("%w: negative byte count", ErrInvalidEvent)
	}
	strs := []string{e.Action, e.RequestID, e.Outcome.Reason,
		e.Actor.AccessKeyID, e.Actor.SessionID, e.Actor.SourceIP, e.Actor.User, e.Actor.UserAgent,
		e.Resource.Admin, e.Resource.Bucket, e.Resource.Key, e.Resource.Version}
	for k, v := range e.Labels {
		strs = append(strs, k, v)
	}
	for _, s := range strs {
		if !utf8.ValidString(s) {
			return fmt.Errorf("%w: invalid UTF-8", ErrInvalidEvent)
		}
	}
	return nil
}

// DecodeEvent parses a canonically encoded event. It refuses unknown
// fields, other versions and any input that is not byte-for-byte the
// canonical encoding of the event it describes.
func DecodeEvent(data []byte) (Event, error) {
	var e Event
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrNonCanonical, err)
	}
	if dec.More() {
		return Event{}, fmt.Errorf("%w: trailing data", ErrNonCanonical)
	}
	if e.V != EventVersion {
		return Event{}, fmt.Errorf("%w: version %d", ErrNonCanonical, e.V)
	}
	again, err := e.Encode()
	if err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrNonCanonical, err)
	}
	if !bytes.Equal(again, data) {
		return Event{}, ErrNonCanonical
	}
	e.Index = -1
	return e, nil
}

// Clean returns s cut to at most n bytes, with invalid UTF-8 (including a
// rune the cut split) replaced, ready for an Event field taken from a
// request (a user agent, a claimed key id, a name).
func Clean(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
