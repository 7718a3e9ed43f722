package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true}, {"*", "anything", true},
		{"s3:Get*", "s3:GetObject", true}, {"s3:Get*", "s3:PutObject", false},
		{"arn:coffer:s3:::b/*", "arn:coffer:s3:::b/x/y", true},
		{"arn:coffer:s3:::b/*", "arn:coffer:s3:::b", false},
		{"arn:coffer:s3:::b/*", "arn:coffer:s3:::bb/x", false},
		{"a?c", "abc", true}, {"a?c", "ac", false},
		{"*a*b*c*", "xxaxxbxxcxx", true}, {"*a*b*c*", "xxaxxcxxbxx", false},
		{"exact", "exact", true}, {"exact", "exactly", false},
		{strings.Repeat("*a", 50) + "b", strings.Repeat("a", 200), false}, // no exponential blow-up
	}
	for _, tc := range tests {
		if got := match(tc.pattern, tc.s); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestParseRefusesBadDocuments(t *testing.T) {
	e := newEngine(t)
	good := `{"Version":"2026-01-01","Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:GetObject","Resource":["arn:coffer:s3:::b/*"],"Condition":"principal.mfa"}]}`
	d, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.PutPolicy("good", d); err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{
		"unknown field":      `{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Principal":"x"}]}`,
		"wrong version":      `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`,
		"bad effect":         `{"Version":"2026-01-01","Statement":[{"Effect":"allow","Action":"s3:*","Resource":"*"}]}`,
		"unknown service":    `{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}`,
		"action no colon":    `{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"GetObject","Resource":"*"}]}`,
		"foreign resource":   `{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b"}]}`,
		"no statements":      `{"Version":"2026-01-01","Statement":[]}`,
		"empty action list":  `{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":[],"Resource":"*"}]}`,
		"action not strings": `{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":[1],"Resource":"*"}]}`,
		"trailing data":      good + `{}`,
		"not JSON":           `Version: 1`,
		"oversize":           `{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Sid":"` + strings.Repeat("x", MaxDocumentBytes) + `"}]}`,
	}
	for name, doc := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(doc)); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse = %v, want ErrInvalid", err)
			}
		})
	}
	conditions := map[string]string{
		"syntax error":   "principal.mfa &&",
		"not a bool":     "request.ip",
		"unknown symbol": "user.admin == true",
	}
	for name, cond := range conditions {
		t.Run("condition "+name, func(t *testing.T) {
			d := Document{Version: Version, Statement: []Statement{{Effect: Allow, Action: Strings{"s3:*"}, Resource: Strings{"*"}, Condition: cond}}}
			if err := e.PutPolicy("c", d); !errors.Is(err, ErrInvalid) {
				t.Fatalf("PutPolicy = %v, want ErrInvalid", err)
			}
		})
	}
}

