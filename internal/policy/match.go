package policy

// match reports whether s matches pattern, where '*' matches any run of
// characters (including none) and '?' exactly one byte. It runs in
// O(len(pattern)+len(s)) steps with one backtrack point, so a hostile
// pattern cannot make it exponential.
func match(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
