package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Admin-plane sessions (`coffer session ls|rm`) and the removal of stored
// policies, roles and groups (`coffer policy|role|group rm`).

const sessionUsage = `coffer session SUBCOMMAND ALIAS

List and revoke admin-plane sessions.

Subcommands:
  ls ALIAS [--user NAME]      list your sessions, or NAME's (administrators)
  rm ALIAS ID [--user NAME]   revoke one session by its id from the listing`

// sessionJSON is one entry of GET /admin/v1/sessions.
type sessionJSON struct {
	ID       string    `json:"id"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"`
	MFA      bool      `json:"mfa"`
	Current  bool      `json:"current"`
}

func (a *app) cmdSession(ctx context.Context, args []string) error {
	if done, err := a.subcommandHelp("session", sessionUsage, args); done {
		return err
	}
	sub := args[0]
	switch sub {
	case "ls":
		return a.cmdSessionLs(ctx, args[1:])
	case "rm":
		return a.cmdSessionRm(ctx, args[1:])
	}
	return usagef("session", "session: unknown subcommand %q (ls, rm)", sub)
}

// withUser appends ?user=NAME to path when user is set.
func withUser(path, user string) string {
	if user == "" {
		return path
	}
	return path + "?" + url.Values{"user": {user}}.Encode()
}

func (a *app) cmdSessionLs(ctx context.Context, args []string) error {
	fs := newFlags("session ls", `coffer session ls ALIAS [--user NAME]

List admin-plane sessions: yours, or NAME's (administrators). The id names
a session for `+"`coffer session rm`"+` (it is derived from the token's
hash, never the token); * marks the session this command used.`)
	var user string
	fs.StringVar(&user, "user", "", "whose sessions (default: yours)")
	_, s, err := a.parseSession(fs, args, 1)
	if err != nil {
		return err
	}
	var out []sessionJSON
	if err := s.call(ctx, http.MethodGet, withUser("/sessions", user), nil, &out); err != nil {
		return fmt.Errorf("list sessions on %s: %w", s.name, err)
	}
	if fs.common.json {
		if out == nil {
			out = []sessionJSON{}
		}
		return a.printJSON(out)
	}
	tw := a.newTable("  ID\tCREATED\tLAST SEEN\tMFA")
	for _, s := range out {
		mark := " "
		if s.Current {
			mark = "*"
		}
		fmt.Fprintf(tw, "%s %s\t%s\t%s\t%v\n", mark, s.ID, s.Created.Local().Format(time.RFC3339), s.LastSeen.Local().Format(time.RFC3339), s.MFA)
	}
	return tw.Flush()
}

func (a *app) cmdSessionRm(ctx context.Context, args []string) error {
	fs := newFlags("session rm", `coffer session rm ALIAS ID [--user NAME]

Revoke one admin-plane session at once: one of yours, or (administrators)
one of NAME's. Revoking the session this command uses logs you out.`)
	var user string
	fs.StringVar(&user, "user", "", "whose session (default: yours)")
	pos, s, err := a.parseSession(fs, args, 2)
	if err != nil {
		return err
	}
	if err := s.call(ctx, http.MethodDelete, withUser("/sessions/"+url.PathEscape(pos[1]), user), nil, nil); err != nil {
		return fmt.Errorf("revoke session %s on %s: %w", pos[1], s.name, err)
	}
	return a.report(&fs.common, map[string]any{"status": "success", "session": pos[1]}, "Session %s revoked on %s.\n", pos[1], s.name)
}

// cmdRemoveNamed is `coffer policy|role|group rm ALIAS NAME`: DELETE
// /admin/v1/KINDs/NAME. The server refuses built-ins and anything still
// in use, naming what uses it.
func (a *app) cmdRemoveNamed(ctx context.Context, kind string, args []string) error {
	fs := newFlags(kind+" rm", fmt.Sprintf(`coffer %s rm ALIAS NAME

Delete a stored %s. Built-in ones cannot be deleted, and neither can a
%s that is still in use (the error names the users); needs a fresh MFA proof.`, kind, kind, map[string]string{
		"policy": "policy a role holds",
		"role":   "role a user or group holds",
		"group":  "group with members",
	}[kind]))
	pos, s, err := a.parseSession(fs, args, 2)
	if err != nil {
		return err
	}
	plural := map[string]string{"policy": "policies", "role": "roles", "group": "groups"}[kind]
	if err := s.call(ctx, http.MethodDelete, "/"+plural+"/"+url.PathEscape(pos[1]), nil, nil); err != nil {
		return fmt.Errorf("delete %s %s on %s: %w", kind, pos[1], s.name, err)
	}
	return a.report(&fs.common, map[string]any{"status": "success", kind: pos[1]}, "%s %s deleted on %s.\n", map[string]string{"policy": "Policy", "role": "Role", "group": "Group"}[kind], pos[1], s.name)
}
