package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/pquerna/otp/totp"

	"github.com/coffer-vault/coffer/internal/audit"
	"github.com/coffer-vault/coffer/internal/meta"
	"github.com/coffer-vault/coffer/internal/meta/sqlite"
)

const testPassword = "tangerine-Harbour-91-lantern"

// callInto sends a JSON admin request (raw when body is a string) and
// decodes the reply into out (when not nil); it returns the status and the
// error code, if any.
func callInto(t *testing.T, s *Server, method, path, token string, body, out any) (int, string) {
	t.Helper()
	st, raw := send(t, s, method, path, token, body)
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	if st >= 400 {
		json.Unmarshal(raw, &e)
	} else if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return st, e.Error.Code
}

// loginMFA logs name in, enrolling TOTP first when the account has none
// and its role requires it; it returns the session token and whether it
// carries an MFA proof.
func loginMFA(t *testing.T, s *Server, name string) (string, bool) {
	t.Helper()
	var out struct {
		Token  string `json:"token"`
		MFA    bool   `json:"mfa"`
		Enroll bool   `json:"must_enroll_mfa"`
	}
	if st, code := callInto(t, s, "POST", "/admin/v1/login", "", map[string]string{"user": name, "password": testPassword}, &out); st != 200 {
		t.Fatalf("login %s: %d %s", name, st, code)
	}
	if !out.Enroll {
		return out.Token, out.MFA
	}
	var enrol struct {
		URI string `json:"otpauth_uri"`
	}
	if st, code := callInto(t, s, "POST", "/admin/v1/mfa/totp", out.Token, nil, &enrol); st != 200 {
		t.Fatalf("enrol %s: %d %s", name, st, code)
	}
	u, _ := url.Parse(enrol.URI)
	code, err := totp.GenerateCode(u.Query().Get("secret"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st, c := callInto(t, s, "POST", "/admin/v1/login", "", map[string]string{"user": name, "password": testPassword, "code": code}, &out); st != 200 || !out.MFA {
		t.Fatalf("login %s with a code: %d %s %+v", name, st, c, out)
	}
	return out.Token, true
}

// setupAdmin creates the first admin (root) and returns a session with a
// fresh MFA proof.
func setupAdmin(t *testing.T, s *Server) string {
	t.Helper()
	if st, code := callInto(t, s, "POST", "/admin/v1/setup", "", map[string]string{"token": s.SetupToken(), "user": "root", "password": testPassword}, nil); st != 201 {
		t.Fatalf("setup: %d %s", st, code)
	}
	tok, _ := loginMFA(t, s, "root")
	return tok
}

// addUser creates a user with roles through the admin session.
func addUser(t *testing.T, s *Server, admin, name string, roles ...string) {
	t.Helper()
	if roles == nil {
		roles = []string{}
	}
	if st, code := callInto(t, s, "POST", "/admin/v1/users", admin, map[string]any{"name": name, "password": testPassword, "roles": roles}, nil); st != 201 {
		t.Fatalf("create user %s: %d %s", name, st, code)
	}
}

// newKey mints an access key from a session.
func newKey(t *testing.T, s *Server, session string, body map[string]any) Credentials {
	t.Helper()
	var out struct {
		AccessKey string `json:"access_key"`
		SecretKey string `json:"secret_key"`
	}
	if st, code := callInto(t, s, "POST", "/admin/v1/access-keys", session, body, &out); st != 201 {
		t.Fatalf("create access key: %d %s", st, code)
	}
	return Credentials{AccessKey: out.AccessKey, SecretKey: out.SecretKey, CAFile: s.CAFile()}
}

// s3Allowed reports whether an S3 call got past authorization: nil is
// allowed, AccessDenied is denied, anything else fails the test.
func s3Allowed(t *testing.T, what string, err error) bool {
	t.Helper()
	if err == nil {
		return true
	}
	if minio.ToErrorResponse(err).Code == "AccessDenied" {
		return false
	}
	t.Fatalf("%s: %v", what, err)
	return false
}

// TestRoleMatrixLive drives real requests for a user of each built-in
// role, with a session and an access key of their own, and checks each
// (role, action) against a table written from the role descriptions.
func TestRoleMatrixLive(t *testing.T) {
	s := startTestServer(t, "")
	ctx := context.Background()
	admin := setupAdmin(t, s)
	boot := minioClient(t, s, readCreds(t, s))
	if err := boot.MakeBucket(ctx, "matrix", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	put := func(mc *minio.Client, bucket, key string) error {
		_, err := mc.PutObject(ctx, bucket, key, strings.NewReader("take 1"), 6, minio.PutObjectOptions{})
		return err
	}
	if err := put(boot, "matrix", "seed"); err != nil {
		t.Fatal(err)
	}

	type action struct {
		name string
		do   func(t *testing.T, role, session string, key Credentials, mc *minio.Client) bool
	}
	// adminAllowed: 2xx is allowed, 403 is denied, anything else fails.
	adminAllowed := func(t *testing.T, what string, st int, code string) bool {
		t.Helper()
		switch {
		case st >= 200 && st < 300:
			return true
		case st == 403:
			return false
		}
		t.Fatalf("%s: %d %s", what, st, code)
		return false
	}
	actions := []action{
		{"s3:PutObject", func(t *testing.T, role, _ string, _ Credentials, mc *minio.Client) bool {
			return s3Allowed(t, "put", put(mc, "matrix", role+"/new"))
		}},
		{"s3:GetObject", func(t *testing.T, _, _ string, _ Credentials, mc *minio.Client) bool {
			obj, err := mc.GetObject(ctx, "matrix", "seed", minio.GetObjectOptions{})
			if err == nil {
				var b []byte
				b, err = io.ReadAll(obj)
				if err == nil && string(b) != "take 1" {
					t.Fatalf("read back %q", b)
				}
			}
			return s3Allowed(t, "get", err)
		}},
		{"s3:ListBucket", func(t *testing.T, _, _ string, _ Credentials, mc *minio.Client) bool {
			var err error
			for o := range mc.ListObjects(ctx, "matrix", minio.ListObjectsOptions{Recursive: true}) {
				if o.Err != nil {
					err = o.Err
					break
				}
			}
			return s3Allowed(t, "list", err)
		}},
		{"s3:DeleteObject", func(t *testing.T, role, _ string, _ Credentials, mc *minio.Client) bool {
			if err := put(boot, "matrix", "del-"+role); err != nil {
				t.Fatal(err)
			}
			err := mc.RemoveObject(ctx, "matrix", "del-"+role, minio.RemoveObjectOptions{})
			allowed := s3Allowed(t, "delete", err)
			if _, serr := boot.StatObject(ctx, "matrix", "del-"+role, minio.StatObjectOptions{}); (serr == nil) == allowed {
				t.Fatalf("delete allowed=%v but the object exists=%v", allowed, serr == nil)
			}
			return allowed
		}},
		{"s3:DeleteBucket", func(t *testing.T, role, _ string, _ Credentials, mc *minio.Client) bool {
			if err := boot.MakeBucket(ctx, "rb-"+role, minio.MakeBucketOptions{}); err != nil {
				t.Fatal(err)
			}
			return s3Allowed(t, "delete bucket", mc.RemoveBucket(ctx, "rb-"+role))
		}},
		{"admin:ListUsers", func(t *testing.T, _, session string, _ Credentials, _ *minio.Client) bool {
			st, code := callInto(t, s, "GET", "/admin/v1/users", session, nil, nil)
			return adminAllowed(t, "list users", st, code)
		}},
		{"admin:ListAccessKeys (another user's)", func(t *testing.T, _, session string, _ Credentials, _ *minio.Client) bool {
			st, code := callInto(t, s, "GET", "/admin/v1/access-keys?user=root", session, nil, nil)
			return adminAllowed(t, "list root's keys", st, code)
		}},
		{"admin:CreateUser", func(t *testing.T, role, session string, _ Credentials, _ *minio.Client) bool {
			st, code := callInto(t, s, "POST", "/admin/v1/users", session, map[string]any{"name": "made-by-" + role, "password": testPassword, "roles": []string{"viewer"}}, nil)
			return adminAllowed(t, "create user", st, code)
		}},
		{"admin:RotateKeys", func(t *testing.T, _, _ string, key Credentials, _ *minio.Client) bool {
			st, body := adminDo(t, s, key, http.MethodPost, "/admin/v1/keys/rotate")
			return adminAllowed(t, "rotate keys", st, string(body))
		}},
		{"admin:PutPolicy", func(t *testing.T, role, session string, _ Credentials, _ *minio.Client) bool {
			doc := `{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`
			st, code := callInto(t, s, "PUT", "/admin/v1/policies/by-"+role, session, doc, nil)
			return adminAllowed(t, "put policy", st, code)
		}},
		{"audit:ReadCheckpoint", func(t *testing.T, _, session string, _ Credentials, _ *minio.Client) bool {
			st, code := callInto(t, s, "GET", "/admin/v1/audit/checkpoint", session, nil, nil)
			return adminAllowed(t, "audit checkpoint", st, code)
		}},
	}
	const Y, N = true, false
	// Expected outcomes, written from the role descriptions of the issue
	// and docs/policy-language.md, in the order of actions above.
	want := map[string][]bool{
		//                put get list del rb  users keys+ mkuser rotate putpol audit
		"admin":          {Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y},
		"security-admin": {N, N, N, N, N, Y, Y, Y, Y, Y, Y},
		"auditor":        {N, N, N, N, N, Y, Y, N, N, N, Y},
		"editor":         {Y, Y, Y, Y, N, N, N, N, N, N, N},
		"viewer":         {N, Y, Y, N, N, N, N, N, N, N, N},
		"uploader":       {Y, N, N, N, N, N, N, N, N, N, N},
	}
	// The ledger signs its first checkpoint shortly after start.
	for i := 0; ; i++ {
		st, _ := callInto(t, s, "GET", "/admin/v1/audit/checkpoint", admin, nil, nil)
		if st == 200 {
			break
		}
		if i == 100 {
			t.Fatalf("no audit checkpoint: %d", st)
		}
		time.Sleep(50 * time.Millisecond)
	}

	roles := []string{"admin", "security-admin", "auditor", "editor", "viewer", "uploader"}
	if got := policyRoles(t, s, admin); !slices.Equal(got, slices.Sorted(slices.Values(roles))) {
		t.Fatalf("built-in roles are %v; the matrix covers %v", got, roles)
	}
	unexpectedAllows := 0
	for _, role := range roles {
		t.Run(role, func(t *testing.T) {
			user := "u-" + role
			addUser(t, s, admin, user, role)
			session, mfa := loginMFA(t, s, user)
			// Keys of MFA roles carry the session's proof, so that step-up
			// actions are decided by the role, not by the missing proof.
			key := newKey(t, s, session, map[string]any{"mfa": mfa})
			mc := minioClient(t, s, key)
			for i, a := range actions {
				got := a.do(t, role, session, key, mc)
				if got != want[role][i] {
					if got {
						unexpectedAllows++
					}
					t.Errorf("role %s, %s: allowed=%v, want %v", role, a.name, got, want[role][i])
				}
			}
		})
	}
	if unexpectedAllows > 0 {
		t.Fatalf("%d unexpected allows", unexpectedAllows)
	}
}

func policyRoles(t *testing.T, s *Server, admin string) []string {
	t.Helper()
	var out []struct {
		Name    string `json:"name"`
		Builtin bool   `json:"builtin"`
	}
	if st, code := callInto(t, s, "GET", "/admin/v1/roles", admin, nil, &out); st != 200 {
		t.Fatalf("list roles: %d %s", st, code)
	}
	var names []string
	for _, r := range out {
		if r.Builtin {
			names = append(names, r.Name)
		}
	}
	return names
}

// TestDeletePoliciesRolesGroups: deletion is authorized with step-up,
// refuses built-ins and anything still referred to (naming the holders),
// and is recorded in the audit ledger.
func TestDeletePoliciesRolesGroups(t *testing.T) {
	s := startTestServer(t, "")
	admin := setupAdmin(t, s)
	doc := `{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:coffer:s3:::footage/*"}]}`
	if st, code := callInto(t, s, "PUT", "/admin/v1/policies/footage-rw", admin, doc, nil); st != 204 {
		t.Fatalf("put policy: %d %s", st, code)
	}
	for _, role := range []string{"crew", "night-crew"} {
		if st, code := callInto(t, s, "PUT", "/admin/v1/roles/"+role, admin, map[string]any{"policies": []string{"footage-rw"}}, nil); st != 204 {
			t.Fatalf("put role: %d %s", st, code)
		}
	}
	if st, code := callInto(t, s, "PUT", "/admin/v1/groups/nights", admin, map[string]any{"roles": []string{"night-crew"}}, nil); st != 204 {
		t.Fatalf("put group: %d %s", st, code)
	}
	addUser(t, s, admin, "ana", "crew")
	if st, code := callInto(t, s, "PUT", "/admin/v1/users/ana/groups", admin, map[string]any{"groups": []string{"nights"}}, nil); st != 204 {
		t.Fatalf("assign group: %d %s", st, code)
	}
	// An operator role with every admin right but no MFA at login: step-up
	// still stops it from deleting anything.
	ops := `{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"admin:*","Resource":"*"}]}`
	callInto(t, s, "PUT", "/admin/v1/policies/ops", admin, ops, nil)
	callInto(t, s, "PUT", "/admin/v1/roles/ops", admin, map[string]any{"policies": []string{"ops"}}, nil)
	addUser(t, s, admin, "olga", "ops")
	olga, mfa := loginMFA(t, s, "olga")
	if mfa {
		t.Fatal("olga has MFA")
	}
	addUser(t, s, admin, "vic", "viewer")
	vic, _ := loginMFA(t, s, "vic")

	inUse := func(path string) (int, string, []string) {
		t.Helper()
		req, _ := http.NewRequest("DELETE", s.Endpoint()+path, nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := (&http.Client{Transport: trustingTransport(t, s.CAFile())}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e struct {
			Error struct {
				Code    string   `json:"code"`
				Message string   `json:"message"`
				UsedBy  []string `json:"used_by"`
			} `json:"error"`
		}
		json.NewDecoder(resp.Body).Decode(&e)
		if resp.StatusCode == 409 && !strings.Contains(e.Error.Message, strings.Join(e.Error.UsedBy, ", ")) {
			t.Errorf("409 message %q does not name %v", e.Error.Message, e.Error.UsedBy)
		}
		return resp.StatusCode, e.Error.Code, e.Error.UsedBy
	}

	tests := []struct {
		name, method, path, token string
		status                    int
		code                      string
		usedBy                    []string
	}{
		{"viewer deletes a policy", "DELETE", "/admin/v1/policies/footage-rw", vic, 403, "AccessDenied", nil},
		{"viewer deletes a role", "DELETE", "/admin/v1/roles/crew", vic, 403, "AccessDenied", nil},
		{"viewer deletes a group", "DELETE", "/admin/v1/groups/nights", vic, 403, "AccessDenied", nil},
		{"no MFA: policy", "DELETE", "/admin/v1/policies/footage-rw", olga, 403, "MFARequired", nil},
		{"no MFA: role", "DELETE", "/admin/v1/roles/crew", olga, 403, "MFARequired", nil},
		{"no MFA: group", "DELETE", "/admin/v1/groups/nights", olga, 403, "MFARequired", nil},
		{"built-in policy", "DELETE", "/admin/v1/policies/coffer-admin", admin, 403, "BuiltinPolicy", nil},
		{"built-in role", "DELETE", "/admin/v1/roles/admin", admin, 403, "BuiltinRole", nil},
		{"missing policy", "DELETE", "/admin/v1/policies/nope", admin, 404, "NoSuchPolicy", nil},
		{"missing role", "DELETE", "/admin/v1/roles/nope", admin, 404, "NoSuchRole", nil},
		{"missing group", "DELETE", "/admin/v1/groups/nope", admin, 404, "NoSuchGroup", nil},
		{"bad name", "DELETE", "/admin/v1/roles/Bad%20Name", admin, 400, "InvalidName", nil},
		{"policy held by roles", "DELETE", "/admin/v1/policies/footage-rw", admin, 409, "PolicyInUse", []string{"role crew", "role night-crew"}},
		{"role held by a user", "DELETE", "/admin/v1/roles/crew", admin, 409, "RoleInUse", []string{"user ana"}},
		{"role held by a group", "DELETE", "/admin/v1/roles/night-crew", admin, 409, "RoleInUse", []string{"group nights"}},
		{"group with a member", "DELETE", "/admin/v1/groups/nights", admin, 409, "GroupInUse", []string{"user ana"}},
	}
	for _, tc := range tests {
		var st int
		var code string
		var used []string
		if tc.token == admin {
			st, code, used = inUse(tc.path)
		} else {
			st, code = callInto(t, s, tc.method, tc.path, tc.token, nil, nil)
		}
		if st != tc.status || code != tc.code || !slices.Equal(used, tc.usedBy) {
			t.Errorf("%s: %d %s %v, want %d %s %v", tc.name, st, code, used, tc.status, tc.code, tc.usedBy)
		}
	}

	// Take the references away in order; each deletion then succeeds.
	steps := []struct{ method, path string }{
		{"PUT", "/admin/v1/users/ana/groups"},
		{"DELETE", "/admin/v1/groups/nights"},
		{"DELETE", "/admin/v1/roles/night-crew"},
		{"PUT", "/admin/v1/users/ana/roles"},
		{"DELETE", "/admin/v1/roles/crew"},
		{"DELETE", "/admin/v1/policies/footage-rw"},
	}
	for _, st := range steps {
		var body any
		if st.method == "PUT" {
			body = map[string]any{"groups": []string{}}
			if strings.HasSuffix(st.path, "/roles") {
				body = map[string]any{"roles": []string{}}
			}
		}
		if got, code := callInto(t, s, st.method, st.path, admin, body, nil); got != 204 {
			t.Fatalf("%s %s: %d %s", st.method, st.path, got, code)
		}
	}
	var roles []struct{ Name string }
	callInto(t, s, "GET", "/admin/v1/roles", admin, nil, &roles)
	for _, r := range roles {
		if r.Name == "crew" || r.Name == "night-crew" {
			t.Errorf("deleted role %s still listed", r.Name)
		}
	}
	var pols struct{ Policies []string }
	callInto(t, s, "GET", "/admin/v1/policies", admin, nil, &pols)
	if slices.Contains(pols.Policies, "footage-rw") || !slices.Contains(pols.Policies, "coffer-admin") {
		t.Errorf("policies after deletion: %v", pols.Policies)
	}
	if st, code := callInto(t, s, "PUT", "/admin/v1/roles/crew", admin, map[string]any{"policies": []string{"footage-rw"}}, nil); st != 400 || code != "NoSuchPolicy" {
		t.Errorf("a role with the deleted policy: %d %s", st, code)
	}
	if st, code := callInto(t, s, "PUT", "/admin/v1/users/ana/roles", admin, map[string]any{"roles": []string{"crew"}}, nil); st != 400 || code != "NoSuchRole" {
		t.Errorf("assigning the deleted role: %d %s", st, code)
	}

	// Deletions survive a restart (they were removed from the store, not
	// only from the engine), and each is in the ledger with its actor.
	dir := s.cfg.DataDir
	evs := ledgerEvents(t, s)
	for _, want := range []struct{ action, resource string }{
		{"admin:DeleteGroup", "arn:coffer:admin:::groups/nights"},
		{"admin:DeleteRole", "arn:coffer:admin:::roles/crew"},
		{"admin:DeletePolicy", "arn:coffer:admin:::policies/footage-rw"},
	} {
		ok := false
		for _, ev := range find(evs, want.action, audit.ResultAllowed) {
			if ev.Resource.Admin == want.resource && ev.Actor.User == "root" {
				ok = true
			}
		}
		if !ok {
			t.Errorf("no allowed %s on %s by root in the ledger", want.action, want.resource)
		}
	}
	if len(find(evs, "admin:DeletePolicy", audit.ResultDenied)) == 0 {
		t.Error("the refused deletions are not in the ledger")
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	docs, _ := st.ListPolicyDocs(context.Background())
	rds, _ := st.ListRoleDefs(context.Background())
	gs, _ := st.ListGroups(context.Background())
	if slices.ContainsFunc(docs, func(d meta.PolicyDoc) bool { return d.Name == "footage-rw" }) ||
		slices.ContainsFunc(rds, func(r meta.RoleDef) bool { return r.Name == "crew" || r.Name == "night-crew" }) ||
		slices.ContainsFunc(gs, func(g meta.Group) bool { return g.Name == "nights" }) {
		t.Errorf("deleted objects are still stored: %v %v %v", docs, rds, gs)
	}
}

// TestAccessKeyPolicyNarrows: a key's inline policy takes rights away and
// never adds any; a malformed one creates nothing.
func TestAccessKeyPolicyNarrows(t *testing.T) {
	s := startTestServer(t, "")
	ctx := context.Background()
	admin := setupAdmin(t, s)
	boot := minioClient(t, s, readCreds(t, s))
	for _, b := range []string{"footage", "payroll"} {
		if err := boot.MakeBucket(ctx, b, minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"footage/day1/a", "footage/day2/a", "payroll/x"} {
		b, key, _ := strings.Cut(k, "/")
		if _, err := boot.PutObject(ctx, b, key, strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	addUser(t, s, admin, "ed", "editor")
	addUser(t, s, admin, "vic", "viewer")
	ed, _ := loginMFA(t, s, "ed")
	vic, _ := loginMFA(t, s, "vic")

	countKeys := func(session string) int {
		var keys []json.RawMessage
		callInto(t, s, "GET", "/admin/v1/access-keys", session, nil, &keys)
		return len(keys)
	}
	before := countKeys(ed)
	for _, bad := range []string{
		`{"Version":"2026-01-01"`,
		`{"Version":"2025-01-01","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`,
		`{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":"request.ip"}]}`,
		`{"Version":"2026-01-01","Statement":[{"Effect":"Maybe","Action":"s3:*","Resource":"*"}]}`,
		`"just a string"`,
	} {
		body := `{"policy":` + bad + `}`
		if st, code := callInto(t, s, "POST", "/admin/v1/access-keys", ed, body, nil); st != 400 {
			t.Errorf("key with policy %s: %d %s, want 400", bad, st, code)
		}
	}
	if n := countKeys(ed); n != before {
		t.Fatalf("a refused key policy created a key: %d keys, had %d", n, before)
	}

	day1 := json.RawMessage(`{"Version":"2026-01-01","Statement":[
		{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:ListBucket"],"Resource":["arn:coffer:s3:::footage","arn:coffer:s3:::footage/day1/*"]},
		{"Sid":"NoOverwrite","Effect":"Deny","Action":"s3:PutObject","Resource":"arn:coffer:s3:::footage/day1/a"}]}`)
	narrow := minioClient(t, s, newKey(t, s, ed, map[string]any{"policy": day1}))
	full := minioClient(t, s, newKey(t, s, ed, map[string]any{}))
	get := func(mc *minio.Client, b, k string) error {
		_, err := mc.StatObject(ctx, b, k, minio.StatObjectOptions{})
		return err
	}
	putTo := func(mc *minio.Client, b, k string) error {
		_, err := mc.PutObject(ctx, b, k, strings.NewReader("y"), 1, minio.PutObjectOptions{})
		return err
	}
	tests := []struct {
		name  string
		err   error
		allow bool
	}{
		{"narrow: get inside", get(narrow, "footage", "day1/a"), true},
		{"narrow: put inside", putTo(narrow, "footage", "day1/b"), true},
		{"narrow: get outside", get(narrow, "footage", "day2/a"), false},
		{"narrow: put outside", putTo(narrow, "footage", "day2/b"), false},
		{"narrow: other bucket", get(narrow, "payroll", "x"), false},
		{"narrow: action the key does not allow", narrow.RemoveObject(ctx, "footage", "day1/b", minio.RemoveObjectOptions{}), false},
		{"narrow: the key's own Deny wins over its Allow", putTo(narrow, "footage", "day1/a"), false},
		{"full key of the same user: outside", get(full, "footage", "day2/a"), true},
	}
	for _, tc := range tests {
		if got := s3Allowed(t, tc.name, tc.err); got != tc.allow {
			t.Errorf("%s: allowed=%v, want %v", tc.name, got, tc.allow)
		}
	}

	// Never wider: a viewer's key whose policy allows everything still
	// cannot write, delete or make buckets.
	wide := minioClient(t, s, newKey(t, s, vic, map[string]any{"policy": json.RawMessage(`{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)}))
	if !s3Allowed(t, "wide get", get(wide, "footage", "day1/a")) {
		t.Error("a viewer's wide key cannot read")
	}
	for name, err := range map[string]error{
		"put":    putTo(wide, "footage", "day1/z"),
		"delete": wide.RemoveObject(ctx, "footage", "day1/a", minio.RemoveObjectOptions{}),
		"mb":     wide.MakeBucket(ctx, "mine", minio.MakeBucketOptions{}),
	} {
		if s3Allowed(t, "wide "+name, err) {
			t.Errorf("a key policy widened a viewer's rights: %s allowed", name)
		}
	}
	// The admin plane's SigV4 endpoints are narrowed too: a key of the
	// admin limited to S3 reads cannot rotate keys, even with MFA.
	rotateKey := newKey(t, s, admin, map[string]any{"mfa": true, "policy": json.RawMessage(`{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}]}`)})
	if st, body := adminDo(t, s, rotateKey, http.MethodPost, "/admin/v1/keys/rotate"); st != 403 {
		t.Errorf("a narrowed admin key rotated keys: %d %s", st, body)
	}

	// The key's policy is listed (its secret is not).
	var keys []struct {
		ID     string          `json:"access_key"`
		Policy json.RawMessage `json:"policy"`
		Secret string          `json:"secret_key"`
	}
	callInto(t, s, "GET", "/admin/v1/access-keys", ed, nil, &keys)
	withPolicy := 0
	for _, k := range keys {
		if len(k.Policy) > 0 {
			withPolicy++
			if !strings.Contains(string(k.Policy), "NoOverwrite") {
				t.Errorf("listed policy %s", k.Policy)
			}
		}
		if k.Secret != "" {
			t.Error("a secret was listed")
		}
	}
	if withPolicy != 1 {
		t.Errorf("%d keys listed with a policy, want 1", withPolicy)
	}
}

// TestAccessKeyLastUsed: the listing shows when a key last authenticated
// a request.
func TestAccessKeyLastUsed(t *testing.T) {
	s := startTestServer(t, "")
	ctx := context.Background()
	admin := setupAdmin(t, s)
	addUser(t, s, admin, "vic", "viewer")
	vic, _ := loginMFA(t, s, "vic")
	key := newKey(t, s, vic, map[string]any{})
	type keyJSON struct {
		ID       string     `json:"access_key"`
		LastUsed *time.Time `json:"last_used"`
	}
	lastUsed := func() *time.Time {
		var keys []keyJSON
		callInto(t, s, "GET", "/admin/v1/access-keys", vic, nil, &keys)
		for _, k := range keys {
			if k.ID == key.AccessKey {
				return k.LastUsed
			}
		}
		t.Fatal("key not listed")
		return nil
	}
	if lu := lastUsed(); lu != nil {
		t.Fatalf("an unused key has last_used %v", lu)
	}
	start := time.Now()
	// A denied request was still made with the key: it counts as use.
	minioClient(t, s, key).MakeBucket(ctx, "nope", minio.MakeBucketOptions{})
	lu := lastUsed()
	if lu == nil || lu.Before(start.Add(-time.Second)) || lu.After(time.Now().Add(time.Second)) {
		t.Fatalf("last_used after a request = %v (request at %v)", lu, start)
	}
	// A request with a wrong secret is not a use of the key.
	bad := key
	bad.SecretKey = "wrong" + bad.SecretKey[5:]
	minioClient(t, s, bad).ListBuckets(ctx)
	if lu2 := lastUsed(); lu2 == nil || !lu2.Equal(*lu) {
		t.Fatalf("a forged request moved last_used: %v -> %v", lu, lu2)
	}
}

// countingStore counts TouchAccessKey calls.
type countingStore struct {
	meta.Store
	mu      sync.Mutex
	touches map[string][]time.Time
	fail    bool
}

func (c *countingStore) TouchAccessKey(ctx context.Context, id string, at time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail {
		return errors.New("disk full")
	}
	c.touches[id] = append(c.touches[id], at)
	return nil
}

// TestLastUsedThrottle: however many requests a key makes, its last-used
// time is written at most once a minute; a failed write is retried by the
// next request.
func TestLastUsedThrottle(t *testing.T) {
	clock := time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)
	cs := &countingStore{touches: map[string][]time.Time{}}
	a := &keyAuthz{store: cs, now: func() time.Time { return clock }, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx := context.Background()
	for i := range 1000 {
		a.touch(ctx, "K1", clock)
		if i%2 == 0 {
			a.touch(ctx, "K2", clock)
		}
		clock = clock.Add(100 * time.Millisecond) // 100 s in all
	}
	if n := len(cs.touches["K1"]); n != 2 {
		t.Errorf("K1: %d writes in 100 s of requests every 100 ms, want 2: %v", n, cs.touches["K1"])
	}
	if n := len(cs.touches["K2"]); n != 2 {
		t.Errorf("K2: %d writes, want 2", n)
	}
	// A clock that steps back does not silence a key for good.
	a.touch(ctx, "K1", clock.Add(-time.Hour))
	if n := len(cs.touches["K1"]); n != 3 {
		t.Errorf("K1 after the clock stepped back: %d writes, want 3", n)
	}
	cs.fail = true
	a.touch(ctx, "K3", clock)
	cs.fail = false
	a.touch(ctx, "K3", clock.Add(time.Second))
	if n := len(cs.touches["K3"]); n != 1 {
		t.Errorf("K3: a failed write was not retried: %d writes", n)
	}
	// The throttle's memory stays bounded.
	for i := range maxTouched + 10 {
		clock = clock.Add(time.Millisecond * 10)
		a.touch(ctx, "many-"+string(rune('a'+i%26))+time.Duration(i).String(), clock)
	}
	if len(a.touched) > maxTouched+1 {
		t.Errorf("throttle holds %d keys, bound %d", len(a.touched), maxTouched)
	}
}
