package server

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLocalPKI(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	pki, err := ensureLocalPKI(dir, []string{"localhost", "127.0.0.1", "::1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA file is not PEM")
	}
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := pki.Cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("server certificate does not verify for %s: %v", name, err)
		}
	}
	if _, err := pki.Cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "evil.example"}); err == nil {
		t.Error("server certificate verifies for a name it was not issued for")
	}
	for _, f := range []string{"ca.key", "server.key"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", f, st.Mode().Perm())
		}
	}

	// A second start reuses the CA and the certificate.
	again, err := ensureLocalPKI(dir, []string{"localhost", "127.0.0.1", "::1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if again.Fingerprint != pki.Fingerprint || !bytes.Equal(again.Cert.Leaf.Raw, pki.Cert.Leaf.Raw) {
		t.Error("restart reissued the CA or the server certificate")
	}
	// A new host name reissues the server certificate under the same CA.
	more, err := ensureLocalPKI(dir, []string{"localhost", "vault.internal"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if more.Fingerprint != pki.Fingerprint {
		t.Error("CA changed when only the server certificate needed reissuing")
	}
	if _, err := more.Cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "vault.internal"}); err != nil {
		t.Errorf("reissued certificate does not cover the new name: %v", err)
	}
	// Near expiry, the certificate is reissued.
	late, err := ensureLocalPKI(dir, []string{"localhost"}, now.Add(serverLifetime-renewBefore/2))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(late.Cert.Leaf.Raw, more.Cert.Leaf.Raw) {
		t.Error("certificate close to expiry was not reissued")
	}
}

// TestTLS13Only proves the listener refuses anything older than TLS 1.3.
func TestTLS13Only(t *testing.T) {
	pki, err := ensureLocalPKI(t.TempDir(), []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tlsConfig(pki.Cert))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	caPEM, _ := os.ReadFile(pki.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	tests := []struct {
		name    string
		max     uint16
		wantErr bool
	}{
		{"TLS 1.2", tls.VersionTLS12, true},
		{"TLS 1.3", tls.VersionTLS13, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(),
				&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MaxVersion: tc.max})
			if err == nil {
				conn.Close()
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("handshake error = %v, want error: %v", err, tc.wantErr)
			}
		})
	}
}
