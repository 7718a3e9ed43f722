package policy

import (
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary bytes to Parse and what it accepts to Compile
// and Decide: nothing may panic, and whatever is accepted respects the
// documented limits.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"Version":"2026-01-01","Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:GetObject","Resource":["arn:coffer:s3:::b/*"],"Condition":"principal.mfa"}]}`,
		`{"Version":"2026-01-01","Statement":[{"Effect":"Deny","Action":["s3:*","admin:*"],"Resource":"*","Condition":"request.ip == '10.0.0.1' && object.size > 5"}]}`,
		`{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"*","Resource":"arn:coffer:admin:::users/${coffer:username}"}]}`,
		`{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":"` + strings.Repeat("(", 40) + `true` + strings.Repeat(")", 40) + `"}]}`,
		`{"Version":"2026-01-01","Statement":[]}`,
		`{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":[1],"Resource":"*"}]}`,
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[`,
		`{"Version":"2026-01-01"}{}`,
		"",
	} {
		f.Add([]byte(s))
	}
	e, err := NewEngine()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Parse(b)
		if err != nil {
			return
		}
		if len(b) > MaxDocumentBytes || len(d.Statement) == 0 || len(d.Statement) > MaxStatements {
			t.Fatalf("accepted a document outside the limits: %d bytes, %d statements", len(b), len(d.Statement))
		}
		c, err := e.Compile("fuzz", d)
		if err != nil {
			return
		}
		p := Principal{User: "ann", MFA: true, MFAAt: time.Now(), Narrow: c}
		c.evaluate(p, "s3:getobject", "arn:coffer:s3:::b/k", func() map[string]any { return activation(p, Request{Time: time.Now()}) })
	})
}

// FuzzCondition compiles arbitrary CEL conditions and evaluates what
// compiles: no panic, and the parser's limits hold on nesting and size.
func FuzzCondition(f *testing.F) {
	for _, s := range []string{
		"principal.mfa",
		"principal.mfa && request.time.getHours() < 20",
		"'secret' in object.labels || object.size > 1024",
		"object.labels.all(l, l.startsWith('pub'))",
		"object.labels.exists(a, object.labels.exists(b, object.labels.exists(c, a == b && b == c)))",
		"[1,2,3].map(x, [1,2,3].map(y, x * y)).size() > 0",
		"object.size / 0 > 1",
		strings.Repeat("!", 200) + "true",
		strings.Repeat("[", 100),
		strings.Repeat("a.", 300) + "b",
		"request.ip.matches('^(a+)+$')",
	} {
		f.Add(s)
	}
	env, err := newEnv()
	if err != nil {
		f.Fatal(err)
	}
	p := Principal{User: "ann", MFA: true, MFAAt: time.Now()}
	act := activation(p, Request{Time: time.Now(), IP: "10.0.0.1", ObjectLabels: []string{"public", "secret"}, ObjectSize: 7})
	f.Fuzz(func(t *testing.T, expr string) {
		prg, err := compileCondition(env, expr)
		if err != nil {
			return
		}
		if len(expr) > MaxConditionLen {
			t.Fatalf("compiled a condition of %d bytes", len(expr))
		}
		evalCondition(prg, act) // an error (cost limit, division by zero) is a fine answer
	})
}

// TestConditionLimits pins the bounds the fuzzers rely on.
func TestConditionLimits(t *testing.T) {
	env, err := newEnv()
	if err != nil {
		t.Fatal(err)
	}
	for name, expr := range map[string]string{
		"too deep":   strings.Repeat("(", conditionNesting+5) + "true" + strings.Repeat(")", conditionNesting+5),
		"too long":   strings.Repeat("true && ", MaxConditionLen/8) + "true",
		"too costly": "[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, a+b+c+d > 0))))",
	} {
		t.Run(name, func(t *testing.T) {
			prg, err := compileCondition(env, expr)
			if err != nil {
				return // refused at compile time
			}
			if _, err := evalCondition(prg, activation(Principal{}, Request{Time: time.Now()})); err == nil {
				t.Fatal("compiled and evaluated without hitting a limit")
			}
		})
	}
}
