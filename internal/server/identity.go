package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coffer-vault/coffer/internal/audit"
	"github.com/coffer-vault/coffer/internal/auth"
	"github.com/coffer-vault/coffer/internal/meta"
	"github.com/coffer-vault/coffer/internal/policy"
	"github.com/coffer-vault/coffer/internal/s3api"
)

// identityAPI is the session-authenticated part of the admin plane: the
// first-user setup, login with MFA, logout, whoami, TOTP enrolment and user
// management, each decided by the policy engine.
type identityAPI struct {
	auth   *auth.Service
	policy *policy.Engine
	store  interface {
		ListUsers(ctx context.Context) ([]meta.User, error)
		GetUser(ctx context.Context, name string) (meta.User, error)
		ListSessions(ctx context.Context, user string) ([]meta.Session, error)
		DeleteSession(ctx context.Context, hash []byte) error
	}
	setup    *setupToken
	keys     *accessKeys
	policies policyStore
	ledger   *ledger
	log      *slog.Logger

	// rbac serializes the changes that create or remove references between
	// users, groups, roles and policies, so that a deletion's "still in
	// use?" check cannot race an assignment.
	rbac sync.Mutex
}

// setupToken is the one-time token printed at first start; whoever presents
// it first creates the first admin (as Grafana and Vault bootstrap). Only its
// hash is kept, in DATA/setup-token (0600), until it is used.
type setupToken struct {
	mu   sync.Mutex
	path string
	hash []byte // nil once used or when there is none
}

// newSetupToken loads the pending setup token, or makes one when the store
// has no user yet. It returns the token text only when it was just made.
func newSetupToken(ctx context.Context, dir string, users interface {
	ListUsers(ctx context.Context) ([]meta.User, error)
}) (*setupToken, string, error) {
	st := &setupToken{path: filepath.Join(dir, "setup-token")}
	if b, err := os.ReadFile(st.path); err == nil {
		st.hash = b
		return st, "", nil
	}
	us, err := users.ListUsers(ctx)
	if err != nil || len(us) > 0 {
		return st, "", err
	}
	raw := make([]byte, 24)
	rand.Read(raw)
	token := base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(token))
	if err := writeFileAtomic(st.path, sum[:], 0o600); err != nil {
		return nil, "", err
	}
	st.hash = sum[:]
	return st, token, nil
}

// consume checks token and, when it matches, retires it for good.
func (t *setupToken) consume(token string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	sum := sha256.Sum256([]byte(token))
	if t.hash == nil || subtle.ConstantTimeCompare(sum[:], t.hash) != 1 {
		return false
	}
	t.hash = nil
	os.Remove(t.path)
	return true
}

