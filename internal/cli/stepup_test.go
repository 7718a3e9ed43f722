package cli

import (
	"strings"
	"testing"
)

// TestIdentityGroupHelp: every command group (identity, keys, audit,
// aliases) answers --help with its subcommands (exit 0, stdout) and a
// missing subcommand with the same list as a usage error.
func TestIdentityGroupHelp(t *testing.T) {
	h := newHarness(t)
	for cmd, subs := range map[string][]string{
		"policy":  {"add ALIAS", "ls ALIAS", "rm ALIAS", "attach ALIAS POLICY --role ROLE", "detach ALIAS", "explain ALIAS"},
		"mfa":     {"enroll ALIAS", "verify ALIAS", "recovery-codes ALIAS", "reset ALIAS USER"},
		"user":    {"add ALIAS", "ls ALIAS", "rm ALIAS", "passwd ALIAS", "roles ALIAS", "groups ALIAS", "lock ALIAS", "unlock ALIAS"},
		"role":    {"add ALIAS", "ls ALIAS", "rm ALIAS"},
		"group":   {"add ALIAS", "ls ALIAS", "rm ALIAS"},
		"session": {"ls ALIAS", "rm ALIAS"},
		"key":     {"rotate ALIAS", "status ALIAS", "create ALIAS", "ls ALIAS", "rm ALIAS"},
		"audit":   {"verify", "pubkey [DIR|ALIAS]", "search ALIAS", "tail ALIAS", "erase [ALIAS] --subject USER"},
		"alias":   {"set NAME URL", "ls", "rm NAME", "import NAME"},
	} {
		for _, help := range []string{"--help", "-h", "help"} {
			r := h.run(cmd, help)
			if r.code != 0 {
				t.Errorf("coffer %s %s: %s", cmd, help, r)
				continue
			}
			for _, s := range subs {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("coffer %s %s does not list %q:\n%s", cmd, help, s, r.stdout)
				}
			}
		}
		if r := h.run("help", cmd); r.code != 0 || !strings.Contains(r.stdout, subs[0]) {
			t.Errorf("coffer help %s: %s", cmd, r)
		}
		if r := h.run(cmd); r.code != 2 || !strings.Contains(r.stderr, "missing subcommand") || !strings.Contains(r.stderr, subs[0]) {
			t.Errorf("coffer %s: %s", cmd, r)
		}
		if r := h.run(cmd, "frobnicate", "x"); r.code != 2 {
			t.Errorf("coffer %s frobnicate: %s", cmd, r)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"mfa", "verify", "--help"}, "--recovery"},
		{[]string{"mfa", "recovery-codes", "--help"}, "old codes"},
		{[]string{"policy", "attach", "--help"}, "--role"},
		{[]string{"policy", "detach", "--help"}, "Remove a stored policy from a custom role"},
	} {
		if r := h.run(tc.args...); r.code != 0 || !strings.Contains(r.stdout, tc.want) {
			t.Errorf("coffer %s: %s", strings.Join(tc.args, " "), r)
		}
	}
	h.expect(2, "--role is required", "policy", "attach", "t", "p")
	h.expect(2, "not enough arguments", "mfa", "verify")
}
