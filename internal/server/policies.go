package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/coffer-vault/coffer/internal/auth"
	"github.com/coffer-vault/coffer/internal/meta"
	"github.com/coffer-vault/coffer/internal/policy"
)

// loadPolicies puts the stored administrator-defined policies and roles
// into the engine at start (built-ins are in the engine already).
func loadPolicies(ctx context.Context, store meta.Store, e *policy.Engine, log *slog.Logger) error {
	docs, err := store.ListPolicyDocs(ctx)
	if err != nil {
		return fmt.Errorf("load policies: %w", err)
	}
	for _, d := range docs {
		doc, err := policy.Parse([]byte(d.Document))
		if err == nil {
			err = e.PutPolicy(d.Name, doc)
		}
		if err != nil {
			log.Error("stored policy refused; it grants nothing", "policy", d.Name, "err", err)
		}
	}
	roles, err := store.ListRoleDefs(ctx)
	if err != nil {
		return fmt.Errorf("load roles: %w", err)
	}
	for _, r := range roles {
		if err := e.PutRole(policy.Role{Name: r.Name, Policies: r.Policies, MFAAtLogin: r.MFAAtLogin}); err != nil {
			log.Error("stored role refused; it grants nothing", "role", r.Name, "err", err)
		}
	}
	return nil
}

type policyStore interface {
	PutPolicyDoc(ctx context.Context, p meta.PolicyDoc) error
	DeletePolicyDoc(ctx context.Context, name string) error
	PutRoleDef(ctx context.Context, r meta.RoleDef) error
	ListRoleDefs(ctx context.Context) ([]meta.RoleDef, error)
	DeleteRoleDef(ctx context.Context, name string) error
	UpdateUser(ctx context.Context, name string, fn func(*meta.User) error) error
	ListUsers(ctx context.Context) ([]meta.User, error)
	PutGroup(ctx context.Context, g meta.Group) error
	ListGroups(ctx context.Context) ([]meta.Group, error)
	DeleteGroup(ctx context.Context, name string) error
}

func (a *identityAPI) handleListPolicies(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"policies": a.policy.Policies()})
}

// handlePutPolicy stores a policy document (raw JSON body), validated and
// compiled before anything is written.
func (a *identityAPI) handlePutPolicy(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := auth.ValidUserName(name); err != nil { // same alphabet as user names
		writeJSONError(w, http.StatusBadRequest, "InvalidName", "policy names are 1-64 characters of a-z, 0-9, '.', '_' and '-'")
		return
	}
	if !a.allowed(w, r, "admin:PutPolicy", "arn:coffer:admin:::policies/"+name) {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, policy.MaxDocumentBytes))
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "MalformedPolicy", "the policy is larger than allowed")
		return
	}
	doc, err := policy.Parse(body)
	if err == nil {
		err = a.policy.PutPolicy(name, doc)
	}
	switch {
	case errors.Is(err, policy.ErrBuiltin):
		writeJSONError(w, http.StatusForbidden, "BuiltinPolicy", "built-in policies cannot be changed; store a copy under another name")
		return
	case err != nil:
		writeJSONError(w, http.StatusBadRequest, "MalformedPolicy", err.Error())
		return
	}
	if err := a.policies.PutPolicyDoc(r.Context(), meta.PolicyDoc{Name: name, Document: string(body)}); err != nil {
		a.log.Error("store policy", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "could not store the policy")
		return
	}
	a.log.Info("policy stored", "by", identityOf(r).User, "policy", name)
	w.WriteHeader(http.StatusNoContent)
}

