package server

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/coffer-vault/coffer/internal/auth"
	"github.com/coffer-vault/coffer/internal/meta"
	"github.com/coffer-vault/coffer/internal/policy"
	"github.com/coffer-vault/coffer/internal/s3api"
)

// Step-up and role composition endpoints of the admin plane:
//
//	POST   /admin/v1/mfa/verify                       {"code"} or {"recovery_code"}: refresh the session's MFA proof
//	POST   /admin/v1/mfa/recovery-codes               new recovery codes (needs a fresh MFA proof)
//	POST   /admin/v1/roles/{name}/policies/{policy}   attach a stored policy to a custom role
//	DELETE /admin/v1/roles/{name}/policies/{policy}   detach it

func (a *identityAPI) stepUpRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /admin/v1/mfa/verify", a.session(a.handleVerifyMFA))
	mux.HandleFunc("POST /admin/v1/mfa/recovery-codes", a.session(a.handleRecoveryCodes))
	mux.HandleFunc("POST /admin/v1/roles/{name}/policies/{policy}", a.session(a.handleAttachPolicy(true)))
	mux.HandleFunc("DELETE /admin/v1/roles/{name}/policies/{policy}", a.session(a.handleAttachPolicy(false)))
}

// now is the admin plane's clock: the identity service's, so that a test
// can age an MFA proof.
func (a *identityAPI) now() time.Time { return a.auth.Now() }

// mfaAge says how old the session's MFA proof is, for messages.
func mfaAge(id auth.Identity, now time.Time) string {
	if !id.MFA || id.MFAAt.IsZero() {
		return "this session has no MFA proof"
	}
	return fmt.Sprintf("this session's MFA proof is %v old", now.Sub(id.MFAAt).Round(time.Second))
}

// stepUpMessage is the 403 MFARequired text for action.
func stepUpMessage(action string, id auth.Identity, now time.Time) string {
	return fmt.Sprintf("%s needs an MFA proof from the last %v and %s: run `coffer mfa verify` (or log in again with a one-time code)",
		action, policy.StepUpWindow, mfaAge(id, now))
}

func (a *identityAPI) handleVerifyMFA(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Code         string `json:"code"`
		RecoveryCode string `json:"recovery_code"`
	}
	id := identityOf(r)
	if !readJSON(w, r, &req) || !a.allowed(w, r, "admin:VerifyMFA", "arn:coffer:admin:::users/"+id.User) {
		return
	}
	nid, err := a.auth.VerifyMFA(r.Context(), bearer(r), auth.MFAProof{Code: req.Code, RecoveryCode: req.RecoveryCode, IP: s3api.RemoteIP(r)})
	switch {
	case writeThrottled(w, err):
	case errors.Is(err, auth.ErrNoMFA):
		writeJSONError(w, http.StatusConflict, "MFANotEnrolled", "this account has no MFA enrolled: run `coffer mfa enroll`")
	case errors.Is(err, auth.ErrMFARequired):
		writeJSONError(w, http.StatusBadRequest, "MissingCode", "give a one-time code or a recovery code")
	case errors.Is(err, auth.ErrBadCredentials):
		a.log.Info("MFA verification failed", "user", id.User, "ip", s3api.RemoteIP(r))
		writeJSONError(w, http.StatusUnauthorized, "BadCredentials", "wrong or already used code")
	case errors.Is(err, auth.ErrUnauthorized):
		writeJSONError(w, http.StatusUnauthorized, "Unauthorized", "log in first (the session may have expired)")
	case err != nil:
		a.log.Error("verify MFA", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "verification failed")
	default:
		auditOf(r).ev.Actor.MFA = true
		a.log.Info("MFA verified", "user", id.User)
		writeJSON(w, http.StatusOK, map[string]any{"user": nid.User, "mfa": true, "mfa_at": nid.MFAAt})
	}
}

