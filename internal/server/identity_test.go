package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/pquerna/otp/totp"
)

// send sends an admin request with an optional bearer token; body is sent
// raw when a string, as JSON otherwise. It returns the status and the reply.
func send(t *testing.T, s *Server, method, path, token string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, s.Endpoint()+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Transport: trustingTransport(t, s.CAFile())}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// call sends a JSON admin request with an optional bearer token.
func call(t *testing.T, s *Server, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	st, raw := send(t, s, method, path, token, body)
	var out map[string]any
	if len(raw) > 0 && raw[0] == '{' {
		json.Unmarshal(raw, &out)
	}
	return st, out
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// TestFirstAdminSetupLoginMFA walks the bootstrap: setup token, first login
// that must enrol TOTP, step-up for dangerous actions, roles enforced by
// the policy engine, logout.
func TestFirstAdminSetupLoginMFA(t *testing.T) {
	dir := t.TempDir()
	s := startTestServer(t, dir)
	tok := s.SetupToken()
	if tok == "" {
		t.Fatal("first start printed no setup token")
	}
	const pw = "tangerine-Harbour-91-lantern"
	if st, out := call(t, s, "POST", "/admin/v1/setup", "", map[string]string{"token": "wrong", "user": "root", "password": pw}); st != 403 || errCode(out) != "InvalidSetupToken" {
		t.Fatalf("setup with a wrong token: %d %v", st, out)
	}
	if st, out := call(t, s, "POST", "/admin/v1/setup", "", map[string]string{"token": tok, "user": "root", "password": "password1234"}); st != 400 || errCode(out) != "WeakPassword" {
		t.Fatalf("setup with a weak password: %d %v", st, out)
	}
	if st, out := call(t, s, "POST", "/admin/v1/setup", "", map[string]string{"token": tok, "user": "root", "password": pw}); st != 201 {
		t.Fatalf("setup: %d %v", st, out)
	}
	if st, _ := call(t, s, "POST", "/admin/v1/setup", "", map[string]string{"token": tok, "user": "evil", "password": pw}); st != 403 {
		t.Fatalf("the setup token worked twice: %d", st)
	}

	st, out := call(t, s, "POST", "/admin/v1/login", "", map[string]string{"user": "root", "password": pw})
	if st != 200 || out["must_enroll_mfa"] != true {
		t.Fatalf("first admin login: %d %v; want must_enroll_mfa", st, out)
	}
	session := out["token"].(string)
	if st, out := call(t, s, "GET", "/admin/v1/users", session, nil); st != 403 || errCode(out) != "MFARequired" {
		t.Fatalf("a session that must enrol MFA listed users: %d %v", st, out)
	}
	if st, out := call(t, s, "POST", "/admin/v1/users", session, map[string]any{"name": "ana", "password": pw, "roles": []string{"viewer"}}); st != 403 || errCode(out) != "MFARequired" {
		t.Fatalf("creating a user without MFA: %d %v", st, out)
	}
	st, out = call(t, s, "POST", "/admin/v1/mfa/totp", session, nil)
	if st != 200 || len(out["recovery_codes"].([]any)) != 10 {
		t.Fatalf("enrol TOTP: %d %v", st, out)
	}
	u, _ := url.Parse(out["otpauth_uri"].(string))
	secret := u.Query().Get("secret")
	if st, _ := call(t, s, "GET", "/admin/v1/whoami", session, nil); st != 401 {
		t.Fatalf("the pre-enrolment session survived enrolment: %d", st)
	}
	if st, out := call(t, s, "POST", "/admin/v1/login", "", map[string]string{"user": "root", "password": pw}); st != 401 || errCode(out) != "MFARequired" {
		t.Fatalf("login without a code after enrolment: %d %v", st, out)
	}
	code, _ := totp.GenerateCode(secret, time.Now())
	st, out = call(t, s, "POST", "/admin/v1/login", "", map[string]string{"user": "root", "password": pw, "code": code})
	if st != 200 || out["mfa"] != true {
		t.Fatalf("login with a code: %d %v", st, out)
	}
	admin := out["token"].(string)
	if st, out := call(t, s, "POST", "/admin/v1/login", "", map[string]string{"user": "root", "password": pw, "code": code}); st != 401 {
		t.Fatalf("replayed code: %d %v", st, out)
	}
	if st, out := call(t, s, "GET", "/admin/v1/whoami", admin, nil); st != 200 || out["user"] != "root" || out["mfa"] != true {
		t.Fatalf("whoami: %d %v", st, out)
	}

	tests := []struct {
		name string
		body map[string]any
		want int
		code string
	}{
		{"viewer", map[string]any{"name": "ana", "password": pw, "roles": []string{"viewer"}}, 201, ""},
		{"duplicate", map[string]any{"name": "ana", "password": pw, "roles": []string{"viewer"}}, 409, "UserExists"},
		{"weak password", map[string]any{"name": "bob", "password": "bob12345678", "roles": []string{"viewer"}}, 400, "WeakPassword"},
		{"unknown role", map[string]any{"name": "bob", "password": pw, "roles": []string{"god"}}, 400, "NoSuchRole"},
		{"bad name", map[string]any{"name": "Bob Smith", "password": pw}, 400, "InvalidUserName"},
		{"unknown field", map[string]any{"name": "bob", "password": pw, "admin": true}, 400, "MalformedJSON"},
	}
	for _, tc := range tests {
		if st, out := call(t, s, "POST", "/admin/v1/users", admin, tc.body); st != tc.want || errCode(out) != tc.code {
			t.Errorf("create user (%s): %d %v, want %d %s", tc.name, st, out, tc.want, tc.code)
		}
	}
	st, out = call(t, s, "POST", "/admin/v1/login", "", map[string]string{"user": "ana", "password": pw})
	if st != 200 || out["must_enroll_mfa"] != false {
		t.Fatalf("viewer login: %d %v", st, out)
	}
	viewer := out["token"].(string)

	// The S3 plane asks the same engine. The bootstrap key now belongs to
	// root: everyday work passes, a dangerous action needs an MFA key.
	ctx := context.Background()
	boot := minioClient(t, s, readCreds(t, s))
	if err := boot.MakeBucket(ctx, "footage", minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("admin key creates a bucket: %v", err)
	}
	if _, err := boot.PutObject(ctx, "footage", "a.mov", strings.NewReader("take 1"), 6, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := boot.MakeBucket(ctx, "scratch", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := boot.RemoveBucket(ctx, "scratch"); minio.ToErrorResponse(err).Code != "AccessDenied" {
		t.Fatalf("DeleteBucket with a key without MFA: %v, want AccessDenied", err)
	}
	if st, out := call(t, s, "POST", "/admin/v1/access-keys", viewer, map[string]any{"mfa": true}); st != 403 || errCode(out) != "MFARequired" {
		t.Fatalf("an MFA key from a session without MFA: %d %v", st, out)
	}
	st, out = call(t, s, "POST", "/admin/v1/access-keys", admin, map[string]any{"mfa": true})
	if st != 201 || out["expires"] == nil {
		t.Fatalf("MFA key: %d %v", st, out)
	}
	mfaKey := Credentials{AccessKey: out["access_key"].(string), SecretKey: out["secret_key"].(string), CAFile: s.CAFile()}
	if err := minioClient(t, s, mfaKey).RemoveBucket(ctx, "scratch"); err != nil {
		t.Fatalf("DeleteBucket with an MFA key: %v", err)
	}
	st, out = call(t, s, "POST", "/admin/v1/access-keys", viewer, map[string]any{})
	if st != 201 {
		t.Fatalf("viewer key: %d %v", st, out)
	}
	vk := minioClient(t, s, Credentials{AccessKey: out["access_key"].(string), SecretKey: out["secret_key"].(string), CAFile: s.CAFile()})
	if obj, err := vk.GetObject(ctx, "footage", "a.mov", minio.GetObjectOptions{}); err != nil {
		t.Fatal(err)
	} else if b, err := io.ReadAll(obj); err != nil || string(b) != "take 1" {
		t.Fatalf("viewer reads: %q, %v", b, err)
	}
	if _, err := vk.PutObject(ctx, "footage", "b.mov", strings.NewReader("x"), 1, minio.PutObjectOptions{}); minio.ToErrorResponse(err).Code != "AccessDenied" {
		t.Fatalf("viewer writes: %v, want AccessDenied", err)
	}
	if err := vk.RemoveObject(ctx, "footage", "a.mov", minio.RemoveObjectOptions{}); minio.ToErrorResponse(err).Code != "AccessDenied" {
		t.Fatalf("viewer deletes: %v, want AccessDenied", err)
	}
	// Custom policies and roles, assigned to a user, reach the S3 plane.
	rw := `{"Version":"2026-01-01","Statement":[{"Sid":"CrewWrites","Effect":"Allow","Action":["s3:PutObject","s3:GetObject"],"Resource":"arn:coffer:s3:::footage/*"}]}`
	putRaw := func(path, token, body string) int {
		req, _ := http.NewRequest("PUT", s.Endpoint()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := (&http.Client{Transport: trustingTransport(t, s.CAFile())}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := putRaw("/admin/v1/policies/footage-rw", viewer, rw); st != 403 {
		t.Fatalf("a viewer stored a policy: %d", st)
	}
	if st := putRaw("/admin/v1/policies/footage-rw", admin, `{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":"request.ip"}]}`); st != 400 {
		t.Fatalf("a policy with a non-bool condition: %d", st)
	}
	if st := putRaw("/admin/v1/policies/coffer-admin", admin, rw); st != 403 {
		t.Fatalf("overwriting a built-in policy: %d", st)
	}
	if st := putRaw("/admin/v1/policies/footage-rw", admin, rw); st != 204 {
		t.Fatalf("store a policy: %d", st)
	}
	if st, out := call(t, s, "PUT", "/admin/v1/roles/crew", admin, map[string]any{"policies": []string{"nope"}}); st != 400 || errCode(out) != "NoSuchPolicy" {
		t.Fatalf("role with a missing policy: %d %v", st, out)
	}
	if st, _ := call(t, s, "PUT", "/admin/v1/roles/admin", admin, map[string]any{"policies": []string{"footage-rw"}}); st != 403 {
		t.Fatalf("overwriting a built-in role: %d", st)
	}
	if st, out := call(t, s, "PUT", "/admin/v1/roles/crew", admin, map[string]any{"policies": []string{"footage-rw"}}); st != 204 {
		t.Fatalf("store a role: %d %v", st, out)
	}
	if st, out := call(t, s, "PUT", "/admin/v1/users/ana/roles", admin, map[string]any{"roles": []string{"crew"}}); st != 204 {
		t.Fatalf("assign a role: %d %v", st, out)
	}
	if _, err := vk.PutObject(ctx, "footage", "crew.mov", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("ana's key after she got the crew role: %v", err)
	}
	if err := vk.MakeBucket(ctx, "other", minio.MakeBucketOptions{}); minio.ToErrorResponse(err).Code != "AccessDenied" {
		t.Fatalf("the crew role created a bucket: %v", err)
	}

	// Conditions see the S3 request's source address.
	for _, tc := range []struct {
		ip    string
		allow bool
	}{{"192.0.2.1", false}, {"127.0.0.1", true}} {
		cond := `{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:coffer:s3:::footage/*","Condition":"request.ip == '` + tc.ip + `'"}]}`
		if st := putRaw("/admin/v1/policies/net", admin, cond); st != 204 {
			t.Fatalf("store the ip policy: %d", st)
		}
		call(t, s, "PUT", "/admin/v1/roles/netcrew", admin, map[string]any{"policies": []string{"net"}})
		call(t, s, "PUT", "/admin/v1/users/ana/roles", admin, map[string]any{"roles": []string{"netcrew"}})
		_, err := vk.StatObject(ctx, "footage", "a.mov", minio.StatObjectOptions{})
		if (err == nil) != tc.allow {
			t.Fatalf("GetObject under request.ip == %s: %v, want allowed=%v", tc.ip, err, tc.allow)
		}
	}

	// Groups: roles reach members through them.
	if st, out := call(t, s, "PUT", "/admin/v1/groups/night", admin, map[string]any{"roles": []string{"nope"}}); st != 400 || errCode(out) != "NoSuchRole" {
		t.Fatalf("group with a missing role: %d %v", st, out)
	}
	if st, _ := call(t, s, "PUT", "/admin/v1/groups/night", viewer, map[string]any{"roles": []string{"crew"}}); st != 403 {
		t.Fatalf("a viewer stored a group: %d", st)
	}
	if st, out := call(t, s, "PUT", "/admin/v1/groups/night", admin, map[string]any{"roles": []string{"crew"}}); st != 204 {
		t.Fatalf("store a group: %d %v", st, out)
	}
	call(t, s, "PUT", "/admin/v1/users/ana/roles", admin, map[string]any{"roles": []string{}})
	if _, err := vk.PutObject(ctx, "footage", "night.mov", strings.NewReader("x"), 1, minio.PutObjectOptions{}); minio.ToErrorResponse(err).Code != "AccessDenied" {
		t.Fatalf("ana without roles or groups wrote: %v", err)
	}
	if st, out := call(t, s, "PUT", "/admin/v1/users/ana/groups", admin, map[string]any{"groups": []string{"day"}}); st != 400 || errCode(out) != "NoSuchGroup" {
		t.Fatalf("unknown group: %d %v", st, out)
	}
	if st, out := call(t, s, "PUT", "/admin/v1/users/ana/groups", admin, map[string]any{"groups": []string{"night"}}); st != 204 {
		t.Fatalf("assign a group: %d %v", st, out)
	}
	if _, err := vk.PutObject(ctx, "footage", "night.mov", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("ana writes through her group's role: %v", err)
	}
	if st, out := call(t, s, "GET", "/admin/v1/whoami", viewer, nil); st != 200 || !strings.Contains(fmt.Sprint(out["roles"]), "crew") {
		t.Fatalf("whoami shows group roles: %d %v", st, out)
	}

	// The admin plane's key endpoints too: status yes, rotation only with MFA.
	if st, body := adminDo(t, s, readCreds(t, s), http.MethodGet, "/admin/v1/keys"); st != 200 {
		t.Fatalf("key status with the admin key: %d %s", st, body)
	}
	if st, body := adminDo(t, s, readCreds(t, s), http.MethodPost, "/admin/v1/keys/rotate"); st != 403 {
		t.Fatalf("rotation with a key without MFA: %d %s", st, body)
	}
	if st, body := adminDo(t, s, mfaKey, http.MethodPost, "/admin/v1/keys/rotate"); st != 202 {
		t.Fatalf("rotation with an MFA key: %d %s", st, body)
	}
	if st, out := call(t, s, "GET", "/admin/v1/users", viewer, nil); st != 403 || errCode(out) != "AccessDenied" {
		t.Fatalf("a viewer listed users: %d %v", st, out)
	}
	if st, out := call(t, s, "POST", "/admin/v1/users", viewer, map[string]any{"name": "mallory", "password": pw, "roles": []string{"admin"}}); st != 403 {
		t.Fatalf("a viewer created an admin: %d %v", st, out)
	}
	req, _ := http.NewRequest("GET", s.Endpoint()+"/admin/v1/users", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := (&http.Client{Transport: trustingTransport(t, s.CAFile())}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var users []map[string]any
	json.NewDecoder(resp.Body).Decode(&users)
	resp.Body.Close()
	if len(users) != 2 {
		t.Fatalf("admin lists %d users, want 2: %v", len(users), users)
	}
	// Lock, unlock, password change, delete.
	if st, out := call(t, s, "POST", "/admin/v1/users/ana/lock", viewer, nil); st != 403 {
		t.Fatalf("a viewer locked a user: %d %v", st, out)
	}
	if st, out := call(t, s, "POST", "/admin/v1/users/ana/lock", admin, nil); st != 204 {
		t.Fatalf("lock: %d %v", st, out)
	}
	if st, _ := call(t, s, "GET", "/admin/v1/whoami", viewer, nil); st != 401 {
		t.Fatalf("a locked user's session still works: %d", st)
	}
	if st, out := call(t, s, "POST", "/admin/v1/login", "", map[string]string{"user": "ana", "password": pw}); st != 429 || errCode(out) != "AccountLocked" {
		t.Fatalf("login while locked: %d %v", st, out)
	}
	if st, _ := call(t, s, "POST", "/admin/v1/users/ana/unlock", admin, nil); st != 204 {
		t.Fatalf("unlock: %d", st)
	}
	if st, _ := call(t, s, "DELETE", "/admin/v1/users/ana/mfa", viewer, nil); st != 403 && st != 401 {
		t.Fatalf("a viewer reset MFA: %d", st)
	}
	if st, out := call(t, s, "DELETE", "/admin/v1/users/ana/mfa", admin, nil); st != 204 {
		t.Fatalf("MFA reset: %d %v", st, out)
	}
	_, out = call(t, s, "POST", "/admin/v1/login", "", map[string]string{"user": "ana", "password": pw})
	viewer, _ = out["token"].(string)
	const pw2 = "quasar-Murmur-58-plinth-vault"
	if st, out := call(t, s, "PUT", "/admin/v1/users/ana/password", viewer, map[string]string{"current_password": "wrong", "password": pw2}); st != 403 {
		t.Fatalf("password change with a wrong current password: %d %v", st, out)
	}
	if st, out := call(t, s, "PUT", "/admin/v1/users/root/password", viewer, map[string]string{"current_password": pw, "password": pw2}); st != 403 {
		t.Fatalf("a viewer reset the admin's password: %d %v", st, out)
	}
	if st, out := call(t, s, "PUT", "/admin/v1/users/ana/password", viewer, map[string]string{"current_password": pw, "password": pw2}); st != 204 {
		t.Fatalf("own password change: %d %v", st, out)
	}
	if st, _ := call(t, s, "GET", "/admin/v1/whoami", viewer, nil); st != 401 {
		t.Fatalf("the session survived a password change: %d", st)
	}
	if st, _ := call(t, s, "POST", "/admin/v1/login", "", map[string]string{"user": "ana", "password": pw2}); st != 200 {
		t.Fatalf("login with the new password: %d", st)
	}
	if st, out := call(t, s, "DELETE", "/admin/v1/users/ana", admin, nil); st != 204 {
		t.Fatalf("delete user: %d %v", st, out)
	}
	if st, _ := call(t, s, "POST", "/admin/v1/login", "", map[string]string{"user": "ana", "password": pw2}); st != 401 {
		t.Fatalf("a deleted user logged in: %d", st)
	}
	if st, _ := call(t, s, "DELETE", "/admin/v1/users/ana", admin, nil); st != 404 {
		t.Fatalf("deleting a missing user: %d", st)
	}

	// Sessions: list own, revoke one; another user's only with the right.
	req2, _ := http.NewRequest("GET", s.Endpoint()+"/admin/v1/sessions", nil)
	req2.Header.Set("Authorization", "Bearer "+admin)
	resp2, err := (&http.Client{Transport: trustingTransport(t, s.CAFile())}).Do(req2)
	if err != nil {
		t.Fatal(err)
	}
	var sessions []map[string]any
	json.NewDecoder(resp2.Body).Decode(&sessions)
	resp2.Body.Close()
	var current string
	for _, se := range sessions {
		if se["current"] == true {
			current, _ = se["id"].(string)
		}
	}
	if current == "" {
		t.Fatalf("no current session in %v", sessions)
	}
	if st, _ := call(t, s, "DELETE", "/admin/v1/sessions/ffffffffffffffffffffffff", admin, nil); st != 404 {
		t.Fatalf("revoke a missing session: %d", st)
	}
	if st, _ := call(t, s, "GET", "/admin/v1/sessions?user=root", viewer, nil); st != 403 && st != 401 {
		t.Fatalf("another user listed root's sessions: %d", st)
	}
	if st, _ := call(t, s, "DELETE", "/admin/v1/sessions/"+current, admin, nil); st != 204 {
		t.Fatalf("revoke the current session: %d", st)
	}
	if st, _ := call(t, s, "GET", "/admin/v1/whoami", admin, nil); st != 401 {
		t.Fatalf("a revoked session still works: %d", st)
	}

	if st, _ := call(t, s, "POST", "/admin/v1/logout", admin, nil); st != 204 {
		t.Fatalf("logout: %d", st)
	}
	if st, _ := call(t, s, "GET", "/admin/v1/whoami", admin, nil); st != 401 {
		t.Fatalf("whoami after logout: %d", st)
	}

	// A restart does not print a new setup token once an admin exists.
	s.Shutdown(context.Background())
	if s2 := startTestServer(t, dir); s2.SetupToken() != "" {
		t.Fatal("a restart made a new setup token although an admin exists")
	}
}
