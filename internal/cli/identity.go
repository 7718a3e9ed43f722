package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mdp/qrterminal/v3"

	"github.com/coffer-vault/coffer/internal/policy"
)

// Sessions: `coffer login` keeps the admin-plane session token per alias in
// sessions.json (0600) beside config.json, as `vault login` keeps a token.

func (a *app) sessionsPath() (string, error) {
	dir, err := configDir(a.getenv)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "sessions.json"), nil
}

// loadSessions reads the saved session tokens by alias (none when the
// file does not exist yet), warning when others may read them.
func (a *app) loadSessions() (map[string]string, string, error) {
	path, err := a.sessionsPath()
	if err != nil {
		return nil, "", err
	}
	m := map[string]string{}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return m, path, nil
	}
	if err != nil {
		return nil, "", err
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(a.stderr, "coffer: warning: %s holds session tokens and is readable by other users; run: chmod 600 %s\n", path, path)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, "", fmt.Errorf("%s is not valid JSON: %w", path, err)
	}
	return m, path, nil
}

func (a *app) saveSession(alias, token string) error {
	m, path, err := a.loadSessions()
	if err != nil {
		return err
	}
	if token == "" {
		delete(m, alias)
	} else {
		m[alias] = token
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	return writeFileAtomic(path, b, 0o600) // creates the directory (0700)
}

// sessionCall sends a JSON request to the admin plane with the alias's
// session token (token "" sends none) and decodes the reply into out.
func (r *remote) sessionCall(ctx context.Context, method, path, token string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	req, err := r.adminRequest(ctx, method, path, body, token, false)
	if err != nil {
		return err
	}
	return r.doAdmin(req, out)
}

// prompt reads one line, echoing, after a prompt on a terminal.
func (a *app) prompt(question string) (string, error) {
	if a.isTerminal(a.stdin) {
		fmt.Fprint(a.stderr, question)
	}
	line, err := readLine(a.stdin)
	if err != nil && line == "" {
		return "", promptError(question, err)
	}
	return strings.TrimSpace(line), nil
}

// promptHidden reads a password, code or secret key without echo after a
// prompt on a terminal, else the first line of stdin.
func (a *app) promptHidden(question string) (string, error) {
	if !a.isTerminal(a.stdin) {
		return a.prompt(question)
	}
	fmt.Fprint(a.stderr, question)
	b, err := a.readPassword(a.stdin)
	fmt.Fprintln(a.stderr)
	if err != nil {
		return "", promptError(question, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// promptError names what could not be read ("read secret key: EOF"),
// never what was typed.
func promptError(question string, err error) error {
	what := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(question), ":"))
	if i := strings.Index(what, " ("); i >= 0 {
		what = what[:i]
	}
	return fmt.Errorf("read %s: %w", what, err)
}

func (a *app) cmdLogin(ctx context.Context, args []string) error {
	fs := newFlags("login", `coffer login ALIAS [--user NAME]

Log in to the admin plane of ALIAS: asks for the password (never echoed)
and, when the account has MFA, for a one-time code (or --recovery to use a
recovery code). The session is kept in sessions.json (0600) beside the
configuration. On a server's first start, create the first admin with
`+"`coffer setup ALIAS`"+`.`)
	var user string
	var recovery bool
	fs.StringVar(&user, "user", "", "user name (asked when missing)")
	fs.BoolVar(&recovery, "recovery", false, "use a recovery code instead of a one-time code")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	r, err := a.connectAlias(fs.cmd, pos[0], &fs.common)
	if err != nil {
		return err
	}
	name := r.name
	if user == "" {
		if user, err = a.prompt("User: "); err != nil {
			return err
		}
	}
	password, err := a.promptHidden("Password: ")
	if err != nil {
		return err
	}
	req := map[string]string{"user": user, "password": password}
	var out struct {
		Token         string `json:"token"`
		MFA           bool   `json:"mfa"`
		MustEnrollMFA bool   `json:"must_enroll_mfa"`
	}
	err = r.sessionCall(ctx, http.MethodPost, "/login", "", req, &out)
	var ae *adminError
	if errors.As(err, &ae) && ae.Code == "MFARequired" {
		field, q := "code", "One-time code: "
		if recovery {
			field, q = "recovery_code", "Recovery code: "
		}
		if req[field], err = a.promptHidden(q); err != nil {
			return err
		}
		err = r.sessionCall(ctx, http.MethodPost, "/login", "", req, &out)
	}
	if err != nil {
		return fmt.Errorf("log in to %s: %w", name, err)
	}
	if err := a.saveSession(name, out.Token); err != nil {
		return fmt.Errorf("save the session: %w", err)
	}
	if fs.common.json {
		return a.printJSON(map[string]any{"status": "success", "alias": name, "user": user, "mfa": out.MFA, "must_enroll_mfa": out.MustEnrollMFA})
	}
	how := "without MFA"
	if out.MFA {
		how = "with MFA"
	}
	fmt.Fprintf(a.stdout, "Logged in to %s as %s (%s).\n", name, user, how)
	if out.MustEnrollMFA {
		fmt.Fprintf(a.stdout, "Your role requires MFA: enrol now with `coffer mfa enroll %s`, then log in again.\n", name)
	}
	return nil
}

// adminSession is a logged-in alias: its connection and saved session token.
type adminSession struct {
	*remote
	name  string // the alias
	token string
}

// call sends a JSON request to the admin plane with the session's token.
func (s *adminSession) call(ctx context.Context, method, path string, in, out any) error {
	return s.sessionCall(ctx, method, path, s.token, in, out)
}

// openSession connects to the alias named by aliasArg and returns its saved
// session; not being logged in is an error that says how to log in.
func (a *app) openSession(fs *flagSet, aliasArg string) (*adminSession, error) {
	r, err := a.connectAlias(fs.cmd, aliasArg, &fs.common)
	if err != nil {
		return nil, err
	}
	name := r.name
	m, _, err := a.loadSessions()
	if err != nil {
		return nil, err
	}
	tok := m[name]
	if tok == "" {
		return nil, fmt.Errorf("not logged in to %s: run `coffer login %s`", name, name)
	}
	return &adminSession{remote: r, name: name, token: tok}, nil
}

// parseSession parses the arguments of an admin-plane command that takes
// exactly n positional arguments, the first one its ALIAS, and opens that
// alias's session.
func (a *app) parseSession(fs *flagSet, args []string, n int) ([]string, *adminSession, error) {
	pos, err := a.parse(fs, args, n, n)
	if err != nil {
		return nil, nil, err
	}
	s, err := a.openSession(fs, pos[0])
	if err != nil {
		return nil, nil, err
	}
	return pos, s, nil
}

// report prints the outcome of an admin action: fields as JSON with
// --json, else the sentence format makes.
func (a *app) report(cf *commonFlags, fields map[string]any, format string, args ...any) error {
	if cf.json {
		return a.printJSON(fields)
	}
	fmt.Fprintf(a.stdout, format, args...)
	return nil
}

// fetch is the first half of a listing command: it parses the command's
// only argument, ALIAS, GETs path into out and, with --json, prints out.
// It reports whether the command is done (printed, or failed with err).
func (a *app) fetch(ctx context.Context, fs *flagSet, args []string, path, what string, out any) (bool, error) {
	_, s, err := a.parseSession(fs, args, 1)
	if err != nil {
		return true, err
	}
	if err := s.call(ctx, http.MethodGet, path, nil, out); err != nil {
		return true, fmt.Errorf("list %s on %s: %w", what, s.name, err)
	}
	if fs.common.json {
		return true, a.printJSON(out)
	}
	return false, nil
}

// newTable starts an aligned table on stdout with its header row; the
// caller writes tab-separated rows and flushes it.
func (a *app) newTable(header string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	return tw
}

func (a *app) cmdLogout(ctx context.Context, args []string) error {
	fs := newFlags("logout", "coffer logout ALIAS\n\nEnd the admin-plane session on ALIAS.")
	_, s, err := a.parseSession(fs, args, 1)
	if err != nil {
		return err
	}
	if err := s.call(ctx, http.MethodPost, "/logout", nil, nil); err != nil {
		return fmt.Errorf("log out of %s: %w", s.name, err)
	}
	if err := a.saveSession(s.name, ""); err != nil {
		return err
	}
	return a.report(&fs.common, map[string]any{"status": "success", "alias": s.name}, "Logged out of %s.\n", s.name)
}

func (a *app) cmdWhoami(ctx context.Context, args []string) error {
	fs := newFlags("whoami", "coffer whoami ALIAS\n\nShow who the saved session on ALIAS belongs to.")
	_, s, err := a.parseSession(fs, args, 1)
	if err != nil {
		return err
	}
	var out struct {
		User  string   `json:"user"`
		Roles []string `json:"roles"`
		MFA   bool     `json:"mfa"`
	}
	if err := s.call(ctx, http.MethodGet, "/whoami", nil, &out); err != nil {
		return fmt.Errorf("whoami on %s: %w", s.name, err)
	}
	if fs.common.json {
		return a.printJSON(out)
	}
	fmt.Fprintf(a.stdout, "User : %s\nRoles: %s\nMFA  : %v\n", out.User, strings.Join(out.Roles, ", "), out.MFA)
	return nil
}

func (a *app) cmdSetup(ctx context.Context, args []string) error {
	fs := newFlags("setup", `coffer setup ALIAS --user NAME

Create the first admin user with the one-time setup token that `+"`coffer serve`"+`
printed at its first start. Asks for the token and the new password.`)
	var user string
	fs.StringVar(&user, "user", "admin", "the first admin's user name")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	r, err := a.connectAlias(fs.cmd, pos[0], &fs.common)
	if err != nil {
		return err
	}
	name := r.name
	token, err := a.promptHidden("Setup token: ")
	if err != nil {
		return err
	}
	password, err := a.promptHidden("New password (12+ characters): ")
	if err != nil {
		return err
	}
	if err := r.sessionCall(ctx, http.MethodPost, "/setup", "", map[string]string{"token": token, "user": user, "password": password}, nil); err != nil {
		return fmt.Errorf("setup on %s: %w", name, err)
	}
	return a.report(&fs.common, map[string]any{"status": "success", "alias": name, "user": user}, "Created admin user %s on %s. Next: coffer login %s --user %s, then coffer mfa enroll %s.\n", user, name, name, user, name)
}

func (a *app) cmdMFA(ctx context.Context, args []string) error {
	if done, err := a.subcommandHelp("mfa", mfaUsage, args); done {
		return err
	}
	switch args[0] {
	case "enroll":
		return a.cmdMFAEnroll(ctx, args[1:])
	case "verify":
		return a.cmdMFAVerify(ctx, args[1:])
	case "recovery-codes":
		return a.cmdMFARecoveryCodes(ctx, args[1:])
	case "reset":
		return a.cmdMFAReset(ctx, args[1:])
	}
	return usagef("mfa", "mfa: the subcommands are enroll, verify, recovery-codes and reset")
}

func (a *app) cmdMFAEnroll(ctx context.Context, args []string) error {
	fs := newFlags("mfa enroll", `coffer mfa enroll ALIAS

Enrol a TOTP authenticator for the logged-in user: prints the otpauth://
URI (add it to an authenticator app) and ten single-use recovery codes,
each shown once. Enrolment ends your sessions; log in again with a code.`)
	_, s, err := a.parseSession(fs, args, 1)
	if err != nil {
		return err
	}
	var out struct {
		URI   string   `json:"otpauth_uri"`
		Codes []string `json:"recovery_codes"`
	}
	if err := s.call(ctx, http.MethodPost, "/mfa/totp", nil, &out); err != nil {
		return fmt.Errorf("enrol MFA on %s: %w", s.name, err)
	}
	_ = a.saveSession(s.name, "")
	if fs.common.json {
		return a.printJSON(out)
	}
	printEnrolment(a.stdout, out.URI, out.Codes)
	fmt.Fprintf(a.stdout, "\nLog in again: coffer login %s\n", s.name)
	return nil
}

func (a *app) cmdMFAReset(ctx context.Context, args []string) error {
	fs := newFlags("mfa reset", "coffer mfa reset ALIAS USER\n\nRemove USER's authenticator and recovery codes (a lost phone) and end their sessions; they enrol again. Needs a fresh MFA proof.")
	pos, s, err := a.parseSession(fs, args, 2)
	if err != nil {
		return err
	}
	if err := s.call(ctx, http.MethodDelete, "/users/"+url.PathEscape(pos[1])+"/mfa", nil, nil); err != nil {
		return fmt.Errorf("reset the MFA of %s on %s: %w", pos[1], s.name, err)
	}
	return a.report(&fs.common, map[string]any{"status": "success", "user": pos[1]}, "MFA of %s reset on %s; they must enrol again.\n", pos[1], s.name)
}

func (a *app) cmdUser(ctx context.Context, args []string) error {
	if done, err := a.subcommandHelp("user", userUsage, args); done {
		return err
	}
	sub := args[0]
	switch sub {
	case "add":
		fs := newFlags("user add", "coffer user add ALIAS NAME --role ROLE[,ROLE]\n\nCreate a user; asks for the password.")
		var roles string
		fs.StringVar(&roles, "role", "viewer", "comma-separated roles")
		pos, s, err := a.parseSession(fs, args[1:], 2)
		if err != nil {
			return err
		}
		password, err := a.promptHidden("Password for " + pos[1] + ": ")
		if err != nil {
			return err
		}
		body := map[string]any{"name": pos[1], "password": password, "roles": strings.Split(roles, ",")}
		if err := s.call(ctx, http.MethodPost, "/users", body, nil); err != nil {
			return fmt.Errorf("add user on %s: %w", s.name, err)
		}
		return a.report(&fs.common, map[string]any{"status": "success", "user": pos[1], "roles": strings.Split(roles, ",")}, "User %s created on %s with roles %s.\n", pos[1], s.name, roles)
	case "ls":
		fs := newFlags("user ls", "coffer user ls ALIAS\n\nList users.")
		var out []struct {
			Name   string   `json:"name"`
			Roles  []string `json:"roles"`
			MFA    bool     `json:"mfa"`
			Locked bool     `json:"locked"`
		}
		if done, err := a.fetch(ctx, fs, args[1:], "/users", "users", &out); done {
			return err
		}
		tw := a.newTable("USER\tROLES\tMFA\tLOCKED")
		for _, u := range out {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%v\n", u.Name, strings.Join(u.Roles, ","), u.MFA, u.Locked)
		}
		return tw.Flush()
	case "rm", "lock", "unlock":
		fs := newFlags("user "+sub, "coffer user "+sub+" ALIAS NAME")
		pos, s, err := a.parseSession(fs, args[1:], 2)
		if err != nil {
			return err
		}
		method, path, done := http.MethodPost, "/users/"+url.PathEscape(pos[1])+"/"+sub, map[string]string{"lock": "locked", "unlock": "unlocked", "rm": "removed"}[sub]
		if sub == "rm" {
			method, path = http.MethodDelete, "/users/"+url.PathEscape(pos[1])
		}
		if err := s.call(ctx, method, path, nil, nil); err != nil {
			return fmt.Errorf("user %s %s on %s: %w", sub, pos[1], s.name, err)
		}
		return a.report(&fs.common, map[string]any{"status": "success", "user": pos[1], "action": sub}, "User %s %s on %s.\n", pos[1], done, s.name)
	case "roles":
		fs := newFlags("user roles", "coffer user roles ALIAS NAME --role ROLE[,ROLE]\n\nSet a user's roles (replaces them). Needs a fresh MFA proof.")
		var roles string
		fs.StringVar(&roles, "role", "", "comma-separated roles")
		pos, err := a.parse(fs, args[1:], 2, 2)
		if err != nil {
			return err
		}
		if roles == "" {
			return usagef(fs.cmd, "user roles: --role is required")
		}
		s, err := a.openSession(fs, pos[0])
		if err != nil {
			return err
		}
		if err := s.call(ctx, http.MethodPut, "/users/"+url.PathEscape(pos[1])+"/roles", map[string]any{"roles": strings.Split(roles, ",")}, nil); err != nil {
			return fmt.Errorf("set the roles of %s on %s: %w", pos[1], s.name, err)
		}
		return a.report(&fs.common, map[string]any{"status": "success", "user": pos[1], "roles": strings.Split(roles, ",")}, "User %s on %s now has roles %s.\n", pos[1], s.name, roles)
	case "groups":
		fs := newFlags("user groups", "coffer user groups ALIAS NAME --group G[,G]\n\nSet a user's groups (replaces them; --group '' clears). Needs a fresh MFA proof.")
		var groups string
		fs.StringVar(&groups, "group", "", "comma-separated groups")
		pos, s, err := a.parseSession(fs, args[1:], 2)
		if err != nil {
			return err
		}
		list := []string{}
		if groups != "" {
			list = strings.Split(groups, ",")
		}
		if err := s.call(ctx, http.MethodPut, "/users/"+url.PathEscape(pos[1])+"/groups", map[string]any{"groups": list}, nil); err != nil {
			return fmt.Errorf("set the groups of %s on %s: %w", pos[1], s.name, err)
		}
		return a.report(&fs.common, map[string]any{"status": "success", "user": pos[1], "groups": list}, "User %s on %s is now in groups %s.\n", pos[1], s.name, strings.Join(list, ","))
	case "passwd":
		fs := newFlags("user passwd", "coffer user passwd ALIAS NAME\n\nChange a password: your own (asks for the current one) or, as an administrator, another user's.")
		pos, s, err := a.parseSession(fs, args[1:], 2)
		if err != nil {
			return err
		}
		current, err := a.promptHidden("Current password (yours; empty when resetting another user's): ")
		if err != nil {
			return err
		}
		password, err := a.promptHidden("New password: ")
		if err != nil {
			return err
		}
		body := map[string]string{"current_password": current, "password": password}
		if err := s.call(ctx, http.MethodPut, "/users/"+url.PathEscape(pos[1])+"/password", body, nil); err != nil {
			return fmt.Errorf("change the password of %s on %s: %w", pos[1], s.name, err)
		}
		return a.report(&fs.common, map[string]any{"status": "success", "user": pos[1]}, "Password of %s changed on %s; its sessions have ended.\n", pos[1], s.name)
	}
	return usagef("user", "user: the subcommands are add, ls, rm, passwd, roles, groups, lock and unlock")
}

func (a *app) cmdPolicy(ctx context.Context, args []string) error {
	if done, err := a.subcommandHelp("policy", policyUsage, args); done {
		return err
	}
	switch args[0] {
	case "add", "ls":
		return a.cmdPolicyStore(ctx, args)
	case "rm":
		return a.cmdRemoveNamed(ctx, "policy", args[1:])
	case "attach", "detach":
		return a.cmdPolicyAttach(ctx, args[0], args[1:])
	case "explain":
		return a.cmdPolicyExplain(ctx, args[1:])
	}
	return usagef("policy", "policy: the subcommands are add, ls, rm, attach, detach and explain")
}

func (a *app) cmdPolicyExplain(ctx context.Context, args []string) error {
	fs := newFlags("policy explain", `coffer policy explain ALIAS --user NAME --action ACTION --resource ARN [--mfa]

Ask the server whether NAME may do ACTION on ARN, and which policy
statement decides (for example: --action s3:GetObject
--resource arn:coffer:s3:::footage/day1/a.mov). --mfa evaluates as if the
user had just given an MFA proof.`)
	var user, action, resource string
	var mfa bool
	fs.StringVar(&user, "user", "", "user name")
	fs.StringVar(&action, "action", "", "action, e.g. s3:GetObject or admin:CreateUser")
	fs.StringVar(&resource, "resource", "", "resource ARN, e.g. arn:coffer:s3:::bucket/key")
	fs.BoolVar(&mfa, "mfa", false, "evaluate with a fresh MFA proof")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if user == "" || action == "" || resource == "" {
		return usagef(fs.cmd, "policy explain: --user, --action and --resource are required")
	}
	s, err := a.openSession(fs, pos[0])
	if err != nil {
		return err
	}
	q := url.Values{"user": {user}, "action": {action}, "resource": {resource}}
	if mfa {
		q.Set("mfa", "true")
	}
	var out struct {
		Allow      bool   `json:"allow"`
		RequireMFA bool   `json:"require_mfa"`
		Reason     string `json:"reason"`
	}
	if err := s.call(ctx, http.MethodGet, "/explain?"+q.Encode(), nil, &out); err != nil {
		return fmt.Errorf("policy explain on %s: %w", s.name, err)
	}
	if fs.common.json {
		return a.printJSON(out)
	}
	verdict := "DENY"
	switch {
	case out.Allow:
		verdict = "ALLOW"
	case out.RequireMFA:
		verdict = "ALLOW ONLY WITH A FRESH MFA PROOF"
	}
	fmt.Fprintf(a.stdout, "%s: %s %s on %s\n  %s\n", verdict, user, action, resource, out.Reason)
	return nil
}

func (a *app) cmdKeyCreate(ctx context.Context, args []string) error {
	fs := newFlags("key create", `coffer key create ALIAS [--mfa] [--expires DURATION] [--policy FILE.json] [--save-as NAME]

Mint an S3 access key for the user logged in on ALIAS (coffer login).
With --mfa the session must hold a fresh MFA proof; the key carries it, so
for a few minutes its S3 requests pass step-up checks (deleting a bucket,
for example), and it expires within an hour. --policy stores a policy
document (docs/policy-language.md) with the key: its requests must then be
allowed by your roles AND by that policy, so it can only narrow your
rights (an edge device that may only write one prefix, say). --save-as
stores the key as a new alias with ALIAS's endpoint and CA. The secret is
shown once.`)
	var mfa bool
	var expires time.Duration
	var saveAs, policyFile string
	fs.BoolVar(&mfa, "mfa", false, "carry the session's MFA proof (short-lived key)")
	fs.DurationVar(&expires, "expires", 0, "lifetime, e.g. 24h (0: none, or 1h with --mfa)")
	fs.StringVar(&policyFile, "policy", "", "narrow the key with this policy document (JSON file)")
	fs.StringVar(&saveAs, "save-as", "", "save the key as this alias")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	var keyPolicy json.RawMessage
	if policyFile != "" {
		b, err := readPolicyFile(policyFile)
		if err != nil {
			return err
		}
		if !json.Valid(b) {
			return fmt.Errorf("%s is not valid JSON", policyFile)
		}
		keyPolicy = b
	}
	if saveAs != "" {
		if err := validAliasName(saveAs); err != nil {
			return usagef(fs.cmd, "%v", err)
		}
	}
	s, err := a.openSession(fs, pos[0])
	if err != nil {
		return err
	}
	var out struct {
		AccessKey string    `json:"access_key"`
		SecretKey string    `json:"secret_key"`
		Expires   time.Time `json:"expires"`
	}
	body := map[string]any{"mfa": mfa, "expires_in_seconds": int64(expires / time.Second)}
	if keyPolicy != nil {
		body["policy"] = keyPolicy
	}
	if err := s.call(ctx, http.MethodPost, "/access-keys", body, &out); err != nil {
		return fmt.Errorf("create an access key on %s: %w", s.name, err)
	}
	if saveAs != "" {
		al := s.alias
		al.AccessKey, al.SecretKey = out.AccessKey, out.SecretKey
		if err := a.saveAlias(saveAs, al); err != nil {
			return err
		}
	}
	if fs.common.json {
		return a.printJSON(out)
	}
	fmt.Fprintf(a.stdout, "Access key: %s\nSecret key: %s\n", out.AccessKey, out.SecretKey)
	if !out.Expires.IsZero() {
		fmt.Fprintf(a.stdout, "Expires   : %s\n", out.Expires.Format(time.RFC3339))
	}
	if saveAs != "" {
		fmt.Fprintf(a.stdout, "Saved as alias %s.\n", saveAs)
	}
	return nil
}

func (a *app) cmdKeyLs(ctx context.Context, args []string) error {
	fs := newFlags("key ls", "coffer key ls ALIAS [--user NAME]\n\nList S3 access keys: yours, or NAME's (administrators).")
	var user string
	fs.StringVar(&user, "user", "", "whose keys (default: yours)")
	_, s, err := a.parseSession(fs, args, 1)
	if err != nil {
		return err
	}
	var out []struct {
		ID       string          `json:"access_key"`
		Created  time.Time       `json:"created"`
		Expires  *time.Time      `json:"expires,omitempty"`
		LastUsed *time.Time      `json:"last_used,omitempty"`
		MFA      bool            `json:"mfa"`
		Policy   json.RawMessage `json:"policy,omitempty"`
	}
	if err := s.call(ctx, http.MethodGet, withUser("/access-keys", user), nil, &out); err != nil {
		return fmt.Errorf("list access keys on %s: %w", s.name, err)
	}
	if fs.common.json {
		return a.printJSON(out)
	}
	tw := a.newTable("ACCESS KEY\tCREATED\tLAST USED\tEXPIRES\tMFA\tPOLICY")
	for _, k := range out {
		exp, used, pol := "never", "never", "-"
		if k.Expires != nil {
			exp = k.Expires.Format(time.RFC3339)
		}
		if k.LastUsed != nil {
			used = k.LastUsed.Format(time.RFC3339)
		}
		if len(k.Policy) > 0 {
			pol = "narrowed"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%s\n", k.ID, k.Created.Format(time.RFC3339), used, exp, k.MFA, pol)
	}
	return tw.Flush()
}

func (a *app) cmdKeyRm(ctx context.Context, args []string) error {
	fs := newFlags("key rm", "coffer key rm ALIAS ACCESS_KEY\n\nRevoke an S3 access key at once.")
	pos, s, err := a.parseSession(fs, args, 2)
	if err != nil {
		return err
	}
	if err := s.call(ctx, http.MethodDelete, "/access-keys/"+url.PathEscape(pos[1]), nil, nil); err != nil {
		return fmt.Errorf("revoke %s on %s: %w", pos[1], s.name, err)
	}
	return a.report(&fs.common, map[string]any{"status": "success", "access_key": pos[1]}, "Access key %s revoked on %s.\n", pos[1], s.name)
}

// cmdPolicyStore is `policy add ALIAS NAME FILE` and `policy ls ALIAS`.
func (a *app) cmdPolicyStore(ctx context.Context, args []string) error {
	if args[0] == "ls" {
		fs := newFlags("policy ls", "coffer policy ls ALIAS\n\nList policy names (built-in ones start with coffer-).")
		var out struct {
			Policies []string `json:"policies"`
		}
		if done, err := a.fetch(ctx, fs, args[1:], "/policies", "policies", &out); done {
			return err
		}
		for _, p := range out.Policies {
			fmt.Fprintln(a.stdout, p)
		}
		return nil
	}
	fs := newFlags("policy add", "coffer policy add ALIAS NAME FILE\n\nStore (or replace) a policy document; see docs/policy-language.md. Needs a fresh MFA proof.")
	pos, err := a.parse(fs, args[1:], 3, 3)
	if err != nil {
		return err
	}
	doc, err := readPolicyFile(pos[2])
	if err != nil {
		return err
	}
	s, err := a.openSession(fs, pos[0])
	if err != nil {
		return err
	}
	if err := s.call(ctx, http.MethodPut, "/policies/"+url.PathEscape(pos[1]), json.RawMessage(doc), nil); err != nil {
		return fmt.Errorf("store policy %s on %s: %w", pos[1], s.name, err)
	}
	return a.report(&fs.common, map[string]any{"status": "success", "policy": pos[1]}, "Policy %s stored on %s.\n", pos[1], s.name)
}

// readPolicyFile reads a policy document, refusing one larger than the
// server accepts (policy.MaxDocumentBytes) before reading it whole.
func readPolicyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, policy.MaxDocumentBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > policy.MaxDocumentBytes {
		return nil, fmt.Errorf("%s is larger than a policy document may be (%d KiB)", path, policy.MaxDocumentBytes>>10)
	}
	return b, nil
}

func (a *app) cmdRole(ctx context.Context, args []string) error {
	if done, err := a.subcommandHelp("role", roleUsage, args); done {
		return err
	}
	sub := args[0]
	switch sub {
	case "ls":
		fs := newFlags("role ls", "coffer role ls ALIAS\n\nList roles with their policies.")
		var out []struct {
			Name       string   `json:"name"`
			Policies   []string `json:"policies"`
			MFAAtLogin bool     `json:"mfa_at_login"`
			Builtin    bool     `json:"builtin"`
		}
		if done, err := a.fetch(ctx, fs, args[1:], "/roles", "roles", &out); done {
			return err
		}
		tw := a.newTable("ROLE\tPOLICIES\tMFA AT LOGIN\tBUILT-IN")
		for _, r := range out {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%v\n", r.Name, strings.Join(r.Policies, ","), r.MFAAtLogin, r.Builtin)
		}
		return tw.Flush()
	case "add":
		fs := newFlags("role add", "coffer role add ALIAS NAME --policy P[,P] [--mfa]\n\nStore (or replace) a role. Needs a fresh MFA proof.")
		var policies string
		var mfa bool
		fs.StringVar(&policies, "policy", "", "comma-separated policy names")
		fs.BoolVar(&mfa, "mfa", false, "holders must log in with MFA")
		pos, err := a.parse(fs, args[1:], 2, 2)
		if err != nil {
			return err
		}
		if policies == "" {
			return usagef(fs.cmd, "role add: --policy is required")
		}
		s, err := a.openSession(fs, pos[0])
		if err != nil {
			return err
		}
		body := map[string]any{"policies": strings.Split(policies, ","), "mfa_at_login": mfa}
		if err := s.call(ctx, http.MethodPut, "/roles/"+url.PathEscape(pos[1]), body, nil); err != nil {
			return fmt.Errorf("store role %s on %s: %w", pos[1], s.name, err)
		}
		return a.report(&fs.common, map[string]any{"status": "success", "role": pos[1]}, "Role %s stored on %s.\n", pos[1], s.name)
	case "rm":
		return a.cmdRemoveNamed(ctx, "role", args[1:])
	}
	return usagef("role", "role: the subcommands are add, ls and rm")
}

func (a *app) cmdGroup(ctx context.Context, args []string) error {
	if done, err := a.subcommandHelp("group", groupUsage, args); done {
		return err
	}
	sub := args[0]
	switch sub {
	case "ls":
		fs := newFlags("group ls", "coffer group ls ALIAS\n\nList groups and their roles.")
		var out []struct {
			Name  string   `json:"name"`
			Roles []string `json:"roles"`
		}
		if done, err := a.fetch(ctx, fs, args[1:], "/groups", "groups", &out); done {
			return err
		}
		tw := a.newTable("GROUP\tROLES")
		for _, g := range out {
			fmt.Fprintf(tw, "%s\t%s\n", g.Name, strings.Join(g.Roles, ","))
		}
		return tw.Flush()
	case "add":
		fs := newFlags("group add", "coffer group add ALIAS NAME --role R[,R]\n\nStore (or replace) a group and the roles it gives its members. Needs a fresh MFA proof.")
		var roles string
		fs.StringVar(&roles, "role", "", "comma-separated roles")
		pos, err := a.parse(fs, args[1:], 2, 2)
		if err != nil {
			return err
		}
		if roles == "" {
			return usagef(fs.cmd, "group add: --role is required")
		}
		s, err := a.openSession(fs, pos[0])
		if err != nil {
			return err
		}
		if err := s.call(ctx, http.MethodPut, "/groups/"+url.PathEscape(pos[1]), map[string]any{"roles": strings.Split(roles, ",")}, nil); err != nil {
			return fmt.Errorf("store group %s on %s: %w", pos[1], s.name, err)
		}
		return a.report(&fs.common, map[string]any{"status": "success", "group": pos[1]}, "Group %s stored on %s.\n", pos[1], s.name)
	case "rm":
		return a.cmdRemoveNamed(ctx, "group", args[1:])
	}
	return usagef("group", "group: the subcommands are add, ls and rm")
}

// printEnrolment shows a TOTP enrolment: a QR code of the otpauth URI drawn
// with half blocks, the URI itself, and the recovery codes.
func printEnrolment(w io.Writer, uri string, codes []string) {
	fmt.Fprintf(w, "Scan this with your authenticator app, or add the URI by hand (shown once):\n\n")
	qrterminal.GenerateHalfBlock(uri, qrterminal.M, w)
	fmt.Fprintf(w, "\n  %s\n\nRecovery codes (each works once; keep them offline):\n", uri)
	for _, c := range codes {
		fmt.Fprintf(w, "  %s\n", c)
	}
}