func (a *identityAPI) routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /admin/v1/setup", a.handleSetup)
	mux.HandleFunc("POST /admin/v1/login", a.handleLogin)
	mux.HandleFunc("POST /admin/v1/logout", a.handleLogout)
	mux.HandleFunc("GET /admin/v1/whoami", a.session(a.handleWhoami))
	mux.HandleFunc("POST /admin/v1/mfa/totp", a.session(a.handleEnrollTOTP))
	mux.HandleFunc("GET /admin/v1/users", a.session(a.decide("admin:ListUsers", fixed("arn:coffer:admin:::users/*"), a.handleListUsers)))
	mux.HandleFunc("POST /admin/v1/users", a.session(a.handleCreateUser))
	mux.HandleFunc("GET /admin/v1/explain", a.session(a.handleExplain))
	mux.HandleFunc("POST /admin/v1/access-keys", a.session(a.handleCreateAccessKey))
	mux.HandleFunc("GET /admin/v1/access-keys", a.session(a.handleListAccessKeys))
	mux.HandleFunc("DELETE /admin/v1/access-keys/{id}", a.session(a.handleDeleteAccessKey))
	mux.HandleFunc("DELETE /admin/v1/users/{name}", a.session(a.userOp("admin:DeleteUser", a.auth.DeleteUser)))
	mux.HandleFunc("POST /admin/v1/users/{name}/lock", a.session(a.userOp("admin:LockUser", a.auth.Lock)))
	mux.HandleFunc("POST /admin/v1/users/{name}/unlock", a.session(a.userOp("admin:UnlockUser", a.auth.Unlock)))
	mux.HandleFunc("PUT /admin/v1/users/{name}/password", a.session(a.handleSetPassword))
	mux.HandleFunc("DELETE /admin/v1/users/{name}/mfa", a.session(a.userOp("admin:ResetMFA", a.auth.ResetMFA)))
	mux.HandleFunc("PUT /admin/v1/users/{name}/roles", a.session(a.handleAssignRoles))
	mux.HandleFunc("GET /admin/v1/sessions", a.session(a.handleListSessions))
	mux.HandleFunc("DELETE /admin/v1/sessions/{id}", a.session(a.handleRevokeSession))
	mux.HandleFunc("PUT /admin/v1/users/{name}/groups", a.session(a.handleAssignGroups))
	mux.HandleFunc("GET /admin/v1/groups", a.session(a.decide("admin:ListGroups", fixed("arn:coffer:admin:::groups/*"), a.handleListGroups)))
	mux.HandleFunc("PUT /admin/v1/groups/{name}", a.session(a.handlePutGroup))
	mux.HandleFunc("GET /admin/v1/policies", a.session(a.decide("admin:ListPolicies", fixed("arn:coffer:admin:::policies/*"), a.handleListPolicies)))
	mux.HandleFunc("PUT /admin/v1/policies/{name}", a.session(a.handlePutPolicy))
	mux.HandleFunc("GET /admin/v1/roles", a.session(a.decide("admin:ListRoles", fixed("arn:coffer:admin:::roles/*"), a.handleListRoles)))
	mux.HandleFunc("PUT /admin/v1/roles/{name}", a.session(a.handlePutRole))
	mux.HandleFunc("DELETE /admin/v1/policies/{name}", a.session(a.handleDeletePolicy))
	mux.HandleFunc("DELETE /admin/v1/roles/{name}", a.session(a.handleDeleteRole))
	mux.HandleFunc("DELETE /admin/v1/groups/{name}", a.session(a.handleDeleteGroup))
	a.stepUpRoutes(mux)
}

// readJSON decodes a bounded JSON body, refusing unknown fields.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSONError(w, http.StatusBadRequest, "MalformedJSON", "the request body is not the expected JSON object")
		return false
	}
	return true
}

func (a *identityAPI) handleSetup(w http.ResponseWriter, r *http.Request) {
	var req struct{ Token, User, Password string }
	if !readJSON(w, r, &req) {
		return
	}
	auditOf(r).ev.Actor.User = audit.Clean(req.User, 128)
	auditOf(r).describe("auth:Setup", "user:"+req.User)
	if err := auth.ValidUserName(req.User); err != nil {
		writeJSONError(w, http.StatusBadRequest, "InvalidUserName", err.Error())
		return
	}
	if err := auth.CheckPassword(req.Password, req.User); err != nil {
		writeJSONError(w, http.StatusBadRequest, "WeakPassword", err.Error())
		return
	}
	// The intent is recorded before the one-time token is spent: a ledger
	// that cannot record leaves setup undone and the token usable.
	if !a.ledger.permit(w, r) {
		return
	}
	if !a.setup.consume(req.Token) {
		writeJSONError(w, http.StatusForbidden, "InvalidSetupToken", "the setup token is wrong or has been used")
		return
	}
	if err := a.auth.AddUser(r.Context(), req.User, req.Password, []string{"admin"}); err != nil {
		a.log.Error("setup: create first admin", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "could not create the first admin")
		return
	}
	// The bootstrap access key belongs to the first admin from now on.
	if _, err := a.keys.store.SetAccessKeyOwner(r.Context(), adminOwner, req.User); err != nil {
		a.log.Error("setup: hand over the bootstrap key", "err", err)
	}
	a.log.Info("first admin created", "user", req.User)
	writeJSON(w, http.StatusCreated, map[string]string{"user": req.User, "next": "log in, then enrol TOTP"})
}

