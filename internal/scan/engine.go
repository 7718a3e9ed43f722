package scan

// The engine: compiles a Config and scans chunks. One pass of the keyword
// automaton collects, per rule, windows around keyword hits; each rule's
// regular expression then runs only in its windows. One pass of a byte
// class loop (pii.go) finds candidates for the personal-data detectors.
// Every candidate then goes through the same checks: value validation,
// allowlists, inline coffer:allow, example/test tells, context words, and
// overlap with better findings.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Engine scans bytes for the rules of a Config. It is immutable and safe
// for concurrent use.
type Engine struct {
	rules     []*compiledRule // regex rules, indexed by acHit.rule
	pii       []*piiRule      // enabled built-in detectors
	piiSet    *piiSet
	ac        *acAutomaton
	allow     compiledAllowlist
	minConf   Confidence
	ctxWindow int
	scratch   sync.Pool // *scanState
}

type compiledRule struct {
	Rule
	re        *regexp.Regexp
	group     int // submatch index of the value; 0 is the whole match
	multiline bool
	window    int
	ctx       []string // lowercased context words
	allow     compiledAllowlist
	generic   bool // loses to a specific rule on overlap
	assign    bool // the regex is name-operator-value (assignRe): the name is the keyword
	validate  func([]byte) bool
}

type compiledAllowlist struct {
	globs     []compiledGlob
	pathRes   []*regexp.Regexp
	values    map[string]bool
	regexes   []*regexp.Regexp
	stopWords []string
}

func compileAllowlist(a Allowlist) (compiledAllowlist, error) {
	c := compiledAllowlist{values: map[string]bool{}}
	for _, p := range a.Paths {
		g, err := compileGlob(p)
		if err != nil {
			return c, fmt.Errorf("allowlist path: %w", err)
		}
		c.globs = append(c.globs, g)
	}
	for _, s := range a.PathRes {
		re, err := regexp.Compile(s)
		if err != nil {
			return c, fmt.Errorf("allowlist path regex: %w", err)
		}
		c.pathRes = append(c.pathRes, re)
	}
	for _, v := range a.Values {
		c.values[v] = true
	}
	for _, s := range a.Regexes {
		re, err := regexp.Compile(s)
		if err != nil {
			return c, fmt.Errorf("allowlist regex: %w", err)
		}
		c.regexes = append(c.regexes, re)
	}
	for _, w := range a.StopWords {
		c.stopWords = append(c.stopWords, strings.ToLower(w))
	}
	return c, nil
}

// pathAllowed reports whether p (a file path, or an inner archive path)
// matches a path entry.
func (c *compiledAllowlist) pathAllowed(p string) bool {
	if p == "" {
		return false
	}
	p = strings.ReplaceAll(p, "\\", "/")
	base := path.Base(p)
	for _, g := range c.globs {
		if g.re.MatchString(p) || (g.base && g.re.MatchString(base)) {
			return true
		}
	}
	for _, re := range c.pathRes {
		if re.MatchString(p) {
			return true
		}
	}
	return false
}

// compiledGlob is a path glob as a regular expression; a glob without
// '/' also matches the base name.
type compiledGlob struct {
	re   *regexp.Regexp
	base bool
}