func (a *identityAPI) handleListRoles(w http.ResponseWriter, r *http.Request) {
	type roleJSON struct {
		Name       string   `json:"name"`
		Policies   []string `json:"policies"`
		MFAAtLogin bool     `json:"mfa_at_login"`
		Builtin    bool     `json:"builtin"`
	}
	out := []roleJSON{}
	for _, n := range a.policy.Roles() {
		if role, err := a.policy.Role(n); err == nil {
			out = append(out, roleJSON{role.Name, role.Policies, role.MFAAtLogin, role.Builtin})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *identityAPI) handlePutRole(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req struct {
		Policies   []string `json:"policies"`
		MFAAtLogin bool     `json:"mfa_at_login"`
	}
	if auth.ValidUserName(name) != nil {
		writeJSONError(w, http.StatusBadRequest, "InvalidName", "role names are 1-64 characters of a-z, 0-9, '.', '_' and '-'")
		return
	}
	if !readJSON(w, r, &req) || !a.allowed(w, r, "admin:PutRole", "arn:coffer:admin:::roles/"+name) {
		return
	}
	a.rbac.Lock()
	defer a.rbac.Unlock()
	err := a.policy.PutRole(policy.Role{Name: name, Policies: req.Policies, MFAAtLogin: req.MFAAtLogin})
	switch {
	case errors.Is(err, policy.ErrBuiltin):
		writeJSONError(w, http.StatusForbidden, "BuiltinRole", "built-in roles cannot be changed; store a copy under another name")
		return
	case errors.Is(err, policy.ErrNoSuchPolicy):
		writeJSONError(w, http.StatusBadRequest, "NoSuchPolicy", err.Error())
		return
	case err != nil:
		writeJSONError(w, http.StatusBadRequest, "InvalidRole", err.Error())
		return
	}
	if err := a.policies.PutRoleDef(r.Context(), meta.RoleDef{Name: name, Policies: req.Policies, MFAAtLogin: req.MFAAtLogin}); err != nil {
		a.log.Error("store role", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "could not store the role")
		return
	}
	a.log.Info("role stored", "by", identityOf(r).User, "role", name)
	w.WriteHeader(http.StatusNoContent)
}

// handleAssignRoles sets a user's roles (admin:AssignRole, step-up).
func (a *identityAPI) handleAssignRoles(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req struct {
		Roles []string `json:"roles"`
	}
	if !readJSON(w, r, &req) || !a.allowed(w, r, "admin:AssignRole", "arn:coffer:admin:::users/"+name) {
		return
	}
	a.rbac.Lock()
	defer a.rbac.Unlock()
	if !a.checkRolesExist(w, req.Roles) {
		return
	}
	roles := slices.Clone(req.Roles)
	err := a.policies.UpdateUser(r.Context(), name, func(u *meta.User) error { u.Roles = roles; return nil })
	switch {
	case errors.Is(err, meta.ErrNoSuchUser):
		writeJSONError(w, http.StatusNotFound, "NoSuchUser", "no such user")
	case err != nil:
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "could not assign the roles")
	default:
		a.log.Info("roles assigned", "by", identityOf(r).User, "user", name, "roles", roles)
		w.WriteHeader(http.StatusNoContent)
	}
}

// checkRolesExist writes a 400 and returns false when a role is unknown.
func (a *identityAPI) checkRolesExist(w http.ResponseWriter, roles []string) bool {
	for _, role := range roles {
		if _, err := a.policy.Role(role); err != nil {
			writeJSONError(w, http.StatusBadRequest, "NoSuchRole", fmt.Sprintf("no role %q", role))
			return false
		}
	}
	return true
}

func (a *identityAPI) handleListGroups(w http.ResponseWriter, r *http.Request) {
	gs, err := a.policies.ListGroups(r.Context())
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "cannot list groups")
		return
	}
	type groupJSON struct {
		Name  string   `json:"name"`
		Roles []string `json:"roles"`
	}
	out := []groupJSON{}
	for _, g := range gs {
		out = append(out, groupJSON{g.Name, g.Roles})
	}
	writeJSON(w, http.StatusOK, out)
}

// handlePutGroup stores a group's roles: a role assignment to every member,
// so it is admin:AssignRole (step-up).
func (a *identityAPI) handlePutGroup(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req struct {
		Roles []string `json:"roles"`
	}
	if auth.ValidUserName(name) != nil {
		writeJSONError(w, http.StatusBadRequest, "InvalidName", "group names are 1-64 characters of a-z, 0-9, '.', '_' and '-'")
		return
	}
	if !readJSON(w, r, &req) || !a.allowed(w, r, "admin:AssignRole", "arn:coffer:admin:::groups/"+name) {
		return
	}
	a.rbac.Lock()
	defer a.rbac.Unlock()
	if !a.checkRolesExist(w, req.Roles) {
		return
	}
	if err := a.policies.PutGroup(r.Context(), meta.Group{Name: name, Roles: req.Roles}); err != nil {
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "could not store the group")
		return
	}
	a.log.Info("group stored", "by", identityOf(r).User, "group", name, "roles", req.Roles)
	w.WriteHeader(http.StatusNoContent)
}

