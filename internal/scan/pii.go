package scan

// Personal-data detectors. A regular expression finds things that look
// like a card number; only validation tells one from an order id. So these
// detectors are code: one pass over the chunk stops at digits, '+', '@'
// and ':' (their "keywords"), cuts out the token there (a group of digits
// with consistent separators, an e-mail address, an IPv6 address) and
// runs the checks of each kind on it:
//
//   payment-card     Luhn, issuer (IIN) ranges and lengths (ISO/IEC 7812)
//   cn-resident-id   GB 11643-1999 mod 11-2 check digit (incl. X), birth
//                    date valid and not in the future, province code 11-82
//   cn-mobile        11 digits, 1[3-9] with allocated prefixes, +86 optional
//   e164-phone       '+', 8-15 digits, assigned country code (ITU-T E.164)
//   email            RFC 5321 shape, a letter TLD that is not a file suffix
//   iban             ISO 13616: per-country length and mod-97 = 1
//   us-ssn           area not 000/666/900-999, group not 00, serial not 0000
//   cn-passport      E/G + 8 digits, or E + letter + 7 digits
//   ipv4, ipv6       net/netip; only public (globally routed) addresses
//
// Base confidences and the context words are in the default rules
// (defaultPIIRules); see docs/scan-rules.md.

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

type piiKind int

const (
	piiCard piiKind = iota
	piiCNID
	piiCNMobile
	piiE164
	piiEmail
	piiIBAN
	piiSSN
	piiCNPassport
	piiIPv4
	piiIPv6
	piiKinds
)

func piiKindOf(detector string) (piiKind, bool) {
	switch detector {
	case "payment-card":
		return piiCard, true
	case "cn-resident-id":
		return piiCNID, true
	case "cn-mobile":
		return piiCNMobile, true
	case "e164-phone":
		return piiE164, true
	case "email":
		return piiEmail, true
	case "iban":
		return piiIBAN, true
	case "us-ssn":
		return piiSSN, true
	case "cn-passport":
		return piiCNPassport, true
	case "ipv4":
		return piiIPv4, true
	case "ipv6":
		return piiIPv6, true
	}
	return 0, false
}

type piiRule struct {
	Rule
	kind  piiKind
	ctx   []string
	allow compiledAllowlist
}

func newPIIRule(r Rule, allow compiledAllowlist, ctx []string) (*piiRule, error) {
	k, ok := piiKindOf(r.Detector)
	if !ok {
		return nil, fmt.Errorf("rule %s: unknown detector %q", r.ID, r.Detector)
	}
	return &piiRule{Rule: r, kind: k, ctx: ctx, allow: allow}, nil
}

// piiSet is the enabled detectors by kind, and the byte classes that
// trigger them.
type piiSet struct {
	byKind  [piiKinds]*piiRule
	trigger [256]bool
}

func newPIISet(rules []*piiRule) *piiSet {
	s := &piiSet{}
	for _, r := range rules {
		s.byKind[r.kind] = r
		switch r.kind {
		case piiEmail:
			s.trigger['@'] = true
		case piiIPv6:
			s.trigger[':'] = true
		default:
			for c := '0'; c <= '9'; c++ {
				s.trigger[c] = true
			}
		}
	}
	return s
}

func isDigit(c byte) bool { return c-'0' < 10 }
func isUpper(c byte) bool { return c-'A' < 26 }
func isAlpha(c byte) bool { return (c|0x20)-'a' < 26 }
func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }
func isWord(c byte) bool  { return isAlnum(c) || c == '_' }
func isHex(c byte) bool   { return isDigit(c) || (c|0x20)-'a' < 6 }

// scanPII appends the personal-data candidates of b to cands.
func (e *Engine) scanPII(b []byte, cands []candidate) []candidate {
	ps := e.piiSet
	add := func(k piiKind, start, end int, adj int) {
		r := ps.byKind[k]
		if r == nil {
			return
		}
		cands = append(cands, candidate{
			rule: r.ID, typ: r.Type, desc: r.Description, conf: r.Confidence + Confidence(adj), example: adj == veryLow,
			start: start, end: end, ctx: r.ctx, allow: &r.allow, pii: true,
		})
	}
	n := len(b)
	for i := 0; i < n; {
		c := b[i]
		if !ps.trigger[c] {
			i++
			continue
		}
		switch {
		case c == '@':
			i = e.email(b, i, add)
		case c == ':':
			i = e.ipv6(b, i, add)
		default:
			i = e.digits(b, i, add)
		}
	}
	return cands
}