func (a *identityAPI) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req struct {
		User, Password, Code string
		RecoveryCode         string `json:"recovery_code"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	aa := auditOf(r)
	aa.ev.Actor.User = audit.Clean(req.User, 128)
	aa.describe("auth:Login", "user:"+req.User)
	if req.Code != "" || req.RecoveryCode != "" {
		aa.describe("auth:LoginMFA", "user:"+req.User)
	}
	res, err := a.auth.Login(r.Context(), auth.LoginRequest{User: req.User, Password: req.Password, Code: req.Code, RecoveryCode: req.RecoveryCode, IP: s3api.RemoteIP(r)})
	switch {
	case writeThrottled(w, err):
	case errors.Is(err, auth.ErrMFARequired):
		writeJSONError(w, http.StatusUnauthorized, "MFARequired", "this account needs a one-time code")
	case errors.Is(err, auth.ErrBadCredentials):
		a.log.Info("login failed", "user", req.User, "ip", s3api.RemoteIP(r))
		writeJSONError(w, http.StatusUnauthorized, "BadCredentials", "wrong user name, password or code")
	case err != nil:
		a.log.Error("login", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "login failed")
	default:
		a.log.Info("login", "user", req.User, "ip", s3api.RemoteIP(r), "mfa", res.MFA)
		aa.ev.Actor.MFA = res.MFA
		writeJSON(w, http.StatusOK, map[string]any{"token": res.Token, "mfa": res.MFA, "must_enroll_mfa": res.MustEnrollMFA})
	}
}

// writeThrottled answers 429 (with Retry-After) when err refuses a login
// or MFA attempt for its rate or a locked account, and reports whether it
// did.
func writeThrottled(w http.ResponseWriter, err error) bool {
	var te *auth.ThrottledError
	if !errors.As(err, &te) {
		return false
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(te.RetryAfter.Seconds()+1)))
	code := "TooManyAttempts"
	if errors.Is(err, auth.ErrLocked) {
		code = "AccountLocked"
	}
	writeJSONError(w, http.StatusTooManyRequests, code, err.Error())
	return true
}

// targetUser is the user named by ?user=, or the session's own.
func targetUser(r *http.Request) string {
	if u := r.URL.Query().Get("user"); u != "" {
		return u
	}
	return identityOf(r).User
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return ""
}

func (a *identityAPI) handleLogout(w http.ResponseWriter, r *http.Request) {
	auditOf(r).describe("auth:Logout", "")
	if !a.ledger.permit(w, r) {
		return
	}
	if err := a.auth.Logout(r.Context(), bearer(r)); err != nil {
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "logout failed")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type identityKey struct{}

// session requires a valid session token.
func (a *identityAPI) session(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := a.auth.Authenticate(r.Context(), bearer(r))
		if errors.Is(err, auth.ErrUnauthorized) {
			writeJSONError(w, http.StatusUnauthorized, "Unauthorized", "log in first (the session may have expired)")
			return
		}
		if err != nil {
			a.log.Error("session", "err", err)
			writeJSONError(w, http.StatusInternalServerError, "InternalError", "session lookup failed")
			return
		}
		auditOf(r).sessionActor(r, id)
		h(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	}
}

func identityOf(r *http.Request) auth.Identity {
	id, _ := r.Context().Value(identityKey{}).(auth.Identity)
	return id
}

// allowed asks the policy engine and writes the refusal when it says no.
func (a *identityAPI) allowed(w http.ResponseWriter, r *http.Request, action, resource string) bool {
	id := identityOf(r)
	auditOf(r).describe(action, resource)
	// A role that needs MFA at login gets nothing but enrolment from a
	// session without an MFA proof.
	if !id.MFA && action != "admin:EnrollMFA" && action != "admin:VerifyMFA" && a.mfaAtLogin(id.Roles) {
		writeJSONError(w, http.StatusForbidden, "MFARequired", "your role requires MFA: enrol (coffer mfa enroll) and log in with a one-time code")
		return false
	}
	d := a.policy.Decide(policy.Principal{User: id.User, Roles: id.Roles, MFA: id.MFA, MFAAt: id.MFAAt},
		action, resource, policy.Request{Time: a.now(), IP: s3api.RemoteIP(r)})
	if d.Allow {
		return a.ledger.permit(w, r)
	}
	a.log.Info("admin access denied", "user", id.User, "action", action, "resource", resource, "reason", d.Reason)
	if d.RequireMFA {
		writeJSONError(w, http.StatusForbidden, "MFARequired", stepUpMessage(action, id, a.now()))
		return false
	}
	writeJSONError(w, http.StatusForbidden, "AccessDenied", d.Reason)
	return false
}

// fixed names the same resource for every request.
func fixed(resource string) func(*http.Request) string {
	return func(*http.Request) string { return resource }
}

func (a *identityAPI) decide(action string, resource func(*http.Request) string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.allowed(w, r, action, resource(r)) {
			h(w, r)
		}
	}
}

func (a *identityAPI) handleWhoami(w http.ResponseWriter, r *http.Request) {
	id := identityOf(r)
	out := map[string]any{"user": id.User, "roles": id.Roles, "mfa": id.MFA}
	if id.MFA {
		out["mfa_at"] = id.MFAAt
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *identityAPI) handleEnrollTOTP(w http.ResponseWriter, r *http.Request) {
	id := identityOf(r)
	if !a.allowed(w, r, "admin:EnrollMFA", "arn:coffer:admin:::users/"+id.User) {
		return
	}
	uri, codes, err := a.auth.EnrollTOTP(r.Context(), id.User)
	if err != nil {
		a.log.Error("enrol TOTP", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "enrolment failed")
		return
	}
	a.log.Info("TOTP enrolled", "user", id.User)
	writeJSON(w, http.StatusOK, map[string]any{"otpauth_uri": uri, "recovery_codes": codes})
}

func (a *identityAPI) handleListUsers(w http.ResponseWriter, r *http.Request) {
	us, err := a.store.ListUsers(r.Context())
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "cannot list users")
		return
	}
	type userJSON struct {
		Name   string    `json:"name"`
		Roles  []string  `json:"roles"`
		Groups []string  `json:"groups"`
		MFA    bool      `json:"mfa"`
		Locked bool      `json:"locked"`
		Since  time.Time `json:"created"`
	}
	out := []userJSON{}
	for _, u := range us {
		out = append(out, userJSON{u.Name, u.Roles, u.Groups, len(u.TOTPSecret) > 0, time.Now().Before(u.LockedUntil), u.Created})
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *identityAPI) handleCreateUser(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name, Password string
		Roles          []string
	}
	if !readJSON(w, r, &req) {
		return
	}
	if !a.allowed(w, r, "admin:CreateUser", "arn:coffer:admin:::users/"+req.Name) {
		return
	}
	a.rbac.Lock()
	defer a.rbac.Unlock()
	if !a.checkRolesExist(w, req.Roles) {
		return
	}
	err := a.auth.AddUser(r.Context(), req.Name, req.Password, req.Roles)
	switch {
	case errors.Is(err, meta.ErrExists):
		writeJSONError(w, http.StatusConflict, "UserExists", "a user with that name exists")
	case errors.Is(err, auth.ErrInvalidName):
		writeJSONError(w, http.StatusBadRequest, "InvalidUserName", err.Error())
	case errors.Is(err, auth.ErrPasswordTooShort), errors.Is(err, auth.ErrPasswordTooLong), errors.Is(err, auth.ErrPasswordWeak), errors.Is(err, auth.ErrPasswordInvalid):
		writeJSONError(w, http.StatusBadRequest, "WeakPassword", err.Error())
	case err != nil:
		a.log.Error("create user", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "could not create the user")
	default:
		a.log.Info("user created", "by", identityOf(r).User, "user", req.Name, "roles", strings.Join(req.Roles, ","))
		writeJSON(w, http.StatusCreated, map[string]any{"name": req.Name, "roles": req.Roles})
	}
}

// handleExplain answers "would USER be allowed ACTION on RESOURCE, and which
// statement decides?" (`coffer policy explain`). mfa=true evaluates as if
// the user had just given an MFA proof.
func (a *identityAPI) handleExplain(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	user, action, resource := q.Get("user"), q.Get("action"), q.Get("resource")
	if user == "" || action == "" || resource == "" {
		writeJSONError(w, http.StatusBadRequest, "MissingParameter", "user, action and resource are required")
		return
	}
	if !a.allowed(w, r, "admin:ExplainPolicy", "arn:coffer:admin:::users/"+user) {
		return
	}
	u, err := a.store.GetUser(r.Context(), user)
	if errors.Is(err, meta.ErrNoSuchUser) {
		writeJSONError(w, http.StatusNotFound, "NoSuchUser", "no such user")
		return
	}
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "cannot read the user")
		return
	}
	roles, err := auth.EffectiveRoles(r.Context(), a.policies, u)
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "cannot read the user's groups")
		return
	}
	now := time.Now()
	p := policy.Principal{User: u.Name, Roles: roles}
	if q.Get("mfa") == "true" {
		p.MFA, p.MFAAt = true, now
	}
	d := a.policy.Decide(p, action, resource, policy.Request{Time: now, IP: q.Get("ip")})
	writeJSON(w, http.StatusOK, map[string]any{
		"user": u.Name, "roles": roles, "action": action, "resource": resource,
		"allow": d.Allow, "require_mfa": d.RequireMFA, "reason": d.Reason,
	})
}

// userOp runs op on the user named in the path after asking the policy
// engine about action on that user.
func (a *identityAPI) userOp(action string, op func(ctx context.Context, name string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if auth.ValidUserName(name) != nil {
			writeJSONError(w, http.StatusBadRequest, "InvalidUserName", auth.ErrInvalidName.Error())
			return
		}
		if !a.allowed(w, r, action, "arn:coffer:admin:::users/"+name) {
			return
		}
		err := op(r.Context(), name)
		switch {
		case errors.Is(err, meta.ErrNoSuchUser):
			writeJSONError(w, http.StatusNotFound, "NoSuchUser", "no such user")
		case err != nil:
			a.log.Error(action, "user", name, "err", err)
			writeJSONError(w, http.StatusInternalServerError, "InternalError", "the operation failed")
		default:
			a.log.Info(action, "by", identityOf(r).User, "user", name)
			w.WriteHeader(http.StatusNoContent)
		}
	}
}

// handleSetPassword changes a password: one's own (self-service, with the
// current password) or another user's (admin:ResetPassword).
func (a *identityAPI) handleSetPassword(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req struct {
		Current  string `json:"current_password"`
		Password string `json:"password"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	self := identityOf(r).User == name
	action := "admin:ResetPassword"
	if self {
		action = "admin:ChangePassword"
	}
	if !a.allowed(w, r, action, "arn:coffer:admin:::users/"+name) {
		return
	}
	if self {
		// Re-prove the current password, so a stolen session cannot take
		// over the account.
		if _, err := a.auth.Login(r.Context(), auth.LoginRequest{User: name, Password: req.Current, IP: s3api.RemoteIP(r)}); err != nil && !errors.Is(err, auth.ErrMFARequired) {
			writeJSONError(w, http.StatusForbidden, "BadCredentials", "the current password is wrong")
			return
		}
	}
	err := a.auth.SetPassword(r.Context(), name, req.Password)
	switch {
	case errors.Is(err, meta.ErrNoSuchUser):
		writeJSONError(w, http.StatusNotFound, "NoSuchUser", "no such user")
	case errors.Is(err, auth.ErrPasswordTooShort), errors.Is(err, auth.ErrPasswordTooLong), errors.Is(err, auth.ErrPasswordWeak), errors.Is(err, auth.ErrPasswordInvalid):
		writeJSONError(w, http.StatusBadRequest, "WeakPassword", err.Error())
	case err != nil:
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "could not change the password")
	default:
		a.log.Info("password changed", "by", identityOf(r).User, "user", name)
		w.WriteHeader(http.StatusNoContent)
	}
}

