package policy

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
)

// StepUpWindow is how recent an MFA proof must be for a dangerous action.
const StepUpWindow = 5 * time.Minute

// dangerous actions need a fresh MFA proof whatever the role grants.
var dangerous = []string{
	"admin:createuser", "admin:deleteuser", "admin:resetpassword", "admin:resetmfa",
	"admin:putpolicy", "admin:deletepolicy", "admin:attachpolicy", "admin:detachpolicy",
	"admin:putrole", "admin:deleterole", "admin:assignrole", "admin:unassignrole", "admin:deletegroup",
	"admin:rotatekeys", "audit:export", "audit:erase", "s3:deletebucket",
}

// IsDangerous reports whether action needs step-up MFA.
func IsDangerous(action string) bool { return slices.Contains(dangerous, strings.ToLower(action)) }

// Principal is who is asking.
type Principal struct {
	User        string
	Roles       []string
	AccessKeyID string
	SessionID   string
	MFA         bool      // an MFA proof was given for this session or key
	MFAAt       time.Time // when
	// Narrow, when set, is an access key's inline policy: it can only take
	// rights away (the request must be allowed by the roles AND by it).
	Narrow *Compiled
}

// Request is the context of one decision.
type Request struct {
	Time         time.Time
	IP           string
	ObjectLabels []string
	ObjectSize   int64
}

// Decision is Decide's answer.
type Decision struct {
	Allow bool
	// RequireMFA: the roles allow it, but only with a fresh MFA proof.
	RequireMFA bool
	// Reason names the statement that decided (policy and Sid), or why
	// nothing did; safe to show to the caller and to record in the audit log.
	Reason string
}

// Compiled is a validated document with its conditions compiled and its
// action patterns in lower case (actions ignore case).
type Compiled struct {
	name  string
	doc   Document
	progs []cel.Program // per statement; nil without a condition
}

// Role bundles policies.
type Role struct {
	Name       string
	Policies   []string
	MFAAtLogin bool // the login flow demands MFA for holders of this role
	Builtin    bool // built-in roles cannot be changed; copy them instead
}

// Engine holds policies and roles and decides. Safe for concurrent use.
type Engine struct {
	env *cel.Env

	mu       sync.RWMutex
	policies map[string]*Compiled
	roles    map[string]Role

	// idx caches each role's statement index (index.go); every change to
	// policies or roles empties it (under mu), Decide fills it (under
	// mu.RLock and idxMu).
	idxMu sync.Mutex
	idx   map[string]*roleIndex
}

// Errors for policy and role management.
var (
	ErrNoSuchPolicy = errors.New("policy: no such policy")
	ErrNoSuchRole   = errors.New("policy: no such role")
	ErrBuiltin      = errors.New("policy: built-in roles and policies cannot be changed")
	ErrInUse        = errors.New("policy: still in use")
)

// InUseError refuses to delete a policy that roles still hold; it wraps
// ErrInUse and names them.
type InUseError struct {
	What  string   // "policy NAME"
	Users []string // who still refers to it: "role X", ...
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("%s is still used by %s", e.What, strings.Join(e.Users, ", "))
}

func (e *InUseError) Unwrap() error { return ErrInUse }

// NewEngine returns an engine holding the built-in roles and policies.
func NewEngine() (*Engine, error) {
	env, err := newEnv()
	if err != nil {
		return nil, fmt.Errorf("policy: CEL environment: %w", err)
	}
	e := &Engine{env: env, policies: map[string]*Compiled{}, roles: map[string]Role{}}
	for name, doc := range builtinPolicies() {
		c, err := e.Compile(name, doc)
		if err != nil {
			return nil, fmt.Errorf("built-in policy %s: %w", name, err)
		}
		e.policies[name] = c
	}
	for _, r := range builtinRoles() {
		e.roles[r.Name] = r
	}
	return e, nil
}

// Compile validates d and compiles its conditions once.
func (e *Engine) Compile(name string, d Document) (*Compiled, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	c := &Compiled{name: name, doc: d, progs: make([]cel.Program, len(d.Statement))}
	c.doc.Statement = slices.Clone(d.Statement) // the caller's document stays as given
	for i, s := range d.Statement {
		c.doc.Statement[i].Action = lowerAll(s.Action)
		if s.Condition == "" {
			continue
		}
		prg, err := compileCondition(e.env, s.Condition)
		if err != nil {
			return nil, err
		}
		c.progs[i] = prg
	}
	return c, nil
}

// lowerAll returns patterns in lower case, sharing them when they are.
func lowerAll(patterns []string) []string {
	for i, p := range patterns {
		if l := strings.ToLower(p); l != p {
			out := slices.Clone(patterns)
			out[i] = l
			for j := i + 1; j < len(out); j++ {
				out[j] = strings.ToLower(out[j])
			}
			return out
		}
	}
	return patterns
}