// compileGlob turns a glob into an anchored regular expression: '*' and
// '?' stay within a path element, "**" crosses elements ("**/" also
// matches nothing), "[...]" is a class.
func compileGlob(g string) (compiledGlob, error) {
	var sb strings.Builder
	sb.WriteString("^")
	for i := 0; i < len(g); i++ {
		c := g[i]
		switch {
		case strings.HasPrefix(g[i:], "**/"):
			sb.WriteString("(?:.*/)?")
			i += 2
		case strings.HasPrefix(g[i:], "**"):
			sb.WriteString(".*")
			i++
		case c == '*':
			sb.WriteString("[^/]*")
		case c == '?':
			sb.WriteString("[^/]")
		case c == '[':
			j := strings.IndexByte(g[i:], ']')
			if j < 0 {
				return compiledGlob{}, fmt.Errorf("glob %q: unterminated [", g)
			}
			cls := g[i+1 : i+j]
			if strings.HasPrefix(cls, "!") {
				cls = "^" + cls[1:]
			}
			sb.WriteString("[" + cls + "]")
			i += j
		default:
			sb.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	sb.WriteString("$")
	re, err := regexp.Compile(sb.String())
	if err != nil {
		return compiledGlob{}, fmt.Errorf("glob %q: %w", g, err)
	}
	return compiledGlob{re: re, base: !strings.Contains(g, "/")}, nil
}

func (c *compiledAllowlist) valueAllowed(v string) bool {
	if c.values[v] {
		return true
	}
	for _, re := range c.regexes {
		if re.MatchString(v) {
			return true
		}
	}
	if len(c.stopWords) > 0 {
		lv := strings.ToLower(v)
		for _, w := range c.stopWords {
			if strings.Contains(lv, w) {
				return true
			}
		}
	}
	return false
}

func newEngine(cfg Config) (*Engine, error) {
	e := &Engine{minConf: cfg.MinConfidence, ctxWindow: cfg.ContextWindow}
	if e.ctxWindow <= 0 {
		e.ctxWindow = 80
	}
	var err error
	if e.allow, err = compileAllowlist(cfg.Allowlist); err != nil {
		return nil, err
	}
	disabled := map[string]bool{}
	for _, id := range cfg.Disabled {
		disabled[id] = true
	}
	seen := map[string]bool{}
	var (
		keywords []string
		kwIndex  = map[string]int{}
		kwRules  [][]int32
	)
	for _, r := range cfg.Rules {
		if r.ID == "" {
			return nil, fmt.Errorf("rule without an id")
		}
		if seen[r.ID] {
			return nil, fmt.Errorf("rule %s: duplicate id", r.ID)
		}
		seen[r.ID] = true
		if disabled[r.ID] {
			continue
		}
		if r.Type == "" {
			return nil, fmt.Errorf("rule %s: no type", r.ID)
		}
		if r.Confidence == 0 {
			r.Confidence = Likely
		}
		if r.Confidence < VeryUnlikely || r.Confidence > VeryLikely {
			return nil, fmt.Errorf("rule %s: bad confidence %d", r.ID, r.Confidence)
		}
		allow, err := compileAllowlist(r.Allowlist)
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w", r.ID, err)
		}
		ctx := make([]string, len(r.Context))
		for i, w := range r.Context {
			ctx[i] = strings.ToLower(w)
		}
		if r.Detector != "" {
			p, err := newPIIRule(r, allow, ctx)
			if err != nil {
				return nil, err
			}
			e.pii = append(e.pii, p)
			continue
		}
		cr, err := compileRule(r, allow, ctx)
		if err != nil {
			return nil, err
		}
		idx := int32(len(e.rules))
		e.rules = append(e.rules, cr)
		for _, kw := range r.Keywords {
			lk := strings.ToLower(kw)
			i, ok := kwIndex[lk]
			if !ok {
				i = len(keywords)
				kwIndex[lk] = i
				keywords = append(keywords, lk)
				kwRules = append(kwRules, nil)
			}
			if !slices.Contains(kwRules[i], idx) {
				kwRules[i] = append(kwRules[i], idx)
			}
		}
	}
	for _, id := range cfg.Disabled {
		if !seen[id] {
			return nil, fmt.Errorf("disabled rule %s: no such rule", id)
		}
	}
	e.ac = newAC(keywords, kwRules)
	e.piiSet = newPIISet(e.pii)
	n := len(e.rules)
	e.scratch.New = func() any { return &scanState{windows: make([][]span, n)} }
	return e, nil
}

func compileRule(r Rule, allow compiledAllowlist, ctx []string) (*compiledRule, error) {
	if len(r.Keywords) == 0 {
		return nil, fmt.Errorf("rule %s: no keywords (every rule needs at least one)", r.ID)
	}
	for _, k := range r.Keywords {
		if k == "" {
			return nil, fmt.Errorf("rule %s: empty keyword", r.ID)
		}
	}
	if r.Regex == "" {
		return nil, fmt.Errorf("rule %s: no regex", r.ID)
	}
	re, err := regexp.Compile(r.Regex)
	if err != nil {
		return nil, fmt.Errorf("rule %s: %w", r.ID, err)
	}
	cr := &compiledRule{Rule: r, re: re, allow: allow, ctx: ctx}
	if i := re.SubexpIndex("secret"); i > 0 {
		cr.group = i
	} else if re.NumSubexp() > 0 {
		cr.group = 1
	}
	cr.multiline = strings.Contains(r.Regex, `\n`) || strings.Contains(r.Regex, "(?s")
	cr.window = r.Window
	if cr.window <= 0 {
		cr.window = 256
	}
	cr.window = min(cr.window, MaxMatchLen)
	cr.generic = strings.HasPrefix(r.ID, "generic-")
	cr.assign = strings.Contains(r.Regex, assignOp)
	if r.Validate != "" {
		v := validatorFor(r.Validate)
		if v == nil {
			return nil, fmt.Errorf("rule %s: unknown validate %q", r.ID, r.Validate)
		}
		cr.validate = v
	}
	return cr, nil
}

// span is a window [lo, hi) of a chunk.
type span struct{ lo, hi int }

// scanState is the per-call scratch, pooled per Engine.
type scanState struct {
	windows [][]span // per rule
	touched []int32  // rules with windows
	cands   []candidate
}

// candidate is a match before the common checks.
type candidate struct {
	rule       string
	typ        string
	desc       string
	conf       Confidence
	start, end int // value span in the chunk
	ctx        []string
	allow      *compiledAllowlist
	generic    bool
	pii        bool
	example    bool // known test data: VERY_UNLIKELY whatever the context
}

const lookback = 256

func (e *Engine) scan(b []byte, base int64, loc Location) []Finding {
	st := e.scratch.Get().(*scanState)
	defer e.scratch.Put(st)
	st.touched = st.touched[:0]
	st.cands = st.cands[:0]

	// Pass 1: keywords -> windows per rule.
	e.ac.scan(b, func(end int, hits []acHit) {
		for _, h := range hits {
			r := e.rules[h.rule]
			start := end - int(h.klen)
			lo := start
			if r.assign {
				// The keyword starts the name: the window starts there,
				// and there is nothing to do unless an operator follows.
				if !assignAhead(b, end) {
					continue
				}
			} else {
				lo = max(0, start-lookback)
				if i := bytes.LastIndexByte(b[lo:start], '\n'); i >= 0 {
					lo += i + 1
				}
			}
			hi := min(len(b), end+r.window)
			if !r.multiline {
				if i := bytes.IndexByte(b[end:hi], '\n'); i >= 0 {
					hi = end + i
				}
			}
			ws := st.windows[h.rule]
			if n := len(ws); n > 0 && lo <= ws[n-1].hi {
				ws[n-1].hi = max(ws[n-1].hi, hi)
				continue
			}
			if len(ws) == 0 {
				st.touched = append(st.touched, h.rule)
			}
			st.windows[h.rule] = append(ws, span{lo, hi})
		}
	})
	// Pass 2: regexes in windows.
	for _, ri := range st.touched {
		r := e.rules[ri]
		for _, w := range st.windows[ri] {
			for _, m := range r.re.FindAllSubmatchIndex(b[w.lo:w.hi], -1) {
				s, t := m[2*r.group], m[2*r.group+1]
				if s < 0 {
					continue
				}
				s, t = s+w.lo, t+w.lo
				v := b[s:t]
				if r.Entropy > 0 && entropy(v) < r.Entropy {
					continue
				}
				if r.validate != nil && !r.validate(v) {
					continue
				}
				st.cands = append(st.cands, candidate{
					rule: r.ID, typ: r.Type, desc: r.Description, conf: r.Confidence,
					start: s, end: t, ctx: r.ctx, allow: &r.allow, generic: r.generic,
				})
			}
		}
		st.windows[ri] = st.windows[ri][:0]
	}
	// Pass 3: personal data.
	if len(e.pii) > 0 {
		st.cands = e.scanPII(b, st.cands)
	}
	if len(st.cands) == 0 {
		return nil
	}
	return e.finish(b, base, loc, st.cands)
}

// assignAhead reports whether an assignment operator follows the name
// that continues at b[i]: up to 24 more name bytes, a closing quote,
// blanks, then '=', ':' or '?='.
func assignAhead(b []byte, i int) bool {
	j := i
	for j < len(b) && j-i < 24 && (isWord(b[j]) || b[j] == '.' || b[j] == '-') {
		j++
	}
	if j < len(b) && (b[j] == '"' || b[j] == '\'' || b[j] == '`') {
		j++
	}
	for j < len(b) && (b[j] == ' ' || b[j] == '\t') {
		j++
	}
	return j < len(b) && (b[j] == '=' || b[j] == ':' || b[j] == '?')
}

// finish applies the common checks to the candidates and builds findings.
func (e *Engine) finish(b []byte, base int64, loc Location, cands []candidate) []Finding {
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].start != cands[j].start {
			return cands[i].start < cands[j].start
		}
		return cands[i].end > cands[j].end
	})
	cands = dropOverlaps(cands)
	pathTell := testPath(loc.Path) || testPath(loc.Archive)
	pathAllowed := e.allow.pathAllowed(loc.Path) || e.allow.pathAllowed(innerPath(loc.Archive))
	var (
		out      []Finding
		line     = loc.Line // newlines before b[0]
		lineAt   int        // offset up to which newlines are counted
		lineHead = 0        // offset of the start of the current line
	)
	if i := bytes.LastIndexByte(b[:0], '\n'); i >= 0 {
		lineHead = i + 1
	}
	for _, c := range cands {
		if pathAllowed || c.allow.pathAllowed(loc.Path) || c.allow.pathAllowed(innerPath(loc.Archive)) {
			continue
		}
		v := string(b[c.start:c.end])
		if e.allow.valueAllowed(v) || c.allow.valueAllowed(v) {
			continue
		}
		if inlineAllowed(b, c.start, c.end) {
			continue
		}
		conf := c.conf
		if c.example || exampleValue(v) {
			conf = VeryUnlikely
		} else {
			if e.near(b, c.start, c.end, c.ctx) {
				conf++
			}
			if pathTell || e.near(b, c.start, c.end, testTells()) {
				conf--
			}
			conf = max(VeryUnlikely, min(VeryLikely, conf))
		}
		if conf < e.minConf {
			continue
		}
		// Position: count lines incrementally (candidates are sorted).
		nl := bytes.Count(b[lineAt:c.start], []byte{'\n'})
		if nl > 0 {
			lineHead = lineAt + bytes.LastIndexByte(b[lineAt:c.start], '\n') + 1
		}
		line += nl
		lineAt = c.start
		l := loc
		l.Line = line + 1
		l.Column = c.start - lineHead + 1
		l.Start = base + int64(c.start)
		l.End = base + int64(c.end)
		f := Finding{
			Rule: c.rule, Type: c.typ, Description: c.desc, Confidence: conf,
			Location: l, Value: v, Masked: Mask(v),
		}
		f.Fingerprint = FingerprintOf(f)
		out = append(out, f)
	}
	return out
}

