package policy

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// Vocabularies for random policies: patterns with and without wildcards,
// variables, odd case, and conditions that hold, fail or cannot evaluate.
var (
	randActions = []string{"s3:GetObject", "s3:Get*", "s3:*", "*", "admin:*", "s3:?etObject", "*:GetObject",
		"S3:getobject", "audit:Read*", "s3:PutObject", "admin:CreateUser", "s3:*Object", "*:*Object", "admin:Get*"}
	randResources = []string{"*", "arn:coffer:s3:::b1", "arn:coffer:s3:::b1/*", "arn:coffer:s3:::b*", "arn:coffer:s3:::b1/x?",
		"arn:coffer:s3:::b?/x", "arn:coffer:admin:::users/${coffer:username}", "arn:coffer:s3:::*/x", "arn:coffer:s3:::b2/x/*",
		"arn:coffer:s3:::b2", "arn:coffer:admin:::*", "arn:coffer:admin:::users/*", "arn:coffer:s3:::", "arn:coffer:audit:::*",
		"arn:coffer:s3:::b1/${coffer:username}/*"}
	randConditions = []string{"", "", "", "principal.mfa", "request.ip == '10.0.0.1'", "object.size > 10",
		"object.size / (object.size - object.size) > 1", "'secret' in object.labels", "principal.mfa_age < 300"}
	reqActions = []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket", "S3:GETOBJECT",
		"admin:CreateUser", "admin:GetUser", "admin:DeleteUser", "audit:Read", "audit:Export", "s3:DeleteBucket"}
	reqResources = []string{"arn:coffer:s3:::b1", "arn:coffer:s3:::b1/x", "arn:coffer:s3:::b1/xy", "arn:coffer:s3:::b2/x",
		"arn:coffer:s3:::b2/x/y", "arn:coffer:s3:::b3/x", "arn:coffer:s3:::bb", "arn:coffer:s3:::", "arn:coffer:admin:::users/ann",
		"arn:coffer:admin:::users/bob", "arn:coffer:audit:::ledger", "arn:coffer:s3:::b1/ann/k", "*"}
)

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func randDoc(r *rand.Rand) Document {
	d := Document{Version: Version}
	for range 1 + r.IntN(4) {
		s := Statement{Effect: Allow, Condition: pick(r, randConditions)}
		if r.IntN(5) == 0 {
			s.Effect = Deny
		}
		if r.IntN(2) == 0 {
			s.Sid = fmt.Sprintf("S%d", r.IntN(100))
		}
		for range 1 + r.IntN(3) {
			s.Action = append(s.Action, pick(r, randActions))
		}
		for range 1 + r.IntN(3) {
			s.Resource = append(s.Resource, pick(r, randResources))
		}
		d.Statement = append(d.Statement, s)
	}
	return d
}

