package export

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	syslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/octetcounting"
	"github.com/leodido/go-syslog/v4/rfc5424"
)

// collector is a loopback syslog receiver that parses RFC 6587
// octet-counted RFC 5424 messages strictly.
type collector struct {
	t     *testing.T
	tls   *tls.Config
	addr  string
	msgs  chan *rfc5424.SyslogMessage
	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

func newCollector(t *testing.T, tlsConf *tls.Config) *collector {
	c := &collector{t: t, tls: tlsConf, addr: "127.0.0.1:0", msgs: make(chan *rfc5424.SyslogMessage, 10000)}
	c.start()
	t.Cleanup(c.stop)
	return c
}

func (c *collector) start() {
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.tls != nil {
		ln = tls.NewListener(ln, c.tls)
	}
	c.mu.Lock()
	c.ln, c.addr = ln, ln.Addr().String()
	c.mu.Unlock()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.mu.Lock()
			c.conns = append(c.conns, conn)
			c.mu.Unlock()
			go c.serve(conn)
		}
	}()
}

func (c *collector) serve(conn net.Conn) {
	p := octetcounting.NewParser(syslog.WithMaxMessageLength(64<<10), syslog.WithListener(func(r *syslog.Result) {
		if r.Error != nil {
			if !errors.Is(r.Error, net.ErrClosed) && !strings.Contains(r.Error.Error(), "EOF") {
				c.t.Errorf("collector: %v", r.Error)
			}
			return
		}
		c.msgs <- r.Message.(*rfc5424.SyslogMessage)
	}))
	p.Parse(conn)
}

// stop closes the listener and every connection (a collector restart).
func (c *collector) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ln != nil {
		c.ln.Close()
		c.ln = nil
	}
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
}

// receive returns the next n messages as records, checking that the
// structured data agrees with the message.
func (c *collector) receive(t *testing.T, n int) []Record {
	t.Helper()
	var out []Record
	for len(out) < n {
		m := <-c.msgs
		var r Record
		if err := json.Unmarshal([]byte(*m.Message), &r); err != nil {
			t.Fatalf("message is not a record: %v", err)
		}
		sd := (*m.StructuredData)["coffer@32473"]
		if sd["index"] != strconv.FormatInt(r.Index, 10) || sd["leaf_hash"] != r.LeafHash {
			t.Fatalf("structured data %v does not match record %d", sd, r.Index)
		}
		if (sd["erased"] == "true") != r.Erased {
			t.Fatalf("record %d: erased flag differs", r.Index)
		}
		if !r.Erased {
			ev, _, err := r.Decode()
			if err != nil {
				t.Fatal(err)
			}
			wantSev := uint8(sevInfo)
			if ev.Outcome.Result == "denied" {
				wantSev = sevNotice
			}
			if *m.Facility != 13 || *m.Severity != wantSev || *m.MsgID != ev.Action || !m.Timestamp.Equal(ev.Time.Truncate(time.Microsecond)) || *m.Appname != "coffer" {
				t.Fatalf("record %d: header fields %d %d %s %v", r.Index, *m.Facility, *m.Severity, *m.MsgID, m.Timestamp)
			}
		}
		out = append(out, r)
	}
	return out
}

func TestSyslogTCPDownThenUp(t *testing.T) {
	l := newLedger(t)
	l.appendN(t, 0, 120)
	if err := l.log.Erase(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	c := newCollector(t, nil)
	c.stop() // the collector is down when export starts
	sink, err := NewSyslog(SyslogConfig{Addr: c.addr, Hostname: "vault-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	tries := 0
	opts := Options{MaxBatch: 50, sleep: func(ctx context.Context, _ time.Duration) error {
		if tries++; tries == 3 {
			c.start() // back up on the same address
		}
		return ctx.Err()
	}}
	runUntil(t, l, t.TempDir(), sink, 119, opts)
	if tries != 3 {
		t.Fatalf("%d retries, want 3", tries)
	}
	checkSequence(t, c.receive(t, 120), 120, "alice")
}

func TestSyslogTLSCollectorRestart(t *testing.T) {
	ca, serverConf := testCA(t)
	l := newLedger(t)
	l.appendN(t, 0, 90)
	c := newCollector(t, serverConf)
	clientConf, err := ClientTLS(ca, "")
	if err != nil {
		t.Fatal(err)
	}
	sink, err := NewSyslog(SyslogConfig{Addr: c.addr, TLS: clientConf})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	state := t.TempDir()
	// First 30 records; then the collector restarts between batches.
	runUntil(t, l, state, sink, 29, Options{MaxBatch: 30})
	got := c.receive(t, 30)
	c.stop()
	c.start()
	runUntil(t, l, state, sink, 89, Options{MaxBatch: 30})
	got = append(got, c.receive(t, 60)...)
	checkSequence(t, got, 90, "")

	// A collector whose certificate the configured CA did not sign is
	// never sent anything.
	other, _ := testCA(t)
	bad, _ := ClientTLS(other, "")
	badSink, _ := NewSyslog(SyslogConfig{Addr: c.addr, TLS: bad})
	err = badSink.Deliver(t.Context(), got[:1])
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Deliver with the wrong CA: %v", err)
	}
	select {
	case m := <-c.msgs:
		t.Fatalf("collector got %q", *m.Message)
	default:
	}
}

func TestSyslogFormatEdgeCases(t *testing.T) {
	s, err := NewSyslog(SyslogConfig{Addr: "127.0.0.1:1", Hostname: "host name\n", MaxMessage: 2048, Facility: 10})
	if err != nil {
		t.Fatal(err)
	}
	ev := testEvent(4) // denied
	ev.Labels = map[string]string{"big": strings.Repeat("x", 4000)}
	enc, _ := ev.Encode()
	big := Record{Index: 4, LeafHash: "aa", Commitment: "bb", Salt: "cc", Event: enc}
	erased := Record{Index: 5, LeafHash: "dd", Commitment: "ee", Erased: true}
	for _, r := range []Record{big, erased} {
		msg, err := s.FormatSyslog(&r)
		if err != nil {
			t.Fatal(err)
		}
		if len(msg) > 2048 {
			t.Fatalf("message of %d bytes", len(msg))
		}
		m, err := rfc5424.NewParser().Parse(msg)
		if err != nil {
			t.Fatalf("%s: %v", msg, err)
		}
		sm := m.(*rfc5424.SyslogMessage)
		sd := (*sm.StructuredData)["coffer@32473"]
		if *sm.Hostname != "hostname" || *sm.Facility != 10 {
			t.Fatalf("header %q %d", *sm.Hostname, *sm.Facility)
		}
		switch r.Index {
		case 4:
			if sd["truncated"] != "true" || *sm.Severity != sevNotice || strings.Contains(*sm.Message, `"event"`) {
				t.Fatalf("oversized record not truncated: %v sev %d msg %.200s", sd, *sm.Severity, *sm.Message)
			}
		case 5:
			if sd["erased"] != "true" || *sm.MsgID != "erased" || sm.Timestamp != nil {
				t.Fatalf("erased record: %v %q", sd, *sm.MsgID)
			}
		}
	}
}

// testCA returns a fresh CA (PEM) and a server TLS configuration for
// 127.0.0.1 with a certificate it signed.
func testCA(t *testing.T) ([]byte, *tls.Config) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "collector"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	conf := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), conf
}