func newEngine(t *testing.T) *Engine {
	t.Helper()
	e, err := NewEngine()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func doc(s ...Statement) Document { return Document{Version: Version, Statement: s} }

func TestDecide(t *testing.T) {
	e := newEngine(t)
	now := time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.PutPolicy("footage-rw", doc(
		Statement{Sid: "RW", Effect: Allow, Action: Strings{"s3:*Object"}, Resource: Strings{"arn:coffer:s3:::footage/*"}},
		Statement{Sid: "NoRaw", Effect: Deny, Action: Strings{"s3:DeleteObject"}, Resource: Strings{"arn:coffer:s3:::footage/raw/*"}},
		Statement{Sid: "SecretsNeedMFA", Effect: Deny, Action: Strings{"s3:GetObject"}, Resource: Strings{"*"},
			Condition: `object.labels.exists(l, l.startsWith("secret:")) && !principal.mfa`},
		Statement{Sid: "OfficeHours", Effect: Allow, Action: Strings{"s3:ListBucket"}, Resource: Strings{"arn:coffer:s3:::footage"},
			Condition: `request.time.getHours() >= 8 && request.time.getHours() < 18 && request.ip.startsWith("10.")`},
		Statement{Sid: "Broken", Effect: Deny, Action: Strings{"s3:PutObject"}, Resource: Strings{"arn:coffer:s3:::footage/locked/*"},
			Condition: `object.size / 0 > 1`},
	)))
	must(e.PutRole(Role{Name: "crew", Policies: []string{"footage-rw"}}))
	crew := Principal{User: "ana", Roles: []string{"crew"}}
	mfa := crew
	mfa.MFA, mfa.MFAAt = true, now.Add(-time.Minute)

	tests := []struct {
		name     string
		p        Principal
		action   string
		resource string
		req      Request
		allow    bool
		reason   string
	}{
		{"allowed by a statement", crew, "s3:PutObject", "arn:coffer:s3:::footage/day1/a.mov", Request{}, true, "footage-rw/RW"},
		{"actions match without case", crew, "S3:putobject", "arn:coffer:s3:::footage/a", Request{}, true, "footage-rw/RW"},
		{"explicit deny wins", crew, "s3:DeleteObject", "arn:coffer:s3:::footage/raw/a.mov", Request{}, false, "denied by footage-rw/NoRaw"},
		{"default deny: other bucket", crew, "s3:GetObject", "arn:coffer:s3:::payroll/x", Request{}, false, "no statement allows"},
		{"default deny: unknown role", Principal{User: "x", Roles: []string{"ghost"}}, "s3:GetObject", "arn:coffer:s3:::footage/x", Request{}, false, "no statement allows"},
		{"label condition denies without MFA", crew, "s3:GetObject", "arn:coffer:s3:::footage/k", Request{ObjectLabels: []string{"secret:aws_access_key"}}, false, "SecretsNeedMFA"},
		{"label condition passes with MFA", mfa, "s3:GetObject", "arn:coffer:s3:::footage/k", Request{ObjectLabels: []string{"secret:aws_access_key"}}, true, "footage-rw/RW"},
		{"time and ip condition holds", crew, "s3:ListBucket", "arn:coffer:s3:::footage", Request{IP: "10.1.2.3"}, true, "OfficeHours"},
		{"ip condition fails", crew, "s3:ListBucket", "arn:coffer:s3:::footage", Request{IP: "192.0.2.7"}, false, "no statement allows"},
		{"time condition fails", crew, "s3:ListBucket", "arn:coffer:s3:::footage", Request{IP: "10.1.2.3", Time: now.Add(6 * time.Hour)}, false, "no statement allows"},
		{"a Deny whose condition errors fails closed", crew, "s3:PutObject", "arn:coffer:s3:::footage/locked/x", Request{}, false, "denied by footage-rw/Broken"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.req.Time.IsZero() {
				tc.req.Time = now
			}
			d := e.Decide(tc.p, tc.action, tc.resource, tc.req)
			if d.Allow != tc.allow || !strings.Contains(d.Reason, tc.reason) {
				t.Fatalf("Decide = %+v, want allow=%v with reason containing %q", d, tc.allow, tc.reason)
			}
		})
	}

	// An access key's inline policy only narrows.
	narrow, err := e.Compile("key", doc(Statement{Effect: Allow, Action: Strings{"s3:GetObject", "s3:PutObject"}, Resource: Strings{"arn:coffer:s3:::footage/day1/*"}}))
	must(err)
	k := crew
	k.Narrow = narrow
	if d := e.Decide(k, "s3:PutObject", "arn:coffer:s3:::footage/day1/a", Request{Time: now}); !d.Allow {
		t.Errorf("narrowed key lost a right both grant: %+v", d)
	}
	if d := e.Decide(k, "s3:PutObject", "arn:coffer:s3:::footage/day2/a", Request{Time: now}); d.Allow {
		t.Errorf("narrowed key kept a right its policy does not grant: %+v", d)
	}
	wide, _ := e.Compile("wide", doc(Statement{Effect: Allow, Action: Strings{"*"}, Resource: Strings{"*"}}))
	k.Narrow = wide
	if d := e.Decide(k, "s3:GetObject", "arn:coffer:s3:::payroll/x", Request{Time: now}); d.Allow {
		t.Errorf("a key policy widened the owner's rights: %+v", d)
	}

	// An explicit Deny in the key's policy wins over its own Allow and the roles'.
	denyRaw, _ := e.Compile("no-raw", doc(
		Statement{Effect: Allow, Action: Strings{"s3:*"}, Resource: Strings{"*"}},
		Statement{Sid: "NoDay1", Effect: Deny, Action: Strings{"s3:PutObject"}, Resource: Strings{"arn:coffer:s3:::footage/day1/*"}},
	))
	k.Narrow = denyRaw
	if d := e.Decide(k, "s3:PutObject", "arn:coffer:s3:::footage/day1/a", Request{Time: now}); d.Allow || !strings.Contains(d.Reason, "no-raw/NoDay1") {
		t.Errorf("a Deny in the key's policy did not win: %+v", d)
	}
	if d := e.Decide(k, "s3:PutObject", "arn:coffer:s3:::footage/day2/a", Request{Time: now}); !d.Allow {
		t.Errorf("the key's policy took away a right it allows: %+v", d)
	}
	// ... and a Deny in the roles wins over the key's Allow.
	if d := e.Decide(k, "s3:DeleteObject", "arn:coffer:s3:::footage/raw/a", Request{Time: now}); d.Allow || !strings.Contains(d.Reason, "footage-rw/NoRaw") {
		t.Errorf("the key's Allow beat the roles' Deny: %+v", d)
	}

	// Built-ins cannot be changed.
	if err := e.PutPolicy("coffer-admin", doc(Statement{Effect: Deny, Action: Strings{"*"}, Resource: Strings{"*"}})); !errors.Is(err, ErrBuiltin) {
		t.Errorf("overwriting a built-in policy: %v", err)
	}
	if err := e.PutRole(Role{Name: "admin", Policies: []string{"footage-rw"}}); !errors.Is(err, ErrBuiltin) {
		t.Errorf("overwriting a built-in role: %v", err)
	}
	if err := e.PutRole(Role{Name: "r", Policies: []string{"nope"}}); !errors.Is(err, ErrNoSuchPolicy) {
		t.Errorf("role with a missing policy: %v", err)
	}
}