// TestIndexedDecideMatchesScan holds the indexed Decide to the plain scan
// over every statement: same allow, same step-up, same reason, for random
// policies, roles, principals and requests, across changes to policies and
// roles (which must drop the cached indexes).
func TestIndexedDecideMatchesScan(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(1, seed))
	e := newEngine(t)
	const nPolicies, nRoles = 40, 6
	putPolicy := func(i int) {
		if err := e.PutPolicy(fmt.Sprintf("p%d", i), randDoc(rng)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range nPolicies {
		putPolicy(i)
	}
	putRole := func(i int) {
		var ps []string
		for range rng.IntN(12) {
			ps = append(ps, fmt.Sprintf("p%d", rng.IntN(nPolicies)))
		}
		if err := e.PutRole(Role{Name: fmt.Sprintf("r%d", i), Policies: ps}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range nRoles {
		putRole(i)
	}
	roleNames := []string{"r0", "r1", "r2", "r3", "r4", "r5", "admin", "editor", "viewer", "uploader", "auditor", "missing"}
	narrow, err := e.Compile("key", randDoc(rng))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	checked, allows := 0, 0
	for round := range 30 {
		// Change something every round: a policy, a role, or a deletion.
		switch round % 3 {
		case 0:
			putPolicy(rng.IntN(nPolicies))
		case 1:
			putRole(rng.IntN(nRoles))
		case 2:
			name := fmt.Sprintf("r%d", rng.IntN(nRoles))
			_ = e.DeleteRole(name)
		}
		for range 300 {
			p := Principal{User: pick(rng, []string{"ann", "bob", "", "a*b"})}
			for range rng.IntN(4) {
				p.Roles = append(p.Roles, pick(rng, roleNames))
			}
			if rng.IntN(2) == 0 {
				p.MFA, p.MFAAt = true, now.Add(-time.Duration(rng.IntN(600))*time.Second)
			}
			if rng.IntN(4) == 0 {
				p.Narrow = narrow
			}
			req := Request{Time: now, IP: pick(rng, []string{"10.0.0.1", "10.0.0.2"}), ObjectSize: int64(rng.IntN(20))}
			if rng.IntN(3) == 0 {
				req.ObjectLabels = []string{"secret"}
			}
			action, resource := pick(rng, reqActions), pick(rng, reqResources)
			got := e.Decide(p, action, resource, req)
			want := e.decideScan(p, action, resource, req)
			if got != want {
				t.Fatalf("seed %d, round %d: %+v %s %s: indexed %+v, scan %+v", seed, round, p, action, resource, got, want)
			}
			checked++
			if got.Allow {
				allows++
			}
		}
	}
	// The comparison means something only if both answers occur.
	if allows == 0 || allows == checked {
		t.Fatalf("%d of %d decisions allowed: the generator is degenerate", allows, checked)
	}
}

func TestResourceKeys(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		key     string
		keyed   bool
	}{
		{"*", "", false},
		{"arn:coffer:s3:::b", "arn:coffer:s3:::b", true},
		{"arn:coffer:s3:::b/*", "arn:coffer:s3:::b", true},
		{"arn:coffer:s3:::b*", "", false},
		{"arn:coffer:s3:::b?/x", "", false},
		{"arn:coffer:s3:::", "arn:coffer:s3:::", true},
		{"arn:coffer:admin:::users/${coffer:username}", "arn:coffer:admin:::users", true},
		{"arn:coffer:s3:::b/x/y", "arn:coffer:s3:::b", true},
	} {
		k, ok := patternResourceKey(tc.pattern)
		if k != tc.key || ok != tc.keyed {
			t.Errorf("patternResourceKey(%q) = %q, %v; want %q, %v", tc.pattern, k, ok, tc.key, tc.keyed)
		}
	}
}

// benchEngine holds n single-statement policies, each for its own bucket
// (a third with a condition), all in one role.
func benchEngine(b *testing.B, n int) *Engine {
	b.Helper()
	e, err := NewEngine()
	if err != nil {
		b.Fatal(err)
	}
	names := make([]string, n)
	for i := range n {
		s := Statement{Sid: "Objects", Effect: Allow, Action: Strings{"s3:GetObject", "s3:PutObject", "s3:List*"},
			Resource: Strings{fmt.Sprintf("arn:coffer:s3:::bucket%d", i), fmt.Sprintf("arn:coffer:s3:::bucket%d/*", i)}}
		if i%3 == 0 {
			s.Condition = "request.ip != '192.0.2.1'"
		}
		names[i] = fmt.Sprintf("p%d", i)
		if err := e.PutPolicy(names[i], Document{Version: Version, Statement: []Statement{s}}); err != nil {
			b.Fatal(err)
		}
	}
	if err := e.PutRole(Role{Name: "many", Policies: names}); err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkDecide measures one decision for a principal whose role holds
// n policies; the request is allowed by one of them (with a condition).
// The scan sub-benchmarks evaluate every statement, as Decide did before
// the index.
func BenchmarkDecide(b *testing.B) {
	for _, n := range []int{10, 1_000, 10_000} {
		e := benchEngine(b, n)
		p := Principal{User: "ann", Roles: []string{"many"}}
		target := n / 2 / 3 * 3 // a policy with a condition
		res := fmt.Sprintf("arn:coffer:s3:::bucket%d/day1/a.mov", target)
		req := Request{Time: time.Now(), IP: "10.0.0.1"}
		if d := e.Decide(p, "s3:GetObject", res, req); !d.Allow {
			b.Fatalf("not allowed: %s", d.Reason)
		}
		b.Run(fmt.Sprintf("policies=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !e.Decide(p, "s3:GetObject", res, req).Allow {
					b.Fatal("denied")
				}
			}
		})
		b.Run(fmt.Sprintf("policies=%d/denied", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if e.Decide(p, "s3:DeleteObject", res, req).Allow {
					b.Fatal("allowed")
				}
			}
		})
		b.Run(fmt.Sprintf("policies=%d/scan", n), func(b *testing.B) {
			for b.Loop() {
				if !e.decideScan(p, "s3:GetObject", res, req).Allow {
					b.Fatal("denied")
				}
			}
		})
	}
}

// TestIndexConcurrentChanges decides while policies and roles change; run
// with -race. Every decision must be one the engine could give before or
// after a change: here, a reader role that always allows GetObject on b1.
func TestIndexConcurrentChanges(t *testing.T) {
	e := newEngine(t)
	read := Document{Version: Version, Statement: []Statement{{Effect: Allow, Action: Strings{"s3:GetObject"}, Resource: Strings{"arn:coffer:s3:::b1/*"}}}}
	if err := e.PutPolicy("read", read); err != nil {
		t.Fatal(err)
	}
	if err := e.PutRole(Role{Name: "reader", Policies: []string{"read"}}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		rng := rand.New(rand.NewPCG(2, 3))
		for i := range 200 {
			name := fmt.Sprintf("x%d", i%7)
			if err := e.PutPolicy(name, randDoc(rng)); err != nil {
				t.Error(err)
				return
			}
			if err := e.PutRole(Role{Name: "reader", Policies: []string{"read", name}}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	p := Principal{User: "ann", Roles: []string{"reader"}}
	for {
		select {
		case <-done:
			return
		default:
		}
		d := e.Decide(p, "s3:GetObject", "arn:coffer:s3:::b1/k", Request{Time: time.Now()})
		if !d.Allow && !strings.HasPrefix(d.Reason, "denied by x") {
			t.Fatalf("reader lost GetObject without a Deny: %+v", d)
		}
	}
}
