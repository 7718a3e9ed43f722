package sigv4

// This file parses the two places a SigV4 signature can come from: the
// Authorization header
//
//	AWS4-HMAC-SHA256 Credential=AKID/20060102/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=<64 hex>
//
// and the presigned query string (X-Amz-Algorithm, X-Amz-Credential,
// X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders, X-Amz-Signature and the
// optional X-Amz-Content-Sha256). It checks their syntax and the credential
// scope, and refuses SigV2 outright.

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	algorithm       = "AWS4-HMAC-SHA256"
	iso8601Basic    = "20060102T150405Z"
	scopeDateLayout = "20060102"
	scopeTerminal   = "aws4_request"
	serviceS3       = "s3"
)

// authInfo is what a request claims about its signature, parsed but not
// yet verified.
type authInfo struct {
	presigned     bool
	accessKey     string
	scope         credentialScope
	signedHeaders []string // lowercase, in the order the client listed them
	signature     string   // lowercase hex
	amzDate       string   // request time in ISO 8601 basic format, as signed
	date          time.Time
	dateHeader    string        // header auth: "x-amz-date" or "date"
	expires       time.Duration // presigned only
	payloadHash   string        // the last line of the canonical request
	query         []queryPair
}

// parseAuth finds the signature in r (header or query) and parses it.
func (v *Verifier) parseAuth(r *http.Request) (*authInfo, error) {
	query, qerr := parseQuery(r.URL.RawQuery)
	authz := r.Header.Values("Authorization")
	hasV4Query := queryHas(query, "X-Amz-Algorithm") || queryHas(query, "X-Amz-Signature") || queryHas(query, "X-Amz-Credential")
	hasV2Query := queryHas(query, "AWSAccessKeyId") || (queryHas(query, "Signature") && queryHas(query, "Expires"))

	switch {
	case len(authz) == 0 && !hasV4Query && !hasV2Query:
		if qerr != nil {
			return nil, qerr
		}
		return nil, errAccessDenied("Access Denied")
	case len(authz) > 0 && (hasV4Query || hasV2Query), hasV4Query && hasV2Query:
		return nil, errInvalidArgument("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
	case hasV2Query:
		return nil, errSigV2()
	}
	if qerr != nil {
		return nil, qerr
	}
	if len(authz) > 0 {
		if len(authz) > 1 {
			return nil, errHeaderMalformed("more than one Authorization header")
		}
		a, err := v.parseHeaderAuth(r, authz[0])
		if err != nil {
			return nil, err
		}
		a.query = query
		return a, nil
	}
	return v.parsePresigned(r, query)
}

// parseHeaderAuth parses an Authorization header and the headers that go
// with it (x-amz-date or Date, x-amz-content-sha256).
func (v *Verifier) parseHeaderAuth(r *http.Request, h string) (*authInfo, error) {
	if strings.HasPrefix(h, "AWS ") {
		return nil, errSigV2()
	}
	rest, ok := strings.CutPrefix(h, algorithm+" ")
	if !ok {
		return nil, errInvalidArgument("Unsupported Authorization Type")
	}
	var cred, signed, sig string
	var haveCred, haveSigned, haveSig bool
	for _, field := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok {
			return nil, errHeaderMalformed("the authorization component " + quoteClient(field) + " is malformed.")
		}
		var dup bool
		switch k {
		case "Credential":
			dup, haveCred, cred = haveCred, true, val
		case "SignedHeaders":
			dup, haveSigned, signed = haveSigned, true, val
		case "Signature":
			dup, haveSig, sig = haveSig, true, val
		default:
			return nil, errHeaderMalformed("the authorization component " + quoteClient(k) + " is not recognised.")
		}
		if dup {
			return nil, errHeaderMalformed("the authorization component " + k + " is repeated.")
		}
	}
	if !haveCred || !haveSigned || !haveSig {
		return nil, errHeaderMalformed("the authorization header requires three components: Credential, SignedHeaders, and Signature.")
	}

	a := &authInfo{}
	var detail string
	if a.accessKey, a.scope, detail = v.parseCredential(cred); detail != "" {
		return nil, errHeaderMalformed(detail)
	}
	if a.signedHeaders, detail = parseSignedHeaders(signed); detail != "" {
		return nil, errHeaderMalformed(detail)
	}
	if a.signature, ok = parseSignature(sig); !ok {
		return nil, errHeaderMalformed("the Signature component is not 64 hexadecimal characters.")
	}

	badDate := errAccessDenied("AWS authentication requires a valid Date or x-amz-date header")
	if xd := r.Header.Values("X-Amz-Date"); len(xd) > 0 {
		t, err := time.Parse(iso8601Basic, xd[0])
		if len(xd) > 1 || err != nil {
			return nil, badDate
		}
		a.date, a.amzDate, a.dateHeader = t, xd[0], "x-amz-date"
	} else if d := r.Header.Values("Date"); len(d) == 1 {
		t, err := http.ParseTime(d[0])
		if err != nil {
			return nil, badDate
		}
		a.date, a.amzDate, a.dateHeader = t.UTC(), t.UTC().Format(iso8601Basic), "date"
	} else {
		return nil, badDate
	}
	if a.scope.date != a.amzDate[:len(scopeDateLayout)] {
		return nil, errHeaderMalformed("Invalid credential date. Date is not the same as X-Amz-Date.")
	}

	ph := r.Header.Values("X-Amz-Content-Sha256")
	switch len(ph) {
	case 0:
		return nil, errInvalidRequest("Missing required header for this request: x-amz-content-sha256")
	case 1:
		a.payloadHash = ph[0]
	default:
		return nil, errInvalidArgument("x-amz-content-sha256 must be given once")
	}
	return a, nil
}