func TestDeletePolicyAndRole(t *testing.T) {
	e := newEngine(t)
	rw := doc(Statement{Effect: Allow, Action: Strings{"s3:*"}, Resource: Strings{"arn:coffer:s3:::footage/*"}})
	for _, name := range []string{"p1", "p2"} {
		if err := e.PutPolicy(name, rw); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"crew", "night"} {
		if err := e.PutRole(Role{Name: name, Policies: []string{"p1"}}); err != nil {
			t.Fatal(err)
		}
	}
	var inUse *InUseError
	if err := e.DeletePolicy("p1"); !errors.As(err, &inUse) || !errors.Is(err, ErrInUse) || !slices.Equal(inUse.Users, []string{"role crew", "role night"}) {
		t.Fatalf("deleting a policy roles hold: %v", err)
	}
	for _, name := range []string{"coffer-admin", "coffer-self-service", "coffer-nope"} {
		if err := e.DeletePolicy(name); !errors.Is(err, ErrBuiltin) {
			t.Errorf("DeletePolicy(%s) = %v, want ErrBuiltin", name, err)
		}
	}
	for _, name := range []string{"admin", "security-admin", "auditor", "editor", "viewer", "uploader"} {
		if err := e.DeleteRole(name); !errors.Is(err, ErrBuiltin) {
			t.Errorf("DeleteRole(%s) = %v, want ErrBuiltin", name, err)
		}
	}
	if err := e.DeletePolicy("p2"); err != nil {
		t.Fatal(err)
	}
	if err := e.DeletePolicy("p2"); !errors.Is(err, ErrNoSuchPolicy) {
		t.Errorf("deleting a deleted policy: %v", err)
	}
	if slices.Contains(e.Policies(), "p2") {
		t.Error("a deleted policy is still listed")
	}
	crew := Principal{User: "ana", Roles: []string{"crew"}}
	if d := e.Decide(crew, "s3:GetObject", "arn:coffer:s3:::footage/a", Request{}); !d.Allow {
		t.Fatalf("crew before deletion: %+v", d)
	}
	for _, name := range []string{"crew", "night"} {
		if err := e.DeleteRole(name); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.DeleteRole("crew"); !errors.Is(err, ErrNoSuchRole) {
		t.Errorf("deleting a deleted role: %v", err)
	}
	// A principal still naming the deleted role gets nothing from it.
	if d := e.Decide(crew, "s3:GetObject", "arn:coffer:s3:::footage/a", Request{}); d.Allow {
		t.Errorf("a deleted role still grants: %+v", d)
	}
	if err := e.DeletePolicy("p1"); err != nil {
		t.Errorf("deleting a policy no role holds any more: %v", err)
	}
	if err := e.PutRole(Role{Name: "crew", Policies: []string{"p1"}}); !errors.Is(err, ErrNoSuchPolicy) {
		t.Errorf("a role with a deleted policy: %v", err)
	}
}

func TestStepUpMFA(t *testing.T) {
	e := newEngine(t)
	now := time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)
	admin := Principal{User: "root", Roles: []string{"admin"}}
	for _, action := range dangerous {
		res := "arn:coffer:admin:::users/bob"
		if strings.HasPrefix(action, "s3:") {
			res = "arn:coffer:s3:::b"
		}
		cases := []struct {
			name  string
			mfaAt time.Time
			mfa   bool
			allow bool
		}{
			{"no MFA", time.Time{}, false, false},
			{"MFA 6 minutes ago", now.Add(-6 * time.Minute), true, false},
			{"MFA 4 minutes ago", now.Add(-4 * time.Minute), true, true},
		}
		for _, c := range cases {
			p := admin
			p.MFA, p.MFAAt = c.mfa, c.mfaAt
			d := e.Decide(p, action, res, Request{Time: now})
			if d.Allow != c.allow || d.RequireMFA == c.allow {
				t.Errorf("%s with %s: %+v", action, c.name, d)
			}
		}
	}
	if d := e.Decide(admin, "s3:GetObject", "arn:coffer:s3:::b/k", Request{Time: now}); !d.Allow {
		t.Errorf("a safe action asked for step-up: %+v", d)
	}
}