// addFunc adds a candidate of kind k at [start, end) with the rule's
// confidence adjusted by adj levels (veryLow: VERY_UNLIKELY).
type addFunc func(k piiKind, start, end int, adj int)

const veryLow = -100

// digits handles the digit group that starts at i and returns where to
// go on.
func (e *Engine) digits(b []byte, i int, add addFunc) int {
	// Letters just before the digits: IBAN and passport prefixes; a longer
	// word (a hash, an identifier) is skipped whole.
	p := i
	for p > 0 && isAlpha(b[p-1]) && i-p < 3 {
		p--
	}
	letters := i - p
	if letters == 3 || (p > 0 && (isAlnum(b[p-1]) || b[p-1] == '_')) {
		return skipWord(b, i)
	}
	switch letters {
	case 2:
		if isUpper(b[p]) && isUpper(b[p+1]) {
			if end, ok := e.iban(b, p); ok {
				add(piiIBAN, p, end, 0)
				return end
			}
		}
		if b[p] == 'E' && isUpper(b[p+1]) && b[p+1] != 'I' && b[p+1] != 'O' {
			if end := digitRun(b, i); end-i == 7 && !wordAt(b, end) {
				add(piiCNPassport, p, end, 0)
				return end
			}
		}
		return skipWord(b, i)
	case 1:
		if b[p] == 'E' || b[p] == 'G' {
			if end := digitRun(b, i); end-i == 8 && !wordAt(b, end) {
				add(piiCNPassport, p, end, 0)
				return end
			}
		}
		return skipWord(b, i)
	}
	// A number: groups of digits joined by one kind of separator.
	var (
		buf    [40]byte
		nd     int
		groups [8]int
		ng     int
		sep    byte
		j      = i
	)
	for {
		s := j
		for j < len(b) && isDigit(b[j]) {
			if nd < len(buf) {
				buf[nd] = b[j]
			}
			nd++
			j++
		}
		if ng < len(groups) {
			groups[ng] = j - s
		}
		ng++
		if j+1 < len(b) && (b[j] == ' ' || b[j] == '-' || b[j] == '.') && isDigit(b[j+1]) && (sep == 0 || sep == b[j]) && ng < len(groups) && nd < len(buf) {
			sep = b[j]
			j++
			continue
		}
		break
	}
	end := j
	// Resident id check character X.
	if nd == 17 && ng == 1 && end < len(b) && (b[end] == 'X' || b[end] == 'x') {
		buf[nd] = 'X'
		nd++
		end++
	}
	if wordAt(b, end) || nd > len(buf) || ng > len(groups) {
		return skipWord(b, end)
	}
	d := string(buf[:nd])
	g := groups[:ng]
	plus := i > 0 && b[i-1] == '+' && (i < 2 || !isWord(b[i-2]))
	if plus {
		if sep == '.' {
			return end
		}
		if strings.HasPrefix(d, "86") && cnMobile(d[2:]) {
			add(piiCNMobile, i-1, end, 0)
		} else if nd >= 8 && nd <= 15 && countryCode(d) && ((d[0] != '1' && d[0] != '7') || nd == 11) {
			add(piiE164, i-1, end, 0)
		}
		return end
	}
	if i > 0 && (b[i-1] == '.' || b[i-1] == '-') {
		return end // the tail of a decimal, date or range
	}
	switch sep {
	case '.':
		if ng == 4 && g[0] <= 3 && g[1] <= 3 && g[2] <= 3 && g[3] <= 3 && publicIPv4(string(b[i:end])) && !versionBefore(b, i) {
			add(piiIPv4, i, end, 0)
		}
		return end
	case '-':
		if ng == 3 && g[0] == 3 && g[1] == 2 && g[2] == 4 {
			if validSSN(d) {
				add(piiSSN, i, end, 0)
			}
			return end
		}
	}
	if sep != 0 && !cardGroups(g) && !(ng == 3 && g[0] == 3 && g[1] == 4 && g[2] == 4) {
		return end
	}
	switch {
	case nd == 18 && ng == 1 && validCNResidentID(d, time.Now()):
		add(piiCNID, i, end, 0)
	case nd == 11 && cnMobile(d):
		add(piiCNMobile, i, end, 0)
	case nd >= 12 && nd <= 19 && (ng == 1 || cardGroups(g)) && luhn(d) && cardIIN(d):
		adj := 0
		if testCard(d) {
			adj = veryLow
		}
		add(piiCard, i, end, adj)
	case nd == 9 && ng == 1 && validSSN(d):
		if e.near(b, i, end, []string{"ssn", "social security"}) {
			add(piiSSN, i, end, -1)
		}
	}
	return end
}