// PutPolicy stores (or replaces) a named policy.
func (e *Engine) PutPolicy(name string, d Document) error {
	if name == "" || strings.HasPrefix(name, builtinPrefix) {
		return fmt.Errorf("%w: %q", ErrBuiltin, name)
	}
	c, err := e.Compile(name, d)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.policies[name] = c
	e.idx = nil
	return nil
}

// PutRole stores (or replaces) a role; its policies must exist.
func (e *Engine) PutRole(r Role) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if old, ok := e.roles[r.Name]; (ok && old.Builtin) || r.Builtin || r.Name == "" {
		return fmt.Errorf("%w: role %q", ErrBuiltin, r.Name)
	}
	for _, p := range r.Policies {
		if _, ok := e.policies[p]; !ok {
			return fmt.Errorf("%w: %q", ErrNoSuchPolicy, p)
		}
	}
	r.Policies = slices.Clone(r.Policies)
	// Everyone manages their own password, MFA, keys and sessions, whatever
	// role an administrator composes (an explicit Deny can still take it away).
	if !slices.Contains(r.Policies, selfService) {
		r.Policies = append(r.Policies, selfService)
	}
	e.roles[r.Name] = r
	e.idx = nil
	return nil
}

// DeletePolicy removes a stored policy. Built-in policies are refused
// (ErrBuiltin), and so is a policy that a role still holds (*InUseError):
// remove it from those roles first.
func (e *Engine) DeletePolicy(name string) error {
	if strings.HasPrefix(name, builtinPrefix) {
		return fmt.Errorf("%w: %q", ErrBuiltin, name)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.policies[name]; !ok {
		return fmt.Errorf("%w: %q", ErrNoSuchPolicy, name)
	}
	var users []string
	for _, rn := range slices.Sorted(maps.Keys(e.roles)) {
		if slices.Contains(e.roles[rn].Policies, name) {
			users = append(users, "role "+rn)
		}
	}
	if len(users) > 0 {
		return &InUseError{What: "policy " + name, Users: users}
	}
	delete(e.policies, name)
	e.idx = nil
	return nil
}

// DeleteRole removes a role; built-in roles are refused (ErrBuiltin).
// Whether users or groups still hold it is the caller's to check: the
// engine does not know them (a principal naming a missing role gets
// nothing from it).
func (e *Engine) DeleteRole(name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.roles[name]
	switch {
	case !ok:
		return fmt.Errorf("%w: %q", ErrNoSuchRole, name)
	case r.Builtin:
		return fmt.Errorf("%w: role %q", ErrBuiltin, name)
	}
	delete(e.roles, name)
	e.idx = nil
	return nil
}

// Policies lists policy names, sorted (built-in ones start with "coffer-").
func (e *Engine) Policies() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return slices.Sorted(maps.Keys(e.policies))
}

// Role returns a role by name.
func (e *Engine) Role(name string) (Role, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	r, ok := e.roles[name]
	if !ok {
		return Role{}, fmt.Errorf("%w: %q", ErrNoSuchRole, name)
	}
	return r, nil
}

// Roles lists role names, sorted.
func (e *Engine) Roles() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return slices.Sorted(maps.Keys(e.roles))
}

// verdict of one document for a request.
type verdict int

const (
	noMatch verdict = iota
	allowed
	denied
)

// Decide answers whether p may do action on resource in the context r.
// Default deny; an explicit Deny in any policy wins; an Allow from the
// roles must also be allowed by p.Narrow when set; a dangerous action
// additionally needs an MFA proof younger than StepUpWindow.
func (e *Engine) Decide(p Principal, action, resource string, r Request) Decision {
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	la := strings.ToLower(action) // once: patterns are lower case already
	var act map[string]any        // built when a condition first needs it
	lazyAct := func() map[string]any {
		if act == nil {
			act = activation(p, r)
		}
		return act
	}

	var buf [16]candidate
	cands := buf[:0]
	e.mu.RLock()
	for _, name := range p.Roles {
		if ix := e.roleIndex(name); ix != nil {
			cands = ix.candidates(cands, la, resource)
		}
	}
	e.mu.RUnlock()

	var allowReason string
	for _, cd := range cands {
		v, why := cd.c.evalStatement(cd.stmt, p, la, resource, lazyAct)
		switch v {
		case denied:
			return Decision{Reason: why}
		case allowed:
			if allowReason == "" {
				allowReason = why
			}
		}
	}
	return e.finish(p, action, la, resource, r, allowReason, lazyAct)
}

// decideScan is Decide without the index: every statement of every policy
// of the principal's roles, in order. The randomized test holds Decide to it.
func (e *Engine) decideScan(p Principal, action, resource string, r Request) Decision {
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	la := strings.ToLower(action)
	act := activation(p, r)
	lazyAct := func() map[string]any { return act }
	var allowReason string
	for _, c := range e.docsOf(p.Roles) {
		v, why := c.evaluate(p, la, resource, lazyAct)
		switch v {
		case denied:
			return Decision{Reason: why}
		case allowed:
			if allowReason == "" {
				allowReason = why
			}
		}
	}
	return e.finish(p, action, la, resource, r, allowReason, lazyAct)
}

