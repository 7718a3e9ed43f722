package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// remote is a connection to the server behind one alias.
type remote struct {
	name     string
	alias    Alias
	endpoint *url.URL
	mc       *minio.Client
	core     *minio.Core
	http     *http.Client // for the admin plane, same TLS settings
}

// connect builds clients for the alias named in p.
func (a *app) connect(aliasName string, cf *commonFlags) (*remote, error) {
	al, err := a.lookupAlias(aliasName)
	if err != nil {
		return nil, err
	}
	return a.dial(aliasName, al, cf)
}

// dial builds clients for al. It makes no request.
func (a *app) dial(name string, al Alias, cf *commonFlags) (*remote, error) {
	u, err := url.Parse(al.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("alias %q has an invalid URL %q", name, al.URL)
	}
	secure := u.Scheme == "https"
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, err
	}
	if secure {
		tc, err := tlsConfig(al.CAFile, cf.insecure)
		if err != nil {
			return nil, fmt.Errorf("alias %q: %w", name, err)
		}
		tr.TLSClientConfig = tc
		if cf.insecure {
			fmt.Fprintln(a.stderr, "coffer: warning: --insecure: the server's certificate is not verified; anyone on the network path can read and change this traffic")
		}
	}
	rt := &fatalTransport{base: tr, host: u.Host, report: a.setFatal}
	region := al.Region
	if region == "" {
		region = defaultRegion
	}
	mc, err := minio.New(u.Host, &minio.Options{
		Creds:     credentials.NewStaticV4(al.AccessKey, al.SecretKey, ""),
		Secure:    secure,
		Transport: rt,
		Region:    region,
	})
	if err != nil {
		return nil, fmt.Errorf("alias %q: %w", name, err)
	}
	mc.SetAppInfo("coffer", "cli")
	al.Region = region
	return &remote{
		name:     name,
		alias:    al,
		endpoint: u,
		mc:       mc,
		core:     &minio.Core{Client: mc},
		http:     &http.Client{Transport: rt},
	}, nil
}

// tlsConfig trusts the system roots plus, when caFile is set, the CA in it.
// TLS 1.2 is the minimum (the server speaks 1.3).
func tlsConfig(caFile string, insecure bool) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if insecure {
		tc.InsecureSkipVerify = true
		return tc, nil
	}
	if caFile == "" {
		return tc, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
	}
	tc.RootCAs = pool
	return tc, nil
}

// checkCAFile verifies that path holds at least one PEM certificate.
func checkCAFile(path string) error {
	pem, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read CA file: %w", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return fmt.Errorf("CA file %s holds no PEM certificate", path)
	}
	return nil
}

// fatalTransport reports errors that no retry can fix (the server is not
// listening, its certificate is not trusted, its name does not resolve) so
// that the invocation stops at once instead of letting minio-go back off
// and retry for many seconds.
type fatalTransport struct {
	base   http.RoundTripper
	host   string
	report func(error)
}

func (t *fatalTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil && isPermanentNetError(err) {
		t.report(&transportError{host: t.host, err: err})
	}
	return resp, err
}

// transportError is a failure to reach or trust the server at host.
type transportError struct {
	host string
	err  error
}

func (e *transportError) Error() string { return e.host + ": " + e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

func isPermanentNetError(err error) bool {
	var (
		certErr    *tls.CertificateVerificationError
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
		dnsErr     *net.DNSError
	)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return true
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalidErr):
		return true
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return true
	}
	return false
}