// parsePresigned parses the query parameters of a presigned URL.
//
// The payload hash is the X-Amz-Content-Sha256 parameter if present, else
// an x-amz-content-sha256 header (minio-go's PreSignV4 signs with it, and
// like every x-amz-* header it must then be signed), else UNSIGNED-PAYLOAD.
func (v *Verifier) parsePresigned(r *http.Request, q []queryPair) (*authInfo, error) {
	get := func(k string) (string, bool, *Error) {
		var val string
		n := 0
		for _, p := range q {
			if p.key == k {
				val = p.value
				n++
			}
		}
		if n > 1 {
			return "", false, errQueryMalformed(k + " must be given once")
		}
		return val, n == 1, nil
	}
	const required = "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
	vals := make(map[string]string, 6)
	for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"} {
		val, ok, err := get(k)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errQueryMalformed(required)
		}
		vals[k] = val
	}
	if vals["X-Amz-Algorithm"] != algorithm {
		return nil, errQueryMalformed(`X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"`)
	}

	a := &authInfo{presigned: true, query: q}
	var detail string
	if a.accessKey, a.scope, detail = v.parseCredential(vals["X-Amz-Credential"]); detail != "" {
		return nil, errQueryMalformed("Error parsing the X-Amz-Credential parameter; " + detail)
	}
	if a.signedHeaders, detail = parseSignedHeaders(vals["X-Amz-SignedHeaders"]); detail != "" {
		return nil, errQueryMalformed("Error parsing the X-Amz-SignedHeaders parameter; " + detail)
	}
	var ok bool
	if a.signature, ok = parseSignature(vals["X-Amz-Signature"]); !ok {
		return nil, errQueryMalformed("X-Amz-Signature is not 64 hexadecimal characters.")
	}
	t, err := time.Parse(iso8601Basic, vals["X-Amz-Date"])
	if err != nil {
		return nil, errQueryMalformed(`X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`)
	}
	a.date, a.amzDate = t, vals["X-Amz-Date"]
	if a.scope.date != a.amzDate[:len(scopeDateLayout)] {
		return nil, errQueryMalformed("Invalid credential date. Date is not the same as X-Amz-Date.")
	}
	exp := vals["X-Amz-Expires"]
	secs, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || !allDigits(exp) {
		return nil, errQueryMalformed("X-Amz-Expires should be a number")
	}
	if secs < 1 {
		return nil, errQueryMalformed("X-Amz-Expires must be positive")
	}
	if secs > int64(MaxPresignExpires/time.Second) {
		return nil, errQueryMalformed("X-Amz-Expires must be less than a week (in seconds) that is 604800")
	}
	a.expires = time.Duration(secs) * time.Second

	a.payloadHash = payloadUnsigned
	val, ok, qerr := get("X-Amz-Content-Sha256")
	hv := r.Header.Values("X-Amz-Content-Sha256")
	switch {
	case qerr != nil:
		return nil, qerr
	case ok:
		a.payloadHash = val
	case len(hv) > 1:
		return nil, errInvalidArgument("x-amz-content-sha256 must be given once")
	case len(hv) == 1:
		a.payloadHash = hv[0]
	}
	return a, nil
}

// parseCredential splits AKID/DATE/REGION/SERVICE/aws4_request and checks
// the scope against this verifier. On failure it returns a message detail
// for the client.
func (v *Verifier) parseCredential(s string) (akid string, scope credentialScope, detail string) {
	parts := strings.Split(s, "/")
	n := len(parts)
	if n < 5 {
		return "", scope, "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."
	}
	akid = strings.Join(parts[:n-4], "/")
	scope = credentialScope{date: parts[n-4], region: parts[n-3], service: parts[n-2]}
	switch {
	case akid == "":
		return "", scope, "the Credential has an empty access key id."
	case parts[n-1] != scopeTerminal:
		return "", scope, "incorrect terminal " + quoteClient(parts[n-1]) + ". This endpoint uses 'aws4_request'."
	case scope.service != serviceS3:
		return "", scope, "incorrect service " + quoteClient(scope.service) + ". This endpoint belongs to 's3'."
	case scope.region != v.region():
		return "", scope, "the region " + quoteClient(scope.region) + " is wrong; expecting '" + v.region() + "'"
	}
	if _, err := time.Parse(scopeDateLayout, scope.date); err != nil || len(scope.date) != len(scopeDateLayout) {
		return "", scope, "invalid credential date " + quoteClient(scope.date) + "."
	}
	return akid, scope, ""
}

// parseSignedHeaders parses "host;x-amz-date;...": lowercase header names
// separated by ';', none repeated. The client's order is kept because the
// canonical request lists the headers in it.
func parseSignedHeaders(s string) ([]string, string) {
	if s == "" {
		return nil, "SignedHeaders is empty."
	}
	names := strings.Split(s, ";")
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if n == "" || !isToken(n) || strings.ToLower(n) != n {
			return nil, "SignedHeaders contains an invalid header name."
		}
		if seen[n] {
			return nil, "SignedHeaders repeats a header name."
		}
		seen[n] = true
	}
	return names, ""
}

// parseSignature accepts exactly 64 hex digits and returns them lowercased.
func parseSignature(s string) (string, bool) {
	if len(s) != 64 || !isHex(s) {
		return "", false
	}
	return strings.ToLower(s), true
}

// errSigV2 refuses AWS Signature Version 2, whose HMAC-SHA1 over a loosely
// defined string does not bind the body or the region.
func errSigV2() *Error {
	return errAccessDenied("SigV2 is not supported; sign requests with AWS Signature Version 4")
}

// quoteClient quotes a client-supplied string for an error message,
// shortened so that a huge header does not make a huge response.
func quoteClient(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strconv.Quote(s)
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// isToken reports whether s is an RFC 9110 token (a valid header name).
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
