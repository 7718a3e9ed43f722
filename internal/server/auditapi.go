package server

// The audit part of the admin plane: the latest checkpoint and public key,
// inclusion and consistency proofs, and erasure of a data subject. Reads
// need audit:Read* (role auditor); erasure needs audit:Erase, a dangerous
// action (fresh MFA). Callers authenticate with a session (Bearer) or a
// SigV4-signed access key, whichever they have.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/coffer-vault/coffer/internal/audit"
	"github.com/coffer-vault/coffer/internal/audit/export"
	"github.com/coffer-vault/coffer/internal/meta"
)

type auditAPI struct {
	ledger   *ledger
	identity *identityAPI
	admin    *adminAPI
	// streams ends when the server shuts down: a following tail stops
	// then instead of holding Shutdown to its timeout. Nil: never.
	streams context.Context
}

const auditResource = "arn:coffer:audit:::ledger"

func (a *auditAPI) routes(mux *http.ServeMux) {
	ledger := fixed(auditResource)
	mux.HandleFunc("GET /admin/v1/audit/checkpoint", a.authed("audit:ReadCheckpoint", ledger, a.checkpoint))
	mux.HandleFunc("GET /admin/v1/audit/proof/{n}", a.authed("audit:ProveInclusion", ledger, a.prove))
	mux.HandleFunc("GET /admin/v1/audit/consistency", a.authed("audit:ProveConsistency", ledger, a.consistency))
	mux.HandleFunc("GET /admin/v1/audit/search", a.authed("audit:Search", ledger, a.search))
	mux.HandleFunc("GET /admin/v1/audit/events/{n}", a.authed("audit:ReadEvent", ledger, a.event))
	mux.HandleFunc("GET /admin/v1/audit/tail", a.authed("audit:ReadTail", ledger, a.tail))
	mux.HandleFunc("GET /admin/v1/audit/status", a.authed("audit:ReadStatus", ledger, a.status))
	mux.HandleFunc("POST /admin/v1/audit/subjects/{subject}/erase", a.authed("audit:Erase", func(r *http.Request) string {
		return "arn:coffer:audit:::subjects/" + r.PathValue("subject")
	}, a.erase))
}

// authed admits a session or an access key allowed to do action.
func (a *auditAPI) authed(action string, resource func(*http.Request) string, h http.HandlerFunc) http.HandlerFunc {
	viaSession := a.identity.session(a.identity.decide(action, resource, h))
	viaKey := a.admin.authedOn(action, resource, h)
	return func(w http.ResponseWriter, r *http.Request) {
		if bearer(r) != "" {
			viaSession(w, r)
			return
		}
		viaKey(w, r)
	}
}

// CheckpointJSON is the reply of GET /admin/v1/audit/checkpoint.
type CheckpointJSON struct {
	Checkpoint string `json:"checkpoint"` // the signed note, as served at /ledger/checkpoint
	Size       int64  `json:"size"`
	Root       string `json:"root"` // base64, as in the note
	PublicKey  string `json:"public_key"`
}

func (a *auditAPI) checkpoint(w http.ResponseWriter, r *http.Request) {
	msg := a.ledger.log.Checkpoint()
	if len(msg) == 0 {
		writeJSONError(w, http.StatusServiceUnavailable, "NoCheckpoint", "the ledger has not signed a checkpoint yet")
		return
	}
	c, err := audit.OpenCheckpoint(msg, a.ledger.log.PublicKey())
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "the latest checkpoint does not verify")
		return
	}
	writeJSON(w, http.StatusOK, CheckpointJSON{
		Checkpoint: string(msg), Size: c.Tree.N, Root: base64.StdEncoding.EncodeToString(c.Tree.Hash[:]),
		PublicKey: a.ledger.log.PublicKey(),
	})
}

// ProofJSON is the reply of GET /admin/v1/audit/proof/{n}: check it with
// tlog.CheckRecord(proof, size, root, index, tlog.RecordHash(entry)).
type ProofJSON struct {
	Index      int64    `json:"index"`
	Entry      string   `json:"entry"`     // base64 of the 32-byte commitment
	LeafHash   string   `json:"leaf_hash"` // base64 of RFC 6962 leaf hash
	Size       int64    `json:"size"`
	Root       string   `json:"root"`
	Proof      []string `json:"proof"` // base64 hashes
	Checkpoint string   `json:"checkpoint"`
	PublicKey  string   `json:"public_key"`
}

