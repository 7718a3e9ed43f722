package export

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/coffer-vault/coffer/internal/audit"
)

// ErrBadRecord is wrapped by VerifyRecord's errors.
var ErrBadRecord = errors.New("export: record does not match its commitment")

// Record is one exported ledger entry. Its JSON form is
//
//	{"index":12,"leaf_hash":"<hex>","commitment":"<hex>","salt":"<hex>","event":{...}}
//	{"index":13,"leaf_hash":"<hex>","commitment":"<hex>","erased":true}
//
// where event is the canonical encoding of the audit.Event, byte for byte,
// commitment is SHA-256(salt || event) (the tlog-tiles entry) and leaf_hash
// is SHA-256(0x00 || commitment) (the RFC 6962 leaf hash that tiles and
// inclusion proofs use). An erased entry has neither salt nor event.
//
// The salt is exported so that a receiver can prove an event was in the
// ledger (VerifyRecord): it reveals nothing the event beside it does not.
type Record struct {
	Index      int64           `json:"index"`
	LeafHash   string          `json:"leaf_hash"`
	Commitment string          `json:"commitment"`
	Salt       string          `json:"salt,omitempty"`
	Event      json.RawMessage `json:"event,omitempty"`
	Erased     bool            `json:"erased,omitempty"`
	// Truncated marks a record sent without its salt and event because a
	// sink bounds message sizes (syslog); the ledger has the full entry.
	Truncated bool `json:"truncated,omitempty"`

	ev *audit.Event // the decoded Event, when the Follower built the record
}

// recordFromEntry builds the record of a ledger entry.
func recordFromEntry(e audit.Entry) (Record, error) {
	lh := e.LeafHash()
	r := Record{
		Index:      e.Index,
		LeafHash:   hex.EncodeToString(lh[:]),
		Commitment: hex.EncodeToString(e.Commitment[:]),
		Erased:     e.Erased,
	}
	if e.Erased {
		return r, nil
	}
	ev, err := audit.DecodeEvent(e.Event)
	if err != nil {
		return Record{}, fmt.Errorf("export: entry %d: %w", e.Index, err)
	}
	ev.Index = e.Index
	r.Salt = hex.EncodeToString(e.Salt)
	r.Event = json.RawMessage(e.Event)
	r.ev = &ev
	return r, nil
}

// Decode returns the record's event with its Index set, and false for an
// erased or truncated record.
func (r *Record) Decode() (audit.Event, bool, error) {
	if r.Erased || r.Truncated {
		return audit.Event{}, false, nil
	}
	if r.ev != nil {
		return *r.ev, true, nil
	}
	ev, err := decodeLoose(r.Event)
	if err != nil {
		return audit.Event{}, false, err
	}
	ev.Index = r.Index
	return ev, true, nil
}

// decodeLoose decodes an event that may have been re-encoded in transit
// (escaped differently, say) into its canonical form.
func decodeLoose(raw []byte) (audit.Event, error) {
	var ev audit.Event
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return audit.Event{}, fmt.Errorf("%w: event: %v", ErrBadRecord, err)
	}
	if ev.V != audit.EventVersion {
		return audit.Event{}, fmt.Errorf("%w: event version %d", ErrBadRecord, ev.V)
	}
	return ev, nil
}

// MarshalJSON encodes the record with its event bytes unchanged (no HTML
// escaping, no re-encoding). Encoders that escape HTML (json.Marshal)
// still escape '<', '>' and '&' inside it; VerifyRecord accepts either.
func (r Record) MarshalJSON() ([]byte, error) { return r.appendJSON(nil), nil }

func (r *Record) appendJSON(b []byte) []byte {
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, r.Index, 10)
	b = append(b, `,"leaf_hash":`...)
	b = strconv.AppendQuote(b, r.LeafHash)
	b = append(b, `,"commitment":`...)
	b = strconv.AppendQuote(b, r.Commitment)
	switch {
	case r.Erased:
		return append(b, `,"erased":true}`...)
	case r.Truncated:
		return append(b, `,"truncated":true}`...)
	}
	b = append(b, `,"salt":`...)
	b = strconv.AppendQuote(b, r.Salt)
	b = append(b, `,"event":`...)
	b = append(b, r.Event...)
	return append(b, '}')
}

// VerifyRecord checks a received record against itself: the leaf hash is
// the commitment's RFC 6962 leaf hash and, unless the record is erased,
// SHA-256(salt || canonical event) is the commitment. It returns the event
// (the zero Event for an erased or truncated record, of which only the
// leaf hash can be checked). To check the record against the
// ledger, check LeafHash at Index with an inclusion proof
// (tlog.CheckRecord) under a signed checkpoint.
func VerifyRecord(r Record) (audit.Event, error) {
	commit, err := hex.DecodeString(r.Commitment)
	if err != nil || len(commit) != sha256.Size {
		return audit.Event{}, fmt.Errorf("%w: commitment is not a hex SHA-256", ErrBadRecord)
	}
	lh := tlog.RecordHash(commit)
	if r.LeafHash != hex.EncodeToString(lh[:]) {
		return audit.Event{}, fmt.Errorf("%w: leaf hash is not the commitment's", ErrBadRecord)
	}
	if r.Index < 0 {
		return audit.Event{}, fmt.Errorf("%w: negative index", ErrBadRecord)
	}
	if r.Erased || r.Truncated {
		if r.Salt != "" || len(r.Event) != 0 {
			return audit.Event{}, fmt.Errorf("%w: erased or truncated record with a payload", ErrBadRecord)
		}
		return audit.Event{}, nil
	}
	salt, err := hex.DecodeString(r.Salt)
	if err != nil || len(salt) != 32 {
		return audit.Event{}, fmt.Errorf("%w: salt is not 32 hex bytes", ErrBadRecord)
	}
	ev, err := decodeLoose(r.Event)
	if err != nil {
		return audit.Event{}, err
	}
	enc, err := ev.Encode()
	if err != nil {
		return audit.Event{}, fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	h := sha256.New()
	h.Write(salt)
	h.Write(enc)
	if !bytes.Equal(h.Sum(nil), commit) {
		return audit.Event{}, fmt.Errorf("%w: index %d", ErrBadRecord, r.Index)
	}
	ev.Index = r.Index
	return ev, nil
}