// dropOverlaps removes a candidate whose value overlaps a better one: a
// specific rule beats a generic one, a secret beats personal data, and
// among equals the longer (earlier, by sort order) match wins when both
// have the same type.
func dropOverlaps(c []candidate) []candidate {
	rank := func(x candidate) int {
		switch {
		case x.pii:
			return 0
		case x.generic:
			return 1
		}
		return 2
	}
	keep := make([]bool, len(c))
	for i := range c {
		keep[i] = true
	}
	for i := range c {
		if !keep[i] {
			continue
		}
		for j := i + 1; j < len(c) && c[j].start < c[i].end; j++ {
			if !keep[j] {
				continue
			}
			ri, rj := rank(c[i]), rank(c[j])
			switch {
			case ri > rj:
				keep[j] = false
			case rj > ri:
				keep[i] = false
			case c[i].typ == c[j].typ || c[i].pii:
				keep[j] = false
			}
			if !keep[i] {
				break
			}
		}
	}
	out := c[:0]
	for i, k := range keep {
		if k {
			out = append(out, c[i])
		}
	}
	return out
}

// innerPath is the innermost path of an archive path "a.zip!b.tar!c/d".
func innerPath(a string) string {
	if i := strings.LastIndexByte(a, '!'); i >= 0 {
		return a[i+1:]
	}
	return a
}