// wordAt reports whether b[i] continues a word.
func wordAt(b []byte, i int) bool { return i < len(b) && isWord(b[i]) }

func digitRun(b []byte, i int) int {
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	return i
}

// skipWord returns the end of the word (letters, digits, '_') at i.
func skipWord(b []byte, i int) int {
	for i < len(b) && isWord(b[i]) {
		i++
	}
	return i
}

// versionBefore reports whether a "version" word comes just before i.
func versionBefore(b []byte, i int) bool {
	lo := max(0, i-16)
	s := strings.ToLower(string(b[lo:i]))
	return strings.Contains(s, "version") || strings.Contains(s, "ver") || strings.Contains(s, "release") || strings.Contains(s, "build")
}

// cardGroups reports whether group lengths are a printed card layout:
// 4-4-4-4, 4-4-4-4-3, 4-6-5 (Amex), 4-6-4 (Diners), 4-4-4-1..3.
func cardGroups(g []int) bool {
	switch len(g) {
	case 3:
		return g[0] == 4 && g[1] == 6 && (g[2] == 5 || g[2] == 4)
	case 4:
		return g[0] == 4 && g[1] == 4 && g[2] == 4 && g[3] >= 1 && g[3] <= 4
	case 5:
		return g[0] == 4 && g[1] == 4 && g[2] == 4 && g[3] == 4 && g[4] <= 3
	}
	return false
}

