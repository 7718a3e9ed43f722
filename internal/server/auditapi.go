package server

// The audit part of the admin plane: the latest checkpoint and public key,
// inclusion and consistency proofs, and erasure of a data subject. Reads
// need audit:Read* (role auditor); erasure needs audit:Erase, a dangerous
// action (fresh MFA). Callers authenticate with a session (Bearer) or a
// SigV4-signed access key, whichever they have.

import (
	"encoding/base64"
	"net/http"
	"strconv"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/coffer-vault/coffer/internal/audit"
)

type auditAPI struct {
	ledger   *ledger
	identity *identityAPI
	admin    *adminAPI
}

const auditResource = "arn:coffer:audit:::ledger"

func (a *auditAPI) routes(mux *http.ServeMux) {
	ledger := func(*http.Request) string { return auditResource }
	mux.HandleFunc("GET /admin/v1/audit/checkpoint", a.authed("audit:ReadCheckpoint", ledger, a.checkpoint))
	mux.HandleFunc("GET /admin/v1/audit/proof/{n}", a.authed("audit:ProveInclusion", ledger, a.prove))
	mux.HandleFunc("GET /admin/v1/audit/consistency", a.authed("audit:ProveConsistency", ledger, a.consistency))
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
	if err := a.ledger.log.Erase(r.Context(), subject); err != nil {
		a.ledger.slog.Error("audit erase", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "erasure failed")
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