func (a *auditAPI) prove(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
	if err != nil || n < 0 {
		writeJSONError(w, http.StatusBadRequest, "InvalidIndex", "the entry index must be a non-negative integer")
		return
	}
	if err := a.ledger.log.Publish(r.Context()); err != nil {
		writeJSONError(w, http.StatusServiceUnavailable, "AuditUnavailable", "the ledger cannot publish a checkpoint")
		return
	}
	p, err := audit.Prove(r.Context(), a.ledger.log.Dir(), a.ledger.log.PublicKey(), n)
	if err != nil {
		writeJSONError(w, http.StatusNotFound, "NoSuchEntry", err.Error())
		return
	}
	lh := tlog.RecordHash(p.Entry)
	writeJSON(w, http.StatusOK, ProofJSON{
		Index: n, Entry: base64.StdEncoding.EncodeToString(p.Entry), LeafHash: base64.StdEncoding.EncodeToString(lh[:]),
		Size: p.Tree.N, Root: base64.StdEncoding.EncodeToString(p.Tree.Hash[:]), Proof: hashes(p.Proof),
		Checkpoint: string(p.Checkpoint), PublicKey: a.ledger.log.PublicKey(),
	})
}

// ConsistencyJSON is the reply of GET /admin/v1/audit/consistency: check
// it with tlog.CheckTree(proof, new_size, new_root, old_size, old_root).
type ConsistencyJSON struct {
	OldSize int64    `json:"old_size"`
	OldRoot string   `json:"old_root"`
	NewSize int64    `json:"new_size"`
	NewRoot string   `json:"new_root"`
	Proof   []string `json:"proof"`
}

func (a *auditAPI) consistency(w http.ResponseWriter, r *http.Request) {
	old, err1 := strconv.ParseInt(r.URL.Query().Get("old"), 10, 64)
	nw, err2 := strconv.ParseInt(r.URL.Query().Get("new"), 10, 64)
	if err1 != nil || err2 != nil {
		writeJSONError(w, http.StatusBadRequest, "InvalidSize", "old and new must be tree sizes")
		return
	}
	if err := a.ledger.log.Publish(r.Context()); err != nil {
		writeJSONError(w, http.StatusServiceUnavailable, "AuditUnavailable", "the ledger cannot publish a checkpoint")
		return
	}
	p, err := audit.Consistency(r.Context(), a.ledger.log.Dir(), a.ledger.log.PublicKey(), old, nw)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "InvalidSize", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, ConsistencyJSON{
		OldSize: p.Old.N, OldRoot: base64.StdEncoding.EncodeToString(p.Old.Hash[:]),
		NewSize: p.New.N, NewRoot: base64.StdEncoding.EncodeToString(p.New.Hash[:]),
		Proof: hashes(p.Proof),
	})
}

func (a *auditAPI) erase(w http.ResponseWriter, r *http.Request) {
	subject := r.PathValue("subject")
	if subject == "" || len(subject) > 256 {
		writeJSONError(w, http.StatusBadRequest, "InvalidSubject", "name the user whose audit payloads to erase")
		return
	}
	// The request's own event is sealed under the caller's key: erasing
	// oneself would erase the record of the erasure too.
	if subject == auditOf(r).ev.Actor.User {
		writeJSONError(w, http.StatusConflict, "SelfErasure", "an erasure must be made by someone else than its subject, so that it stays on record")
		return
	}
	if err := a.ledger.log.Erase(r.Context(), subject); err != nil {
		a.ledger.slog.Error("audit erase", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "erasure failed")
		return
	}
	// The search index holds the subject's actor fields in clear: drop
	// them now, and again once the indexer has passed what it may have
	// read before the erasure.
	size := a.ledger.log.Size()
	if _, err := a.ledger.store.DeleteAuditActor(r.Context(), subject); err != nil {
		a.ledger.slog.Error("audit erase: search index", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "payloads erased, but the search index could not be purged; retry")
		return
	}
	if !a.ledger.schedulePurge(subject, size) {
		writeJSONError(w, http.StatusServiceUnavailable, "TooManyErasures", "payloads erased, but too many erasures are waiting for the search index; retry")
		return
	}
	// The request's own event (audit:Erase by the caller, resource
	// arn:coffer:audit:::subjects/USER) was recorded before the erasure,
	// sealed under the caller's key: the erasure itself stays on record.
	writeJSON(w, http.StatusOK, map[string]string{"erased": subject, "subject_id": audit.SubjectID(subject)})
}

func hashes[T ~[]tlog.Hash](hs T) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h[:])
	}
	return out
}

// SearchHitJSON is one result of GET /admin/v1/audit/search.
type SearchHitJSON struct {
	Index     int64     `json:"index"`
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor,omitempty"`
	AccessKey string    `json:"access_key,omitempty"`
	Action    string    `json:"action"`
	Resource  string    `json:"resource,omitempty"`
	Outcome   string    `json:"outcome"`
	SourceIP  string    `json:"source_ip,omitempty"`
}