// luhn reports whether the digit string d passes the Luhn check.
func luhn(d string) bool {
	sum := 0
	double := false
	for i := len(d) - 1; i >= 0; i-- {
		v := int(d[i] - '0')
		if double {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		double = !double
	}
	return sum%10 == 0
}

// cardIIN reports whether d starts with an issuer range of a major card
// scheme and has a length that scheme issues.
func cardIIN(d string) bool {
	n := len(d)
	p := func(k int) int { // the first k digits as a number
		v := 0
		for i := range k {
			v = v*10 + int(d[i]-'0')
		}
		return v
	}
	switch {
	case d[0] == '4': // Visa
		return n == 13 || n == 16 || n == 19
	case p(2) >= 51 && p(2) <= 55, p(4) >= 2221 && p(4) <= 2720: // Mastercard
		return n == 16
	case p(2) == 34 || p(2) == 37: // American Express
		return n == 15
	case p(4) == 6011, p(3) >= 644 && p(3) <= 649, p(2) == 65: // Discover
		return n >= 16 && n <= 19
	case p(4) >= 3528 && p(4) <= 3589: // JCB
		return n >= 16 && n <= 19
	case p(3) >= 300 && p(3) <= 305, p(2) == 36, p(2) == 38, p(2) == 39: // Diners Club
		return n >= 14 && n <= 19
	case p(2) == 62: // UnionPay
		return n >= 16 && n <= 19
	case p(4) >= 2200 && p(4) <= 2204: // Mir
		return n >= 16 && n <= 19
	case p(2) == 50, p(2) >= 56 && p(2) <= 58, p(4) == 6304, p(4) == 6759, p(2) == 67: // Maestro
		return n >= 12 && n <= 19
	}
	return false
}

// testCard reports whether d is a card number published by a payment
// provider for testing.
func testCard(d string) bool {
	switch d {
	case "4111111111111111", "4242424242424242", "4012888888881881", "4000056655665556",
		"4222222222222", "5555555555554444", "5105105105105100", "5200828282828210",
		"2223003122003222", "378282246310005", "371449635398431", "378734493671000",
		"6011111111111117", "6011000990139424", "3530111333300000", "3566002020360505",
		"30569309025904", "38520000023237", "6200000000000005", "4000000000000002":
		return true
	}
	return false
}

// cnResidentID checks an 18-character resident identity number
// (GB 11643-1999): province code, birth date (not after now) and the
// ISO 7064 mod 11-2 check character.
func validCNResidentID(d string, now time.Time) bool {
	if len(d) != 18 {
		return false
	}
	switch d[:2] {
	case "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
		"41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
		"71", "81", "82":
	default:
		return false
	}
	birth, err := time.Parse("20060102", d[6:14])
	if err != nil || birth.Year() < 1900 || birth.After(now) {
		return false
	}
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, w := range weights {
		sum += int(d[i]-'0') * w
	}
	return "10X98765432"[sum%11] == d[17]
}

// cnMobile reports whether d is an 11-digit mainland China mobile number
// with an allocated prefix.
func cnMobile(d string) bool {
	if len(d) != 11 || d[0] != '1' {
		return false
	}
	for i := 0; i < len(d); i++ {
		if !isDigit(d[i]) {
			return false
		}
	}
	switch d[1] {
	case '3', '8':
		return true
	case '4':
		return d[2] >= '5' && d[2] <= '9'
	case '5', '9':
		return d[2] != '4'
	case '6':
		return d[2] == '2' || (d[2] >= '5' && d[2] <= '7')
	case '7':
		return d[2] <= '8'
	}
	return false
}

// countryCode reports whether the digits d start with an assigned E.164
// country code.
func countryCode(d string) bool {
	if len(d) < 3 {
		return false
	}
	switch d[0] {
	case '1', '7':
		return true
	case '0':
		return false
	}
	two := d[:2]
	switch two {
	case "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47",
		"48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65",
		"66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98":
		return true
	case "21", "22", "23", "24", "25", "26", "29", "35", "37", "38", "42", "50", "59", "67", "68",
		"69", "80", "85", "87", "88", "96", "97", "99":
		return true // three-digit codes
	}
	return false
}

// validSSN checks the 9 digits of a US social security number: area not
// 000, 666 or 900-999; group not 00; serial not 0000; not a number
// publicised as an example.
func validSSN(d string) bool {
	if len(d) != 9 {
		return false
	}
	area, group, serial := d[:3], d[3:5], d[5:]
	if area == "000" || area == "666" || area[0] == '9' || group == "00" || serial == "0000" {
		return false
	}
	switch d {
	case "078051120", "219099999", "123456789":
		return false
	}
	return true
}

// ibanLength is the IBAN length of a country (SWIFT IBAN registry), 0 if
// the country has no IBAN.
func ibanLength(cc string) int {
	const table = "AD24AE23AL28AT20AZ28BA20BE16BG22BH22BI27BR29BY28CH21CR22CY28CZ24DE22DJ27DK18DO28EE20EG29ES24" +
		"FI18FK18FO18FR27GB22GE22GI23GL18GR27GT28HR21HU28IE22IL23IQ23IS26IT27JO30KW30KZ20LB28LC32LI21" +
		"LT20LU20LV21LY25MC27MD24ME22MK19MN20MR27MT31MU30NI28NL18NO15OM23PK24PL28PS29PT25QA29RO24RS22" +
		"RU33SA24SC31SD18SE24SI19SK24SM27SO23ST25SV28TL23TN24TR26UA29VA22VG24XK20YE30"
	for i := 0; i+4 <= len(table); i += 4 {
		if table[i:i+2] == cc {
			return int(table[i+2]-'0')*10 + int(table[i+3]-'0')
		}
	}
	return 0
}

// iban parses an IBAN at b[p:] (compact, or in groups of four separated
// by single spaces) and returns its end if it is valid.
func (e *Engine) iban(b []byte, p int) (int, bool) {
	want := ibanLength(string(b[p : p+2]))
	if want == 0 {
		return 0, false
	}
	var buf [34]byte
	n := 0
	j := p
	for j < len(b) && n < want {
		c := b[j]
		switch {
		case isDigit(c) || isUpper(c):
			buf[n] = c
			n++
			j++
		case c == ' ' && n%4 == 0 && n > 0 && j+1 < len(b) && isAlnum(b[j+1]):
			j++
		default:
			return 0, false
		}
	}
	if n != want || wordAt(b, j) || !isDigit(buf[2]) || !isDigit(buf[3]) {
		return 0, false
	}
	return j, ibanValid(string(buf[:n]))
}

// ibanValid reports whether a compact IBAN passes the ISO 13616 mod-97
// check.
func ibanValid(s string) bool {
	if len(s) < 5 || ibanLength(s[:2]) != len(s) {
		return false
	}
	r := s[4:] + s[:4]
	m := 0
	for i := 0; i < len(r); i++ {
		c := r[i]
		switch {
		case isDigit(c):
			m = (m*10 + int(c-'0')) % 97
		case isUpper(c):
			m = (m*100 + int(c-'A'+10)) % 97
		default:
			return false
		}
	}
	return m == 1
}

// publicIPv4 reports whether s is an IPv4 address on the public
// internet: not private, loopback, link-local, multicast, unspecified,
// broadcast, shared (100.64/10), benchmarking (198.18/15), documentation
// (TEST-NET-1..3) or reserved (0/8, 240/4).
func publicIPv4(s string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return false
	}
	return globalAddr(a)
}