// mfaAtLogin reports whether any of roles requires MFA at login.
func (a *identityAPI) mfaAtLogin(roles []string) bool {
	for _, name := range roles {
		if r, err := a.policy.Role(name); err == nil && r.MFAAtLogin {
			return true
		}
	}
	return false
}

// Limits of access keys minted from a session.
const (
	maxKeyLifetime = 90 * 24 * time.Hour
	// mfaKeyLifetime bounds keys that carry an MFA proof: short-lived, as
	// step-up only honours proofs younger than policy.StepUpWindow anyway.
	mfaKeyLifetime = time.Hour
)

// handleCreateAccessKey mints an S3 access key for the session's user
// (`coffer key create`). With "mfa", the session must hold a fresh MFA proof
// and the key carries it, so S3 requests can pass step-up for a few minutes.
func (a *identityAPI) handleCreateAccessKey(w http.ResponseWriter, r *http.Request) {
	var req struct {
		MFA       bool  `json:"mfa"`
		ExpiresIn int64 `json:"expires_in_seconds"`
		// Policy is an optional inline policy document that narrows the
		// owner's rights for this key; it can never widen them.
		Policy json.RawMessage `json:"policy"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	id := identityOf(r)
	if !a.allowed(w, r, "admin:CreateAccessKey", "arn:coffer:admin:::users/"+id.User) {
		return
	}
	var keyPolicy string
	if len(req.Policy) > 0 && string(req.Policy) != "null" {
		doc, err := policy.Parse(req.Policy)
		if err == nil {
			_, err = a.policy.Compile("key", doc) // conditions too
		}
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, "MalformedPolicy", err.Error())
			return
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, req.Policy); err != nil {
			writeJSONError(w, http.StatusBadRequest, "MalformedPolicy", "the policy is not valid JSON")
			return
		}
		keyPolicy = buf.String()
	}
	now := time.Now()
	life := time.Duration(req.ExpiresIn) * time.Second
	switch {
	case req.ExpiresIn < 0 || life > maxKeyLifetime:
		writeJSONError(w, http.StatusBadRequest, "InvalidExpiry", fmt.Sprintf("expiry must be between 0 (none) and %v", maxKeyLifetime))
		return
	case req.MFA && (life == 0 || life > mfaKeyLifetime):
		life = mfaKeyLifetime
	}
	var mfaAt time.Time
	if req.MFA {
		if !id.MFA || now.Sub(id.MFAAt) > policy.StepUpWindow {
			writeJSONError(w, http.StatusForbidden, "MFARequired", "an MFA key needs a session with a fresh MFA proof: run `coffer mfa verify` (or log in again with a one-time code)")
			return
		}
		mfaAt = id.MFAAt
	}
	var expires time.Time
	if life > 0 {
		expires = now.Add(life).UTC()
	}
	keyID, secret, err := a.keys.mint(r.Context(), meta.AccessKey{Owner: id.User, Expires: expires, MFAAt: mfaAt, Policy: keyPolicy})
	if err != nil {
		a.log.Error("create access key", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "could not create the key")
		return
	}
	a.log.Info("access key created", "user", id.User, "access_key", keyID, "mfa", req.MFA, "expires", expires, "policy", keyPolicy != "")
	out := map[string]any{"access_key": keyID, "secret_key": secret, "mfa": req.MFA}
	if keyPolicy != "" {
		out["policy"] = json.RawMessage(keyPolicy)
	}
	if !expires.IsZero() {
		out["expires"] = expires
	}
	writeJSON(w, http.StatusCreated, out)
}

// handleListAccessKeys lists the keys of the session's user, or of ?user=
// for those allowed admin:ListAccessKeys on that user. Secrets never leave.
func (a *identityAPI) handleListAccessKeys(w http.ResponseWriter, r *http.Request) {
	user := targetUser(r)
	if !a.allowed(w, r, "admin:ListAccessKeys", "arn:coffer:admin:::users/"+user) {
		return
	}
	all, err := a.keys.store.ListAccessKeys(r.Context())
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "cannot list keys")
		return
	}
	type keyJSON struct {
		ID       string          `json:"access_key"`
		Created  time.Time       `json:"created"`
		Expires  *time.Time      `json:"expires,omitempty"`
		LastUsed *time.Time      `json:"last_used,omitempty"` // to within about a minute; absent if never
		MFA      bool            `json:"mfa"`
		Policy   json.RawMessage `json:"policy,omitempty"` // the key's narrowing policy, if any
	}
	out := []keyJSON{}
	for _, k := range all {
		if k.Owner != user {
			continue
		}
		kj := keyJSON{ID: k.ID, Created: k.Created, MFA: !k.MFAAt.IsZero()}
		if !k.Expires.IsZero() {
			e := k.Expires
			kj.Expires = &e
		}
		if !k.LastUsed.IsZero() {
			u := k.LastUsed
			kj.LastUsed = &u
		}
		if k.Policy != "" && json.Valid([]byte(k.Policy)) {
			kj.Policy = json.RawMessage(k.Policy)
		}
		out = append(out, kj)
	}
	writeJSON(w, http.StatusOK, out)
}

// handleDeleteAccessKey revokes a key, decided on the key owner's user.
func (a *identityAPI) handleDeleteAccessKey(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	k, err := a.keys.store.GetAccessKey(r.Context(), id)
	if errors.Is(err, meta.ErrNoSuchAccessKey) {
		writeJSONError(w, http.StatusNotFound, "NoSuchAccessKey", "no such access key")
		return
	}
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "cannot read the key")
		return
	}
	if !a.allowed(w, r, "admin:DeleteAccessKey", "arn:coffer:admin:::users/"+k.Owner) {
		return
	}
	if err := a.keys.store.DeleteAccessKey(r.Context(), id); err != nil && !errors.Is(err, meta.ErrNoSuchAccessKey) {
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "cannot delete the key")
		return
	}
	a.log.Info("access key deleted", "by", identityOf(r).User, "access_key", id, "owner", k.Owner)
	w.WriteHeader(http.StatusNoContent)
}

// sessionID names a session in listings: a prefix of its token's hash (not
// the token, which is never stored).
func sessionID(hash []byte) string { return hex.EncodeToString(hash[:12]) }

// handleListSessions lists the sessions of the caller, or of ?user= for
// those allowed admin:ListSessions on that user.
func (a *identityAPI) handleListSessions(w http.ResponseWriter, r *http.Request) {
	user := targetUser(r)
	if !a.allowed(w, r, "admin:ListSessions", "arn:coffer:admin:::users/"+user) {
		return
	}
	ses, err := a.store.ListSessions(r.Context(), user)
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "cannot list sessions")
		return
	}
	current := auth.HashSessionToken(bearer(r))
	type sessionJSON struct {
		ID       string    `json:"id"`
		Created  time.Time `json:"created"`
		LastSeen time.Time `json:"last_seen"`
		MFA      bool      `json:"mfa"`
		Current  bool      `json:"current"`
	}
	out := []sessionJSON{}
	for _, se := range ses {
		out = append(out, sessionJSON{sessionID(se.Hash), se.Created, se.LastSeen, !se.MFAAt.IsZero(), subtle.ConstantTimeCompare(se.Hash, current) == 1})
	}
	writeJSON(w, http.StatusOK, out)
}

// handleRevokeSession ends one session, named by its id from the listing,
// of the caller or (admin:RevokeSession) of ?user=.
func (a *identityAPI) handleRevokeSession(w http.ResponseWriter, r *http.Request) {
	user := targetUser(r)
	if !a.allowed(w, r, "admin:RevokeSession", "arn:coffer:admin:::users/"+user) {
		return
	}
	ses, err := a.store.ListSessions(r.Context(), user)
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "cannot list sessions")
		return
	}
	for _, se := range ses {
		if sessionID(se.Hash) == r.PathValue("id") {
			if err := a.store.DeleteSession(r.Context(), se.Hash); err != nil {
				writeJSONError(w, http.StatusInternalServerError, "InternalError", "cannot revoke the session")
				return
			}
			a.log.Info("session revoked", "by", identityOf(r).User, "user", user)
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	writeJSONError(w, http.StatusNotFound, "NoSuchSession", "no such session")
}
