package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"

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
	PutRoleDef(ctx context.Context, r meta.RoleDef) error
	UpdateUser(ctx context.Context, name string, fn func(*meta.User) error) error
	PutGroup(ctx context.Context, g meta.Group) error
	ListGroups(ctx context.Context) ([]meta.Group, error)
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
	if !readJSON(w, r, &req) || !a.allowed(w, r, "admin:AssignRole", "arn:coffer:admin:::groups/"+name) || !a.checkRolesExist(w, req.Roles) {
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
