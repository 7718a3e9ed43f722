package audit

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEventCanonicalRoundTrip(t *testing.T) {
	ev := testEvent(6)
	ev.Resource.Key = "a<b>&c é"
	enc, err := ev.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"action":"s3:PutObject","actor":{"access_key_id":"AKID","mfa":true,"source_ip":"192.0.2.1","user":"carol","user_agent":"test"},"bytes_in":6,"labels":{"class":"internal"},"outcome":{"result":"allowed"},"request_id":"req-6","resource":{"bucket":"b","key":"a<b>&c é"},"time":"2026-11-23T12:00:00.000000006Z","v":1}`
	if string(enc) != want {
		t.Fatalf("encoding:\n got %s\nwant %s", enc, want)
	}
	got, err := DecodeEvent(enc)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := got.Encode()
	if string(again) != want {
		t.Fatalf("round trip changed the event: %s", again)
	}
	if got.Subject() != "carol" || (&Event{}).Subject() != SystemSubject {
		t.Fatal("wrong subject")
	}
	// The same instant in another zone encodes identically.
	ev2 := testEvent(6)
	ev2.Resource.Key = ev.Resource.Key
	ev2.Time = ev.Time.In(time.FixedZone("X", 3600))
	if enc2, _ := ev2.Encode(); string(enc2) != want {
		t.Fatal("encoding depends on the time zone")
	}
}

func TestDecodeEventRefusesNonCanonical(t *testing.T) {
	ev := testEvent(2)
	good, err := ev.Encode()
	if err != nil {
		t.Fatal(err)
	}
	s := string(good)
	tests := []struct{ name, in string }{
		{"whitespace", strings.Replace(s, `"action":`, `"action": `, 1)},
		{"trailing newline", s + "\n"},
		{"reordered keys", `{"v":1,` + strings.TrimSuffix(strings.TrimPrefix(s, "{"), `,"v":1}`) + "}"},
		{"unknown field", strings.Replace(s, `"v":1}`, `"v":1,"x":2}`, 1)},
		{"version 2", strings.Replace(s, `"v":1}`, `"v":2}`, 1)},
		{"no version", strings.Replace(s, `,"v":1}`, `}`, 1)},
		{"explicit false", strings.Replace(s, `"mfa":true`, `"mfa":false`, 1)},
		{"escaped html", strings.Replace(s, `"b"`, `"\u0062"`, 1)},
		{"non-UTC time", strings.Replace(s, `Z"`, `+00:00"`, 1)},
		{"duplicate key", strings.Replace(s, `"v":1}`, `"v":1,"v":1}`, 1)},
		{"bad outcome", strings.Replace(s, `"allowed"`, `"maybe"`, 1)},
		{"invalid UTF-8", strings.Replace(s, `"b"`, "\"\xff\"", 1)},
		{"two values", s + s},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.in == s {
				t.Fatal("test input is the canonical encoding")
			}
			if _, err := DecodeEvent([]byte(tt.in)); !errors.Is(err, ErrNonCanonical) {
				t.Fatalf("DecodeEvent(%s) = %v, want ErrNonCanonical", tt.in, err)
			}
		})
	}
}

func TestEncodeRefusesInvalid(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Event)
	}{
		{"zero time", func(e *Event) { e.Time = time.Time{} }},
		{"no action", func(e *Event) { e.Action = "" }},
		{"no outcome", func(e *Event) { e.Outcome = Outcome{} }},
		{"bad utf8", func(e *Event) { e.Actor.UserAgent = "\xff" }},
		{"negative bytes", func(e *Event) { e.BytesOut = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := testEvent(1)
			tt.mod(&ev)
			if _, err := ev.Encode(); !errors.Is(err, ErrInvalidEvent) {
				t.Fatalf("Encode = %v, want ErrInvalidEvent", err)
			}
		})
	}
}