// Actions and resources of the role matrix.
var (
	s3Data   = []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:GetObjectTagging", "s3:PutObjectTagging", "s3:DeleteObjectTagging", "s3:GetObjectAcl", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}
	s3Bucket = []string{"s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:GetBucketLocation", "s3:GetBucketVersioning", "s3:GetBucketAcl", "s3:GetBucketPolicy", "s3:CreateBucket", "s3:DeleteBucket"}
	s3Global = []string{"s3:ListAllMyBuckets"}
	selfActs = []string{"admin:GetUser", "admin:ChangePassword", "admin:EnrollMFA", "admin:VerifyMFA", "admin:CreateAccessKey", "admin:ListAccessKeys", "admin:DeleteAccessKey", "admin:ListSessions", "admin:RevokeSession"}
	adminOps = []string{"admin:CreateUser", "admin:DeleteUser", "admin:ListUsers", "admin:LockUser", "admin:UnlockUser", "admin:PutPolicy", "admin:GetPolicy", "admin:ListPolicies", "admin:AttachPolicy", "admin:PutRole", "admin:ListRoles", "admin:AssignRole", "admin:DeletePolicy", "admin:DeleteRole", "admin:DeleteGroup", "admin:RotateKeys", "admin:GetKeyStatus", "admin:ExplainPolicy", "admin:ResetMFA"}
	auditOps = []string{"audit:ReadLedger", "audit:Search", "audit:GetCheckpoint", "audit:ProveInclusion", "audit:Export", "audit:Erase"}
)

// expected is the role matrix written from the role descriptions,
// independently of the built-in policy documents.
func expected(role, action string, own bool) bool {
	is := func(list []string) bool { return slices.Contains(list, action) }
	if is(selfActs) && own {
		return true // everyone manages their own account
	}
	adminRead := strings.HasPrefix(action, "admin:Get") || strings.HasPrefix(action, "admin:List") || strings.HasPrefix(action, "admin:Explain")
	bucketConfig := is(s3Global) || (strings.HasPrefix(action, "s3:GetBucket"))
	switch role {
	case "admin":
		return true
	case "security-admin":
		return strings.HasPrefix(action, "admin:") || strings.HasPrefix(action, "audit:") || bucketConfig
	case "auditor":
		return adminRead || bucketConfig || (strings.HasPrefix(action, "audit:") && action != "audit:Export" && action != "audit:Erase")
	case "editor":
		return is(s3Data) || action == "s3:ListBucket" || action == "s3:ListBucketMultipartUploads" || action == "s3:GetBucketLocation" || is(s3Global)
	case "viewer":
		return action == "s3:GetObject" || action == "s3:GetObjectTagging" || action == "s3:GetObjectAcl" ||
			action == "s3:ListBucket" || action == "s3:GetBucketLocation" || is(s3Global)
	case "uploader":
		return action == "s3:PutObject" || action == "s3:AbortMultipartUpload" || action == "s3:ListMultipartUploadParts"
	}
	return false
}