// handleRecoveryCodes replaces the caller's recovery codes. Whatever the
// role grants, it needs an MFA proof younger than policy.StepUpWindow: the
// codes are a second factor.
func (a *identityAPI) handleRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	id := identityOf(r)
	const action = "admin:EnrollMFA"
	resource := "arn:coffer:admin:::users/" + id.User
	now := a.now()
	if !id.MFA || id.MFAAt.IsZero() || now.Sub(id.MFAAt) > policy.StepUpWindow {
		auditOf(r).describe(action, resource)
		writeJSONError(w, http.StatusForbidden, "MFARequired", stepUpMessage("regenerating recovery codes", id, now))
		return
	}
	if !a.allowed(w, r, action, resource) {
		return
	}
	codes, err := a.auth.RegenerateRecoveryCodes(r.Context(), id.User)
	switch {
	case errors.Is(err, auth.ErrNoMFA):
		writeJSONError(w, http.StatusConflict, "MFANotEnrolled", "this account has no MFA enrolled: run `coffer mfa enroll`")
	case err != nil:
		a.log.Error("regenerate recovery codes", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "could not regenerate the recovery codes")
	default:
		a.log.Info("recovery codes regenerated", "user", id.User)
		writeJSON(w, http.StatusOK, map[string]any{"recovery_codes": codes})
	}
}

// handleAttachPolicy adds (attach) or removes a stored policy from a custom
// role: admin:AttachPolicy / admin:DetachPolicy on the role, both step-up.
func (a *identityAPI) handleAttachPolicy(attach bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name, pol := r.PathValue("name"), r.PathValue("policy")
		action := "admin:DetachPolicy"
		if attach {
			action = "admin:AttachPolicy"
		}
		if !a.allowed(w, r, action, "arn:coffer:admin:::roles/"+name) {
			return
		}
		a.rbac.Lock()
		defer a.rbac.Unlock()
		role, err := a.policy.Role(name)
		switch {
		case errors.Is(err, policy.ErrNoSuchRole):
			writeJSONError(w, http.StatusNotFound, "NoSuchRole", fmt.Sprintf("no role %q", name))
			return
		case err != nil:
			writeJSONError(w, http.StatusInternalServerError, "InternalError", "could not read the role")
			return
		case role.Builtin:
			writeJSONError(w, http.StatusForbidden, "BuiltinRole", "built-in roles cannot be changed; store a copy under another name (coffer role add)")
			return
		}
		ps := slices.DeleteFunc(slices.Clone(role.Policies), func(p string) bool { return p == "coffer-self-service" })
		has := slices.Contains(ps, pol)
		switch {
		case attach && has:
			w.WriteHeader(http.StatusNoContent)
			return
		case attach:
			ps = append(ps, pol)
		case pol == "coffer-self-service":
			writeJSONError(w, http.StatusBadRequest, "SelfServicePolicy", "every role holds coffer-self-service; deny in another policy to take a right away")
			return
		case !has:
			writeJSONError(w, http.StatusNotFound, "NotAttached", fmt.Sprintf("role %q does not hold policy %q", name, pol))
			return
		default:
			ps = slices.DeleteFunc(ps, func(p string) bool { return p == pol })
		}
		err = a.policy.PutRole(policy.Role{Name: name, Policies: ps, MFAAtLogin: role.MFAAtLogin})
		switch {
		case errors.Is(err, policy.ErrNoSuchPolicy):
			writeJSONError(w, http.StatusNotFound, "NoSuchPolicy", fmt.Sprintf("no policy %q", pol))
			return
		case err != nil:
			writeJSONError(w, http.StatusBadRequest, "InvalidRole", err.Error())
			return
		}
		if err := a.policies.PutRoleDef(r.Context(), meta.RoleDef{Name: name, Policies: ps, MFAAtLogin: role.MFAAtLogin}); err != nil {
			a.log.Error("store role", "err", err)
			writeJSONError(w, http.StatusInternalServerError, "InternalError", "could not store the role")
			return
		}
		a.log.Info("role changed", "by", identityOf(r).User, "role", name, "action", action, "policy", pol)
		w.WriteHeader(http.StatusNoContent)
	}
}
