package sigv4

// This file builds the SigV4 canonical request, the string to sign and the
// signing key, as S3 defines them:
//
//	CanonicalRequest = Method "\n" CanonicalURI "\n" CanonicalQuery "\n"
//	                   CanonicalHeaders "\n" SignedHeaders "\n" HashedPayload
//	StringToSign     = "AWS4-HMAC-SHA256\n" ISO8601Time "\n" Scope "\n" hex(SHA256(CanonicalRequest))
//	SigningKey       = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), "s3"), "aws4_request")
//
// The canonical forms are derived from the decoded values the handlers act
// on (r.URL's path segments and query pairs), re-encoded with the AWS rules,
// so that two requests sharing a signature cannot mean different things.
// Unlike other services, S3 neither normalizes the path (no removal of "."
// or "..", no merging of "//") nor encodes it twice.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// credentialScope is DATE/REGION/SERVICE of "AKID/DATE/REGION/SERVICE/aws4_request".
type credentialScope struct {
	date, region, service string
}

// String returns the scope as it appears in the string to sign.
func (s credentialScope) String() string {
	return s.date + "/" + s.region + "/" + s.service + "/" + scopeTerminal
}

// queryPair is one decoded query parameter.
type queryPair struct {
	key, value string
}

// canonicalRequest builds the canonical request of r as a's signature
// claims it was signed.
func canonicalRequest(r *http.Request, a *authInfo, hdrs map[string][]string) (string, error) {
	uri, err := canonicalURI(r.URL)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(uri)
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(a.query, a.presigned))
	b.WriteByte('\n')
	for _, name := range a.signedHeaders {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(canonicalHeaderValue(r, name, hdrs))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(a.signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(a.payloadHash)
	return b.String(), nil
}

// canonicalURI returns the path of u as S3 canonicalizes it: split at each
// '/' the client sent, each segment decoded and then URI-encoded with the
// AWS rules. A "%2F" inside a segment thus stays "%2F", a '+' becomes
// "%2B", a space "%20" and non-ASCII bytes their uppercase %XX form.
func canonicalURI(u *url.URL) (string, error) {
	p := u.EscapedPath()
	if p == "" {
		return "/", nil
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		d, err := url.PathUnescape(s)
		if err != nil {
			return "", &Error{Code: "InvalidURI", Message: "Couldn't parse the specified URI.", Status: http.StatusBadRequest}
		}
		segs[i] = uriEncode(d)
	}
	return strings.Join(segs, "/"), nil
}

// parseQuery decodes a raw query string into its pairs in order, treating
// '+' as a space the way url.ParseQuery does (and so the way the handlers
// will read it). A key without '=' has an empty value.
func parseQuery(raw string) ([]queryPair, error) {
	var pairs []queryPair
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err1 := url.QueryUnescape(k)
		dv, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, errInvalidArgument("The query string is not validly encoded.")
		}
		pairs = append(pairs, queryPair{dk, dv})
	}
	return pairs, nil
}

func queryHas(pairs []queryPair, key string) bool {
	for _, p := range pairs {
		if p.key == key {
			return true
		}
	}
	return false
}

// canonicalQuery encodes every pair with the AWS rules and sorts them by
// encoded key, then encoded value ("the sorting occurs after encoding").
// A presigned request leaves out its X-Amz-Signature.
func canonicalQuery(pairs []queryPair, presigned bool) string {
	enc := make([]queryPair, 0, len(pairs))
	for _, p := range pairs {
		if presigned && p.key == "X-Amz-Signature" {
			continue
		}
		enc = append(enc, queryPair{uriEncode(p.key), uriEncode(p.value)})
	}
	sort.Slice(enc, func(i, j int) bool {
		if enc[i].key != enc[j].key {
			return enc[i].key < enc[j].key
		}
		return enc[i].value < enc[j].value
	})
	var b strings.Builder
	for i, p := range enc {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.key)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}

// lowerHeaders returns r's headers keyed by lowercase name.
func lowerHeaders(r *http.Request) map[string][]string {
	m := make(map[string][]string, len(r.Header))
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		m[lk] = append(m[lk], vs...)
	}
	return m
}

// canonicalHeaderValue returns the value of a signed header: values
// trimmed, runs of spaces collapsed, several values joined by ','. Go's
// server moves Host, and sometimes Content-Length and Transfer-Encoding,
// out of r.Header; they are read back from r.
func canonicalHeaderValue(r *http.Request, name string, hdrs map[string][]string) string {
	switch name {
	case "host":
		if r.Host != "" {
			return collapseSpaces(r.Host)
		}
		return r.URL.Host
	case "content-length":
		if _, ok := hdrs[name]; !ok && r.ContentLength >= 0 {
			return strconv.FormatInt(r.ContentLength, 10)
		}
	case "transfer-encoding":
		if _, ok := hdrs[name]; !ok && len(r.TransferEncoding) > 0 {
			return strings.Join(r.TransferEncoding, ",")
		}
	}
	vs := hdrs[name]
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = collapseSpaces(v)
	}
	return strings.Join(out, ",")
}

// collapseSpaces trims leading and trailing spaces and replaces each run of
// spaces inside with one space.
func collapseSpaces(s string) string {
	s = strings.Trim(s, " ")
	if !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	prevSpace := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' && prevSpace {
			continue
		}
		prevSpace = c == ' '
		b.WriteByte(c)
	}
	return b.String()
}

// uriEncode applies the AWS URI-encoding to one path segment or one query
// key or value: the unreserved characters A-Z a-z 0-9 - . _ ~ are kept and
// every other byte becomes %XX with uppercase hex, '/' included (a path's
// separators never reach here; a '/' inside a segment came from "%2F").
func uriEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + len(s)/2)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xF])
	}
	return b.String()
}

func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// signingKey derives the SigV4 signing key of secret for scope.
func signingKey(secret string, scope credentialScope) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), scope.date)
	k = hmacSHA256(k, scope.region)
	k = hmacSHA256(k, scope.service)
	return hmacSHA256(k, scopeTerminal)
}

// stringToSign builds the SigV4 string to sign of a canonical request.
func stringToSign(amzDate, scope, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
}

// signatureHex returns hex(HMAC-SHA256(key, s)).
func signatureHex(key []byte, s string) string {
	return hex.EncodeToString(hmacSHA256(key, s))
}

func hmacSHA256(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// signaturesEqual compares two lowercase hex signatures in constant time.
func signaturesEqual(got, want string) bool {
	return hmac.Equal([]byte(got), []byte(want))
}
