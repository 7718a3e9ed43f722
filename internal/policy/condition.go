package policy

import (
	"fmt"
	"time"

	"github.com/google/cel-go/cel"
)

// conditionCostLimit bounds the work one condition may do per evaluation.
const conditionCostLimit = 10_000

// Parser bounds: a hostile condition cannot nest deeper than
// conditionNesting or make the parser recover from more than a few errors,
// so compiling stays linear in its (bounded) length.
const (
	conditionNesting     = 32
	conditionErrRecovery = 4
)

// newEnv declares what conditions can see.
func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("request.ip", cel.StringType),
		cel.Variable("request.time", cel.TimestampType),
		cel.Variable("principal.user", cel.StringType),
		cel.Variable("principal.mfa", cel.BoolType),
		cel.Variable("principal.mfa_age", cel.IntType), // seconds; -1 without MFA
		cel.Variable("principal.access_key", cel.StringType),
		cel.Variable("object.labels", cel.ListType(cel.StringType)),
		cel.Variable("object.size", cel.IntType),
		cel.ParserRecursionLimit(conditionNesting),
		cel.ParserExpressionSizeLimit(MaxConditionLen),
		cel.ParserErrorRecoveryLimit(conditionErrRecovery),
	)
}

// compileCondition type-checks expr and returns its program; the result
// must be a bool.
func compileCondition(env *cel.Env, expr string) (cel.Program, error) {
	if len(expr) > MaxConditionLen {
		return nil, fmt.Errorf("%w: Condition longer than %d", ErrInvalid, MaxConditionLen)
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, fmt.Errorf("%w: Condition: %v", ErrInvalid, iss.Err())
	}
	if ast.OutputType() != cel.BoolType {
		return nil, fmt.Errorf("%w: Condition must be a bool expression, not %v", ErrInvalid, ast.OutputType())
	}
	prg, err := env.Program(ast, cel.CostLimit(conditionCostLimit))
	if err != nil {
		return nil, fmt.Errorf("%w: Condition: %v", ErrInvalid, err)
	}
	return prg, nil
}

// activation is what a condition is evaluated against.
func activation(p Principal, r Request) map[string]any {
	mfaAge := int64(-1)
	if p.MFA && !p.MFAAt.IsZero() {
		mfaAge = int64(r.Time.Sub(p.MFAAt) / time.Second)
	}
	labels := r.ObjectLabels
	if labels == nil {
		labels = []string{}
	}
	return map[string]any{
		"request.ip": r.IP, "request.time": r.Time,
		"principal.user": p.User, "principal.mfa": p.MFA, "principal.mfa_age": mfaAge, "principal.access_key": p.AccessKeyID,
		"object.labels": labels, "object.size": r.ObjectSize,
	}
}

// evalCondition returns the condition's verdict; an evaluation error is
// returned as such (Decide fails closed on it).
func evalCondition(prg cel.Program, act map[string]any) (bool, error) {
	out, _, err := prg.Eval(act)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("condition yielded %T, not bool", out.Value())
	}
	return b, nil
}
