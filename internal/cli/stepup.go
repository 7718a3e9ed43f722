package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// Subcommand usage for the identity verbs, step-up MFA (`coffer mfa
// verify`, `coffer mfa recovery-codes`) and role composition (`coffer
// policy attach|detach`).

const (
	mfaUsage = `coffer mfa SUBCOMMAND ALIAS ...

Manage multi-factor authentication.

Subcommands:
  enroll ALIAS                 enrol a TOTP authenticator (prints a QR code and recovery codes)
  verify ALIAS [--recovery]    give a one-time code to refresh this session's MFA proof (step-up)
  recovery-codes ALIAS         replace your ten recovery codes (needs a fresh MFA proof)
  reset ALIAS USER             remove USER's authenticator and recovery codes (administrators)`

	userUsage = `coffer user SUBCOMMAND ALIAS ...

Manage users.

Subcommands:
  add ALIAS NAME --role R[,R]     create a user (asks for the password)
  ls ALIAS                        list users
  rm ALIAS NAME                   delete a user
  passwd ALIAS NAME               change a password
  roles ALIAS NAME --role R[,R]   set a user's roles
  groups ALIAS NAME --group G[,G] set a user's groups
  lock ALIAS NAME                 lock an account and end its sessions
  unlock ALIAS NAME               unlock an account`

	policyUsage = `coffer policy SUBCOMMAND ALIAS ...

Store, compose and explain policies.

Subcommands:
  add ALIAS NAME FILE                store (or replace) a policy document
  ls ALIAS                           list policies (built-in ones start with coffer-)
  rm ALIAS NAME                      delete a policy no role holds
  attach ALIAS POLICY --role ROLE    add a policy to a custom role
  detach ALIAS POLICY --role ROLE    remove a policy from a custom role
  explain ALIAS --user U --action A --resource R [--mfa]
                                     show which statement decides, and why`

	roleUsage = `coffer role SUBCOMMAND ALIAS ...

Store, list and delete roles.

Subcommands:
  add ALIAS NAME --policy P[,P] [--mfa]   store (or replace) a role
  ls ALIAS                                list roles with their policies
  rm ALIAS NAME                           delete a role nobody holds
(coffer policy attach|detach changes one policy of a role.)`

	groupUsage = `coffer group SUBCOMMAND ALIAS ...

Store, list and delete groups.

Subcommands:
  add ALIAS NAME --role R[,R]   store (or replace) a group and its roles
  ls ALIAS                      list groups and their roles
  rm ALIAS NAME                 delete a group without members`
)

// cmdMFAVerify is `coffer mfa verify ALIAS`: POST /admin/v1/mfa/verify.
func (a *app) cmdMFAVerify(ctx context.Context, args []string) error {
	fs := newFlags("mfa verify", `coffer mfa verify ALIAS [--recovery]

Refresh the MFA proof of your session on ALIAS with a one-time code (asked,
never echoed), without logging in again. Dangerous actions (creating users,
changing policies or roles, rotating keys, exporting the audit log, ...)
need a proof from the last five minutes. --recovery uses a recovery code
instead; it is then used up.`)
	var recovery bool
	fs.BoolVar(&recovery, "recovery", false, "use a recovery code instead of a one-time code")
	_, s, err := a.parseSession(fs, args, 1)
	if err != nil {
		return err
	}
	field, q := "code", "One-time code: "
	if recovery {
		field, q = "recovery_code", "Recovery code: "
	}
	code, err := a.promptHidden(q)
	if err != nil {
		return err
	}
	var out struct {
		User  string `json:"user"`
		MFAAt string `json:"mfa_at"`
	}
	if err := s.call(ctx, http.MethodPost, "/mfa/verify", map[string]string{field: code}, &out); err != nil {
		return fmt.Errorf("verify MFA on %s: %w", s.name, err)
	}
	return a.report(&fs.common, map[string]any{"status": "success", "alias": s.name, "user": out.User, "mfa_at": out.MFAAt}, "MFA verified for %s on %s; dangerous actions are open for the next five minutes.\n", out.User, s.name)
}

// cmdMFARecoveryCodes is `coffer mfa recovery-codes ALIAS`.
func (a *app) cmdMFARecoveryCodes(ctx context.Context, args []string) error {
	fs := newFlags("mfa recovery-codes", `coffer mfa recovery-codes ALIAS

Replace your ten recovery codes with new ones, shown once; the old codes
stop working. Needs an MFA proof from the last five minutes (coffer mfa
verify ALIAS).`)
	_, s, err := a.parseSession(fs, args, 1)
	if err != nil {
		return err
	}
	var out struct {
		Codes []string `json:"recovery_codes"`
	}
	if err := s.call(ctx, http.MethodPost, "/mfa/recovery-codes", nil, &out); err != nil {
		return fmt.Errorf("regenerate recovery codes on %s: %w", s.name, err)
	}
	if fs.common.json {
		return a.printJSON(out)
	}
	fmt.Fprintln(a.stdout, "New recovery codes (each works once; keep them offline; the old ones no longer work):")
	for _, c := range out.Codes {
		fmt.Fprintf(a.stdout, "  %s\n", c)
	}
	return nil
}

// cmdPolicyAttach is `coffer policy attach|detach ALIAS POLICY --role ROLE`.
func (a *app) cmdPolicyAttach(ctx context.Context, sub string, args []string) error {
	verb, prep, method := "Add", "to", http.MethodPost
	if sub == "detach" {
		verb, prep, method = "Remove", "from", http.MethodDelete
	}
	fs := newFlags("policy "+sub, fmt.Sprintf(`coffer policy %s ALIAS POLICY --role ROLE

%s a stored policy %s a custom role. Built-in roles cannot be changed
(copy one with coffer role add). Needs a fresh MFA proof.`, sub, verb, prep))
	var role string
	fs.StringVar(&role, "role", "", "the role to change")
	pos, err := a.parse(fs, args, 2, 2)
	if err != nil {
		return err
	}
	if role == "" {
		return usagef(fs.cmd, "policy %s: --role is required", sub)
	}
	s, err := a.openSession(fs, pos[0])
	if err != nil {
		return err
	}
	path := "/roles/" + url.PathEscape(role) + "/policies/" + url.PathEscape(pos[1])
	if err := s.call(ctx, method, path, nil, nil); err != nil {
		return fmt.Errorf("policy %s %s --role %s on %s: %w", sub, pos[1], role, s.name, err)
	}
	if fs.common.json {
		return a.printJSON(map[string]any{"status": "success", "policy": pos[1], "role": role, "action": sub})
	}
	done := map[string]string{"attach": "attached to", "detach": "detached from"}[sub]
	fmt.Fprintf(a.stdout, "Policy %s %s role %s on %s.\n", pos[1], done, role, s.name)
	return nil
}