// handleAssignGroups sets a user's groups (admin:AssignRole, step-up).
func (a *identityAPI) handleAssignGroups(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req struct {
		Groups []string `json:"groups"`
	}
	if !readJSON(w, r, &req) || !a.allowed(w, r, "admin:AssignRole", "arn:coffer:admin:::users/"+name) {
		return
	}
	a.rbac.Lock()
	defer a.rbac.Unlock()
	gs, err := a.policies.ListGroups(r.Context())
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "cannot read groups")
		return
	}
	for _, g := range req.Groups {
		if !slices.ContainsFunc(gs, func(x meta.Group) bool { return x.Name == g }) {
			writeJSONError(w, http.StatusBadRequest, "NoSuchGroup", fmt.Sprintf("no group %q", g))
			return
		}
	}
	groups := slices.Clone(req.Groups)
	err = a.policies.UpdateUser(r.Context(), name, func(u *meta.User) error { u.Groups = groups; return nil })
	switch {
	case errors.Is(err, meta.ErrNoSuchUser):
		writeJSONError(w, http.StatusNotFound, "NoSuchUser", "no such user")
	case err != nil:
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "could not assign the groups")
	default:
		a.log.Info("groups assigned", "by", identityOf(r).User, "user", name, "groups", groups)
		w.WriteHeader(http.StatusNoContent)
	}
}

// Deleting policies, roles and groups. Each is authorized (and its intent
// recorded in the audit ledger) before anything is read or changed; then,
// under the rbac lock, a policy that a role still holds, a role that a user
// or group still holds, or a group that still has members is refused with
// 409 naming them, so a deletion never leaves a dangling reference that a
// later object of the same name would silently fill.

// writeInUse answers 409 with the names of what still refers to the object.
func writeInUse(w http.ResponseWriter, code, what string, users []string) {
	noteCode(w, code)
	type body struct {
		Code    string   `json:"code"`
		Message string   `json:"message"`
		UsedBy  []string `json:"used_by"`
	}
	msg := fmt.Sprintf("%s is still used by %s", what, strings.Join(users, ", "))
	writeJSON(w, http.StatusConflict, map[string]body{"error": {Code: code, Message: msg, UsedBy: users}})
}

// handleDeletePolicy removes a stored policy (admin:DeletePolicy, step-up).
func (a *identityAPI) handleDeletePolicy(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if auth.ValidUserName(name) != nil {
		writeJSONError(w, http.StatusBadRequest, "InvalidName", "policy names are 1-64 characters of a-z, 0-9, '.', '_' and '-'")
		return
	}
	if !a.allowed(w, r, "admin:DeletePolicy", "arn:coffer:admin:::policies/"+name) {
		return
	}
	if strings.HasPrefix(name, "coffer-") {
		writeJSONError(w, http.StatusForbidden, "BuiltinPolicy", "built-in policies cannot be deleted")
		return
	}
	a.rbac.Lock()
	defer a.rbac.Unlock()
	stored, err := a.policies.ListRoleDefs(r.Context())
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "cannot read roles")
		return
	}
	holders := map[string]bool{}
	for _, rd := range stored {
		if slices.Contains(rd.Policies, name) {
			holders[rd.Name] = true
		}
	}
	for _, rn := range a.policy.Roles() {
		if role, err := a.policy.Role(rn); err == nil && slices.Contains(role.Policies, name) {
			holders[rn] = true
		}
	}
	if len(holders) > 0 {
		var users []string
		for _, rn := range slices.Sorted(maps.Keys(holders)) {
			users = append(users, "role "+rn)
		}
		writeInUse(w, "PolicyInUse", "policy "+name, users)
		return
	}
	err = a.policies.DeletePolicyDoc(r.Context(), name)
	switch {
	case errors.Is(err, meta.ErrNoSuchPolicy):
		writeJSONError(w, http.StatusNotFound, "NoSuchPolicy", "no such policy")
		return
	case err != nil:
		a.log.Error("delete policy", "policy", name, "err", err)
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "could not delete the policy")
		return
	}
	// A stored policy the engine refused at start is not in it; nothing
	// else can fail here since no role holds it and the lock is held.
	if err := a.policy.DeletePolicy(name); err != nil && !errors.Is(err, policy.ErrNoSuchPolicy) {
		a.log.Error("delete policy from the engine", "policy", name, "err", err)
	}
	a.log.Info("policy deleted", "by", identityOf(r).User, "policy", name)
	w.WriteHeader(http.StatusNoContent)
}