// near reports whether one of words (lowercase) occurs, ASCII
// case-insensitively, within the context window either side of
// [start, end).
func (e *Engine) near(b []byte, start, end int, words []string) bool {
	lo := max(0, start-e.ctxWindow)
	hi := min(len(b), end+e.ctxWindow)
	for _, w := range words {
		if containsFold(b[lo:start], w) || containsFold(b[end:hi], w) {
			return true
		}
	}
	return false
}

// containsFold reports whether s contains the lowercase word w, ASCII
// case-insensitively.
func containsFold(s []byte, w string) bool {
	if len(w) == 0 {
		return true
	}
	c0 := w[0]
	u0 := c0
	if c0 >= 'a' && c0 <= 'z' {
		u0 = c0 - 'a' + 'A'
	}
	for i := 0; i+len(w) <= len(s); i++ {
		if s[i] != c0 && s[i] != u0 {
			continue
		}
		j := 1
		for ; j < len(w); j++ {
			c := s[i+j]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != w[j] {
				break
			}
		}
		if j == len(w) {
			return true
		}
	}
	return false
}

// testTells are words near a match that mark it as test data.
func testTells() []string {
	return []string{"test", "example", "sample", "fake", "dummy", "mock", "placeholder", "lorem"}
}

// testPath reports whether a path looks like test data.
func testPath(p string) bool {
	p = strings.ToLower(strings.ReplaceAll(p, "\\", "/"))
	for _, t := range []string{"/test/", "/tests/", "testdata/", "/fixtures/", "/examples/", "/example/", "_test.", ".test.", ".spec.", "/mock", "/fake", "sample"} {
		if strings.Contains(p, t) || strings.HasPrefix("/"+p, t) {
			return true
		}
	}
	return false
}

