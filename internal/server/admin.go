package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/coffer-vault/coffer/internal/s3api/sigv4"
	"github.com/coffer-vault/coffer/internal/vault"
)

// adminAPI is the JSON admin plane under /admin/v1/. Until the identity issue
// lands it authenticates with SigV4 (like MinIO's admin API) and admits only
// access keys owned by the bootstrap admin.
type adminAPI struct {
	verifier *sigv4.Verifier
	authz    *keyAuthz
	vault    interface {
		KeyStatus(ctx context.Context) ([]vault.KeyVersionStatus, error)
	}
	rotate  func(ctx context.Context) (int, error)
	rewrap  *rewrapper
	log     *slog.Logger
	ledger  *ledger
	healthy func() error
}

func (a *adminAPI) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/v1/keys", a.authed("admin:GetKeyStatus", a.keyStatus))
	mux.HandleFunc("POST /admin/v1/keys/rotate", a.authed("admin:RotateKeys", a.keyRotate))
	mux.HandleFunc("/admin/", func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, http.StatusNotFound, "NotFound", "no such admin endpoint")
	})
	mux.HandleFunc("GET /health", a.health)
}

// maxAdminBody bounds admin request bodies.
const maxAdminBody = 1 << 20

// authed authenticates a SigV4-signed admin request and asks the policy
// engine whether the key may do action.
func (a *adminAPI) authed(action string, h http.HandlerFunc) http.HandlerFunc {
	return a.authedOn(action, fixed("arn:coffer:admin:::keys"), h)
}

// authedOn is authed for an action on the resource named by resource.
func (a *adminAPI) authedOn(action string, resource func(*http.Request) string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxAdminBody)
		aa := auditOf(r)
		aa.describe(action, resource(r))
		res, err := a.verifier.Verify(r)
		if err != nil {
			var se *sigv4.Error
			if errors.As(err, &se) {
				writeJSONError(w, se.Status, se.Code, se.Message)
				return
			}
			a.log.Error("admin authentication", "err", err)
			writeJSONError(w, http.StatusInternalServerError, "InternalError", "authentication failed")
			return
		}
		aa.ev.Actor.AccessKeyID = res.AccessKeyID
		if k, err := getAccessKey(r.Context(), a.authz.cache, a.authz.store, res.AccessKeyID); err == nil {
			// From the request's memo, no extra read; as Record would.
			aa.ev.Actor.User, aa.ev.Actor.MFA = k.Owner, !k.MFAAt.IsZero()
		}
		if err := a.authz.decide(r.Context(), res.AccessKeyID, action, resource(r)); err != nil {
			a.log.Info("admin access denied", "access_key", res.AccessKeyID, "action", action, "reason", err.Error())
			writeJSONError(w, http.StatusForbidden, "AccessDenied", "this access key may not "+action+": "+err.Error())
			return
		}
		if !a.ledger.permit(w, r) {
			return
		}
		r.Body = res.Body
		h(w, r)
	}
}

type keyVersionJSON struct {
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	Current bool      `json:"current"`
	DEKs    int64     `json:"deks"`
	Sealed  int64     `json:"sealed"` // metadata, tags and secrets sealed directly under this version
}

type keyStatusJSON struct {
	Current  int              `json:"current"`
	Versions []keyVersionJSON `json:"versions"`
	Rewrap   struct {
		rewrapStatus
		Remaining int64 `json:"remaining"`
	} `json:"rewrap"`
}

func (a *adminAPI) keyStatus(w http.ResponseWriter, r *http.Request) {
	vs, err := a.vault.KeyStatus(r.Context())
	if err != nil {
		a.log.Error("key status", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "cannot read key status")
		return
	}
	var out keyStatusJSON
	out.Versions = []keyVersionJSON{}
	for _, v := range vs {
		out.Versions = append(out.Versions, keyVersionJSON(v))
		if v.Current {
			out.Current = v.Version
		}
	}
	for _, v := range vs {
		if v.Version < out.Current {
			out.Rewrap.Remaining += v.DEKs + v.Sealed
		}
	}
	out.Rewrap.rewrapStatus = a.rewrap.snapshot()
	writeJSON(w, http.StatusOK, out)
}

func (a *adminAPI) keyRotate(w http.ResponseWriter, r *http.Request) {
	v, err := a.rotate(r.Context())
	if err != nil {
		a.log.Error("key rotation", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "key rotation failed")
		return
	}
	a.log.Info("key rotated", "version", v)
	a.rewrap.trigger()
	writeJSON(w, http.StatusAccepted, map[string]int{"version": v})
}

func (a *adminAPI) health(w http.ResponseWriter, r *http.Request) {
	if err := a.healthy(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unhealthy", "reason": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	noteCode(w, code)
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	writeJSON(w, status, map[string]body{"error": {Code: code, Message: msg}})
}