// handleDeleteRole removes a stored role (admin:DeleteRole, step-up).
func (a *identityAPI) handleDeleteRole(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if auth.ValidUserName(name) != nil {
		writeJSONError(w, http.StatusBadRequest, "InvalidName", "role names are 1-64 characters of a-z, 0-9, '.', '_' and '-'")
		return
	}
	if !a.allowed(w, r, "admin:DeleteRole", "arn:coffer:admin:::roles/"+name) {
		return
	}
	if role, err := a.policy.Role(name); err == nil && role.Builtin {
		writeJSONError(w, http.StatusForbidden, "BuiltinRole", "built-in roles cannot be deleted")
		return
	}
	a.rbac.Lock()
	defer a.rbac.Unlock()
	users, err := a.roleHolders(r.Context(), name)
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "cannot read users and groups")
		return
	}
	if len(users) > 0 {
		writeInUse(w, "RoleInUse", "role "+name, users)
		return
	}
	err = a.policies.DeleteRoleDef(r.Context(), name)
	switch {
	case errors.Is(err, meta.ErrNoSuchRole):
		writeJSONError(w, http.StatusNotFound, "NoSuchRole", "no such role")
		return
	case err != nil:
		a.log.Error("delete role", "role", name, "err", err)
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "could not delete the role")
		return
	}
	if err := a.policy.DeleteRole(name); err != nil && !errors.Is(err, policy.ErrNoSuchRole) {
		a.log.Error("delete role from the engine", "role", name, "err", err)
	}
	a.log.Info("role deleted", "by", identityOf(r).User, "role", name)
	w.WriteHeader(http.StatusNoContent)
}

// roleHolders names the users and groups that hold role.
func (a *identityAPI) roleHolders(ctx context.Context, role string) ([]string, error) {
	us, err := a.policies.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	gs, err := a.policies.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, u := range us {
		if slices.Contains(u.Roles, role) {
			out = append(out, "user "+u.Name)
		}
	}
	for _, g := range gs {
		if slices.Contains(g.Roles, role) {
			out = append(out, "group "+g.Name)
		}
	}
	return out, nil
}

// handleDeleteGroup removes a group without members (admin:DeleteGroup,
// step-up: taking a group away can lift a Deny its roles carry).
func (a *identityAPI) handleDeleteGroup(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if auth.ValidUserName(name) != nil {
		writeJSONError(w, http.StatusBadRequest, "InvalidName", "group names are 1-64 characters of a-z, 0-9, '.', '_' and '-'")
		return
	}
	if !a.allowed(w, r, "admin:DeleteGroup", "arn:coffer:admin:::groups/"+name) {
		return
	}
	a.rbac.Lock()
	defer a.rbac.Unlock()
	us, err := a.policies.ListUsers(r.Context())
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "cannot read users")
		return
	}
	var members []string
	for _, u := range us {
		if slices.Contains(u.Groups, name) {
			members = append(members, "user "+u.Name)
		}
	}
	if len(members) > 0 {
		writeInUse(w, "GroupInUse", "group "+name, members)
		return
	}
	err = a.policies.DeleteGroup(r.Context(), name)
	switch {
	case errors.Is(err, meta.ErrNoSuchGroup):
		writeJSONError(w, http.StatusNotFound, "NoSuchGroup", "no such group")
	case err != nil:
		a.log.Error("delete group", "group", name, "err", err)
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "could not delete the group")
	default:
		a.log.Info("group deleted", "by", identityOf(r).User, "group", name)
		w.WriteHeader(http.StatusNoContent)
	}
}