// exampleValue reports whether a value is a documented example or a
// placeholder: it contains "example", "xxxx", "dummy", "sample", "fake",
// "placeholder", "changeme", "your_", "<", "${" or "{{", or is one byte
// repeated, or a run like 1234567890 / abcdefgh.
func exampleValue(v string) bool {
	lv := strings.ToLower(v)
	for _, t := range []string{"example", "xxxx", "dummy", "sample", "fake", "placeholder", "changeme", "your_", "your-", "yourkey", "insert", "redacted", "<", "${", "{{", "****", "0000000000", "1234567890", "abcdefgh"} {
		if strings.Contains(lv, t) {
			return true
		}
	}
	if len(v) > 0 && strings.Count(v, v[:1]) == len(v) {
		return true
	}
	return false
}

// inlineAllowed reports whether the line of the match says coffer:allow.
func inlineAllowed(b []byte, start, end int) bool {
	lo := bytes.LastIndexByte(b[:start], '\n') + 1
	hi := len(b)
	if i := bytes.IndexByte(b[end:], '\n'); i >= 0 {
		hi = end + i
	}
	if start > 0 && lo == 0 && start-lo > 4096 {
		lo = start - 4096
	}
	return bytes.Contains(b[lo:hi], []byte("coffer:allow"))
}

// entropy is the Shannon entropy of b in bits per byte.
func entropy(b []byte) float64 {
	if len(b) == 0 {
		return 0
	}
	var counts [256]int
	for _, c := range b {
		counts[c]++
	}
	n := float64(len(b))
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

// Mask hides all of v but a few leading and trailing characters: up to 4
// each side, and at most a fifth of v each side, so a short value shows
// little. Line breaks become spaces; long values are shortened to at most
// 40 stars.
func Mask(v string) string {
	r := []rune(v)
	keep := min(4, len(r)/5)
	stars := min(len(r)-2*keep, 40)
	head, tail := string(r[:keep]), string(r[len(r)-keep:])
	m := head + strings.Repeat("*", stars) + tail
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, m)
}

// FingerprintOf is the stable id of a finding for baselines: a hash of its
// rule, where it is (path, archive path, image, layer, commit; not the
// line, which moves) and its value.
func FingerprintOf(f Finding) string {
	l := f.Location
	h := sha256.Sum256([]byte(strings.Join([]string{f.Rule, l.Path, l.Archive, l.Image, l.Layer, l.Commit, f.Value}, "\x00")))
	return hex.EncodeToString(h[:16])
}