// docsOf lists the policies of roles, in order (a policy held by two roles
// appears twice).
func (e *Engine) docsOf(roles []string) []*Compiled {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var docs []*Compiled
	for _, name := range roles {
		docs = append(docs, e.roleDocs(name)...)
	}
	return docs
}

// roleDocs lists a role's policies; the caller holds mu.
func (e *Engine) roleDocs(name string) []*Compiled {
	role, ok := e.roles[name]
	if !ok {
		return nil
	}
	var docs []*Compiled
	for _, pn := range role.Policies {
		if c, ok := e.policies[pn]; ok {
			docs = append(docs, c)
		}
	}
	return docs
}

// roleIndex returns the role's statement index, building it on first use;
// nil for an unknown role. The caller holds mu (read or write).
func (e *Engine) roleIndex(name string) *roleIndex {
	e.idxMu.Lock()
	defer e.idxMu.Unlock()
	if ix, ok := e.idx[name]; ok {
		return ix
	}
	if _, ok := e.roles[name]; !ok {
		return nil
	}
	ix := newRoleIndex(e.roleDocs(name))
	if e.idx == nil {
		e.idx = map[string]*roleIndex{}
	}
	e.idx[name] = ix
	return ix
}

// finish applies what follows the roles' verdict: default deny, the access
// key's narrowing policy and step-up MFA. la is action in lower case.
func (e *Engine) finish(p Principal, action, la, resource string, r Request, allowReason string, act func() map[string]any) Decision {
	if allowReason == "" {
		return Decision{Reason: fmt.Sprintf("no statement allows %s on %s", action, resource)}
	}
	if p.Narrow != nil {
		v, why := p.Narrow.evaluate(p, la, resource, act)
		if v != allowed {
			if why == "" {
				why = fmt.Sprintf("the access key's policy does not allow %s on %s", action, resource)
			}
			return Decision{Reason: why}
		}
	}
	if slices.Contains(dangerous, la) && (!p.MFA || p.MFAAt.IsZero() || r.Time.Sub(p.MFAAt) > StepUpWindow) {
		return Decision{RequireMFA: true, Reason: fmt.Sprintf("%s needs an MFA proof from the last %v (%s)", action, StepUpWindow, allowReason)}
	}
	return Decision{Allow: true, Reason: allowReason}
}

// evaluate returns the document's verdict: denied if any matching Deny
// (a Deny whose condition fails to evaluate counts: fail closed), else
// allowed if any matching Allow whose condition holds. action is in lower
// case.
func (c *Compiled) evaluate(p Principal, action, resource string, act func() map[string]any) (verdict, string) {
	v, why := noMatch, ""
	for i := range c.doc.Statement {
		sv, swhy := c.evalStatement(i, p, action, resource, act)
		switch {
		case sv == denied:
			return denied, swhy
		case sv == allowed && v == noMatch:
			v, why = allowed, swhy
		}
	}
	return v, why
}

// evalStatement returns statement i's verdict: noMatch when its action or
// resource does not match or its condition does not hold (a Deny whose
// condition fails to evaluate holds: fail closed). action is in lower case.
func (c *Compiled) evalStatement(i int, p Principal, action, resource string, act func() map[string]any) (verdict, string) {
	s := &c.doc.Statement[i]
	if !matchAction(s.Action, action) || !matchResource(s.Resource, resource, p) {
		return noMatch, ""
	}
	if prg := c.progs[i]; prg != nil {
		ok, err := evalCondition(prg, act())
		if !(ok || (err != nil && s.Effect == Deny)) {
			return noMatch, ""
		}
	}
	name := c.name
	if s.Sid != "" {
		name += "/" + s.Sid
	} else {
		name += fmt.Sprintf("/statement %d", i)
	}
	if s.Effect == Deny {
		return denied, "denied by " + name
	}
	return allowed, "allowed by " + name
}

// matchAction matches a lower-case action against lower-case patterns.
func matchAction(patterns []string, action string) bool {
	for _, pat := range patterns {
		if match(pat, action) {
			return true
		}
	}
	return false
}

// matchResource matches resource against patterns, which may use
// ${coffer:username}.
func matchResource(patterns []string, resource string, p Principal) bool {
	for _, pat := range patterns {
		if strings.Contains(pat, "${coffer:username}") {
			if p.User == "" || strings.ContainsAny(p.User, "*?/") {
				continue // nothing safe to substitute
			}
			pat = strings.ReplaceAll(pat, "${coffer:username}", p.User)
		}
		if match(pat, resource) {
			return true
		}
	}
	return false
}