// TestRoleMatrix: every built-in role x every S3 and admin action x own and
// other resources -> the expected allow or deny. Zero unexpected allows (and
// zero unexpected denials).
func TestRoleMatrix(t *testing.T) {
	e := newEngine(t)
	now := time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)
	var actions []string
	for _, l := range [][]string{s3Data, s3Bucket, s3Global, selfActs, adminOps, auditOps} {
		actions = append(actions, l...)
	}
	checked, allowedN := 0, 0
	for _, role := range e.Roles() {
		p := Principal{User: "ana", Roles: []string{role}, MFA: true, MFAAt: now} // fresh MFA: step-up is tested apart
		for _, action := range actions {
			for _, own := range []bool{true, false} {
				var res string
				switch {
				case strings.HasPrefix(action, "audit:"):
					res = "arn:coffer:audit:::ledger"
				case strings.HasPrefix(action, "admin:"):
					res = "arn:coffer:admin:::users/ana"
					if !own {
						res = "arn:coffer:admin:::users/bob"
					}
				case slices.Contains(s3Data, action):
					res = "arn:coffer:s3:::footage/day1/a.mov"
				case slices.Contains(s3Global, action):
					res = S3Resource("", "")
				default:
					res = "arn:coffer:s3:::footage"
				}
				want := expected(role, action, own || !strings.HasPrefix(action, "admin:"))
				d := e.Decide(p, action, res, Request{Time: now})
				checked++
				if d.Allow {
					allowedN++
				}
				if d.Allow != want {
					kind := "unexpected deny"
					if d.Allow {
						kind = "UNEXPECTED ALLOW"
					}
					t.Errorf("%s: role %s, %s on %s: %s", kind, role, action, res, d.Reason)
				}
			}
		}
	}
	if checked < 300 || allowedN == 0 || allowedN == checked {
		t.Fatalf("matrix checked %d cases with %d allows: it cannot tell roles apart", checked, allowedN)
	}
}

func TestUsernameVariable(t *testing.T) {
	e := newEngine(t)
	// Control: the variable grants bob his own record, so the refusals
	// below are the guard's doing, not a policy that grants nothing.
	if d := e.Decide(Principal{User: "bob", Roles: []string{"viewer"}}, "admin:ChangePassword", "arn:coffer:admin:::users/bob", Request{}); !d.Allow {
		t.Fatalf("bob cannot change his own password: %s", d.Reason)
	}
	for _, user := range []string{"*", "a?b", "x/../y", ""} {
		p := Principal{User: user, Roles: []string{"viewer"}}
		if d := e.Decide(p, "admin:ChangePassword", "arn:coffer:admin:::users/bob", Request{}); d.Allow {
			t.Errorf("user %q changed bob's password through ${coffer:username}", user)
		}
	}
}

// TestCompileKeepsDocument: Compile lowers action patterns for matching in
// its own copy; the caller's document is left as given.
func TestCompileKeepsDocument(t *testing.T) {
	e := newEngine(t)
	d := doc(Statement{Effect: Allow, Action: Strings{"s3:getobject", "S3:PutObject"}, Resource: Strings{"*"}})
	c, err := e.Compile("k", d)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Statement[0].Action[1]; got != "S3:PutObject" {
		t.Fatalf("caller's action became %q", got)
	}
	if v, _ := c.evaluate(Principal{User: "ann"}, "s3:putobject", "arn:coffer:s3:::b/k", nil); v != allowed {
		t.Fatalf("lower-cased pattern no longer matches: %v", v)
	}
}