// search queries the index: actor, action (exact or "s3:*"), resource
// (prefix), outcome, since, until (RFC 3339), from, before (indexes),
// newest, limit.
func (a *auditAPI) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var mq meta.AuditQuery
	mq.Actor, mq.Action, mq.ResourcePrefix, mq.Outcome = q.Get("actor"), q.Get("action"), q.Get("resource"), q.Get("outcome")
	bad := func(msg string) { writeJSONError(w, http.StatusBadRequest, "InvalidQuery", msg) }
	for name, dst := range map[string]*time.Time{"since": &mq.Since, "until": &mq.Until} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				bad(name + " must be an RFC 3339 time")
				return
			}
			*dst = t
		}
	}
	for name, dst := range map[string]*int64{"from": &mq.FromIndex, "before": &mq.BeforeIndex} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				bad(name + " must be a ledger index")
				return
			}
			*dst = n
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > meta.MaxAuditLimit {
			bad(fmt.Sprintf("limit must be 1..%d", meta.MaxAuditLimit))
			return
		}
		mq.Limit = n
	}
	mq.Newest = q.Get("newest") == "true"
	switch mq.Outcome {
	case "", audit.ResultAllowed, audit.ResultDenied, audit.ResultError:
	default:
		bad("outcome must be allowed, denied or error")
		return
	}
	hits, err := a.ledger.store.SearchAudit(r.Context(), mq)
	if err != nil {
		a.ledger.slog.Error("audit search", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "search failed")
		return
	}
	out := make([]SearchHitJSON, 0, len(hits))
	for _, h := range hits {
		out = append(out, SearchHitJSON(h))
	}
	writeJSON(w, http.StatusOK, map[string]any{"hits": out, "indexed": a.indexed()})
}

// indexed is how far the search index has caught up with the ledger.
func (a *auditAPI) indexed() int64 {
	for _, f := range a.ledger.followers {
		if st := f.Status(); st.Sink == "search-index" {
			return st.Cursor
		}
	}
	return 0
}

// event returns the full exported record of entry n: the event, its salt
// and commitment and leaf hash (check it with export.VerifyRecord).
func (a *auditAPI) event(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
	if err != nil || n < 0 || n >= a.ledger.log.Size() {
		writeJSONError(w, http.StatusNotFound, "NoSuchEntry", "no such ledger entry")
		return
	}
	rec, err := export.Fetch(r.Context(), a.ledger.log.Dir(), a.ledger.sealer, a.ledger.log, n)
	if err != nil {
		a.ledger.slog.Error("audit event", "index", n, "err", err)
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "cannot read the entry")
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

// tail streams records as JSON lines from ?from= (default: the current
// end) and, with ?follow=true, keeps streaming new ones until the client
// goes away.
func (a *auditAPI) tail(w http.ResponseWriter, r *http.Request) {
	end := a.ledger.log.Size()
	from := end
	if v := r.URL.Query().Get("from"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeJSONError(w, http.StatusBadRequest, "InvalidQuery", "from must be a ledger index")
			return
		}
		from = n
	}
	follow := r.URL.Query().Get("follow") == "true"
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if a.streams != nil {
		defer context.AfterFunc(a.streams, cancel)()
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	if !follow && from >= end {
		return
	}
	fl, _ := w.(http.Flusher)
	err := export.Stream(ctx, a.ledger.log.Dir(), a.ledger.sealer, a.ledger.log, from, func(rec export.Record) error {
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if _, err := w.Write(append(b, '\n')); err != nil {
			return err
		}
		if fl != nil {
			fl.Flush()
		}
		if !follow && rec.Index+1 >= end {
			return errTailDone
		}
		return nil
	})
	if err != nil && !errors.Is(err, errTailDone) && ctx.Err() == nil && !errors.Is(err, audit.ErrClosed) {
		a.ledger.slog.Info("audit tail ended", "err", err)
	}
}

var errTailDone = errors.New("tail: caught up")

// status reports the ledger, its witnesses and its exporters.
func (a *auditAPI) status(w http.ResponseWriter, r *http.Request) {
	var fs []export.Status
	for _, f := range a.ledger.followers {
		fs = append(fs, f.Status())
	}
	health := "ok"
	if err := a.ledger.healthy(); err != nil {
		health = err.Error()
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"size": a.ledger.log.Size(), "health": health, "public_key": a.ledger.log.PublicKey(),
		"witnesses": a.ledger.log.WitnessStatus(), "exports": fs,
	})
}