func globalAddr(a netip.Addr) bool {
	if !a.IsGlobalUnicast() || a.IsPrivate() {
		return false
	}
	for _, p := range []string{"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "2001:db8::/32", "2001::/23", "64:ff9b::/96"} {
		if netip.MustParsePrefix(p).Contains(a) {
			return false
		}
	}
	if a.Is6() && !netip.MustParsePrefix("2000::/3").Contains(a) {
		return false
	}
	return true
}

// ipv6 handles a ':' at i.
func (e *Engine) ipv6(b []byte, i int, add addFunc) int {
	isV6 := func(c byte) bool { return isHex(c) || c == ':' || c == '.' }
	lo := i
	for lo > 0 && isV6(b[lo-1]) && i-lo < 40 {
		lo--
	}
	hi := i + 1
	for hi < len(b) && isV6(b[hi]) && hi-lo < 45 {
		hi++
	}
	for hi > i+1 && b[hi-1] == '.' {
		hi--
	}
	if (lo > 0 && isWord(b[lo-1])) || wordAt(b, hi) || strings.Count(string(b[lo:hi]), ":") < 2 {
		return hi
	}
	a, err := netip.ParseAddr(string(b[lo:hi]))
	if err == nil && a.Is6() && !a.Is4In6() && globalAddr(a) {
		add(piiIPv6, lo, hi, 0)
	}
	return hi
}

// email handles an '@' at i.
func (e *Engine) email(b []byte, i int, add addFunc) int {
	isLocal := func(c byte) bool { return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-' }
	lo := i
	for lo > 0 && isLocal(b[lo-1]) && i-lo < 64 {
		lo--
	}
	hi := i + 1
	for hi < len(b) && (isAlnum(b[hi]) || b[hi] == '.' || b[hi] == '-') && hi-i < 255 {
		hi++
	}
	for hi > i+1 && (b[hi-1] == '.' || b[hi-1] == '-') {
		hi--
	}
	for lo < i && b[lo] == '.' {
		lo++
	}
	if lo == i || hi == i+1 {
		return i + 1
	}
	local, domain := string(b[lo:i]), strings.ToLower(string(b[i+1:hi]))
	dot := strings.LastIndexByte(domain, '.')
	if dot <= 0 || strings.HasSuffix(local, ".") || strings.Contains(domain, "..") {
		return hi
	}
	tld := domain[dot+1:]
	if len(tld) < 2 || len(tld) > 24 {
		return hi
	}
	for k := 0; k < len(tld); k++ {
		if !isAlpha(tld[k]) {
			return hi
		}
	}
	switch tld {
	case "png", "jpg", "jpeg", "gif", "svg", "webp", "js", "css", "ts", "go", "py", "md", "txt", "json", "html", "xml", "yaml", "yml", "toml", "lock", "zip", "gz":
		return hi
	}
	adj := 0
	switch {
	case domain == "example.com" || domain == "example.org" || domain == "example.net" ||
		strings.HasSuffix(domain, ".example") || strings.HasSuffix(domain, ".test") ||
		strings.HasSuffix(domain, ".invalid") || strings.HasSuffix(domain, ".localhost") || strings.HasSuffix(domain, ".local"):
		adj = veryLow
	case strings.EqualFold(local, "git") || strings.Contains(strings.ToLower(local), "noreply") || strings.Contains(strings.ToLower(local), "no-reply"):
		adj = -1
	}
	add(piiEmail, lo, hi, adj)
	return hi
}
