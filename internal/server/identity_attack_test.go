package server

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/pquerna/otp/totp"

	"github.com/coffer-vault/coffer/internal/audit"
	"github.com/coffer-vault/coffer/internal/meta/sqlite"
)

// testClock is a settable clock for the identity service (Config.now).
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func startClockServer(t *testing.T, clk *testClock) *Server {
	t.Helper()
	s, err := Start(context.Background(), Config{
		DataDir: t.TempDir(), Addr: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), now: clk.now,
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

// enrolled creates the first admin (root) through the setup token, enrols
// TOTP and logs in with a code made at now(); it returns the session, the
// TOTP secret and the recovery codes.
func enrolled(t *testing.T, s *Server, now func() time.Time) (token, secret string, recovery []string) {
	t.Helper()
	if st, code := callInto(t, s, "POST", "/admin/v1/setup", "", map[string]string{"token": s.SetupToken(), "user": "root", "password": testPassword}, nil); st != 201 {
		t.Fatalf("setup: %d %s", st, code)
	}
	var login struct {
		Token string `json:"token"`
		MFA   bool   `json:"mfa"`
	}
	if st, code := callInto(t, s, "POST", "/admin/v1/login", "", map[string]string{"user": "root", "password": testPassword}, &login); st != 200 {
		t.Fatalf("login: %d %s", st, code)
	}
	var enrol struct {
		URI      string   `json:"otpauth_uri"`
		Recovery []string `json:"recovery_codes"`
	}
	if st, code := callInto(t, s, "POST", "/admin/v1/mfa/totp", login.Token, nil, &enrol); st != 200 {
		t.Fatalf("enrol: %d %s", st, code)
	}
	u, _ := url.Parse(enrol.URI)
	secret = u.Query().Get("secret")
	code, _ := totp.GenerateCode(secret, now())
	if st, c := callInto(t, s, "POST", "/admin/v1/login", "", map[string]string{"user": "root", "password": testPassword, "code": code}, &login); st != 200 || !login.MFA {
		t.Fatalf("login with a code: %d %s", st, c)
	}
	return login.Token, secret, enrol.Recovery
}

// errMessage returns the code and message of an admin error reply.
func errMessage(m map[string]any) (string, string) {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	msg, _ := e["message"].(string)
	return c, msg
}

// TestStaleMFAProofNeedsStepUp: five minutes after the login's code, a
// dangerous action is refused with MFARequired and a message that says
// what to do; `mfa verify` with a new code (no new login) lets it through;
// regenerating recovery codes needs the same fresh proof and retires the
// old codes.
func TestStaleMFAProofNeedsStepUp(t *testing.T) {
	clk := &testClock{t: time.Now()}
	s := startClockServer(t, clk)
	root, secret, recovery := enrolled(t, s, clk.now)
	newUser := func(name string) map[string]any {
		return map[string]any{"name": name, "password": testPassword, "roles": []string{"viewer"}}
	}
	if st, m := call(t, s, "POST", "/admin/v1/users", root, newUser("fresh")); st != 201 {
		t.Fatalf("create user with a fresh proof: %d %v", st, m)
	}

	clk.add(policyStepUp + time.Minute)
	st, m := call(t, s, "POST", "/admin/v1/users", root, newUser("stale"))
	code, msg := errMessage(m)
	if st != 403 || code != "MFARequired" {
		t.Fatalf("dangerous action with a stale proof: %d %v", st, m)
	}
	for _, want := range []string{"admin:CreateUser", "5m0s", "6m0s old", "coffer mfa verify"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
	if st, m := call(t, s, "POST", "/admin/v1/mfa/recovery-codes", root, nil); st != 403 || errCode(m) != "MFARequired" {
		t.Fatalf("recovery codes with a stale proof: %d %v", st, m)
	}
	// Everyday actions still work with the aged proof.
	if st, m := call(t, s, "GET", "/admin/v1/users", root, nil); st != 200 {
		t.Fatalf("list users: %d %v", st, m)
	}

	// Step up with a wrong code, then a right one; the session stays.
	if st, m := call(t, s, "POST", "/admin/v1/mfa/verify", root, map[string]string{"code": "000000"}); st != 401 {
		t.Fatalf("verify with a wrong code: %d %v", st, m)
	}
	now, _ := totp.GenerateCode(secret, clk.now())
	if st, m := call(t, s, "POST", "/admin/v1/mfa/verify", root, map[string]string{"code": now}); st != 200 || m["mfa"] != true {
		t.Fatalf("verify: %d %v", st, m)
	}
	if st, m := call(t, s, "POST", "/admin/v1/mfa/verify", root, map[string]string{"code": now}); st != 401 {
		t.Fatalf("verify with a replayed code: %d %v", st, m)
	}
	if st, m := call(t, s, "POST", "/admin/v1/users", root, newUser("stale")); st != 201 {
		t.Fatalf("create user after mfa verify: %d %v", st, m)
	}
	var fresh struct {
		Codes []string `json:"recovery_codes"`
	}
	if st, code := callInto(t, s, "POST", "/admin/v1/mfa/recovery-codes", root, nil, &fresh); st != 200 || len(fresh.Codes) != 10 {
		t.Fatalf("recovery codes after verify: %d %s %d codes", st, code, len(fresh.Codes))
	}
	if st, _ := call(t, s, "POST", "/admin/v1/mfa/verify", root, map[string]string{"recovery_code": recovery[0]}); st != 401 {
		t.Fatalf("an old recovery code still works: %d", st)
	}
	if st, m := call(t, s, "POST", "/admin/v1/mfa/verify", root, map[string]string{"recovery_code": fresh.Codes[0]}); st != 200 {
		t.Fatalf("a new recovery code: %d %v", st, m)
	}
	// A user without MFA has nothing to verify.
	var vl struct {
		Token string `json:"token"`
	}
	callInto(t, s, "POST", "/admin/v1/login", "", map[string]string{"user": "fresh", "password": testPassword}, &vl)
	if st, m := call(t, s, "POST", "/admin/v1/mfa/verify", vl.Token, map[string]string{"code": "123456"}); st != 409 || errCode(m) != "MFANotEnrolled" {
		t.Fatalf("verify without MFA: %d %v", st, m)
	}
}

// policyStepUp mirrors policy.StepUpWindow for the test's arithmetic.
const policyStepUp = 5 * time.Minute

// TestAttachDetachPolicy composes a custom role one policy at a time;
// built-in roles, missing policies and roles are refused.
func TestAttachDetachPolicy(t *testing.T) {
	s := startTestServer(t, "")
	admin := setupAdmin(t, s)
	doc := `{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:coffer:s3:::dailies/*"}]}`
	if st, code := callInto(t, s, "PUT", "/admin/v1/policies/dailies-read", admin, doc, nil); st != 204 {
		t.Fatalf("put policy: %d %s", st, code)
	}
	if st, code := callInto(t, s, "PUT", "/admin/v1/roles/crew", admin, map[string]any{"policies": []string{"coffer-viewer"}}, nil); st != 204 {
		t.Fatalf("put role: %d %s", st, code)
	}
	policiesOf := func(role string) []string {
		var roles []struct {
			Name     string   `json:"name"`
			Policies []string `json:"policies"`
		}
		callInto(t, s, "GET", "/admin/v1/roles", admin, nil, &roles)
		for _, r := range roles {
			if r.Name == role {
				return r.Policies
			}
		}
		return nil
	}
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"POST", "/admin/v1/roles/crew/policies/dailies-read", 204, ""},
		{"POST", "/admin/v1/roles/crew/policies/dailies-read", 204, ""}, // idempotent
		{"POST", "/admin/v1/roles/editor/policies/dailies-read", 403, "BuiltinRole"},
		{"POST", "/admin/v1/roles/crew/policies/nope", 404, "NoSuchPolicy"},
		{"POST", "/admin/v1/roles/nobody/policies/dailies-read", 404, "NoSuchRole"},
		{"DELETE", "/admin/v1/roles/crew/policies/coffer-self-service", 400, "SelfServicePolicy"},
		{"DELETE", "/admin/v1/roles/crew/policies/coffer-viewer", 204, ""},
		{"DELETE", "/admin/v1/roles/crew/policies/coffer-viewer", 404, "NotAttached"},
	} {
		if st, code := callInto(t, s, tc.method, tc.path, admin, nil, nil); st != tc.status || code != tc.code {
			t.Errorf("%s %s: %d %s, want %d %s", tc.method, tc.path, st, code, tc.status, tc.code)
		}
	}
	got := policiesOf("crew")
	if strings.Join(got, ",") != "dailies-read,coffer-self-service" {
		t.Fatalf("crew holds %v", got)
	}
	// The change is stored, for the next start.
	dir := s.cfg.DataDir
	s.Shutdown(context.Background())
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	defs, err := st.ListRoleDefs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range defs {
		if d.Name == "crew" && strings.Join(d.Policies, ",") != "dailies-read" {
			t.Fatalf("stored crew holds %v", d.Policies)
		}
	}
}

// TestEditorCannotEscalate: an editor, even with a role of its own and a
// fresh session, cannot attach the admin policy to that role, make itself
// admin (directly or through a group), write policies, or get an S3 key
// that does more than it may.
func TestEditorCannotEscalate(t *testing.T) {
	s := startTestServer(t, "")
	ctx := context.Background()
	admin := setupAdmin(t, s)
	for _, req := range []struct{ method, path, body string }{
		{"PUT", "/admin/v1/roles/crew", `{"policies":["coffer-editor"]}`},
		{"PUT", "/admin/v1/groups/admins", `{"roles":["admin"]}`},
	} {
		if st, code := callInto(t, s, req.method, req.path, admin, req.body, nil); st != 204 {
			t.Fatalf("%s %s: %d %s", req.method, req.path, st, code)
		}
	}
	addUser(t, s, admin, "ed", "crew")
	ed, _ := loginMFA(t, s, "ed")

	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/admin/v1/roles/crew/policies/coffer-admin", ""},
		{"POST", "/admin/v1/roles/editor/policies/coffer-admin", ""},
		{"DELETE", "/admin/v1/roles/crew/policies/coffer-editor", ""},
		{"PUT", "/admin/v1/roles/crew", `{"policies":["coffer-admin"]}`},
		{"PUT", "/admin/v1/roles/mine", `{"policies":["coffer-admin"]}`},
		{"PUT", "/admin/v1/users/ed/roles", `{"roles":["admin"]}`},
		{"PUT", "/admin/v1/users/ed/roles", `{"roles":["crew","security-admin"]}`},
		{"PUT", "/admin/v1/users/ed/groups", `{"groups":["admins"]}`},
		{"PUT", "/admin/v1/groups/admins", `{"roles":["admin","crew"]}`},
		{"PUT", "/admin/v1/policies/everything", `{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`},
		{"DELETE", "/admin/v1/users/root/mfa", ""},
		{"PUT", "/admin/v1/users/root/password", `{"password":"new-Harbour-Lantern-7781"}`},
	} {
		var body any
		if tc.body != "" {
			body = tc.body
		}
		if st, code := callInto(t, s, tc.method, tc.path, ed, body, nil); st != 403 || code != "AccessDenied" {
			t.Errorf("editor %s %s: %d %s, want 403 AccessDenied", tc.method, tc.path, st, code)
		}
	}
	var who struct {
		Roles []string `json:"roles"`
	}
	callInto(t, s, "GET", "/admin/v1/whoami", ed, nil, &who)
	if strings.Join(who.Roles, ",") != "crew" {
		t.Fatalf("the editor's roles changed: %v", who.Roles)
	}

	// A key minted with an everything-policy is still an editor's key: the
	// key's policy can only narrow (Decide needs the roles AND the key).
	wide := newKey(t, s, ed, map[string]any{"policy": json.RawMessage(`{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)})
	if st, body := adminDo(t, s, wide, http.MethodPost, "/admin/v1/keys/rotate"); st != 403 {
		t.Errorf("the editor's wide key rotated keys: %d %s", st, body)
	}
	if err := minioClient(t, s, wide).MakeBucket(ctx, "mine", minio.MakeBucketOptions{}); s3Allowed(t, "wide mb", err) {
		t.Error("the editor's wide key created a bucket")
	}
	// An MFA key needs a fresh MFA proof the editor does not have.
	if st, code := callInto(t, s, "POST", "/admin/v1/access-keys", ed, map[string]any{"mfa": true}, nil); st != 403 || code != "MFARequired" {
		t.Errorf("MFA key from a session without MFA: %d %s", st, code)
	}
}

// TestPasswordSprayingThrottledAndAudited: one address tries a password
// against many accounts, known and unknown. The per-address token bucket
// cuts it off across accounts, and every failed attempt, answered or
// throttled, is a denied auth:Login event in the ledger naming the account
// and the address.
func TestPasswordSprayingThrottledAndAudited(t *testing.T) {
	s := startTestServer(t, "")
	admin := setupAdmin(t, s)
	var targets []string
	for i := range 4 {
		name := fmt.Sprintf("staff%d", i)
		addUser(t, s, admin, name, "viewer")
		targets = append(targets, name)
	}
	for i := range 56 {
		targets = append(targets, fmt.Sprintf("guess%d", i))
	}
	type result struct {
		user   string
		status int
		code   string
	}
	results := make(chan result, len(targets))
	work := make(chan string)
	var wg sync.WaitGroup
	for range 8 { // concurrent, so the bucket's refill cannot keep up
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range work {
				st, code := callInto(t, s, "POST", "/admin/v1/login", "", map[string]string{"user": u, "password": "Summer2026-Summer2026"}, nil)
				results <- result{u, st, code}
			}
		}()
	}
	for _, u := range targets {
		work <- u
	}
	close(work)
	wg.Wait()
	close(results)
	counts := map[string]int{}
	for r := range results {
		switch {
		case r.status == 401 && r.code == "BadCredentials", r.status == 429 && r.code == "TooManyAttempts":
			counts[r.code]++
		default:
			t.Errorf("spray against %s: %d %s", r.user, r.status, r.code)
		}
	}
	if counts["TooManyAttempts"] == 0 {
		t.Fatalf("%d attempts from one address were never throttled: %v", len(targets), counts)
	}
	// Whether the address is still throttled for a real user with the
	// right password depends on how fast the bucket refills: logged, not
	// asserted (no timed unit tests).
	if st, code := callInto(t, s, "POST", "/admin/v1/login", "", map[string]string{"user": "staff0", "password": testPassword}, nil); st != 429 {
		t.Logf("right password right after the spray: %d %s (the bucket refilled)", st, code)
	}

	evs := ledgerEvents(t, s)
	byUser := map[string]int{}
	reasons := map[string]int{}
	for _, e := range find(evs, "auth:Login", audit.ResultDenied) {
		if strings.HasPrefix(e.Actor.User, "staff") || strings.HasPrefix(e.Actor.User, "guess") {
			if e.Actor.SourceIP != "127.0.0.1" {
				t.Errorf("event without the source address: %+v", e.Actor)
			}
			byUser[e.Actor.User]++
			reasons[e.Outcome.Reason]++
		}
	}
	for _, u := range targets {
		if byUser[u] < 1 {
			t.Errorf("the failed login against %s is not in the ledger", u)
		}
	}
	if reasons["BadCredentials"] < counts["BadCredentials"] || reasons["TooManyAttempts"] < counts["TooManyAttempts"] {
		t.Errorf("ledger reasons %v, answers %v", reasons, counts)
	}
}

// TestNoSecretsInSQLite creates every kind of secret the identity plane
// keeps (password, TOTP seed, recovery codes, S3 secret) and searches the
// raw SQLite files (database, WAL, shared memory) for each, in the
// encodings they could be stored in.
func TestNoSecretsInSQLite(t *testing.T) {
	clk := &testClock{t: time.Now()}
	s := startClockServer(t, clk)
	root, secret, recovery := enrolled(t, s, clk.now)
	const edPassword = "Quokka-Meridian-5519-ledger"
	if st, code := callInto(t, s, "POST", "/admin/v1/users", root, map[string]any{"name": "ed", "password": edPassword, "roles": []string{"editor"}}, nil); st != 201 {
		t.Fatalf("create ed: %d %s", st, code)
	}
	var fresh struct {
		Codes []string `json:"recovery_codes"`
	}
	if st, code := callInto(t, s, "POST", "/admin/v1/mfa/recovery-codes", root, nil, &fresh); st != 200 {
		t.Fatalf("recovery codes: %d %s", st, code)
	}
	key := newKey(t, s, root, map[string]any{})
	var edLogin struct {
		Token string `json:"token"`
	}
	callInto(t, s, "POST", "/admin/v1/login", "", map[string]string{"user": "ed", "password": edPassword}, &edLogin)
	edKey := newKey(t, s, edLogin.Token, map[string]any{})

	secrets := map[string][]byte{}
	addForms := func(name string, raw []byte) {
		secrets[name] = raw
		secrets[name+" hex"] = []byte(hex.EncodeToString(raw))
		secrets[name+" HEX"] = []byte(strings.ToUpper(hex.EncodeToString(raw)))
		secrets[name+" base64"] = []byte(base64.StdEncoding.EncodeToString(raw))
		secrets[name+" base64url"] = []byte(base64.RawURLEncoding.EncodeToString(raw))
		secrets[name+" base32"] = []byte(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw))
	}
	addForms("admin password", []byte(testPassword))
	addForms("ed password", []byte(edPassword))
	secrets["TOTP seed base32"] = []byte(secret)
	seed, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.TrimRight(secret, "="))
	if err != nil || len(seed) < 10 {
		t.Fatalf("TOTP seed %q: %v", secret, err)
	}
	addForms("TOTP seed", seed)
	for i, c := range append(recovery, fresh.Codes...) {
		norm := strings.ReplaceAll(c, "-", "")
		secrets[fmt.Sprintf("recovery code %d", i)] = []byte(c)
		raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(norm)
		if err != nil {
			t.Fatal(err)
		}
		addForms(fmt.Sprintf("recovery code %d normalized", i), []byte(norm))
		addForms(fmt.Sprintf("recovery code %d bytes", i), raw)
	}
	addForms("root S3 secret", []byte(key.SecretKey))
	addForms("ed S3 secret", []byte(edKey.SecretKey))
	if b, err := base64.StdEncoding.DecodeString(key.SecretKey); err == nil {
		addForms("root S3 secret bytes", b)
	}

	search := func(when string) {
		files, _ := filepath.Glob(filepath.Join(s.cfg.DataDir, "meta.db*"))
		if len(files) == 0 {
			t.Fatal("no SQLite files found")
		}
		control := false // the search must see the rows: the public key ID is stored as is
		defer func() {
			if !control {
				t.Errorf("%s: the access key ID is in none of %v: the search reads the wrong files", when, files)
			}
		}()
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			control = control || bytes.Contains(raw, []byte(edKey.AccessKey))
			for name, sec := range secrets {
				if bytes.Contains(raw, sec) {
					t.Errorf("%s: %s holds the %s in the clear", when, filepath.Base(f), name)
				}
			}
		}
	}
	search("running")
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	search("after shutdown")
}

// TestAccountLockIsRecorded: guessing one account's password until it
// locks records the lock itself (auth:Lock, once) besides every refused
// login.
func TestAccountLockIsRecorded(t *testing.T) {
	clk := &testClock{t: time.Now()}
	s := startClockServer(t, clk)
	if st, code := callInto(t, s, "POST", "/admin/v1/setup", "", map[string]string{"token": s.SetupToken(), "user": "root", "password": testPassword}, nil); st != 201 {
		t.Fatalf("setup: %d %s", st, code)
	}
	locked := false
	for i := 0; i < 40 && !locked; i++ {
		st, code := callInto(t, s, "POST", "/admin/v1/login", "", map[string]string{"user": "root", "password": "guess-" + testPassword}, nil)
		switch {
		case st == 429 && code == "AccountLocked":
			locked = true
		case st == 429: // a delay (account or address): honour it
			clk.add(2 * time.Minute)
		case st != 401:
			t.Fatalf("guess %d: %d %s", i, st, code)
		}
	}
	if !locked {
		t.Fatal("the account never locked")
	}
	evs := ledgerEvents(t, s)
	locks := find(evs, "auth:Lock", audit.ResultAllowed)
	if len(locks) != 1 || locks[0].Actor.User != "root" || locks[0].Resource.Admin != "user:root" {
		t.Fatalf("auth:Lock events: %+v; want one, for root", locks)
	}
	if n := len(find(evs, "auth:Login", audit.ResultDenied)); n < 10 {
		t.Fatalf("%d denied logins recorded; want every refused guess", n)
	}
}
